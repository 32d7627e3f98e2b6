package cli_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

const (
	ghRepo  = "o/r"
	ghHead  = "0123456789abcdef0123456789abcdef01234567"
	ghToken = "ghs_testtoken"
	roToken = "ghs_readonlytoken"
)

// fakeGitHub is a fake GitHub holding PR #7 of o/r at ghHead, with a
// writing and a read-only token.
func fakeGitHub(t *testing.T, opts ...fakegh.Option) *fakegh.Server {
	t.Helper()
	gh := fakegh.New(opts...)
	t.Cleanup(gh.Close)
	gh.AddToken(ghToken, fakegh.Token{Login: "github-actions[bot]"})
	gh.AddToken(roToken, fakegh.Token{Login: "github-actions[bot]", ReadOnly: true})
	gh.SetPR(ghRepo, fakegh.PR{Number: 7, HeadSHA: ghHead, HeadRepo: ghRepo, BaseRepo: ghRepo})
	return gh
}

// prEventFile writes a pull_request event for PR #7 whose head is in
// headRepo (o/r, or a fork).
func prEventFile(t *testing.T, headRepo string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "event.json")
	payload := `{"pull_request":{"number":7,"head":{"sha":"` + ghHead + `","repo":{"full_name":"` + headRepo +
		`"}},"base":{"repo":{"full_name":"o/r"}}}}`
	if err := os.WriteFile(path, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// actionsEnv is the runner's environment for a job of run 99 on PR #7.
func actionsEnv(event, summary, outputs string) []string {
	return []string{
		"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=" + ghRepo, "GITHUB_RUN_ID=99", "GITHUB_RUN_ATTEMPT=1",
		"GITHUB_JOB=verify", "RUNNER_NAME=runner-3", "GITHUB_SHA=ffffffffffffffffffffffffffffffffffffffff",
		"GITHUB_SERVER_URL=https://github.example", "GITHUB_EVENT_NAME=pull_request", "GITHUB_EVENT_PATH=" + event,
		"GITHUB_STEP_SUMMARY=" + summary, "GITHUB_OUTPUT=" + outputs, "MVM_VERIFY_POLL_INTERVAL=50ms",
	}
}

func emptyFile(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestLegAndReportOnGitHub runs a leg as the runner would with a token and
// the API pointed at the fake GitHub, then the aggregating report job: the
// leg's status lands on the PR head linking its job, its row in the sticky
// comment, and report writes the matrix with a ? row for the leg that never
// reported — into the comment, its job summary, matrix.md and the docs file,
// of which only the table changes.
func TestLegAndReportOnGitHub(t *testing.T) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	gh.AddJob(ghRepo, 99, 1, fakegh.Job{ID: 4242, Name: "verify (local)", RunnerName: "runner-3", Status: "in_progress"})
	jobURL := fakegh.JobURL(ghRepo, 99, 4242)
	dir := t.TempDir()
	event := prEventFile(t, ghRepo)
	creds := []string{"INPUT_GITHUB-TOKEN=" + ghToken, "INPUT_GITHUB-API-URL=" + gh.URL()}
	suite := nonRootSuite(t, "steps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	// The leg runs lane auto: its row key, status context and Live cycle
	// cell are this machine's lane's.
	lane := thisHostLane()
	legSummary := emptyFile(t, "leg-summary")
	leg := runBin(t, cmdEnv(t, append(append(actionsEnv(event, legSummary, emptyFile(t, "leg-outputs")), creds...),
		"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "leg"),
		"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"))...))
	if leg.code != 0 {
		t.Fatalf("leg exit %d\nstdout:\n%s\nstderr:\n%s", leg.code, leg.stdout, leg.stderr)
	}
	// pending at the start, pending again once the host is ready, then the
	// verdict; every one linking this job's page.
	var states []string
	for _, st := range gh.Statuses(ghRepo, ghHead) {
		if st.Context == lane.context("local") {
			states = append(states, st.State)
			if st.TargetURL != jobURL {
				t.Errorf("status %s links %q, want the job %q", st.State, st.TargetURL, jobURL)
			}
		}
	}
	if strings.Join(states, ",") != "pending,pending,success" {
		t.Errorf("statuses for %s on the head SHA: %v, want pending, pending, success", lane.context("local"), states)
	}
	comments := gh.Comments(ghRepo, 7)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "<!-- mvm-verify:matrix -->") ||
		!strings.Contains(comments[0].Body, lane.linkedPassRow("local", jobURL)) {
		t.Fatalf("want one sticky comment holding the row %q linking its job, got %+v", lane.linkedPassRow("local", jobURL), comments)
	}
	if strings.Contains(leg.stdout, "::notice") {
		t.Errorf("a notice although everything was reported:\n%s", leg.stdout)
	}

	docs := filepath.Join(dir, "matrix.md")
	// The old table holds an earlier row of this same leg (its display
	// is its lane's), which the report replaces.
	before := "# Verification\n\nintro stays\n\n<!-- mvm-verify:start -->\n" + lane.rowPrefix("local") + " ❌ | ❌ | ❌ | old table |\n<!-- mvm-verify:end -->\n\noutro stays\n"
	if err := os.WriteFile(docs, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report")
	outputs, summary := emptyFile(t, "outputs"), emptyFile(t, "summary")
	rep := runBin(t, cmdEnv(t, append(append(actionsEnv(event, summary, outputs), creds...),
		"INPUT_MODE=report", "INPUT_EXPECT="+lane.key("local")+",aws", "INPUT_OUT="+out, "INPUT_MATRIX-FILE="+docs)...))
	if rep.code != 0 {
		t.Fatalf("report exit %d\nstdout:\n%s\nstderr:\n%s", rep.code, rep.stdout, rep.stderr)
	}
	var rows []struct {
		Key   string
		Cells map[string]struct{ Status string }
	}
	if err := json.Unmarshal([]byte(parseFileCommands(t, outputs)["matrix"]), &rows); err != nil {
		t.Fatalf("matrix output: %v", err)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r.Key] = r.Cells["Live cycle"].Status
	}
	if got[lane.key("local")] != string(lane.liveStatus) || got["aws"] != "unknown" || len(got) != 2 {
		t.Errorf("matrix rows %v: want %s %s and aws unknown (%s)", got, lane.key("local"), lane.liveStatus, lane.why)
	}
	localRow := lane.linkedPassRow("local", jobURL)
	awsRow := "| AWS | ? | ? | ? | no result from this leg |"
	final := gh.Comments(ghRepo, 7)
	if len(final) != 1 || !strings.Contains(final[0].Body, localRow) || !strings.Contains(final[0].Body, awsRow) {
		t.Errorf("final comment lacks %q or %q:\n%+v", localRow, awsRow, final)
	}
	for name, md := range map[string]string{"job summary": readFile(t, summary), "matrix.md": readFile(t, filepath.Join(out, "matrix.md"))} {
		if !strings.Contains(md, "| Provider | Preflight | Live cycle | Seccomp probe | Notes |") ||
			!strings.Contains(md, localRow) || !strings.Contains(md, awsRow) || !strings.Contains(md, ghHead[:7]) {
			t.Errorf("%s lacks the final matrix (Local ✅, AWS ?, head %s):\n%s", name, ghHead[:7], md)
		}
	}
	after := readFile(t, docs)
	if !strings.HasPrefix(after, "# Verification\n\nintro stays\n\n<!-- mvm-verify:start -->\n") ||
		!strings.HasSuffix(after, "<!-- mvm-verify:end -->\n\noutro stays\n") || strings.Contains(after, "old table") ||
		!strings.Contains(after, awsRow) {
		t.Errorf("docs file not rewritten between the markers only:\n%s", after)
	}
	if _, err := os.Stat(filepath.Join(out, "matrix.json")); err != nil {
		t.Errorf("report left no matrix.json: %v", err)
	}
}

