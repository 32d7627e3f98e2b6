package cli_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
)

// withPoll is env with MVM_VERIFY_POLL_INTERVAL set to d (the last value
// of a variable is the one a process gets).
func withPoll(env []string, d string) []string {
	return append(append([]string(nil), env...), "MVM_VERIFY_POLL_INTERVAL="+d)
}

// TestDownLeakCheckNotConfirmed: down of a leg created moments ago whose
// leak check gets one listing before its deadline (polls longer than the
// teardown budget): the empty listing is not passed off as a clean
// teardown. down exits 1, says what to check and that running it again
// retries, and keeps the leg's state for that; a second down with time
// for the listings tears down and removes the state.
func TestDownLeakCheckNotConfirmed(t *testing.T) {
	l := newAWSLeg(t)
	l.id.CreatedAt = time.Now().UTC() // young: inside the adapter's lag window
	out := filepath.Join(t.TempDir(), "leg")
	hostDir := filepath.Join(out, "host")
	if err := os.MkdirAll(hostDir, 0o700); err != nil {
		t.Fatal(err)
	}
	st := map[string]any{"provider": "aws", "identity": l.id,
		"inputs": map[string]string{"aws-endpoint": l.srv.URL, "region": "us-east-1"}}
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hostDir, "host.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	env := cmdEnv(t, l.env...)

	first := runBin(t, withPoll(env, "10m"), "down", "--out", out)
	if first.code != 1 {
		t.Fatalf("down with one listing for a young leg: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", first.code, first.stdout, first.stderr)
	}
	tags := providers.TagRun + "=" + l.id.Run() + " and " + providers.TagLeg + "=" + l.id.Leg
	for _, want := range []string{"leak check not confirmed on aws", "check for resources tagged " + tags,
		"running down again (mvm-verify down --out " + out + ") retries"} {
		if !strings.Contains(first.stderr, want) {
			t.Errorf("down's error does not say %q\nstderr:\n%s", want, first.stderr)
		}
	}
	if strings.Contains(first.stdout, "nothing tagged with this run is left") {
		t.Errorf("down says nothing is left after one listing of a young leg:\n%s", first.stdout)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "host.json")); err != nil {
		t.Fatalf("down removed the leg's state although its teardown was not confirmed (stat: %v)", err)
	}

	second := runBin(t, withPoll(env, "50ms"), "down", "--out", out)
	if second.code != 0 {
		t.Fatalf("a second down, with time for the listings: exit %d\nstdout:\n%s\nstderr:\n%s", second.code, second.stdout, second.stderr)
	}
	if !strings.Contains(second.stdout, "✓ leak check: nothing tagged with this run is left") {
		t.Errorf("the second down does not confirm nothing is left:\n%s", second.stdout)
	}
	if _, err := os.Stat(hostDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the second down kept the leg's state (stat: %v)", err)
	}
}

// TestRunTeardownNotConfirmedNamesDown: a run from the CLI whose teardown
// cannot confirm its deletes in time (EC2 keeps the instance shutting
// down past the teardown budget) has no post step after it, at a terminal
// or in a workflow's run: step inside Actions alike: it exits 1, says the
// teardown was not confirmed and names the down command that finishes it,
// and promises no post step.
func TestRunTeardownNotConfirmedNamesDown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, user string
		actions    bool
	}{{"terminal", "mvmcnt", false}, {"run step in Actions", "mvmcna", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Before the fake, so what its host leaves of the user goes last.
			suiteUser := ownSuiteUser(t, tc.user)
			srv := awsFake(t, "")
			srv.SetTerminationDelay(1 << 30)
			tmp := t.TempDir()
			out := filepath.Join(tmp, "out")
			suite := writeSuite(t, "user: "+suiteUser+"\nsteps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
			extra := []string{"AWS_ACCESS_KEY_ID=AKIDFAKE", "AWS_SECRET_ACCESS_KEY=fake-secret"}
			if tc.actions {
				extra = append(extra, actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs"))...)
				extra = append(extra, "GITHUB_STATE="+emptyFile(t, "state"))
			}
			// Polls a second apart: the instance's wait for its
			// termination runs until the 1 m teardown budget is spent.
			env := withPoll(cmdEnv(t, append(extra, awsIsolated(t)...)...), "1s")
			r := runBin(t, env, append([]string{"run", "--provider", "aws", "--aws-endpoint", srv.URL, "--region", "us-east-1",
				"--ssh-source-cidr", "127.0.0.1/32", "--suite", suite, "--out", out, "--teardown-budget", "1m"}, thisHostLane().laneArgs()...)...)
			all := r.stdout + r.stderr
			if r.code != 1 {
				t.Fatalf("exit %d, want 1 (the teardown is not finished)\n%s", r.code, all)
			}
			if !strings.Contains(r.stdout, "verified, but the teardown was not confirmed") {
				t.Errorf("the run does not say its teardown was not confirmed:\n%s", all)
			}
			if want := "to finish it, run: mvm-verify down --out " + out; !strings.Contains(r.stderr, want) {
				t.Errorf("the run does not name the down command (%q):\n%s", want, all)
			}
			if strings.Contains(all, "post step") {
				t.Errorf("a CLI run promises a post step, which never follows it:\n%s", all)
			}
		})
	}
}
