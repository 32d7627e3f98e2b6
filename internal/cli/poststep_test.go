package cli

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
)

// Only the Docker action's main step (no subcommand, in Actions) has the
// post step after it; a CLI command in a workflow's run: step has not,
// nor one at a terminal.
func TestPostStepFollowsOnlyTheActionsMainStep(t *testing.T) {
	for _, tc := range []struct {
		name               string
		actions, sub, want bool
	}{
		{"action's main step", true, false, true},
		{"CLI command in a run: step", true, true, false},
		{"terminal", false, true, false},
	} {
		env := map[string]string{}
		if tc.actions {
			env["GITHUB_ACTIONS"] = "true"
		}
		a := newApp(Env{Getenv: func(k string) string { return env[k] }, Stdout: io.Discard, Stderr: io.Discard})
		a.subcommand = tc.sub
		if got := a.postStepFollows(); got != tc.want {
			t.Errorf("%s: postStepFollows %v, want %v", tc.name, got, tc.want)
		}
	}
}

// In Actions, a signal after the first is ignored either way; after a
// command that leaves its state for down (a CLI command in a run: step),
// the note promises no post step but says what is left and the down
// command, once per signal kind.
func TestLaterSignalInActionsAfterACommandNamesDown(t *testing.T) {
	h := newSignalsAt(true)
	h.setLeft(func() string { return "mvm-verify: to finish the teardown, run: mvm-verify down --out /o\n" })
	h.handle(os.Interrupt)
	h.handle(syscall.SIGTERM)
	h.handle(syscall.SIGTERM)
	out := h.out.String()
	if h.exitCode != -1 || h.cancels != 1 {
		t.Fatalf("exit %d, %d cancels; want no exit and 1 cancel:\n%s", h.exitCode, h.cancels, out)
	}
	if strings.Contains(out, "post step take over") {
		t.Errorf("the note promises a post step after a CLI command:\n%s", out)
	}
	if n := strings.Count(out, "run: mvm-verify down --out /o"); n != 1 {
		t.Errorf("the down command is said %d times, want once:\n%s", n, out)
	}
}
