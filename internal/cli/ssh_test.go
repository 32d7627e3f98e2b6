package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// sshHost boots a real sshd test host that accepts a fresh client key for
// root, and returns it with the key's PEM file.
func sshHost(t *testing.T) (*testhost.Host, string, []byte) {
	t.Helper()
	requireRoot(t)
	keyPEM, authorized := testhost.ClientKeyPEM(t)
	h := testhost.Start(t, testhost.Options{Users: []testhost.User{{Name: "root", AuthorizedKeys: []string{authorized}}}})
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return h, keyFile, keyPEM
}

func TestSSHProviderRefusesWrongHostKey(t *testing.T) {
	h, keyFile, _ := sshHost(t)
	_, otherHostKey := testhost.HostKeyPair(t)
	marker := filepath.Join(t.TempDir(), "ran")
	suite := writeSuite(t, fmt.Sprintf("user: root\nsteps:\n  - name: touch\n    run: touch %s\n", marker))
	out := filepath.Join(t.TempDir(), "out")
	r := runBin(t, cmdEnv(t), "run", "--provider", "ssh", "--suite", suite, "--out", out,
		"--ssh-host", h.Addr(), "--ssh-port", fmt.Sprint(h.Port()), "--ssh-user", "root",
		"--ssh-private-key-file", keyFile, "--ssh-known-host", h.Addr()+" "+otherHostKey,
		"--ready-timeout", "20s")
	if r.code == 0 {
		t.Fatalf("exit 0 with a wrong host key\nstdout:\n%s", r.stdout)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a command ran on a host that presented the wrong host key")
	}
	if !strings.Contains(r.stdout+r.stderr, "host key") {
		t.Errorf("output does not say the host key was refused:\n%s\n%s", r.stdout, r.stderr)
	}
	if p := phaseStatus(t, filepath.Join(out, "result.json"), "ready"); p != "fail" {
		t.Errorf("ready phase %q, want fail", p)
	}
}

// TestSecretsStayOut runs a whole cycle with a private key given as an
// input and checks that no private key material or user data shows up in
// anything the run writes.
func TestSecretsStayOut(t *testing.T) {
	h, _, keyPEM := sshHost(t)
	dir := t.TempDir()
	files := map[string]string{}
	for _, name := range []string{"GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"} {
		files[name] = filepath.Join(dir, strings.ToLower(name))
		os.WriteFile(files[name], nil, 0o644)
	}
	suite := writeSuite(t, "user: root\nsteps:\n  - name: hello\n    run: echo hi\n")
	out := filepath.Join(dir, "out")
	r := runBin(t, cmdEnv(t, "GITHUB_ACTIONS=true", "GITHUB_RUN_ID=1",
		"GITHUB_OUTPUT="+files["GITHUB_OUTPUT"], "GITHUB_STATE="+files["GITHUB_STATE"], "GITHUB_STEP_SUMMARY="+files["GITHUB_STEP_SUMMARY"],
		"INPUT_PROVIDER=ssh", "INPUT_SUITE="+suite, "INPUT_OUT="+out,
		"INPUT_SSH-HOST="+h.Addr(), fmt.Sprintf("INPUT_SSH-PORT=%d", h.Port()), "INPUT_SSH-USER=root",
		"INPUT_SSH-PRIVATE-KEY="+string(keyPEM), "INPUT_SSH-KNOWN-HOST="+h.Addr()+" "+h.HostKey()))
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	everything := map[string]string{"stdout": r.stdout, "stderr": r.stderr}
	for name, path := range files {
		data, _ := os.ReadFile(path)
		everything[name] = string(data)
	}
	filepath.Walk(out, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			data, _ := os.ReadFile(path)
			everything[path] = string(data)
		}
		return nil
	})
	var keyLines []string
	for _, l := range strings.Split(string(keyPEM), "\n") {
		if len(l) > 20 && !strings.HasPrefix(l, "-----") {
			keyLines = append(keyLines, l)
		}
	}
	if len(keyLines) == 0 {
		t.Fatal("the test key has no body lines to look for")
	}
	for name, text := range everything {
		// ::add-mask:: lines are how the runner learns what to hide.
		var kept []string
		for _, l := range strings.Split(text, "\n") {
			if !strings.HasPrefix(l, "::add-mask::") {
				kept = append(kept, l)
			}
		}
		text = strings.Join(kept, "\n")
		for _, bad := range append([]string{"PRIVATE KEY", "#cloud-config", "ed25519_private"}, keyLines...) {
			if strings.Contains(text, bad) {
				t.Errorf("%s contains secret material %q", name, bad)
			}
		}
	}
}

// TestSSHUpThenDown keeps an existing host whose suite user did not exist:
// up creates the user (with passwordless sudo) and uploads the probe, and
// down must undo both over SSH, since the ssh provider deletes nothing.
func TestSSHUpThenDown(t *testing.T) {
	h, keyFile, _ := sshHost(t)
	const suiteUser = "mvmv-sshup" // a machine-wide account: fixed, and removed if a failed run left it
	exec.Command("userdel", "-r", "-f", suiteUser).Run()
	for _, f := range []string{"/etc/sudoers.d/90-mvm-verify-" + suiteUser, "/var/lib/mvm-verify/created-user-" + suiteUser} {
		os.Remove(f)
	}
	t.Cleanup(func() {
		exec.Command("userdel", "-r", "-f", suiteUser).Run()
		os.Remove("/etc/sudoers.d/90-mvm-verify-" + suiteUser)
		os.Remove("/var/lib/mvm-verify/created-user-" + suiteUser)
	})
	if _, err := user.Lookup(suiteUser); err == nil {
		t.Fatalf("user %s exists before the test and could not be removed", suiteUser)
	}
	out := filepath.Join(t.TempDir(), "out")
	suite := writeSuite(t, "user: "+suiteUser+"\nsteps:\n  - name: noop\n    run: \"true\"\n")
	up := runBin(t, cmdEnv(t), "up", "--provider", "ssh", "--suite", suite, "--out", out,
		"--ssh-host", h.Addr(), "--ssh-port", fmt.Sprint(h.Port()), "--ssh-user", "root",
		"--ssh-private-key-file", keyFile, "--ssh-known-host", h.Addr()+" "+h.HostKey())
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "host", "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Identity providers.Identity `json:"identity"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("host.json: %v", err)
	}
	left := map[string]string{
		"sudoers drop-in":    "/etc/sudoers.d/90-mvm-verify-" + suiteUser,
		"created-user mark":  "/var/lib/mvm-verify/created-user-" + suiteUser,
		"probe binary's dir": "/tmp/mvm-verify-" + st.Identity.Name(),
	}
	if _, err := user.Lookup(suiteUser); err != nil {
		t.Fatalf("up did not create the suite user: %v", err)
	}
	for what, path := range left {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s missing after up: %v", what, err)
		}
	}

	down := runBin(t, cmdEnv(t), "down", "--out", out)
	if down.code != 0 {
		t.Fatalf("down exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	if _, err := user.Lookup(suiteUser); err == nil {
		t.Errorf("user %s (passwordless sudo) still exists after down", suiteUser)
	}
	for what, path := range left {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s %s left after down (stat: %v)", what, path, err)
		}
	}
}
