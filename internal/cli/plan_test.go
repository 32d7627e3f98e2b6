package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
)

// The plan the CLI hands the cycle: in Actions a signalled run tears down
// within the 7 s (the runner's SIGKILL follows at about 10 s); at
// a terminal, where nothing follows up, a cloud leg's may take a minute
// (cancelbudget_test.go has every provider). The user's insecure-host-key
// reaches the cycle, which alone may then connect to a host without a
// pinned key.
func TestPlanCancelBudgetAndHostKeyChoice(t *testing.T) {
	cloud := providers.Info{Name: "aws", Billed: true}
	for _, tc := range []struct {
		name     string
		actions  string
		insecure bool
		budget   time.Duration
	}{
		{"actions", "true", false, 7 * time.Second},
		{"actions, insecure-host-key", "true", true, 7 * time.Second},
		{"terminal", "", false, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string {
				if k == "GITHUB_ACTIONS" {
					return tc.actions
				}
				return ""
			}})
			run := &config.Run{Suite: &config.Suite{}, TimeoutMinutes: 30, TeardownBudget: 5 * time.Minute, InsecureHostKey: tc.insecure}
			plan := a.plan(run, nil, cloud, providers.Identity{})
			if plan.CancelBudget != tc.budget {
				t.Errorf("cancel budget %s, want %s", plan.CancelBudget, tc.budget)
			}
			if plan.InsecureHostKey != tc.insecure {
				t.Errorf("plan's insecure-host-key %v, want %v (the input's)", plan.InsecureHostKey, tc.insecure)
			}
		})
	}
}

// A signalled run in Actions tears down within the cycle's 7 s, inside the
// runner's grace between SIGTERM and SIGKILL (about 7.5 s to the
// SIGKILL's 10 s, with the exit still to come): a minute there would be
// cut off by the SIGKILL mid-teardown. Actions is GITHUB_ACTIONS=true
// exactly, as the runner sets it; anything else is a terminal, where a
// cloud leg (checked here) gets the minute. The runner-cancel tests cannot tell the two apart (the
// local provider's teardown never blocks), so this checks the choice.
func TestCancelBudgetInActionsIsInsideTheRunnersGrace(t *testing.T) {
	const runnersGrace = 7500 * time.Millisecond
	for _, tc := range []struct {
		actions string
		want    time.Duration
	}{
		{"true", verify.DefaultCancelBudget},
		{"", terminalCancelBudget},
		{"false", terminalCancelBudget},
		{"1", terminalCancelBudget},
	} {
		a := newApp(Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string {
			if k == "GITHUB_ACTIONS" {
				return tc.actions
			}
			return ""
		}})
		got := a.cancelBudget(providers.Info{Name: "aws", Billed: true})
		if got != tc.want {
			t.Errorf("GITHUB_ACTIONS=%q: cancel budget %s, want %s", tc.actions, got, tc.want)
		}
		if tc.actions == "true" && (got <= 0 || got >= runnersGrace) {
			t.Errorf("cancel budget in Actions %s, want more than 0 and less than %s, the runner's grace before SIGKILL", got, runnersGrace)
		}
	}
	if terminalCancelBudget <= verify.DefaultCancelBudget {
		t.Errorf("terminal cancel budget %s, want more than Actions' %s: nothing follows up with SIGKILL at a terminal",
			terminalCancelBudget, verify.DefaultCancelBudget)
	}
}

// timeout-minutes and teardown-budget given as flags reach the plan the
// cycle runs with: the leg's deadline, the reserve for the teardown, and
// timeout-minutes as given for the deadline's error.
func TestPlanLimitsFromFlags(t *testing.T) {
	a := newApp(Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }})
	src, err := a.flagSource("run", []string{"--provider", "local", "--suite", writeSuiteFile(t), "--timeout-minutes", "7", "--teardown-budget", "2m"})
	if err != nil {
		t.Fatal(err)
	}
	run, err := config.LoadWith(src, config.Options{Providers: registry().Names(), Mode: "run", Getenv: a.env.Getenv})
	if err != nil {
		t.Fatal(err)
	}
	plan := a.plan(run, nil, providers.Info{}, providers.Identity{})
	if plan.Timeout != 7*time.Minute || plan.TimeoutMinutes != 7*time.Minute || plan.TeardownBudget != 2*time.Minute {
		t.Errorf("plan's timeout %s, timeout-minutes %s, teardown budget %s; want 7m, 7m and 2m from the flags",
			plan.Timeout, plan.TimeoutMinutes, plan.TeardownBudget)
	}
}

// The deadline the cycle gets is timeout-minutes (no reporting to keep
// time back for): max-cost prices the leg's worst case from it, and the
// refusal names it. c5.metal at $4.08/h costs $0.48 over 7 minutes, over a
// budget of $0.40; anything but 7m in the message is another deadline.
func TestRunCycleGetsTimeoutMinutes(t *testing.T) {
	srv := fake.New(fake.Config{})
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	env := map[string]string{
		"HOME": dir, "TMPDIR": dir,
		"AWS_ACCESS_KEY_ID": "AKIDFAKE", "AWS_SECRET_ACCESS_KEY": "fake-secret",
		// Keep the SDK off this machine's AWS settings and the metadata service.
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "no-credentials"),
	}
	var stdout, stderr strings.Builder
	code := Run(t.Context(), Env{
		Args: []string{"mvm-verify", "run", "--provider", "aws", "--aws-endpoint", srv.URL, "--region", "us-east-1",
			"--ssh-source-cidr", "127.0.0.1/32", "--instance-type", "c5.metal", "--max-cost", "0.40",
			"--timeout-minutes", "7", "--teardown-budget", "2m", "--out", filepath.Join(dir, "out")},
		Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] },
	})
	want := `input "max-cost": got "0.4", expected at least $0.48, or a cheaper type or a shorter timeout-minutes (c5.metal at $4.0800/h for up to 7m0s could cost $0.48, over the budget of $0.40)`
	if code != ExitBadInput || !strings.Contains(stdout.String()+stderr.String(), want) {
		t.Errorf("exit %d, want 2 with %q\nstdout:\n%s\nstderr:\n%s", code, want, stdout.String(), stderr.String())
	}
}

// writeSuiteFile writes a one-step suite: a plan of the built-in one would
// print its warning of what it installs on this machine.
func writeSuiteFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "suite.yml")
	if err := os.WriteFile(p, []byte("user: root\nsteps:\n  - name: a\n    run: \"true\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
