package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/ghreport"
	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// The final report and the post step's re-post may wait out a secondary
// rate limit without headers (GitHub's minute) and still make the write;
// Start keeps its shorter share.
func TestFinalReportBudgetCoversASecondaryRateLimit(t *testing.T) {
	if w := waitShare(finishReserve); w < ghreport.SecondaryRateLimitWait+10*time.Second {
		t.Errorf("the final report may wait %s, want GitHub's %s for a secondary rate limit and time for the write",
			w, ghreport.SecondaryRateLimitWait)
	}
	a := newApp(Env{Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: io.Discard})
	cfg := a.ghConfig(&config.Run{}, ghreport.Event{}, startBudget)
	if cfg.FinalBudget != waitShare(finishReserve) || cfg.Budget != waitShare(startBudget) {
		t.Errorf("ghConfig: budget %s, final budget %s; want %s and %s", cfg.Budget, cfg.FinalBudget,
			waitShare(startBudget), waitShare(finishReserve))
	}
}

const (
	fbRepo  = "acme/widgets"
	fbHead  = "1111111111111111111111111111111111111111"
	fbToken = "ghs_test_token_0123456789"
)

// recordedSleeps stands in for the reporting's sleep: it records the waits
// asked for and returns at once.
type recordedSleeps struct {
	mu  sync.Mutex
	all []time.Duration
}

func (s *recordedSleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.all = append(s.all, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *recordedSleeps) has(d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.all, d)
}

// fbLeg is an app in Actions for PR #7 of fbRepo, its GitHub reporting
// against f with sleeps that do not wait, plus env for STATE_*.
func fbLeg(t *testing.T, f *fakegh.Server, env map[string]string) (*app, *recordedSleeps, *config.Run) {
	t.Helper()
	event := filepath.Join(t.TempDir(), "event.json")
	payload := `{"pull_request":{"number":7,"head":{"sha":"` + fbHead + `","repo":{"full_name":"` + fbRepo +
		`"}},"base":{"repo":{"full_name":"` + fbRepo + `"}}}}`
	if err := os.WriteFile(event, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": fbRepo, "GITHUB_SHA": fbHead, "GITHUB_RUN_ID": "42",
		"GITHUB_SERVER_URL": "https://github.example", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": event,
	}
	for k, v := range env {
		vars[k] = v
	}
	a := newApp(Env{Getenv: func(k string) string { return vars[k] }, Stdout: io.Discard, Stderr: io.Discard})
	s := &recordedSleeps{}
	a.ghSleep = s.sleep
	return a, s, &config.Run{GitHubToken: fbToken, GitHubAPIURL: f.URL(), Comment: true, Display: "AWS", TimeoutMinutes: 90}
}

func fbFake(t *testing.T) *fakegh.Server {
	t.Helper()
	f := fakegh.New()
	t.Cleanup(f.Close)
	f.AddToken(fbToken, fakegh.Token{})
	f.SetPR(fbRepo, fakegh.PR{Number: 7, HeadSHA: fbHead, HeadRepo: fbRepo, BaseRepo: fbRepo})
	return f
}

// latestState is the newest state of mvm-verify/key on fbHead.
func latestState(f *fakegh.Server, key string) string {
	state := ""
	for _, st := range f.Statuses(fbRepo, fbHead) {
		if st.Context == ghreport.ContextPrefix+key {
			state = st.State
		}
	}
	return state
}

// rateLimits are what GitHub may answer the final status with: both must be
// waited out within the final report's budget.
var rateLimits = []struct {
	name  string
	fault fakegh.Fault
	wait  time.Duration
}{
	{"429 Retry-After 45", fakegh.Fault{Method: "POST", Path: "/statuses/", Status: http.StatusTooManyRequests, RetryAfter: 45 * time.Second}, 45 * time.Second},
	{"secondary 403 without headers", fakegh.Fault{Method: "POST", Path: "/statuses/", Status: http.StatusForbidden, Secondary: true}, ghreport.SecondaryRateLimitWait},
}

