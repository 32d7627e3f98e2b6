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
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
)

// TestDownCleansAnSSHHostAfterAKilledRun is TestPostCleansAnSSHHostAfterAKilledMain
// at a terminal: `run --provider ssh` is SIGKILLed while its step runs on an
// existing host, and nothing follows it but the user's `down --out`. The
// ssh provider deletes nothing, so down can undo what the run changed on
// the host only from what the run wrote into --out as it went: the suite
// user it created with its passwordless sudo rule, the step's processes
// (one of them started as root through that rule) and the probe's work
// directory.
func TestDownCleansAnSSHHostAfterAKilledRun(t *testing.T) {
	h, keyFile, _ := sshHost(t)
	created := freshRunCreatedUser(t, "mvmv-sshdown")
	suiteUser, sudoers, mark := created.Name, created.Sudoers, created.Mark
	// A sleep no other process on the machine has.
	sleepArg := fmt.Sprintf("%d.%d", 30000+os.Getpid()%10000, time.Now().UnixNano()%1000000)
	t.Cleanup(func() {
		for _, p := range processesMentioning(t, "sleep "+sleepArg) {
			pid, _, _ := strings.Cut(p, ":")
			exec.Command("kill", "-KILL", pid).Run()
		}
	})
	// The created user has passwordless sudo: the step starts a root
	// process too, in a session of its own, which down must stop as well.
	// It writes its marker once both sleeps run (pgrep -x: the sleeps
	// themselves, not the shells whose command lines name them).
	markers := openTempDir(t, "mvm-verify-sshdown-")
	started := filepath.Join(markers, "started")
	sleep := "sleep " + sleepArg
	step := "sudo -n setsid " + sleep + " >/dev/null 2>&1 & " + sleep + " & " +
		"until [ \"$(pgrep -cxf '" + sleep + "')\" -ge 2 ]; do sleep 0.05; done; touch " + started + "; wait"
	stepJSON, _ := json.Marshal(step)
	suite := writeSuite(t, "user: "+suiteUser+"\nsteps:\n  - name: long\n    run: "+string(stepJSON)+"\n")
	out := filepath.Join(t.TempDir(), "out")
	env := cmdEnv(t)
	main := startBin(t, env, "run", "--provider", "ssh", "--suite", suite, "--out", out,
		"--ssh-host", h.Addr(), "--ssh-port", fmt.Sprint(h.Port()), "--ssh-user", "root",
		"--ssh-private-key-file", keyFile, "--ssh-known-host", h.KnownHostsLine())
	t.Cleanup(func() {
		// A failed check must not leave the host changed for the next
		// test: what down is for, done whether the test got there.
		_ = main.cmd.Process.Kill()
		if _, err := os.Stat(filepath.Join(out, "host", "host.json")); err == nil {
			runBin(t, env, "down", "--out", out)
		}
	})
	main.waitUntil("the suite's step", func() bool {
		_, err := os.Stat(started)
		return err == nil
	}, nil)
	main.kill()

	// What the run changed, so the checks below see down undo it.
	data, err := os.ReadFile(filepath.Join(out, "host", "host.json"))
	if err != nil {
		t.Fatalf("the killed run left no state for down: %v\n%s", err, main.out.String())
	}
	var st struct {
		Identity     providers.Identity      `json:"identity"`
		HostCleanups []struct{ Name string } `json:"host_cleanups"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("host.json: %v", err)
	}
	if len(st.HostCleanups) == 0 {
		t.Errorf("host.json records no change on the host to undo:\n%s", data)
	}
	if strings.Contains(string(data), "PRIVATE KEY") {
		t.Error("host.json holds the private key")
	}
	left := map[string]string{
		"sudoers drop-in":      sudoers,
		"created-user mark":    mark,
		"probe work directory": "/tmp/mvm-verify-" + st.Identity.Name(),
	}
	if _, err := user.Lookup(suiteUser); err != nil {
		t.Fatalf("the run did not create the suite user: %v", err)
	}
	for what, path := range left {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s %s missing while the step runs: %v", what, path, err)
		}
	}
	if p := processesMentioning(t, sleep); len(p) == 0 {
		t.Fatal("none of the step's processes runs after the kill: down would have nothing to stop")
	}

	down := runBin(t, env, "down", "--out", out)
	if down.code != 0 {
		t.Fatalf("down exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	if _, err := user.Lookup(suiteUser); err == nil {
		t.Errorf("user %s (passwordless sudo) still exists after down\n%s", suiteUser, down.stdout)
	}
	for what, path := range left {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s %s left after down (stat: %v)\n%s", what, path, err, down.stdout)
		}
	}
	if p := processesMentioning(t, sleep); len(p) > 0 {
		t.Errorf("the step's processes still run after down: %v\n%s", p, down.stdout)
	}
	if _, err := os.Stat(filepath.Join(out, "host")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("down left the leg's state behind (stat: %v)", err)
	}
}
