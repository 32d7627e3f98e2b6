package ghreport

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

const (
	testRepo  = "acme/widgets"
	testToken = "ghs_test_token_0123456789"
	roToken   = "ghs_readonly_token_0123456789"
	testPR    = 7
	sha1      = "1111111111111111111111111111111111111111"
	sha2      = "2222222222222222222222222222222222222222"
	runURL    = "https://github.com/acme/widgets/actions/runs/42"
)

// apiPrefix is where the reporter calls the fake: its URL is a bare host
// that is not an api.* one, so the reporter takes it for a GHES web host
// and calls the API under /api/v3 (restBase), which the fake serves too.
const apiPrefix = "/api/v3"

// newFake starts a fake GitHub with a writing and a read-only token and PR
// #7 whose head is sha1.
func newFake(t *testing.T, opts ...fakegh.Option) *fakegh.Server {
	t.Helper()
	f := fakegh.New(opts...)
	t.Cleanup(f.Close)
	f.AddToken(testToken, fakegh.Token{})
	f.AddToken(roToken, fakegh.Token{ReadOnly: true})
	f.SetPR(testRepo, fakegh.PR{Number: testPR, HeadSHA: sha1})
	return f
}

func prEvent(head string) Event {
	return Event{Name: "pull_request", Repo: testRepo, HeadSHA: head, PR: testPR, HeadRepo: testRepo, BaseRepo: testRepo, RunURL: runURL}
}

// sleeps records the waits a Reporter asked for instead of waiting.
type sleeps struct {
	mu  sync.Mutex
	all []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.all = append(s.all, d)
	s.mu.Unlock()
	return ctx.Err()
}

// noWait is a sleep that does not wait.
func noWait(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func (s *sleeps) total() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t time.Duration
	for _, d := range s.all {
		t += d
	}
	return t
}

func newReporter(t *testing.T, f *fakegh.Server, ev Event, token string, mod func(*Config)) (*Reporter, *sleeps) {
	t.Helper()
	s := &sleeps{}
	cfg := Config{
		Token: token, APIURL: f.URL(), Event: ev, HTTPClient: f.Client(),
		Clock: testClock{sleep: s.sleep}, Rand: rand.New(rand.NewPCG(1, 2)),
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r, s
}

func legRow(key string, status matrix.Status, notes string) matrix.Row {
	r := matrix.Row{Key: key, Notes: notes}
	r.Set(matrix.Preflight, matrix.Pass, "")
	r.Set(matrix.LiveCycle, status, "")
	r.Set(matrix.SeccompProbe, status, "")
	return r
}

// markerComments are the PR's matrix comments, oldest first.
func markerComments(f *fakegh.Server) []fakegh.Comment {
	var out []fakegh.Comment
	for _, c := range f.Comments(testRepo, testPR) {
		if strings.HasPrefix(c.Body, Marker) {
			out = append(out, c)
		}
	}
	return out
}

// commentState decodes the single matrix comment's state.
func commentState(t *testing.T, f *fakegh.Server) matrix.State {
	t.Helper()
	cs := markerComments(f)
	if len(cs) != 1 {
		t.Fatalf("%d matrix comments, want exactly 1", len(cs))
	}
	st, found, err := matrix.DecodeState(cs[0].Body)
	if err != nil || !found {
		t.Fatalf("decode comment state: found=%v err=%v\n%s", found, err, cs[0].Body)
	}
	return st
}

func findRow(rows []matrix.Row, key string) (matrix.Row, bool) {
	for _, r := range rows {
		if r.Key == key {
			return r, true
		}
	}
	return matrix.Row{}, false
}

// latestStatus is the newest status with the context on sha.
func latestStatus(f *fakegh.Server, sha, context string) (fakegh.Status, bool) {
	all := f.Statuses(testRepo, sha)
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Context == context {
			return all[i], true
		}
	}
	return fakegh.Status{}, false
}

// testClock is a Clock made of funcs: now is its time (nil: the real
// time), sleep how it waits (nil: for real), and rush how many times
// sooner in real time than asked its timeouts end, as for a clock whose
// time runs that much faster than real time (0: as asked).
type testClock struct {
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
	rush  time.Duration
}

func (c testClock) Now() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}

func (c testClock) Sleep(ctx context.Context, d time.Duration) error {
	if c.sleep == nil {
		return WallClock{}.Sleep(ctx, d)
	}
	return c.sleep(ctx, d)
}

func (c testClock) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d/max(c.rush, 1))
}

// sleepClock is a clock the waits asked of it move forward, on top of real
// time: a reporter using it waits for nothing, yet sees the time it waited
// pass, as it must to wait out a write that may land late (sticky.go).
// Reporters sharing one see the same time, so their rows' stamps agree.
type sleepClock struct {
	mu    sync.Mutex
	ahead time.Duration
}

// Now is real time plus every wait asked of the clock so far.
func (c *sleepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.ahead)
}

// Sleep moves the clock d ahead at once.
func (c *sleepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.ahead += max(d, 0)
	c.mu.Unlock()
	return ctx.Err()
}

// WithTimeout times out in real time, which the clock moves with: by then
// at least d has passed on it.
func (c *sleepClock) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// use makes cfg's reporter wait on c.
func (c *sleepClock) use(cfg *Config) { cfg.Clock = c }
