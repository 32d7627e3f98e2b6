package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// A leg that cannot record its state because this machine failed it (its
// own start time unreadable from /proc) could not start: it exits 2, as a
// refused input does, but says "could not start" and names what was being
// done, never "bad input", which would send the user looking for an input
// to fix. The run goes through the real command line up to the leg file,
// with a provider (ssh) whose inputs are all good and that creates nothing.
func TestLegStateFailureIsNoBadInput(t *testing.T) {
	boom := errors.New("read process 4242: /proc is not mounted")

	keyPEM, _ := testhost.ClientKeyPEM(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), Env{
		Args: []string{"mvm-verify", "run", "--provider", "ssh", "--ssh-host", "192.0.2.1", "--ssh-user", "ubuntu",
			"--ssh-private-key-file", keyFile, "--insecure-host-key", "--out", out},
		Stdout: &stdout, Stderr: &stderr,
		Getenv:    func(string) string { return "" },
		procStart: func(int) (uint64, error) { return 0, boom },
	})
	if code != ExitBadInput {
		t.Fatalf("exit %d, want %d (could not start)\nstderr:\n%s", code, ExitBadInput, stderr.String())
	}
	if want := "mvm-verify: could not start: record leg state: " + boom.Error(); !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
	if strings.Contains(stderr.String(), "bad input") {
		t.Errorf("a failure of this machine reads as bad input:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "host", upStateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leg state written although the leg did not start: %v", err)
	}
}

// notStarted tells an input to fix from a failure that is no input's,
// wherever in the chain the *InputError is.
func TestNotStartedClassifies(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"input error", &config.InputError{Input: "out", Value: "/x", Expected: "a directory"},
			`mvm-verify: bad input: input "out": got "/x", expected a directory`},
		{"wrapped input error", errors.Join(errors.New("first"), &config.InputError{Input: "ssh-user", Value: "Ab", Expected: "a user name like ubuntu"}),
			`mvm-verify: bad input: first`},
		{"other error", errors.New("record leg state: read process 1: permission denied"),
			`mvm-verify: could not start: record leg state: read process 1: permission denied`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			a := newApp(Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
			if code := a.notStarted(tc.err); code != ExitBadInput {
				t.Errorf("exit %d, want %d", code, ExitBadInput)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.want)
			}
		})
	}
}
