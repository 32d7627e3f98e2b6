package cli_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// lastLocalStatus is the newest status on the head of the local leg keyed
// key: a leg run on lane auto is keyed thisHostLane().key("local") (local,
// or local-no-kvm on a machine without KVM); a leg whose saved identity
// the test wrote has the key written there.
func lastLocalStatus(gh *fakegh.Server, key string) (state, description string) {
	for _, st := range gh.Statuses(ghRepo, ghHead) {
		if st.Context == "mvm-verify/"+key {
			state, description = st.State, st.Description
		}
	}
	return state, description
}

// localRow is the comment's table line of the local leg keyed key (as
// for lastLocalStatus).
func localRow(t *testing.T, gh *fakegh.Server, key string) string {
	t.Helper()
	comments := gh.Comments(ghRepo, 7)
	if len(comments) != 1 {
		t.Fatalf("%d comments, want the one matrix comment: %+v", len(comments), comments)
	}
	prefix := "| [" + matrix.DisplayName(key) + "]"
	for _, line := range strings.Split(comments[0].Body, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	t.Fatalf("no row starting %q in the comment:\n%s", prefix, comments[0].Body)
	return ""
}

// TestPostStepPostsTheRowAKilledFinishLost reproduces a cancelled leg: the
// runner's SIGTERM during the suite, the main step tears down and starts
// posting its final row, and the runner's SIGKILL lands while the final
// status request is still in flight (held by the fake). Main had its
// outcome saved, so the post step used to take it as reported and leave the
// status pending and the row ⏳ for good; it must post the saved row.
func TestPostStepPostsTheRowAKilledFinishLost(t *testing.T) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the fake closes
	dir := t.TempDir()
	event := prEventFile(t, ghRepo)
	stateFile := emptyFile(t, "state")
	creds := []string{"INPUT_GITHUB-TOKEN=" + ghToken, "INPUT_GITHUB-API-URL=" + gh.URL()}
	suite := nonRootSuite(t, "steps:\n  - name: long\n    run: sleep 317\n    column: Live cycle\n")
	env := cmdEnv(t, append(append(actionsEnv(event, emptyFile(t, "summary"), emptyFile(t, "outputs")), creds...),
		"GITHUB_STATE="+stateFile, "INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "leg"),
		"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"))...)

	main := startBin(t, env)
	comments := func() string { return fmt.Sprintf("comments: %+v", gh.Comments(ghRepo, 7)) }
	main.waitUntil("reporting its host ready", func() bool {
		for _, c := range gh.Comments(ghRepo, 7) {
			if strings.Contains(c.Body, "| ✅ | ⏳ running |") {
				return true
			}
		}
		return false
	}, comments)
	main.waitUntil("running the suite", func() bool { return len(processesMentioning(t, "sleep 317")) > 0 }, comments)
	// The next status is the final one: it hangs until main is gone.
	held := make(chan struct{}, 1)
	gh.Inject(fakegh.Fault{Method: "POST", Path: "/statuses/", Status: 502, During: func() {
		held <- struct{}{}
		<-release
	}})
	main.signal(syscall.SIGTERM)
	main.waitUntil("posting its final status", func() bool { return len(held) > 0 }, comments)
	main.kill()

	state := parseFileCommands(t, stateFile)
	if state["outcome"] != "cancelled" || state["row"] == "" || state["reported"] != "" {
		t.Fatalf("state after the kill: outcome %q reported %q row %q; want cancelled, not reported, the row saved\n%s",
			state["outcome"], state["reported"], state["row"], main.out.String())
	}
	if st, _ := lastLocalStatus(gh, thisHostLane().key("local")); st != "pending" {
		t.Fatalf("status after the kill is %q: the test did not catch main before its final status", st)
	}
	postEnv, _ := runnerPostEnv(t, env, state)
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv
	out, err := post.CombinedOutput()
	if err != nil {
		t.Fatalf("post: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "reported "+thisHostLane().key("local")+"'s final row") {
		t.Errorf("post did not say it posted the final row:\n%s", out)
	}
	if st, desc := lastLocalStatus(gh, thisHostLane().key("local")); st != "failure" || !strings.Contains(desc, "❌ Live cycle") {
		t.Errorf("last status %q %q, want failure with the live cycle ❌ (cancelled)", st, desc)
	}
	if row := localRow(t, gh, thisHostLane().key("local")); strings.Contains(row, "⏳") || !strings.Contains(row, "❌ cancelled") {
		t.Errorf("comment row %q, want the cancelled row, nothing ⏳", row)
	}
}