// A fork PR's token is read-only, and so may be the workflow's: the leg
// still verifies (exit 0), writes its job summary, and says once — not at
// start, progress and finish — that GitHub got nothing.
func TestForkAndReadOnlyTokenLegs(t *testing.T) {
	testhost.RequireRoot(t)
	for _, c := range []struct{ name, headRepo, token, why string }{
		{"fork PR", "mallory/r", ghToken, "fork mallory/r"},
		{"read-only token", ghRepo, roToken, "Resource not accessible by integration"},
	} {
		t.Run(c.name, func(t *testing.T) {
			gh := fakeGitHub(t)
			dir := t.TempDir()
			summary := emptyFile(t, "summary")
			suite := nonRootSuite(t, "steps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
			leg := runBin(t, cmdEnv(t, append(actionsEnv(prEventFile(t, c.headRepo), summary, emptyFile(t, "outputs")),
				"INPUT_GITHUB-TOKEN="+c.token, "INPUT_GITHUB-API-URL="+gh.URL(),
				"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "out"),
				"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"))...))
			if leg.code != 0 {
				t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", leg.code, leg.stdout, leg.stderr)
			}
			if n := strings.Count(leg.stdout, "::notice"); n != 1 {
				t.Errorf("%d ::notice:: lines, want exactly one:\n%s", n, leg.stdout)
			}
			if !strings.Contains(leg.stdout, c.why) {
				t.Errorf("the notice does not say why (%q):\n%s", c.why, leg.stdout)
			}
			if md := readFile(t, summary); !strings.Contains(md, thisHostLane().passRow("local")) {
				t.Errorf("job summary lacks the leg's row:\n%s", md)
			}
			if len(gh.Statuses(ghRepo, ghHead)) != 0 || len(gh.Comments(ghRepo, 7)) != 0 {
				t.Errorf("GitHub was written to: %v %v", gh.Statuses(ghRepo, ghHead), gh.Comments(ghRepo, 7))
			}
		})
	}
}

// A token that may post statuses but not comment (statuses: write without
// pull-requests: write, or a locked PR): the leg still ends with its verdict
// as the status — not pending for good — says once that the comment was
// refused, and saves that the final status was posted, so the post step
// does not post it again. The exit code is the verification's.
func TestLegCommentRefusedStillSettlesStatus(t *testing.T) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	const refused = "Resource not accessible by integration"
	gh.Inject(fakegh.Fault{Method: "POST", Path: "/comments", Status: 403, Message: refused, Times: 100})
	gh.Inject(fakegh.Fault{Method: "PATCH", Path: "/issues/comments/", Status: 403, Message: refused, Times: 100})
	dir := t.TempDir()
	summary, stateFile := emptyFile(t, "summary"), emptyFile(t, "state")
	suite := nonRootSuite(t, "steps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	leg := runBin(t, cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), summary, emptyFile(t, "outputs")),
		"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(), "GITHUB_STATE="+stateFile,
		"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "out"),
		"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"))...))
	if leg.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", leg.code, leg.stdout, leg.stderr)
	}
	var states []string
	for _, st := range gh.Statuses(ghRepo, ghHead) {
		if st.Context == thisHostLane().context("local") {
			states = append(states, st.State)
		}
	}
	if len(states) == 0 || states[len(states)-1] != "success" {
		t.Errorf("statuses for %s: %v, want the last one success", thisHostLane().context("local"), states)
	}
	if n := strings.Count(leg.stdout, "::notice"); n != 1 {
		t.Errorf("%d ::notice:: lines, want exactly one:\n%s", n, leg.stdout)
	}
	if !strings.Contains(leg.stdout, refused) || !strings.Contains(leg.stdout, "comment") {
		t.Errorf("the notice does not say the comment was refused:\n%s", leg.stdout)
	}
	if c := gh.Comments(ghRepo, 7); len(c) != 0 {
		t.Errorf("a comment although comments are refused: %+v", c)
	}
	if md := readFile(t, summary); !strings.Contains(md, thisHostLane().passRow("local")) {
		t.Errorf("job summary lacks the leg's row:\n%s", md)
	}
	if got := parseFileCommands(t, stateFile)["reported"]; got != "true" {
		t.Errorf("state reported = %q, want true: the final status was posted", got)
	}
}

