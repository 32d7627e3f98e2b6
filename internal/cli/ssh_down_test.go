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
// directory. It logs in as a user with passwordless sudo, as on a cloud
// image, not root (see cliSuiteUser).
func TestDownCleansAnSSHHostAfterAKilledRun(t *testing.T) {
	h, keyFile, _ := sshSudoUserHost(t)
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
	main := startBin(t, env, append([]string{"run", "--provider", "ssh", "--suite", suite, "--out", out,
		"--ssh-host", h.Addr(), "--ssh-port", fmt.Sprint(h.Port()), "--ssh-user", cliSuiteUser,
		"--ssh-private-key-file", keyFile, "--ssh-known-host", h.KnownHostsLine()}, thisHostLane().laneArgs()...)...)
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

// TestDownTakesTheKeyAgainAfterAKilledRun: an ssh run given its key as the
// secret ssh-private-key is killed mid-step; --out keeps no secret, so
// `down --out DIR` alone cannot log in to undo what the run changed on
// the host. It says so, naming the input and the command to run, and
// changes nothing; the command it names — down with the key as
// --ssh-private-key-file — undoes the changes and removes the state.
func TestDownTakesTheKeyAgainAfterAKilledRun(t *testing.T) {
	h, keyFile, keyPEM := sshSudoUserHost(t)
	sleep := fmt.Sprintf("sleep %d.%d", 40000+os.Getpid()%10000, time.Now().UnixNano()%1000000)
	t.Cleanup(func() {
		for _, p := range processesMentioning(t, sleep) {
			pid, _, _ := strings.Cut(p, ":")
			exec.Command("kill", "-KILL", pid).Run()
		}
	})
	started := filepath.Join(openTempDir(t, "mvm-cli-shared-"), "started")
	suite := writeSuite(t, "user: "+cliSuiteUser+"\nsteps:\n  - name: long\n    run: touch "+started+"; "+sleep+"\n")
	out := filepath.Join(t.TempDir(), "out")
	state := filepath.Join(out, "host", "host.json")
	main := startBin(t, cmdEnv(t, "INPUT_SSH-PRIVATE-KEY="+string(keyPEM)), append([]string{"run", "--provider", "ssh", "--suite", suite, "--out", out,
		"--ssh-host", h.Addr(), "--ssh-port", fmt.Sprint(h.Port()), "--ssh-user", cliSuiteUser, "--ssh-known-host", h.KnownHostsLine()},
		thisHostLane().laneArgs()...)...)
	env := cmdEnv(t) // the key is not in down's environment
	t.Cleanup(func() {
		_ = main.cmd.Process.Kill()
		if _, err := os.Stat(state); err == nil {
			runBin(t, env, "down", "--out", out, "--ssh-private-key-file", keyFile)
		}
	})
	main.waitUntil("the suite's step", func() bool {
		_, err := os.Stat(started)
		return err == nil
	}, nil)
	main.kill()

	data, err := os.ReadFile(state)
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
	workDir := "/tmp/mvm-verify-" + st.Identity.Name()
	if _, err := os.Stat(workDir); len(st.HostCleanups) == 0 || err != nil {
		t.Fatalf("the run left no change on the host to undo (cleanups %v, probe work directory: %v)", st.HostCleanups, err)
	}

	bare := runBin(t, env, "down", "--out", out)
	if bare.code != 2 {
		t.Fatalf("down without the key: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", bare.code, bare.stdout, bare.stderr)
	}
	cmd := "mvm-verify down --out " + out + " --ssh-private-key-file KEY"
	for _, w := range []string{`input "ssh-private-key-file": missing`, "given as ssh-private-key", cmd, "INPUT_SSH-PRIVATE-KEY"} {
		if !strings.Contains(bare.stderr, w) {
			t.Errorf("down without the key does not say %q:\n%s", w, bare.stderr)
		}
	}
	if _, err := os.Stat(workDir); err != nil {
		t.Fatalf("down without the key changed the host: %v", err)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("down without the key removed the leg's state: %v", err)
	}

	down := runBin(t, env, "down", "--out", out, "--ssh-private-key-file", keyFile)
	if down.code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", cmd, down.code, down.stdout, down.stderr)
	}
	if _, err := os.Lstat(workDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("probe work directory %s left after down (stat: %v)\n%s", workDir, err, down.stdout)
	}
	if p := processesMentioning(t, sleep); len(p) > 0 {
		t.Errorf("the step's processes still run after down: %v\n%s", p, down.stdout)
	}
	if _, err := os.Stat(filepath.Join(out, "host")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("down left the leg's state behind (stat: %v)", err)
	}
}
