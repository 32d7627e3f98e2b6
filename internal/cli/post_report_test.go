package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/sshd"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// TestPostStepReportsAKilledLeg kills a leg's main step (SIGKILL, as a job
// timeout or cancellation does) while its suite runs, then runs the post
// step as the runner would: besides tearing down it must end the leg's
// pending status with error and turn its ⏳ row into a result, so neither a
// required check nor the matrix waits for good. The report job after it
// shows no ⏳ either.
func TestPostStepReportsAKilledLeg(t *testing.T) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	dir := t.TempDir()
	event := prEventFile(t, ghRepo)
	stateFile := emptyFile(t, "state")
	creds := []string{"INPUT_GITHUB-TOKEN=" + ghToken, "INPUT_GITHUB-API-URL=" + gh.URL()}
	// A sleep no other process on the machine has.
	sleepArg := "7" + strconv.Itoa(os.Getpid()) + "5"
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: long\n    run: sleep "+sleepArg+"\n    column: Live cycle\n")
	summaryFile := emptyFile(t, "summary")
	env := cmdEnv(t, append(append(actionsEnv(event, summaryFile, emptyFile(t, "outputs")), creds...),
		"GITHUB_STATE="+stateFile, "INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "leg"),
		"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"))...)
	tmp := envValue(env, "TMPDIR") // the run's sshd keeps its files here

	main := startBin(t, env)
	// The comment shows the host ready (preflight ✅, live cycle ⏳), and
	// the suite's sleep is running.
	main.waitUntil("reporting its host ready with the step running", func() bool {
		if len(processesMentioning(t, "sleep "+sleepArg)) == 0 {
			return false
		}
		for _, c := range gh.Comments(ghRepo, 7) {
			if strings.Contains(c.Body, "| ✅ | ⏳ running |") {
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("comments: %+v", gh.Comments(ghRepo, 7)) })
	main.kill()

	state := parseFileCommands(t, stateFile)
	if state["identity"] == "" || state["outcome"] != "" {
		t.Fatalf("state after the kill: %v, want an identity and no outcome", state)
	}
	// What the killed main left running, for post to stop: the leg's sshd
	// and the step under it.
	leg := localSSHD(t, filepath.Join(dir, "state"))
	if !leg.running() {
		t.Fatalf("the leg's sshd (pid %d) ended with main; nothing for post to stop", leg.Pid)
	}
	if len(processesMentioning(t, "sleep "+sleepArg)) == 0 {
		t.Fatal("the step ended with main; nothing for post to stop")
	}
	postEnv, postFiles := runnerPostEnv(t, env, state)
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv
	out, err := post.CombinedOutput()
	if err != nil {
		t.Fatalf("post: %v\n%s", err, out)
	}
	// Nothing of the run is left: not its sshd (by pid, and by its files
	// under the run's TMPDIR or, as the suite's user cannot reach that,
	// /tmp: its dir), not the step, not any process carrying the leg's
	// marker.
	if leg.running() {
		t.Errorf("the leg's sshd (pid %d) still runs after post", leg.Pid)
	}
	if _, err := os.Lstat(leg.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the leg's sshd dir %s is left after post (stat: %v)", leg.Dir, err)
	}
	for _, s := range []string{tmp, leg.Dir, "sleep " + sleepArg} {
		if left := processesMentioning(t, s); len(left) > 0 {
			t.Errorf("processes of the run still running after post: %v", left)
		}
	}
	if left := processesWithEnv(t, leg.Marker); len(left) > 0 {
		t.Errorf("processes with the leg's marker %s still running after post: %v", leg.Marker, left)
	}
	// The post step's job summary (its own file, as the runner gives each
	// step) has the leg's row too, whatever GitHub allows.
	if sum := readFile(t, postFiles["GITHUB_STEP_SUMMARY"]); !strings.Contains(sum, "| Provider | Preflight | Live cycle | Seccomp probe | Notes |") ||
		!strings.Contains(sum, "main step ended without a result") {
		t.Errorf("the post step's job summary lacks the leg's row:\n%s", sum)
	}
	if !strings.Contains(string(out), "leak check: nothing tagged with this run is left") ||
		!strings.Contains(string(out), "reported "+thisHostLane().key("local")+" as ended without a result") {
		t.Errorf("post did not tear down and report:\n%s", out)
	}
	const note = "main step ended without a result; torn down by the post step"
	var last string
	for _, st := range gh.Statuses(ghRepo, ghHead) {
		if st.Context == thisHostLane().context("local") {
			last = st.State + " " + st.Description
		}
	}
	if !strings.HasPrefix(last, "error ") || !strings.Contains(last, note) {
		t.Errorf("last status of %s = %q, want error with %q", thisHostLane().context("local"), last, note)
	}
	comments := gh.Comments(ghRepo, 7)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "| ✅ | ❌ | ? | "+note+" |") {
		t.Errorf("comment row not ended (want preflight ✅, live cycle ❌, seccomp ?, the note):\n%+v", comments)
	}

	// The report job after every leg shows the row as it ended.
	outputs := emptyFile(t, "report-outputs")
	rep := runBin(t, cmdEnv(t, append(append(actionsEnv(event, emptyFile(t, "report-summary"), outputs), creds...),
		"INPUT_MODE=report", "INPUT_EXPECT="+thisHostLane().key("local"), "INPUT_OUT="+filepath.Join(dir, "report"))...))
	if rep.code != 0 {
		t.Fatalf("report exit %d\n%s\n%s", rep.code, rep.stdout, rep.stderr)
	}
	var rows []struct {
		Key   string
		Cells map[string]struct{ Status string }
	}
	if err := json.Unmarshal([]byte(parseFileCommands(t, outputs)["matrix"]), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("matrix output: %v %+v", err, rows)
	}
	for col, cell := range rows[0].Cells {
		if cell.Status == "pending" {
			t.Errorf("report shows %s pending for a leg that ended", col)
		}
	}
}