// comment: false on a leg: "job summary only", as action.yml says. The leg
// and its post step send GitHub nothing at all (no status, no comment, not
// even a read), and the job summary still holds the leg's row.
func TestLegCommentFalseSendsNothing(t *testing.T) {
	testhost.RequireRoot(t)
	gh := fakeGitHub(t)
	dir := t.TempDir()
	summary, stateFile := emptyFile(t, "summary"), emptyFile(t, "state")
	suite := nonRootSuite(t, "steps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	env := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), summary, emptyFile(t, "outputs")),
		"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_COMMENT=false", "GITHUB_STATE="+stateFile,
		"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "out"),
		"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"))...)
	leg := runBin(t, env)
	if leg.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", leg.code, leg.stdout, leg.stderr)
	}
	if md := readFile(t, summary); !strings.Contains(md, thisHostLane().passRow("local")) {
		t.Errorf("job summary lacks the leg's row:\n%s", md)
	}
	postEnv, _ := runnerPostEnv(t, env, parseFileCommands(t, stateFile))
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv
	if out, err := post.CombinedOutput(); err != nil {
		t.Fatalf("post: %v\n%s", err, out)
	}
	if reqs := gh.Requests(); len(reqs) != 0 {
		t.Errorf("comment: false, yet %d requests reached GitHub: %+v", len(reqs), reqs)
	}
}

// Without the github-api-url input the API is GITHUB_API_URL's (GHES).
func TestGitHubAPIURLDefaultsFromEnv(t *testing.T) {
	gh := fakeGitHub(t)
	gh.AddStatus(ghRepo, fakegh.Status{SHA: ghHead, State: "success", Context: "mvm-verify/aws",
		Description: "✅ Preflight · ✅ Live cycle · ✅ Seccomp probe · from the status"})
	out := filepath.Join(t.TempDir(), "out")
	r := runBin(t, cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"GITHUB_API_URL="+strings.TrimSuffix(gh.URL(), "/"), "INPUT_GITHUB-TOKEN="+ghToken,
		"INPUT_MODE=report", "INPUT_EXPECT=aws", "INPUT_OUT="+out)...))
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if len(gh.Requests()) == 0 || len(gh.Comments(ghRepo, 7)) != 1 {
		t.Fatalf("the fake at GITHUB_API_URL was not used: %d requests, comments %+v", len(gh.Requests()), gh.Comments(ghRepo, 7))
	}
	if md := readFile(t, filepath.Join(out, "matrix.md")); !verifiedRow("AWS", "from the status").MatchString(md) {
		t.Errorf("matrix.md lacks the row read from the status:\n%s", md)
	}
}

// Without expect, a leg that never reported has no row in the final
// matrix: report says so in one notice naming the input, and not when
// expect is given.
func TestReportWithoutExpectNotice(t *testing.T) {
	for _, c := range []struct {
		name   string
		expect []string
		want   int
	}{
		{"no expect", nil, 1},
		{"expect", []string{"INPUT_EXPECT=aws,gcp"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			gh := fakeGitHub(t)
			gh.AddStatus(ghRepo, fakegh.Status{SHA: ghHead, State: "success", Context: "mvm-verify/aws",
				Description: "✅ Preflight · ✅ Live cycle · ✅ Seccomp probe · from the status"})
			out := filepath.Join(t.TempDir(), "out")
			env := append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
				"INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_GITHUB-TOKEN="+ghToken, "INPUT_MODE=report", "INPUT_OUT="+out)
			r := runBin(t, cmdEnv(t, append(env, c.expect...)...))
			if r.code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			n := 0
			for _, line := range strings.Split(r.stdout, "\n") {
				if strings.HasPrefix(line, "::notice") && strings.Contains(line, "the input expect is empty") {
					n++
				}
			}
			if n != c.want {
				t.Errorf("%d notices about the input expect, want %d\nstdout:\n%s", n, c.want, r.stdout)
			}
		})
	}
}

