package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSSHUpWithKeyInputKeepsItOut keeps an existing host with the private
// key given as the secret input ssh-private-key (not a file): the state up
// leaves in --out for down must not hold the key, so down is given it
// again, as it was given to up, and tears down with it.
func TestSSHUpWithKeyInputKeepsItOut(t *testing.T) {
	h, _, keyPEM := sshSudoUserHost(t)
	out := filepath.Join(t.TempDir(), "out")
	suite := writeSuite(t, "user: "+cliSuiteUser+"\nsteps:\n  - name: noop\n    run: \"true\"\n")
	env := cmdEnv(t, "INPUT_SSH-PRIVATE-KEY="+string(keyPEM))
	state := filepath.Join(out, "host", "host.json")
	t.Cleanup(func() {
		if _, err := os.Stat(state); err == nil {
			runBin(t, env, "down", "--out", out)
		}
	})
	up := runBin(t, env, append([]string{"up", "--provider", "ssh", "--suite", suite, "--out", out,
		"--ssh-host", h.Addr(), "--ssh-port", fmt.Sprint(h.Port()), "--ssh-user", cliSuiteUser,
		"--ssh-known-host", h.KnownHostsLine()}, thisHostLane().laneArgs()...)...)
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	data, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("up left no state for down: %v", err)
	}
	if !strings.Contains(string(data), h.Addr()) {
		t.Fatalf("%s does not name the host %s: the test shows nothing", state, h.Addr())
	}
	checkSecretsStayOut(t, up.stdout, up.stderr, []string{out}, append(append([]string{}, secretMarkers...), pemBodyLines(t, keyPEM)...))

	down := runBin(t, env, "down", "--out", out)
	if down.code != 0 {
		t.Fatalf("down exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "host")); err == nil {
		t.Errorf("down left the leg's state behind")
	}
}