// TestUpLegStatusEndsWhenItsHostIsGone: `up` leaves its leg pending (host
// up, suite not run). Once the host is gone — torn down by `down`, or by
// the up step's post step at the job's end — no verdict will come, so the
// status ends as error and the row's live cycle as — (not run), with a note
// saying why; nothing stays ⏳.
func TestUpLegStatusEndsWhenItsHostIsGone(t *testing.T) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	stateFile := emptyFile(t, "state")
	suite := nonRootSuite(t, "steps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	base := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_OUT="+out)...)
	upEnv := append(append([]string{}, base...), "GITHUB_STATE="+stateFile, "INPUT_MODE=up", "INPUT_PROVIDER=local",
		"INPUT_SUITE="+suite, "INPUT_LOCAL-STATE-DIR="+filepath.Join(tmp, "state"))
	up := runBin(t, upEnv)
	t.Cleanup(func() { runBin(t, cmdEnv(t), "down", "--out", out) }) // if the test fails before down
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	if st, _ := lastLocalStatus(gh, thisHostLane().key("local")); st != "pending" {
		t.Fatalf("status after up %q, want pending", st)
	}

	down := runBin(t, append(append([]string{}, base...), "INPUT_MODE=down"))
	if down.code != 0 {
		t.Fatalf("down exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	const downNote = "host kept by up, torn down by down; the suite was not run"
	if st, desc := lastLocalStatus(gh, thisHostLane().key("local")); st != "error" || !strings.Contains(desc, downNote) {
		t.Errorf("status after down %q %q, want error with %q", st, desc, downNote)
	}
	if row := localRow(t, gh, thisHostLane().key("local")); strings.Contains(row, "⏳") || !strings.Contains(row, "| ✅ | — |") || !strings.Contains(row, downNote) {
		t.Errorf("comment row after down %q, want preflight ✅, live cycle —, the note, nothing ⏳", row)
	}

	// The up step's post step at the job's end finds the host gone, torn
	// down and reported by down: down's note stands, and the post step
	// writes nothing more.
	statusesBefore := len(gh.Statuses(ghRepo, ghHead))
	commentBefore := gh.Comments(ghRepo, 7)[0].Body
	postEnv, _ := runnerPostEnv(t, upEnv, parseFileCommands(t, stateFile))
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv
	pout, err := post.CombinedOutput()
	if err != nil {
		t.Fatalf("post: %v\n%s", err, pout)
	}
	if st, desc := lastLocalStatus(gh, thisHostLane().key("local")); st != "error" || !strings.Contains(desc, downNote) {
		t.Errorf("status after the post step %q %q, want down's: error with %q\n%s", st, desc, downNote, pout)
	}
	if n := len(gh.Statuses(ghRepo, ghHead)); n != statusesBefore {
		t.Errorf("the post step posted %d more statuses after down had ended the leg\n%s", n-statusesBefore, pout)
	}
	if body := gh.Comments(ghRepo, 7)[0].Body; body != commentBefore {
		t.Errorf("the post step rewrote the comment after down had ended the leg; row now %q", localRow(t, gh, thisHostLane().key("local")))
	}
}

// TestUpLegEndsAtTheJobsEndWithoutDown: no `down` ran, so the up step's post
// step tears the kept host down and ends the leg itself.
func TestUpLegEndsAtTheJobsEndWithoutDown(t *testing.T) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	stateFile := emptyFile(t, "state")
	suite := nonRootSuite(t, "steps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	upEnv := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_OUT="+out,
		"GITHUB_STATE="+stateFile, "INPUT_MODE=up", "INPUT_PROVIDER=local",
		"INPUT_SUITE="+suite, "INPUT_LOCAL-STATE-DIR="+filepath.Join(tmp, "state"))...)
	up := runBin(t, upEnv)
	t.Cleanup(func() { runBin(t, cmdEnv(t), "down", "--out", out) }) // if the test fails before the post step
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	postEnv, _ := runnerPostEnv(t, upEnv, parseFileCommands(t, stateFile))
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv
	pout, err := post.CombinedOutput()
	if err != nil {
		t.Fatalf("post: %v\n%s", err, pout)
	}
	const postNote = "host kept by up, torn down at the job's end; the suite was not run"
	if st, desc := lastLocalStatus(gh, thisHostLane().key("local")); st != "error" || !strings.Contains(desc, postNote) {
		t.Errorf("status after the post step %q %q, want error with %q\n%s", st, desc, postNote, pout)
	}
	if row := localRow(t, gh, thisHostLane().key("local")); strings.Contains(row, "⏳") || !strings.Contains(row, "| ✅ | — |") || !strings.Contains(row, postNote) {
		t.Errorf("comment row after the post step %q, want preflight ✅, live cycle —, the note, nothing ⏳", row)
	}
}