// comment: false in report mode: the matrix is written everywhere but the
// PR comment.
func TestReportCommentFalse(t *testing.T) {
	gh := fakeGitHub(t)
	out := filepath.Join(t.TempDir(), "out")
	summary, outputs := emptyFile(t, "summary"), emptyFile(t, "outputs")
	r := runBin(t, cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), summary, outputs),
		"INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_GITHUB-TOKEN="+ghToken, "INPUT_COMMENT=false",
		"INPUT_MODE=report", "INPUT_EXPECT=aws,gcp", "INPUT_OUT="+out)...))
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// report sets the outputs the docs give it, and only those.
	got := parseFileCommands(t, outputs)
	if keys, want := slices.Sorted(maps.Keys(got)), modeOutputs("report"); !slices.Equal(keys, want) {
		t.Errorf("report set the outputs %v, want those the docs give report: %v", keys, want)
	}
	if m := strings.TrimSpace(readFile(t, filepath.Join(out, "matrix.json"))); got["matrix"] != m {
		t.Errorf("matrix output %q, want matrix.json's %q", got["matrix"], m)
	}
	if c := gh.Comments(ghRepo, 7); len(c) != 0 {
		t.Errorf("comment: false, but report commented: %+v", c)
	}
	for _, md := range []string{readFile(t, summary), readFile(t, filepath.Join(out, "matrix.md"))} {
		if !strings.Contains(md, "| AWS | ? |") || !strings.Contains(md, "| GCP | ? |") {
			t.Errorf("matrix lacks the expected rows:\n%s", md)
		}
	}
}

// Outside Actions report needs no GITHUB_* variable: without a repository
// it writes the expected rows as ? with a notice and exits 0; with the
// github-repository, pull-request and head-sha inputs it reads GitHub.
func TestReportOutsideActions(t *testing.T) {
	t.Run("no repository", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		r := runBin(t, cmdEnv(t), "report", "--expect", "aws,gcp", "--out", out)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, "github-repository") {
			t.Errorf("no notice naming the github-repository input:\n%s", r.stderr)
		}
		md := r.file(t, "matrix.md")
		if !strings.Contains(md, "| AWS | ? | ? | ? |") || !strings.Contains(md, "| GCP | ? | ? | ? |") {
			t.Errorf("matrix.md lacks the expected rows:\n%s", md)
		}
		var rows []map[string]any
		if err := json.Unmarshal([]byte(r.file(t, "matrix.json")), &rows); err != nil || len(rows) != 2 {
			t.Errorf("matrix.json: %v, %d rows", err, len(rows))
		}
	})
	// No rows at all still makes a list: readers iterate matrix.json.
	t.Run("no rows", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		r := runBin(t, cmdEnv(t), "report", "--out", out)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if got := strings.TrimSpace(r.file(t, "matrix.json")); got != "[]" {
			t.Errorf("matrix.json of no rows = %s, want []", got)
		}
	})
	t.Run("with inputs", func(t *testing.T) {
		gh := fakeGitHub(t)
		gh.AddStatus(ghRepo, fakegh.Status{SHA: ghHead, State: "failure", Context: "mvm-verify/gcp",
			Description: "✅ Preflight · ❌ Live cycle · ❌ Seccomp probe · boom"})
		out := filepath.Join(t.TempDir(), "out")
		r := runBin(t, cmdEnv(t, "GITHUB_TOKEN="+ghToken, "MVM_VERIFY_POLL_INTERVAL=50ms"), "report",
			"--github-repository", ghRepo, "--pull-request", "7", "--head-sha", ghHead, "--github-api-url", gh.URL(),
			"--expect", "aws,gcp", "--out", out)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if md := r.file(t, "matrix.md"); !strings.Contains(md, "| GCP | ✅ | ❌ | ❌ | boom |") || !strings.Contains(md, "| AWS | ? |") {
			t.Errorf("matrix.md lacks GCP from its status and AWS as ?:\n%s", md)
		}
		if c := gh.Comments(ghRepo, 7); len(c) != 1 {
			t.Errorf("want the final comment on PR #7, got %+v", c)
		}
	})
}

// Bad report inputs exit 2 naming the input, the value and the form, before
// anything is written.
func TestReportBadInput(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.md")
	if err := os.WriteFile(plain, []byte("# no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const gluedContent = "# Matrix\ntext <!-- mvm-verify:start -->\n<!-- mvm-verify:end -->\n"
	glued := filepath.Join(dir, "glued.md")
	if err := os.WriteFile(glued, []byte(gluedContent), 0o644); err != nil {
		t.Fatal(err)
	}
	const notesContent = "<!-- mvm-verify:start -->\n| AWS | ✅ | ✅ | ✅ | x |\nsee the May run\n<!-- mvm-verify:end -->\n"
	notes := filepath.Join(dir, "notes.md")
	if err := os.WriteFile(notes, []byte(notesContent), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"matrix-file without markers", []string{"--matrix-file", plain, "--expect", "aws"},
			[]string{`input "matrix-file"`, plain, "<!-- mvm-verify:start --> … <!-- mvm-verify:end -->"}},
		{"matrix-file marker sharing its line", []string{"--matrix-file", glued, "--expect", "aws"},
			[]string{`input "matrix-file"`, glued, "line 2: <!-- mvm-verify:start --> shares its line with other text"}},
		{"matrix-file text in the table", []string{"--matrix-file", notes, "--expect", "aws"},
			[]string{`input "matrix-file"`, notes, `line 3: "see the May run" is not a table line`}},
		{"expect not keys", []string{"--expect", "AWS lane,x|y"},
			[]string{`input "expect"`, `"AWS lane,x|y"`, "lowercase letters, digits, - and _"}},
		{"repository not owner/name", []string{"--github-repository", "https://github.com/o/r"},
			[]string{`input "github-repository"`, "owner/name"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			r := runBin(t, cmdEnv(t), append([]string{"report", "--out", out}, c.args...)...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("report wrote its output directory despite bad input")
			}
			if readFile(t, plain) != "# no markers\n" || readFile(t, glued) != gluedContent || readFile(t, notes) != notesContent {
				t.Error("the matrix file changed")
			}
		})
	}
}

// A report that read nothing from GitHub (a refused token) leaves the docs
// file byte for byte as it was, says so, and does not claim to have
// rewritten it: the docs job would otherwise commit a table of ?.
func TestReportBadTokenKeepsMatrixFile(t *testing.T) {
	gh := fakeGitHub(t)
	docs := filepath.Join(t.TempDir(), "matrix.md")
	before := "# Verification\n\n<!-- mvm-verify:start -->\n| Provider | Preflight | Live cycle | Seccomp probe | Notes |\n" +
		"|---|---|---|---|---|\n| AWS | ✅ | ✅ | ✅ | known good |\n<!-- mvm-verify:end -->\n"
	if err := os.WriteFile(docs, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	r := runBin(t, cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_GITHUB-TOKEN=ghs_not_a_valid_token",
		"INPUT_MODE=report", "INPUT_EXPECT=aws", "INPUT_OUT="+out, "INPUT_MATRIX-FILE="+docs)...))
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got := readFile(t, docs); got != before {
		t.Errorf("the matrix file changed although nothing was read from GitHub:\n%s", got)
	}
	if strings.Contains(r.stdout, "rewrote") || !strings.Contains(r.stdout, docs+" was left as it was") {
		t.Errorf("stdout claims a rewrite or lacks the notice that the file was left alone:\n%s", r.stdout)
	}
}