// The progress update runs beside the cycle; when the cycle ends first (here
// its comment write hangs), it is cut short, silently, and the final row
// goes out at once instead of waiting for the update's own budget, which
// timeout-minutes does not reserve.
//
// The update must still be running when the cycle ends, however slow the
// machine: a held write alone does not ensure that, as the update gives up
// on a write after 3/4 of a quiet period (here 37 ms) and on the comment
// after its attempts (a few seconds), which a loaded machine's cycle
// outlasts (the update's give-up is then a real notice). So once a write
// hangs, GitHub's comment reads hang too, and the suite's step waits until
// a write has hung: the update then waits on GitHub until the cycle's end
// cuts it short.
func TestProgressUpdateEndsWithTheCycle(t *testing.T) {
	t.Parallel()
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the fake closes
	dir := t.TempDir()
	// Created when the first comment write hangs; the suite's step waits
	// for it (a minute at most: without it the test fails below). In a
	// directory the suite's user, not root, can look into.
	writeHeld := filepath.Join(openTempDir(t, "mvm-cli-shared-"), "write-held")
	var heldOnce sync.Once
	held := make(chan struct{}, 100)
	finished := func() bool {
		for _, st := range gh.Statuses(ghRepo, ghHead) {
			if st.State == "success" {
				return true
			}
		}
		return false
	}
	hold := func() {
		for !finished() {
			select {
			case <-release:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	// Every comment write hangs until the leg's final status is out, then
	// lands (and answers 502, which the leg must take in its stride). The
	// progress update's writes hang, so the final status comes only if the
	// cycle's end cuts the update short.
	gh.Inject(fakegh.Fault{Method: "PATCH", Path: "/issues/comments/", Status: 502, Apply: true, Times: 1000, During: func() {
		held <- struct{}{}
		heldOnce.Do(func() { os.WriteFile(writeHeld, nil, 0o644) })
		hold()
	}})
	// Once a write has hung, so do the reads of the comments (a hook: they
	// are then served as usual), until the final status is out.
	gh.Inject(fakegh.Fault{Method: "GET", Path: "/issues/7/comments", Times: 1000, During: func() {
		if len(held) > 0 {
			hold()
		}
	}})
	step := "for i in $(seq 600); do [ -e " + writeHeld + " ] && break; sleep 0.1; done; echo hi"
	stepJSON, _ := json.Marshal(step)
	suite := writeSuite(t, "user: "+ownSuiteUser(t, "mvmcpu")+"\nsteps:\n  - name: hello\n    run: "+string(stepJSON)+"\n    column: Live cycle\n")
	leg := runBin(t, cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(),
		"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "leg"),
		"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"),
		// The debug lines say how the update ended.
		"MVM_VERIFY_DEBUG=1")...))
	if leg.code != 0 {
		t.Fatalf("leg exit %d\nstdout:\n%s\nstderr:\n%s", leg.code, leg.stdout, leg.stderr)
	}
	select {
	case <-held:
	default:
		t.Fatal("no comment write was held: the test did not exercise a hanging progress update")
	}
	if !strings.Contains(leg.stdout, "::debug::progress update ended with the cycle") {
		t.Errorf("the progress update was not cut short by the cycle's end:\n%s", leg.stdout)
	}
	if strings.Contains(leg.stdout, "::notice") {
		t.Errorf("a notice about the progress update that the cycle's end cut short:\n%s", leg.stdout)
	}
	var last string
	for _, st := range gh.Statuses(ghRepo, ghHead) {
		if st.Context == thisHostLane().context("local") {
			last = st.State
		}
	}
	if c := gh.Comments(ghRepo, 7); last != "success" || len(c) != 1 || !strings.Contains(c[0].Body, "| ✅ | "+thisHostLane().liveCell) {
		t.Errorf("final status %q and comment %+v, want success and the final row", last, c)
	}
}