// A leg's final row, met by a rate limit at its status, waits it out and
// settles the status (success or failure), as the CLI reports it: the
// reporter from a.reporter, reportStart, then reportFinish.
func TestFinalReportWaitsOutARateLimit(t *testing.T) {
	for _, l := range rateLimits {
		for _, verdict := range []matrix.Status{matrix.Pass, matrix.Fail} {
			t.Run(l.name+"/"+string(verdict), func(t *testing.T) {
				f := fbFake(t)
				a, s, run := fbLeg(t, f, nil)
				r := a.reporter(run)
				if r == nil {
					t.Fatal("GitHub reporting is off")
				}
				ctx := context.Background()
				a.reportStart(ctx, r, matrix.Row{Key: "aws", Provider: "AWS", HeadSHA: fbHead})()
				if got := latestState(f, "aws"); got != "pending" {
					t.Fatalf("status after Start %q, want pending", got)
				}
				f.Inject(l.fault)
				row := matrix.Row{Key: "aws", Provider: "AWS"}
				row.Set(matrix.Preflight, matrix.Pass, "")
				row.Set(matrix.LiveCycle, verdict, "")
				row.Set(matrix.SeccompProbe, verdict, "")
				out, ok := a.reportFinish(ctx, r, run, row)
				if !ok || !out.StatusPosted || out.Degraded {
					t.Fatalf("final report %+v, want the status posted after waiting out the rate limit", out)
				}
				want := map[matrix.Status]string{matrix.Pass: "success", matrix.Fail: "failure"}[verdict]
				if got := latestState(f, "aws"); got != want {
					t.Errorf("status %q, want %s", got, want)
				}
				if !s.has(l.wait) {
					t.Errorf("waits %v, want %s among them", s.all, l.wait)
				}
			})
		}
	}
}

// deadlineSleeps records the deadline of the context each wait is asked
// in: the reporter's waits run in the context reportFinish gave Finish.
type deadlineSleeps struct {
	mu        sync.Mutex
	deadlines []time.Time
}

func (s *deadlineSleeps) sleep(ctx context.Context, d time.Duration) error {
	dl, _ := ctx.Deadline()
	s.mu.Lock()
	s.deadlines = append(s.deadlines, dl)
	s.mu.Unlock()
	return ctx.Err()
}

// The final report keeps within timeout-minutes: it gets finishReserve
// when that much is left, what is left otherwise, and finishFloor when
// (nearly) nothing is, so a cycle that overran its share does not push the
// step a whole finishReserve past timeout-minutes. The deadline is read
// where the reporter waits out a short rate limit on the status, which it
// still does within the floor. With the clock injected, the deadlines are
// exact.
func TestFinalReportDeadlineWithinTimeout(t *testing.T) {
	const timeout = 30 * time.Minute
	now := time.Now()
	for _, c := range []struct {
		name string
		left time.Duration // of timeout-minutes, at reportFinish
		want time.Duration // the deadline, from now
	}{
		{"plenty left", 20 * time.Minute, finishReserve},
		{"a minute left", time.Minute, time.Minute},
		{"seconds left", 3 * time.Second, finishFloor},
		{"overrun", -time.Minute, finishFloor},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := fbFake(t)
			a, _, run := fbLeg(t, f, nil)
			run.TimeoutMinutes = int(timeout / time.Minute)
			a.start = now.Add(c.left - timeout)
			a.now = func() time.Time { return now }
			s := &deadlineSleeps{}
			a.ghSleep = s.sleep
			r := a.reporter(run)
			if r == nil {
				t.Fatal("GitHub reporting is off")
			}
			f.Inject(fakegh.Fault{Method: "POST", Path: "/statuses/", Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Second})
			row := matrix.Row{Key: "aws", Provider: "AWS"}
			row.Set(matrix.Preflight, matrix.Pass, "")
			row.Set(matrix.LiveCycle, matrix.Pass, "")
			row.Set(matrix.SeccompProbe, matrix.Pass, "")
			out, ok := a.reportFinish(context.Background(), r, run, row)
			if !ok || !out.StatusPosted {
				t.Fatalf("final report %+v, want the status posted after the 2s wait", out)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.deadlines) == 0 {
				t.Fatal("the reporter never waited, so its deadline was not seen")
			}
			want, bound := now.Add(c.want), a.start.Add(timeout).Add(finishFloor)
			for _, dl := range s.deadlines {
				if !dl.Equal(want) {
					t.Errorf("final report's deadline %s after now, want %s", dl.Sub(now), c.want)
				}
				if c.left >= 0 && dl.After(bound) {
					t.Errorf("final report's deadline %s after now is past timeout-minutes plus the floor", dl.Sub(now))
				}
			}
		})
	}
}