// A matrix file that passed the input checks but cannot be written (here
// its directory is mounted read-only, which stops root too) fails the
// report: exit 1 naming the file, so the docs job does not commit a table
// it believes rewritten. The file stays as it was, and the matrix still
// reaches matrix.md, matrix.json and the job summary.
func TestReportUnwritableMatrixFileFails(t *testing.T) {
	testhost.RequireRoot(t) // the read-only bind mount, in a mount namespace of the report's own
	gh := fakeGitHub(t)
	gh.AddStatus(ghRepo, fakegh.Status{SHA: ghHead, State: "success", Context: "mvm-verify/aws",
		Description: "✅ Preflight · ✅ Live cycle · ✅ Seccomp probe · from the status"})
	docsDir := t.TempDir()
	docs := filepath.Join(docsDir, "matrix.md")
	before := "# Verification\n\n<!-- mvm-verify:start -->\n| AWS | ❌ | ❌ | ❌ | old |\n<!-- mvm-verify:end -->\n"
	if err := os.WriteFile(docs, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	summary := emptyFile(t, "summary")
	// unshare(1) is util-linux's: a new mount namespace, the docs
	// directory bound read-only onto itself, then the report. bash, not
	// sh: dash drops the INPUT_GITHUB-TOKEN style names from the
	// environment it passes on.
	readOnly := launch{prefix: []string{"unshare", "--mount", "--propagation", "private",
		"bash", "-c", `mount --bind -o ro "$0" "$0" && exec "$@"`, docsDir}}
	r := runBinHow(t, readOnly, cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), summary, emptyFile(t, "outputs")),
		"INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_GITHUB-TOKEN="+ghToken,
		"INPUT_MODE=report", "INPUT_EXPECT=aws", "INPUT_OUT="+out, "INPUT_MATRIX-FILE="+docs)...))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "matrix-file") || !strings.Contains(r.stderr, docs) || !strings.Contains(r.stderr, "read-only file system") {
		t.Errorf("stderr does not name the input, the file and why:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "rewrote") {
		t.Errorf("stdout claims the file was rewritten:\n%s", r.stdout)
	}
	if got := readFile(t, docs); got != before {
		t.Errorf("the matrix file changed:\n%s", got)
	}
	for name, md := range map[string]string{"job summary": readFile(t, summary), "matrix.md": readFile(t, filepath.Join(out, "matrix.md"))} {
		if !verifiedRow("AWS", "from the status").MatchString(md) {
			t.Errorf("%s lacks the matrix read from GitHub:\n%s", name, md)
		}
	}
}

