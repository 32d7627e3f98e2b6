package cli_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// hiddenState finds the rows a comment carries as base64 (the sticky
// comment's hidden state), which a search of its text would not see into.
var hiddenState = regexp.MustCompile(`mvm-verify:state v1 ([A-Za-z0-9+/=]+)`)

// tracedGitHub is fakeGitHub recording what crossed the wire: every write's
// body and every read's answer, with the hidden state they carry decoded,
// for a test to look for secrets in.
func tracedGitHub(t *testing.T) (gh *fakegh.Server, bodies func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	gh = fakeGitHub(t, fakegh.WithTrace(func(ev fakegh.Event) {
		text := ev.Method + " " + ev.Path + "\n" + ev.Body
		for _, m := range hiddenState.FindAllStringSubmatch(ev.Body, -1) {
			data, err := base64.StdEncoding.DecodeString(m[1])
			if err != nil {
				t.Errorf("hidden state %.20q… is not base64: %v", m[1], err)
			}
			text += "\nhidden state: " + string(data)
		}
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, text)
	}))
	return gh, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// legStatuses are the statuses of the row key on the PR's head commit.
func legStatuses(gh *fakegh.Server, key string) []fakegh.Status {
	var out []fakegh.Status
	for _, st := range gh.Statuses(ghRepo, ghHead) {
		if st.Context == "mvm-verify/"+key {
			out = append(out, st)
		}
	}
	return out
}