// envValue is the value of key in env, "" if unset.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val // the last one wins, as exec does
		}
	}
	return v
}

// localLeg is what the local provider's state file says about the one leg
// in a state dir: its sshd (pid, start time, private dir) and the marker in
// its sessions' environment.
type localLeg struct {
	Pid       int
	StartTime uint64
	Dir       string
	Marker    string
}

func localSSHD(t *testing.T, stateDir string) localLeg {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(stateDir, "mvmv-*.json"))
	if len(files) != 1 {
		t.Fatalf("want one local leg's state in %s, found %v", stateDir, files)
	}
	var st struct {
		Changes []struct {
			Kind, Dir, Marker string
			Pid               int
			StartTime         uint64 `json:"start_time"`
		}
	}
	if err := json.Unmarshal([]byte(readFile(t, files[0])), &st); err != nil {
		t.Fatalf("local state %s: %v", files[0], err)
	}
	var leg localLeg
	for _, c := range st.Changes {
		switch c.Kind {
		case "sshd":
			leg.Pid, leg.StartTime, leg.Dir = c.Pid, c.StartTime, c.Dir
		case "processes":
			leg.Marker = c.Marker
		}
	}
	if leg.Pid == 0 || leg.Dir == "" || leg.Marker == "" {
		t.Fatalf("local state %s records no sshd or marker: %+v", files[0], st.Changes)
	}
	return leg
}

// running reports whether the leg's sshd still runs: its pid alive (not
// a zombie) with the start time recorded, so a reused pid does not count.
func (l localLeg) running() bool { return sshd.Running(l.Pid, l.StartTime) }

// processesWithEnv lists pids whose environment holds the local leg's
// marker (MVM_VERIFY_LOCAL=marker), which every session of the leg gets.
func processesWithEnv(t *testing.T, marker string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("MVM_VERIFY_LOCAL=" + marker)
	var pids []string
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		environ, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(environ, []byte{0}) {
			if bytes.Equal(kv, want) {
				pids = append(pids, e.Name())
			}
		}
	}
	return pids
}