// An event payload report cannot read: the matrix is not read from GitHub
// (nothing is sent), a warning names GITHUB_EVENT_PATH, and the matrix still
// holds every expected row as ?, in the outputs and files, not an empty
// table. The docs file is left as it was: a table of ? would only erase what
// it knows.
func TestReportUnreadableEventWritesPlaceholders(t *testing.T) {
	gh := fakeGitHub(t)
	event := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(event, []byte("not the event's JSON"), 0o644); err != nil {
		t.Fatal(err)
	}
	docs := filepath.Join(t.TempDir(), "matrix.md")
	before := "<!-- mvm-verify:start -->\n| AWS | ✅ | ✅ | ✅ | known good |\n<!-- mvm-verify:end -->\n"
	if err := os.WriteFile(docs, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	summary, outputs := emptyFile(t, "summary"), emptyFile(t, "outputs")
	r := runBin(t, cmdEnv(t, append(actionsEnv(event, summary, outputs),
		"INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_GITHUB-TOKEN="+ghToken,
		"INPUT_MODE=report", "INPUT_EXPECT=aws,gcp", "INPUT_OUT="+out, "INPUT_MATRIX-FILE="+docs)...))
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "::warning") || !strings.Contains(r.stdout, "GITHUB_EVENT_PATH="+event) {
		t.Errorf("no warning naming GITHUB_EVENT_PATH:\n%s", r.stdout)
	}
	var rows []struct {
		Key   string
		Cells map[string]struct{ Status string }
	}
	if err := json.Unmarshal([]byte(parseFileCommands(t, outputs)["matrix"]), &rows); err != nil {
		t.Fatalf("matrix output: %v", err)
	}
	var got []string
	for _, row := range rows {
		got = append(got, row.Key+":"+row.Cells["Live cycle"].Status)
	}
	if strings.Join(got, ",") != "aws:unknown,gcp:unknown" {
		t.Errorf("matrix output rows %v, want aws and gcp as unknown", got)
	}
	if m := strings.TrimSpace(readFile(t, filepath.Join(out, "matrix.json"))); parseFileCommands(t, outputs)["matrix"] != m {
		t.Errorf("matrix.json %q differs from the matrix output", m)
	}
	for name, md := range map[string]string{"job summary": readFile(t, summary), "matrix.md": readFile(t, filepath.Join(out, "matrix.md"))} {
		if !strings.Contains(md, "| AWS | ? | ? | ? |") || !strings.Contains(md, "| GCP | ? | ? | ? |") {
			t.Errorf("%s lacks the expected rows as ?:\n%s", name, md)
		}
	}
	if got := readFile(t, docs); got != before {
		t.Errorf("the matrix file changed:\n%s", got)
	}
	if reqs := gh.Requests(); len(reqs) != 0 {
		t.Errorf("%d requests to GitHub without a readable event: %+v", len(reqs), reqs)
	}
}

