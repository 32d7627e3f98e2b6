package cli_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers/local"
)

// lockedBuffer is a process's output, readable while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// holdsOpen says whether process pid has path open.
func holdsOpen(pid int, path string) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && target == path {
			return true
		}
	}
	return false
}

// TestPostReportsTheVerdictOfAMainKilledInItsTeardown is the runner
// cancelling a leg whose suite has passed while its teardown runs: SIGTERM
// during the teardown, then SIGKILL before the teardown (here a destroy
// that waits, as a cloud's wait for a terminated instance does) is done.
// Main must take the signal in the teardown (it cuts it short, leaving
// the rest to the post step), and it must have saved the leg's verdict
// before the teardown began: the post step then tears down and reports
// the real row, verified, not "ended without a result".
func TestPostReportsTheVerdictOfAMainKilledInItsTeardown(t *testing.T) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	dir := t.TempDir()
	stateFile := emptyFile(t, "state")
	creds := []string{"INPUT_GITHUB-TOKEN=" + ghToken, "INPUT_GITHUB-API-URL=" + gh.URL()}
	// The step ends once the test holds the local provider's lock, so
	// main's destroy (which takes it) waits in the teardown for the test.
	// In a directory the suite's user, not root, can look into.
	gate := filepath.Join(openTempDir(t, "mvm-cli-shared-"), "gate")
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: gated\n    run: while [ ! -e "+gate+" ]; do sleep 0.05; done\n    column: Live cycle\n")
	env := cmdEnv(t, append(append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")), creds...),
		"GITHUB_STATE="+stateFile, "INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "leg"),
		"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"))...)

	main := startBin(t, env)
	t.Cleanup(func() { main.cmd.Process.Kill() }) //nolint:errcheck // gone already when the test got that far
	out := &main.out
	waitFor := func(what string, done func() bool) { t.Helper(); main.waitUntil(what, done, nil) }
	waitFor("running the suite", func() bool { return strings.Contains(out.String(), "::group::gated") })

	lockPath, unlock := holdMachineLock(t)
	defer unlock()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("its destroy, waiting for the local provider's lock", func() bool {
		return strings.Contains(out.String(), "==> teardown") && holdsOpen(main.cmd.Process.Pid, lockPath)
	})
	main.signal(syscall.SIGTERM)
	waitFor("taking the signal in its teardown", func() bool {
		return strings.Contains(out.String(), "!! cancelled during the teardown")
	})
	main.kill()
	unlock()

	state := parseFileCommands(t, stateFile)
	if state["outcome"] != "verified" || !strings.Contains(state["row"], `"Live cycle":{"status":"`+string(thisHostLane().liveStatus)+`"`) || state["torn-down"] != "" {
		t.Fatalf("state after the kill: outcome %q, torn down %q, row %q; want the verdict saved before the teardown, not torn down\n%s",
			state["outcome"], state["torn-down"], state["row"], out.String())
	}
	postEnv, postFiles := runnerPostEnv(t, env, state)
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv
	postOut, err := post.CombinedOutput()
	if err != nil {
		t.Fatalf("post: %v\n%s", err, postOut)
	}
	if !strings.Contains(string(postOut), "leak check: nothing tagged with this run is left") ||
		!strings.Contains(string(postOut), "reported "+thisHostLane().key("local")+"'s final row with this teardown's result (status success)") {
		t.Errorf("post did not tear down and report the leg's verified row:\n%s", postOut)
	}
	sum := readFile(t, postFiles["GITHUB_STEP_SUMMARY"])
	if strings.Contains(sum, "ended without a result") {
		t.Errorf("the post step's summary says the leg ended without a result:\n%s", sum)
	}
	// Main was killed before its summary: the post step's is the only one
	// holding the leg's row (with reporting off, the only place at all).
	if state["summary-written"] != "" {
		t.Errorf("main saved summary-written %q, but it was killed in its teardown, before its summary", state["summary-written"])
	}
	if !strings.Contains(sum, "| Provider |") {
		t.Fatalf("the post step's summary has no matrix row for the leg main was killed before summarizing:\n%s", sum)
	}
	if row := rowLine(t, sum); !strings.HasPrefix(row, thisHostLane().passRow("local")) ||
		!strings.Contains(row, "main step killed during its teardown") || strings.Contains(row, "⏳") {
		t.Errorf("post summary row %q, want the leg's verified row, noting main was killed in its teardown", row)
	}
	if st, desc := lastLocalStatus(gh, thisHostLane().key("local")); st != "success" {
		t.Errorf("last status %q %q, want success: the suite passed", st, desc)
	}
	if row := localRow(t, gh, thisHostLane().key("local")); strings.Contains(row, "⏳") || !strings.Contains(row, "| ✅ | "+thisHostLane().liveCell) {
		t.Errorf("comment row %q, want the verified row, nothing ⏳", row)
	}
}

// holdMachineLock takes the local provider's machine-wide lock, so a leg's
// destroy waits for it, and returns its path and the (idempotent) release.
// The lock is the whole machine's: hold it no longer than needed.
func holdMachineLock(t *testing.T) (string, func()) {
	t.Helper()
	lockPath := filepath.Join(local.MachineRegistry, ".lock")
	if err := os.MkdirAll(local.MachineRegistry, 0o700); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	return lockPath, sync.OnceFunc(func() {
		syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
		lock.Close()
	})
}