// The post step's re-post of a final row main could not post (killed right
// after saving it) waits out a rate limit the same way.
func TestPostRepostWaitsOutARateLimit(t *testing.T) {
	for _, l := range rateLimits {
		t.Run(l.name, func(t *testing.T) {
			f := fbFake(t)
			row := matrix.Row{Key: "aws", Provider: "AWS", HeadSHA: fbHead}
			row.Set(matrix.Preflight, matrix.Pass, "")
			row.Set(matrix.LiveCycle, matrix.Fail, "")
			row.Set(matrix.SeccompProbe, matrix.Fail, "")
			data, err := json.Marshal(row)
			if err != nil {
				t.Fatal(err)
			}
			a, s, run := fbLeg(t, f, map[string]string{"STATE_outcome": "failed", "STATE_row": string(data)})
			f.AddStatus(fbRepo, fakegh.Status{SHA: fbHead, State: "pending", Context: ghreport.ContextPrefix + "aws"})
			f.Inject(l.fault)
			id := providers.Identity{RunID: "42", RunAttempt: "1", Key: "aws", HeadSHA: fbHead}
			a.reportFromPost(context.Background(), run, id, ExitOK)
			if got := latestState(f, "aws"); got != "failure" {
				t.Errorf("status %q after the post step, want failure", got)
			}
			if !s.has(l.wait) {
				t.Errorf("waits %v, want %s among them", s.all, l.wait)
			}
		})
	}
}

// down's report of the leg it tore down (its final row again, or the end of
// a kept or killed leg) is a final report too: it waits out a rate limit
// within the final reserve, not Start's shorter one, and settles the
// status.
func TestDownRepostWaitsOutARateLimit(t *testing.T) {
	id := providers.Identity{RunID: "42", RunAttempt: "1", Key: "aws", HeadSHA: fbHead}
	finished := &verify.Result{Provider: "aws", Display: "AWS", Identity: id, Outcome: verify.Failed,
		Phases: []verify.PhaseResult{{Name: verify.PhasePreflight, Status: matrix.Pass}, {Name: verify.PhaseSuite, Status: matrix.Fail}}}
	ends := []struct {
		name  string
		how   legEnd
		res   *verify.Result
		state string
	}{
		{"finished", legFinished, finished, "failure"},
		{"killed", legKilled, nil, "error"},
		{"kept", legKept, nil, "error"},
	}
	for _, l := range rateLimits {
		for _, e := range ends {
			t.Run(l.name+"/"+e.name, func(t *testing.T) {
				f := fbFake(t)
				a, s, run := fbLeg(t, f, nil)
				f.AddStatus(fbRepo, fakegh.Status{SHA: fbHead, State: "pending", Context: ghreport.ContextPrefix + "aws"})
				f.Inject(l.fault)
				if !a.reportDown(context.Background(), run, id, e.res, "torn down by down", e.how) {
					t.Errorf("down's report not posted, want it posted after waiting out the rate limit")
				}
				if got := latestState(f, "aws"); got != e.state {
					t.Errorf("status %q after down, want %s", got, e.state)
				}
				if !s.has(l.wait) {
					t.Errorf("waits %v, want %s among them", s.all, l.wait)
				}
			})
		}
	}
}