// A leg refused at its inputs shows on the pull request as a leg refused at
// its preflight does: a failure status mvm-verify/<row> on the PR's head
// commit, whose description says the input was refused, and its row in the
// sticky comment with the refusal as its note. Still exit 2, with nothing
// created: no out, no state for the post step. As the action's main step in
// run and up mode, and as the command line in a workflow's run: step.
func TestBadInputLegReportedOnGitHub(t *testing.T) {
	cases := []struct {
		name string
		with []string // INPUT_* beyond the GitHub ones and out
		args []string // a subcommand, or none for the action's main step
	}{
		{"action run", []string{"INPUT_PROVIDER=local", "INPUT_TIMEOUT-MINUTES=abc"}, nil},
		{"action up", []string{"INPUT_MODE=up", "INPUT_PROVIDER=local", "INPUT_TIMEOUT-MINUTES=abc"}, nil},
		{"command line run", nil, []string{"run", "--provider", "local", "--timeout-minutes", "abc"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gh := fakeGitHub(t)
			gh.AddJob(ghRepo, 99, 1, fakegh.Job{ID: 4242, Name: "verify (local)", RunnerName: "runner-3", Status: "in_progress"})
			out := filepath.Join(t.TempDir(), "out")
			outputs, summary, state := emptyFile(t, "outputs"), emptyFile(t, "summary"), emptyFile(t, "state")
			env := cmdEnv(t, append(append(actionsEnv(prEventFile(t, ghRepo), summary, outputs),
				"GITHUB_STATE="+state, "INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_OUT="+out),
				tc.with...)...)
			r := runBin(t, env, tc.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			sts := legStatuses(gh, "local")
			if len(sts) != 1 {
				t.Fatalf("statuses mvm-verify/local on the head %s: %+v, want one\nstdout:\n%s\nstderr:\n%s",
					ghHead, gh.Statuses(ghRepo, ghHead), r.stdout, r.stderr)
			}
			st := sts[0]
			if st.State != "failure" {
				t.Errorf("status state %q, want failure (as a refused preflight's)", st.State)
			}
			if n := len(utf16.Encode([]rune(st.Description))); n >= 140 ||
				!strings.HasPrefix(st.Description, "❌ Preflight") || !strings.Contains(st.Description, "bad input") {
				t.Errorf("status description %q (%d UTF-16 units): want under 140, ❌ Preflight and the refusal", st.Description, n)
			}
			if want := fakegh.JobURL(ghRepo, 99, 4242); st.TargetURL != want {
				t.Errorf("status links %q, want the job %q", st.TargetURL, want)
			}
			comments := gh.Comments(ghRepo, 7)
			if len(comments) != 1 {
				t.Fatalf("%d comments on the PR, want the sticky one: %+v", len(comments), comments)
			}
			body := comments[0].Body
			if !strings.Contains(body, "<!-- mvm-verify:matrix -->") || !strings.Contains(body, "| ❌ | — | — |") ||
				!strings.Contains(body, `bad input: input "timeout-minutes": got "abc"`) {
				t.Errorf("the comment lacks the Local row refused at its input timeout-minutes:\n%s", body)
			}
			if got := parseFileCommands(t, outputs)["status"]; got != "error" {
				t.Errorf("status output %q, want error", got)
			}
			if st := parseFileCommands(t, state); len(st) > 0 {
				t.Errorf("state saved for the post step: %v", st)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("out %s was created for a leg refused at its input", out)
			}
		})
	}
}

// Nothing of a secret reaches GitHub with a refusal: not a key pasted into
// the wrong input, not a line of the ssh-private-key input quoted by a
// refused input, not the token used as the row key. The refusal itself
// does reach it (the status is there), so the search is not over nothing.
func TestBadInputReportedToGitHubRedacted(t *testing.T) {
	gh, bodies := tracedGitHub(t)
	keyPEM, _ := testhost.ClientKeyPEM(t)
	pasted, _ := testhost.ClientKeyPEM(t)
	var keyLine string
	for _, l := range strings.Split(string(keyPEM), "\n") {
		if len(l) > len(keyLine) && !strings.HasPrefix(l, "-----") {
			keyLine = l
		}
	}
	secrets := []string{ghToken, keyLine}
	for _, k := range [][]byte{keyPEM, pasted} {
		for _, l := range strings.Split(string(k), "\n") {
			if len(l) >= 16 {
				secrets = append(secrets, l)
			}
		}
	}
	// An out holding an earlier up's host, refused once the inputs are
	// loaded by the CLI, which quotes the path as given: with the token in
	// it.
	tokenOut := filepath.Join(t.TempDir(), ghToken)
	if err := os.MkdirAll(filepath.Join(tokenOut, "host"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tokenOut, "host", "host.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	// context is the refusal's status context: mvm-verify/local for the
	// inputs refused before the run is loaded, whose lane auto is not
	// resolved; the out refused after the lane was resolved keys the row
	// by the lane this machine runs (mvm-verify/local-no-kvm without KVM).
	cases := map[string]struct {
		with    []string
		context string
	}{
		// A private key pasted into image, an input that is no secret.
		"key pasted into image": {[]string{"INPUT_IMAGE=" + string(pasted), "INPUT_OUT=" + filepath.Join(t.TempDir(), "out")},
			"mvm-verify/local"},
		// A line of the ssh key given as a duration, the token as the
		// row's key and in its display.
		"secret inputs quoted": {[]string{"INPUT_SSH-PRIVATE-KEY=" + string(keyPEM), "INPUT_READY-TIMEOUT=" + keyLine,
			"INPUT_KEY=" + ghToken, "INPUT_DISPLAY=Local " + ghToken, "INPUT_OUT=" + filepath.Join(t.TempDir(), "out")},
			"mvm-verify/local"},
		"out holding the token": {[]string{"INPUT_MODE=up", "INPUT_OUT=" + tokenOut}, thisHostLane().context("local")},
	}
	for name, c := range cases {
		with := c.with
		t.Run(name, func(t *testing.T) {
			before := len(gh.Statuses(ghRepo, ghHead))
			env := cmdEnv(t, append(append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
				"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_PROVIDER=local"), with...)...)
			r := runBin(t, env)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			sts := gh.Statuses(ghRepo, ghHead)
			if len(sts) != before+1 || sts[len(sts)-1].Context != c.context || !strings.Contains(sts[len(sts)-1].Description, "bad input") {
				t.Fatalf("want one more status, %s's refusal; have %+v\nstdout:\n%s\nstderr:\n%s", c.context, sts, r.stdout, r.stderr)
			}
			if c := gh.Comments(ghRepo, 7); len(c) != 1 || !strings.Contains(c[0].Body, "***") {
				t.Errorf("want the sticky comment quoting the refused value as ***: %+v", c)
			}
		})
	}
	all := bodies()
	if !slices.ContainsFunc(all, func(b string) bool { return strings.Contains(b, "hidden state: ") }) {
		t.Fatalf("no comment's hidden state was seen to search: %q", all)
	}
	for _, b := range all {
		for _, s := range secrets {
			if strings.Contains(b, s) {
				t.Errorf("a secret (%.12s…) reached GitHub:\n%s", s, b)
			}
		}
	}
}

// A refusal is reported only where the inputs say to, and only for a leg's
// run or up: a refused GitHub input (API URL, head SHA, pull request,
// comment flag), comment: false, a row no input names, down and report all
// send GitHub nothing. GITHUB_API_URL points at the fake, so a refusal
// reported through a fallback would show there.
func TestBadInputNotReportedToGitHub(t *testing.T) {
	cases := map[string][]string{
		"bad github-api-url": {"INPUT_PROVIDER=local", "INPUT_TIMEOUT-MINUTES=abc", "INPUT_GITHUB-API-URL=ftp://127.0.0.1/"},
		"bad head-sha":       {"INPUT_PROVIDER=local", "INPUT_HEAD-SHA=abc123"},
		"bad pull-request":   {"INPUT_PROVIDER=local", "INPUT_TIMEOUT-MINUTES=abc", "INPUT_PULL-REQUEST=seven"},
		"bad comment":        {"INPUT_PROVIDER=local", "INPUT_COMMENT=yes"},
		"comment false":      {"INPUT_PROVIDER=local", "INPUT_TIMEOUT-MINUTES=abc", "INPUT_COMMENT=false"},
		"bad check-run-id":   {"INPUT_PROVIDER=local", "INPUT_CHECK-RUN-ID=job-1"},
		"no row key":         {"INPUT_PROVIDER=Local Cloud"},
		"down":               {"INPUT_MODE=down", "INPUT_PROVIDER=local", "INPUT_TIMEOUT-MINUTES=abc"},
		"report":             {"INPUT_MODE=report", "INPUT_TIMEOUT-MINUTES=abc"},
	}
	for name, with := range cases {
		t.Run(name, func(t *testing.T) {
			gh := fakeGitHub(t)
			env := cmdEnv(t, append(append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
				"GITHUB_API_URL="+gh.URL(), "INPUT_GITHUB-TOKEN="+ghToken, "INPUT_OUT="+filepath.Join(t.TempDir(), "out")),
				with...)...)
			r := runBin(t, env)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if reqs := gh.Requests(); len(reqs) != 0 {
				t.Errorf("%d requests reached GitHub, want none: %+v", len(reqs), reqs)
			}
		})
	}
}

// A refusal on a fork's pull request, or with a read-only token, degrades as
// any leg's report does: no status, one notice saying why, and the exit
// status is still the refusal's.
func TestBadInputReportDegrades(t *testing.T) {
	for _, c := range []struct{ name, headRepo, token, why string }{
		{"fork PR", "mallory/r", ghToken, "fork mallory/r"},
		{"read-only token", ghRepo, roToken, "Resource not accessible by integration"},
	} {
		t.Run(c.name, func(t *testing.T) {
			gh := fakeGitHub(t)
			env := cmdEnv(t, append(actionsEnv(prEventFile(t, c.headRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
				"INPUT_GITHUB-TOKEN="+c.token, "INPUT_GITHUB-API-URL="+gh.URL(), "INPUT_PROVIDER=local",
				"INPUT_TIMEOUT-MINUTES=abc", "INPUT_OUT="+filepath.Join(t.TempDir(), "out"))...)
			r := runBin(t, env)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if n := strings.Count(r.stdout, "::notice"); n != 1 || !strings.Contains(r.stdout, c.why) {
				t.Errorf("%d notices, want one saying %q:\n%s", n, c.why, r.stdout)
			}
			if sts := gh.Statuses(ghRepo, ghHead); len(sts) != 0 {
				t.Errorf("statuses set: %+v", sts)
			}
			if !strings.Contains(r.stdout, `::error title=mvm-verify%3A bad input::input "timeout-minutes"`) {
				t.Errorf("the refusal's error annotation is missing:\n%s", r.stdout)
			}
		})
	}
}
