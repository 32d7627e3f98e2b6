package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// MVM_VERIFY_POLL_INTERVAL and MVM_VERIFY_CANCEL_BUDGET set to something
// that is no positive duration are refused as bad input — exit 2, the
// variable, its value and the form expected named — before anything is
// created: no --out, no state of the local provider, no phase. Every
// command that waits by the poll interval refuses a bad one (run, up, down
// and report); the cancel budget is read by run and up.
func TestBadEnvDurationIsRefusedBeforeAnythingStarts(t *testing.T) {
	suite := writeSuite(t, quickSuite)
	const poll, cancel = "MVM_VERIFY_POLL_INTERVAL", "MVM_VERIFY_CANCEL_BUDGET"
	form := map[string]string{poll: "a positive duration like 100ms", cancel: "a positive duration like 30s"}
	for _, tc := range []struct{ variable, cmd, value string }{
		{poll, "run", "fast"},
		{poll, "run", "-1s"},
		{poll, "run", "0"},
		{poll, "up", "50"},
		{poll, "down", "0s"},
		{poll, "report", "soon"},
		{cancel, "run", "abc"},
		{cancel, "run", "-1s"},
		{cancel, "run", "0"},
		{cancel, "up", "30"},
	} {
		dir := t.TempDir()
		out, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
		args := []string{tc.cmd, "--out", out}
		switch tc.cmd {
		case "run", "up":
			args = append(args, "--provider", "local", "--suite", suite, "--local-state-dir", state)
		case "report":
			args = []string{"report"}
		}
		r := runBin(t, cmdEnv(t, tc.variable+"="+tc.value), args...)
		if r.code != 2 {
			t.Errorf("%s with %s=%q: exit status %d, want 2\nstdout:\n%s\nstderr:\n%s", tc.cmd, tc.variable, tc.value, r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{tc.variable, `"` + tc.value + `"`, form[tc.variable]} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s with %s=%q: stderr does not say %q:\n%s", tc.cmd, tc.variable, tc.value, want, r.stderr)
			}
		}
		if strings.Contains(r.stdout, "==> ") {
			t.Errorf("%s with %s=%q: a phase started:\n%s", tc.cmd, tc.variable, tc.value, r.stdout)
		}
		for _, p := range []string{out, state} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s with %s=%q: %s exists (stat: %v); nothing may be created", tc.cmd, tc.variable, tc.value, p, err)
			}
		}
	}
}

// The post step is the exception: what main created must go whatever the
// variable says (main, with the same environment, would have refused it
// before creating anything, so here it came later). It warns, naming the
// variable and value, and tears down at the production intervals.
func TestBadPollIntervalStillTearsDownInPost(t *testing.T) {
	l := newAWSLeg(t) // a leg an hour old: one listing is enough
	out, code := l.post(t, emptyFile(t, "summary"), "MVM_VERIFY_POLL_INTERVAL=fast")
	if code != 0 {
		t.Fatalf("post with a bad MVM_VERIFY_POLL_INTERVAL: exit %d, want 0 after its teardown\n%s", code, out)
	}
	if !strings.Contains(string(out), `MVM_VERIFY_POLL_INTERVAL: got "fast"`) || !strings.Contains(string(out), "tearing down at the production intervals") {
		t.Errorf("post does not warn about the variable:\n%s", out)
	}
	if !strings.Contains(string(out), "deleted security-group "+l.group) {
		t.Errorf("post did not tear down the leg's security group:\n%s", out)
	}
}