// Outside Actions, --pull-request without --head-sha reports the PR's head;
// with a --head-sha that is not the PR's head, it reports the given commit
// and says so, leaving the comment (which follows the PR's head) alone.
func TestReportPullRequestAndHeadSHA(t *testing.T) {
	const older = "89abcdef0123456789abcdef0123456789abcdef"
	gh := fakeGitHub(t)
	gh.AddStatus(ghRepo, fakegh.Status{SHA: ghHead, State: "failure", Context: "mvm-verify/gcp",
		Description: "✅ Preflight · ❌ Live cycle · ❌ Seccomp probe · on the head"})
	gh.AddStatus(ghRepo, fakegh.Status{SHA: older, State: "success", Context: "mvm-verify/gcp",
		Description: "✅ Preflight · ✅ Live cycle · ✅ Seccomp probe · on the older commit"})
	args := []string{"report", "--github-repository", ghRepo, "--pull-request", "7", "--github-api-url", gh.URL(), "--expect", "gcp"}
	env := cmdEnv(t, "GITHUB_TOKEN="+ghToken, "MVM_VERIFY_POLL_INTERVAL=50ms")

	t.Run("no head-sha", func(t *testing.T) {
		docs := filepath.Join(t.TempDir(), "matrix.md")
		if err := os.WriteFile(docs, []byte("<!-- mvm-verify:start -->\n<!-- mvm-verify:end -->\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out")
		r := runBin(t, env, append(args, "--out", out, "--matrix-file", docs)...)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if md := r.file(t, "matrix.md"); !strings.Contains(md, "| GCP | ✅ | ❌ | ❌ | on the head |") || !strings.Contains(md, ghHead[:7]) {
			t.Errorf("matrix.md is not the PR head's matrix:\n%s", md)
		}
		if got := readFile(t, docs); !strings.Contains(got, "| GCP | ✅ | ❌ | ❌ | on the head |") || !strings.Contains(r.stdout, "rewrote the matrix in "+docs) {
			t.Errorf("docs file not rewritten with the PR head's matrix:\n%s\nstdout:\n%s", got, r.stdout)
		}
		if c := gh.Comments(ghRepo, 7); len(c) != 1 {
			t.Errorf("want the final comment on PR #7, got %+v", c)
		}
	})
	t.Run("head-sha not the PR's head", func(t *testing.T) {
		before := gh.Comments(ghRepo, 7)
		out := filepath.Join(t.TempDir(), "out")
		r := runBin(t, env, append(args, "--out", out, "--head-sha", older)...)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if md := r.file(t, "matrix.md"); !verifiedRow("GCP", "on the older commit").MatchString(md) || !strings.Contains(md, older[:7]) {
			t.Errorf("matrix.md is not the given commit's matrix:\n%s", md)
		}
		if !strings.Contains(r.stderr+r.stdout, "head-sha "+older[:7]+" is not the head of pull request #7") {
			t.Errorf("no notice that head-sha is not the PR's head:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
		if after := gh.Comments(ghRepo, 7); len(after) != len(before) || (len(after) == 1 && after[0].Body != before[0].Body) {
			t.Errorf("the PR's comment changed for another commit than its head")
		}
	})
}

// The report job of a run whose commit is no longer the PR's head (a push
// came while it ran): it reports its own commit, from that commit's
// statuses, says once that the PR moved on, and writes nothing to GitHub:
// the newer push's legs are still running, and its ⏳ are not this report's
// to end.
func TestReportOfAnOlderRunKeepsItsCommit(t *testing.T) {
	const older = "89abcdef0123456789abcdef0123456789abcdef"
	gh := fakeGitHub(t) // PR #7's head is ghHead, the newer push
	gh.AddStatus(ghRepo, fakegh.Status{SHA: older, State: "success", Context: "mvm-verify/aws",
		Description: "✅ Preflight · ✅ Live cycle · ✅ Seccomp probe · on the older push"})
	gh.AddStatus(ghRepo, fakegh.Status{SHA: ghHead, State: "pending", Context: "mvm-verify/aws",
		Description: "✅ Preflight · ⏳ Live cycle · ⏳ Seccomp probe · running on the newer push"})
	event := filepath.Join(t.TempDir(), "event.json")
	payload := `{"action":"synchronize","pull_request":{"number":7,"head":{"sha":"` + older +
		`","repo":{"full_name":"o/r"}},"base":{"repo":{"full_name":"o/r"}}}}`
	if err := os.WriteFile(event, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	r := runBin(t, cmdEnv(t, append(actionsEnv(event, emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_GITHUB-TOKEN="+ghToken,
		"INPUT_MODE=report", "INPUT_EXPECT=aws", "INPUT_OUT="+out)...))
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if md := readFile(t, filepath.Join(out, "matrix.md")); !verifiedRow("AWS", "on the older push").MatchString(md) || !strings.Contains(md, older[:7]) {
		t.Errorf("matrix.md is not the run's own commit's matrix:\n%s", md)
	}
	if n := strings.Count(r.stdout, "::notice"); n != 1 || !strings.Contains(r.stdout, "moved on to "+ghHead[:7]) {
		t.Errorf("want one notice that the PR moved on to %s:\n%s", ghHead[:7], r.stdout)
	}
	for _, req := range gh.Requests() {
		if req.Method != "GET" {
			t.Errorf("the older run's report wrote to GitHub: %s %s", req.Method, req.Path)
		}
	}
	if st := gh.Statuses(ghRepo, ghHead); len(st) != 1 || st[0].State != "pending" {
		t.Errorf("the newer push's statuses changed: %+v", st)
	}
}

// check-run-id (job.check_run_id) links each status to the job's page
// built from it, without asking the jobs API (which needs actions: read),
// though the run has a job a lookup would pick. A value that is not digits
// is bad input: exit 2 naming it, before anything is created or posted.
func TestLegLinksItsJobFromCheckRunID(t *testing.T) {
	testhost.RequireRoot(t)
	suite := nonRootSuite(t, "steps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	leg := func(t *testing.T, gh *fakegh.Server, checkRunID string) result {
		dir := t.TempDir()
		return runBin(t, cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
			"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_CHECK-RUN-ID="+checkRunID,
			"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "out"),
			"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"))...))
	}
	t.Run("digits", func(t *testing.T) {
		gh := fakeGitHub(t)
		gh.AddJob(ghRepo, 99, 1, fakegh.Job{ID: 4242, Name: "verify (local)", RunnerName: "runner-3", Status: "in_progress"})
		r := leg(t, gh, "71234567890")
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		const want = "https://github.example/o/r/actions/runs/99/job/71234567890"
		n := 0
		for _, st := range gh.Statuses(ghRepo, ghHead) {
			if st.Context == thisHostLane().context("local") {
				n++
				if st.TargetURL != want {
					t.Errorf("status %s links %q, want the job %q", st.State, st.TargetURL, want)
				}
			}
		}
		if n == 0 {
			t.Errorf("no status for %s", thisHostLane().context("local"))
		}
		for _, req := range gh.Requests() {
			if strings.Contains(req.Path, "/jobs") {
				t.Errorf("the jobs API was asked: %s %s", req.Method, req.Path)
			}
		}
	})
	t.Run("not digits", func(t *testing.T) {
		gh := fakeGitHub(t)
		r := leg(t, gh, "job-7")
		if r.code != 2 {
			t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		for _, w := range []string{`input "check-run-id"`, `"job-7"`, "digits only"} {
			if !strings.Contains(r.stderr+r.stdout, w) {
				t.Errorf("output lacks %q:\nstdout:\n%s\nstderr:\n%s", w, r.stdout, r.stderr)
			}
		}
		if n := len(gh.Requests()); n != 0 {
			t.Errorf("%d requests to GitHub despite bad input", n)
		}
	})
}

// An event without a pull request in its payload whose GITHUB_SHA is not
// the commit verified (issue_comment: ChatOps; workflow_run) gets one
// notice that the statuses go to GITHUB_SHA and that head-sha picks the
// commit. Not with head-sha given, and not on push, where GITHUB_SHA is
// the commit verified.
func TestEventWithoutCommitNotice(t *testing.T) {
	const githubSHA = "ffffffffffffffffffffffffffffffffffffffff" // actionsEnv's GITHUB_SHA
	const want = "the issue_comment event names no pull request, so the commit statuses go to GITHUB_SHA fffffff"
	payload := func(t *testing.T, body string) string {
		path := filepath.Join(t.TempDir(), "event.json")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	issueComment := `{"action":"created","issue":{"number":7,"pull_request":{"url":"https://api.github.com/repos/o/r/pulls/7"}},` +
		`"comment":{"id":1,"body":"/verify"},"repository":{"full_name":"o/r"}}`
	report := func(t *testing.T, gh *fakegh.Server, event string, extra ...string) result {
		out := filepath.Join(t.TempDir(), "out")
		r := runBin(t, cmdEnv(t, append(append(actionsEnv(event, emptyFile(t, "summary"), emptyFile(t, "outputs")),
			"INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_GITHUB-TOKEN="+ghToken,
			"INPUT_MODE=report", "INPUT_EXPECT=aws", "INPUT_OUT="+out), extra...)...))
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		return r
	}
	t.Run("issue_comment report", func(t *testing.T) {
		gh := fakeGitHub(t)
		r := report(t, gh, payload(t, issueComment), "GITHUB_EVENT_NAME=issue_comment")
		if n := strings.Count(r.stdout, "::notice"); n != 1 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "pass head-sha") {
			t.Errorf("want one notice %q naming head-sha:\n%s", want, r.stdout)
		}
	})
	t.Run("issue_comment with head-sha", func(t *testing.T) {
		gh := fakeGitHub(t)
		r := report(t, gh, payload(t, issueComment), "GITHUB_EVENT_NAME=issue_comment", "INPUT_HEAD-SHA="+ghHead)
		if strings.Contains(r.stdout, "names no pull request") {
			t.Errorf("notice although head-sha was given:\n%s", r.stdout)
		}
	})
	t.Run("push", func(t *testing.T) {
		gh := fakeGitHub(t)
		r := report(t, gh, payload(t, `{"ref":"refs/heads/main","after":"`+githubSHA+`"}`), "GITHUB_EVENT_NAME=push")
		if strings.Contains(r.stdout, "::notice") {
			t.Errorf("notice on push, where GITHUB_SHA is the commit verified:\n%s", r.stdout)
		}
	})
	t.Run("issue_comment leg", func(t *testing.T) {
		testhost.RequireRoot(t)
		gh := fakeGitHub(t)
		dir := t.TempDir()
		suite := nonRootSuite(t, "steps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
		leg := runBin(t, cmdEnv(t, append(actionsEnv(payload(t, issueComment), emptyFile(t, "summary"), emptyFile(t, "outputs")),
			"GITHUB_EVENT_NAME=issue_comment", "INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(),
			"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "out"),
			"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"))...))
		if leg.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", leg.code, leg.stdout, leg.stderr)
		}
		// Start, progress and finish each post a status: said once.
		if n := strings.Count(leg.stdout, "::notice"); n != 1 || !strings.Contains(leg.stdout, want) {
			t.Errorf("want exactly one notice %q:\n%s", want, leg.stdout)
		}
		if st := gh.Statuses(ghRepo, githubSHA); len(st) == 0 {
			t.Error("no status on GITHUB_SHA")
		}
	})
}

// A short healthy leg whose progress update is still confirming its row
// when the cycle ends: the update is cut short on purpose, which is not
// degraded reporting, so there is no warning and no "incomplete" notice.
// When GitHub does fail (500s on every comment write), the warning and the
// notice are there.
func TestShortLegWarnsOnlyOfRealFailures(t *testing.T) {
	t.Parallel()
	testhost.RequireRoot(t)
	suite := writeSuite(t, "user: "+ownSuiteUser(t, "mvmcsl")+"\nsteps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	leg := func(t *testing.T, gh *fakegh.Server) result {
		dir := t.TempDir()
		res := runBin(t, cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
			"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(), "GITHUB_STATE="+emptyFile(t, "state"),
			"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "out"),
			"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"))...))
		if res.code != 0 {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		}
		return res
	}

	t.Run("healthy", func(t *testing.T) {
		// The progress update's comment write is held until the leg
		// exits, so the cycle surely ends while the update is in flight.
		release := make(chan struct{})
		var held atomic.Bool
		gh := fakeGitHub(t, fakegh.WithDelay(func(r *http.Request) time.Duration {
			if (r.Method == http.MethodPost || r.Method == http.MethodPatch) && strings.Contains(r.URL.Path, "/comments") &&
				strings.Contains(peekBody(r), "host ready") && held.CompareAndSwap(false, true) {
				<-release
			}
			return 0
		}))
		t.Cleanup(func() { close(release) }) // before the fake closes
		res := leg(t, gh)
		if !held.Load() {
			t.Fatal("the progress update never wrote its row: the test held nothing")
		}
		for _, bad := range []string{"degraded", "incomplete", "level=WARN", "::warning"} {
			if strings.Contains(res.stderr, bad) || strings.Contains(res.stdout, bad) {
				t.Errorf("%q although everything was reported\nstdout:\n%s\nstderr:\n%s", bad, res.stdout, res.stderr)
			}
		}
		if row := gh.Comments(ghRepo, 7); len(row) != 1 || !strings.Contains(row[0].Body, "| ✅ | "+thisHostLane().liveCell) {
			t.Errorf("want the sticky comment with the final row, got %+v", row)
		}
	})

	t.Run("comment writes fail", func(t *testing.T) {
		gh := fakeGitHub(t)
		gh.Inject(fakegh.Fault{Method: "POST", Path: "/comments", Status: 500, Times: 1000})
		gh.Inject(fakegh.Fault{Method: "PATCH", Path: "/issues/comments/", Status: 500, Times: 1000})
		res := leg(t, gh)
		// The notice says it once: no warning in another format repeats it.
		if strings.Contains(res.stdout+res.stderr, "GitHub reporting degraded") {
			t.Errorf("a log record repeats the notice\nstdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
		}
		if !strings.Contains(res.stdout, "::notice") || !strings.Contains(res.stdout, "incomplete") {
			t.Errorf("no notice that the reporting is incomplete\nstdout:\n%s", res.stdout)
		}
	})
}

// peekBody reads r's body and puts it back for the fake to read.
func peekBody(r *http.Request) string {
	data, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(data))
	return string(data)
}

// verifiedRow matches a verified leg's row rebuilt from its status: the
// live cycle reads "verified" and the day the status was set.
func verifiedRow(provider, notes string) *regexp.Regexp {
	return regexp.MustCompile(`\| ` + regexp.QuoteMeta(provider) + ` \| ✅ \| ✅ verified \d{4}-\d{2}-\d{2} \| ✅ \| ` + regexp.QuoteMeta(notes) + ` \|`)
}
