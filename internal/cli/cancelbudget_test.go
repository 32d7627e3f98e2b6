package cli

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/verify"
)

// How long a signalled run may take to tear down, per provider and place:
// in Actions always the cycle's 7 s (the runner's SIGKILL follows); at a
// terminal a cloud's teardown (terminate, wait, delete the group) gets a
// minute, as no post step finishes it there, while a provider that creates
// nothing in a cloud keeps the 7 s the cycle promises after a signal.
// MVM_VERIFY_CANCEL_BUDGET overrides the terminal's budget only.
func TestCancelBudgetPerProvider(t *testing.T) {
	// The registered providers, and what each must get at a terminal; a
	// provider registered later is held to its Info.Billed below.
	terminal := map[string]time.Duration{
		"aws":   time.Minute,
		"local": verify.DefaultCancelBudget,
		"ssh":   verify.DefaultCancelBudget,
	}
	reg := registry()
	for name := range terminal {
		if _, err := reg.Get(name); err != nil {
			t.Fatalf("provider %s is not registered: %v", name, err)
		}
	}
	if verify.DefaultCancelBudget != 7*time.Second {
		t.Fatalf("the cycle's cancel budget is %s; the issue's promise, and this table, is 7s", verify.DefaultCancelBudget)
	}
	for _, info := range reg.Infos() {
		atTerminal, known := terminal[info.Name]
		if !known {
			atTerminal = verify.DefaultCancelBudget
			if info.Billed {
				atTerminal = terminalCancelBudget
			}
		}
		for _, tc := range []struct {
			env  map[string]string
			want time.Duration
		}{
			{map[string]string{}, atTerminal},
			{map[string]string{"GITHUB_ACTIONS": "false"}, atTerminal},
			{map[string]string{"GITHUB_ACTIONS": "true"}, verify.DefaultCancelBudget},
			{map[string]string{cancelBudgetEnv: "2s"}, 2 * time.Second},
			{map[string]string{cancelBudgetEnv: "90s"}, 90 * time.Second},
			// Not read in Actions: the runner's grace decides there.
			{map[string]string{"GITHUB_ACTIONS": "true", cancelBudgetEnv: "2m"}, verify.DefaultCancelBudget},
		} {
			a := newApp(Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return tc.env[k] }})
			if got := a.cancelBudget(info); got != tc.want {
				t.Errorf("provider %s (billed %v), env %v: cancel budget %s, want %s", info.Name, info.Billed, tc.env, got, tc.want)
			}
		}
	}
}

// A value of MVM_VERIFY_CANCEL_BUDGET that is not a positive duration is
// an error naming the variable, the value and the form expected, at a
// terminal; in Actions, where the variable is not read, it is none.
func TestCancelBudgetOverrideRefusesBadValues(t *testing.T) {
	for _, v := range []string{"abc", "-1s", "0", "0s", "30", " 30s"} {
		a := newApp(Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string {
			if k == cancelBudgetEnv {
				return v
			}
			return ""
		}})
		_, err := a.cancelBudgetOverride()
		if err == nil {
			t.Errorf("%s=%q: no error", cancelBudgetEnv, v)
			continue
		}
		for _, want := range []string{cancelBudgetEnv, `"` + v + `"`, "a positive duration like 30s"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s=%q: error %q does not say %q", cancelBudgetEnv, v, err, want)
			}
		}
	}
	a := newApp(Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string {
		return map[string]string{"GITHUB_ACTIONS": "true", cancelBudgetEnv: "abc"}[k]
	}})
	if d, err := a.cancelBudgetOverride(); err != nil || d != 0 {
		t.Errorf("in Actions: override %s, error %v; want none read", d, err)
	}
}
