package cli_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestUpThenDown keeps a local host, logs in with the printed ssh command
// (real OpenSSH, pinned host key), then tears it down.
func TestUpThenDown(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatal("OpenSSH client missing (Debian package openssh-client; .ci/run installs it)")
	}
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	suite := writeSuite(t, "user: root\nsteps:\n  - name: noop\n    run: \"true\"\n")
	env := cmdEnv(t)
	env[len(env)-1] = "TMPDIR=" + tmp
	up := runBin(t, env, "up", "--provider", "local", "--suite", suite, "--out", out, "--local-state-dir", filepath.Join(tmp, "state"))
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	m := regexp.MustCompile(`Log in:\s+(ssh .*)`).FindStringSubmatch(up.stdout)
	if m == nil {
		t.Fatalf("up printed no ssh command:\n%s", up.stdout)
	}
	args := strings.Fields(m[1])
	args = append(args[1:len(args)-1], "-o", "BatchMode=yes", args[len(args)-1], "echo", "logged-in")
	login, err := exec.Command("ssh", args...).CombinedOutput()
	if err != nil || !strings.Contains(string(login), "logged-in") {
		t.Fatalf("ssh with the printed command: %v\n%s", err, login)
	}
	if len(processesMentioning(t, tmp)) == 0 {
		t.Fatal("no sshd of the kept host is running")
	}

	workDir := legWorkDir(t, filepath.Join(tmp, "state"))
	if _, err := os.Stat(filepath.Join(workDir, "mvm-verify")); err != nil {
		t.Fatalf("no probe binary on the kept host: %v", err)
	}

	down := runBin(t, env, "down", "--out", out)
	if down.code != 0 {
		t.Fatalf("down exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	if left := processesMentioning(t, tmp); len(left) > 0 {
		t.Errorf("still running after down: %v", left)
	}
	if _, err := os.Lstat(workDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the uploaded probe binary's dir %s is left after down (stat: %v)", workDir, err)
	}
	if _, err := os.Stat(filepath.Join(out, "host", "id_ed25519")); err == nil {
		t.Errorf("down left the client key behind")
	}
}
