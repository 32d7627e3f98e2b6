package ghreport

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// StartAsync returns before GitHub answers, and the leg's final report
// waits for it: held while Start's pending status is in flight, Finish
// posts nothing until that status has been answered, so the final status
// is the newest, and it cuts Start's ⏳ row short without a notice.
func TestStartAsyncFinalStatusComesAfterPending(t *testing.T) {
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var commentWrites []string // the bodies of comment creates and edits, in order
	f := newFake(t, fakegh.WithDelay(func(r *http.Request) time.Duration {
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/statuses/") &&
			strings.Contains(peekBody(r), `"pending"`) {
			once.Do(func() {
				close(held)
				<-release
			})
		}
		if (r.Method == http.MethodPost || r.Method == http.MethodPatch) && strings.Contains(r.URL.Path, "/comments") {
			// Called again once the fake has read the body: empty then.
			if body := peekBody(r); strings.TrimSpace(body) != "" {
				mu.Lock()
				commentWrites = append(commentWrites, body)
				mu.Unlock()
			}
		}
		return 0
	}))
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	ctx := context.Background()
	started := r.StartAsync(ctx, matrix.Row{Key: "aws"})
	<-held // Start's pending status is in flight

	finished := make(chan Outcome, 1)
	go func() { finished <- r.Finish(ctx, legRow("aws", matrix.Pass, "done")) }()
	// Finish is waiting for its turn behind Start, whose status is held.
	waitUntil(t, "Finish to wait for its turn", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.waiting > 0
	})
	for _, st := range f.Statuses(testRepo, sha1) {
		t.Errorf("status %s posted while Start's pending status was held", st.State)
	}
	close(release)
	if out := <-finished; out.Degraded || out.CommentURL == "" || out.Canceled {
		t.Errorf("Finish: %+v, want the row confirmed", out)
	}
	if out := <-started; out.Degraded || out.Notice != "" || !out.StatusPosted || !out.Canceled {
		t.Errorf("Start: %+v, want its status posted, then cut short by Finish with no notice", out)
	}
	// Finish superseded Start before Start's comment write: the ⏳ row was
	// never written, so it cannot land after the final one.
	mu.Lock()
	defer mu.Unlock()
	if len(commentWrites) == 0 {
		t.Error("no comment written")
	}
	for i, body := range commentWrites {
		if strings.Contains(body, "⏳") {
			t.Errorf("comment write %d of %d has Start's ⏳ row:\n%s", i+1, len(commentWrites), body)
		}
	}
	var states []string
	for _, st := range f.Statuses(testRepo, sha1) {
		states = append(states, st.State)
	}
	if strings.Join(states, ",") != "pending,success" {
		t.Errorf("statuses %v, want pending then success", states)
	}
	if row, ok := findRow(commentState(t, f).Rows, "aws"); !ok || row.Notes != "done" || row.Has(matrix.Pending) {
		t.Errorf("comment row %+v (found %v), want the final row", row, ok)
	}
}

// waitUntil polls cond until it holds, failing the test if it does not
// within a generous bound: a broken ordering fails here instead of hanging
// until go test's timeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// peekBody reads r's body and puts it back for the fake to read.
func peekBody(r *http.Request) string {
	var b bytes.Buffer
	if r.Body != nil {
		_, _ = b.ReadFrom(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b.Bytes()))
	}
	return b.String()
}

// A report its caller cancels (the progress update when the cycle ends) is
// cut short, not degraded: no notice and no warning. One whose deadline ran
// out is a failure and says so.
func TestCanceledUpdateIsNotDegraded(t *testing.T) {
	f := newFake(t)
	var logs bytes.Buffer
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.Clock = testClock{sleep: func(ctx context.Context, d time.Duration) error {
			<-ctx.Done() // the read-back waits until the caller gives up
			return ctx.Err()
		}}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Outcome, 1)
	go func() { done <- r.Update(ctx, legRow("aws", matrix.Pending, "host ready")) }()
	// Once the row is written, the read-back waits for the cancel.
	waitUntil(t, "the row to be written", func() bool { return len(markerComments(f)) > 0 })
	cancel()
	out := <-done
	if !out.Canceled || out.Degraded || out.Notice != "" {
		t.Errorf("canceled Update: %+v, want Canceled with no notice", out)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a warning for a canceled update:\n%s", logs.String())
	}

	logs.Reset()
	dctx, dcancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer dcancel()
	out = r.Finish(dctx, legRow("aws", matrix.Pass, "done"))
	if out.Canceled || !out.Degraded || !strings.Contains(out.Notice, "incomplete") {
		t.Errorf("Finish past its deadline: %+v, want degraded with a notice", out)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("no warning for a report that ran out of time:\n%s", logs.String())
	}
}

// An API that cannot be reached fails the report at once: a refused
// connection or a name that does not resolve is neither a rate limit nor
// worth the 5xx retries. .invalid never resolves (RFC 6761), so that case
// reaches no further than the local resolver, and fails the same way
// without one.
func TestUnreachableAPIFailsFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/"
	l.Close()
	for _, tc := range []struct{ name, url, notice string }{
		{"connection refused", refused, "connection refused"},
		{"name does not resolve", "http://nonexistent.invalid/", "nonexistent.invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sleeps{}
			r, err := New(Config{Token: testToken, APIURL: tc.url, Event: prEvent(sha1), Clock: testClock{sleep: s.sleep}})
			if err != nil {
				t.Fatal(err)
			}
			out := r.Finish(context.Background(), legRow("aws", matrix.Pass, ""))
			if !out.Degraded || out.StatusPosted || !strings.Contains(out.Notice, tc.notice) {
				t.Errorf("outcome %+v, want degraded with a notice saying %q", out, tc.notice)
			}
			if strings.Contains(out.Notice, "rate limit") {
				t.Errorf("notice calls it a rate limit: %s", out.Notice)
			}
			if len(s.all) != 0 {
				t.Errorf("waited %v before giving up, want no retries", s.all)
			}
		})
	}
}

// expiringCtx is a context whose deadline passes the moment the report
// has its turn: its second Done call, the first being takeTurn's wait and
// the second WithCancel's, deriving the comment context. It makes
// deterministic the race between a turn coming free and a deadline
// running out.
type expiringCtx struct {
	context.Context
	mu    sync.Mutex
	calls int
	done  chan struct{}
	err   error
}

func newExpiringCtx() *expiringCtx {
	return &expiringCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiringCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls++; c.calls == 2 {
		c.err = context.DeadlineExceeded
		close(c.done)
	}
	return c.done
}

func (c *expiringCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// A report whose deadline ran out as its turn came sent nothing, and
// says so: it failed, it was not canceled on purpose.
func TestDeadlineAtTurnDegrades(t *testing.T) {
	f := newFake(t)
	var logs bytes.Buffer
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	out := r.Finish(newExpiringCtx(), legRow("aws", matrix.Pass, "done"))
	if out.Canceled || !out.Degraded || !strings.Contains(out.Notice, "deadline") {
		t.Errorf("Finish whose deadline passed at its turn: %+v, want degraded with a notice naming the deadline", out)
	}
	if out.StatusPosted || len(f.Statuses(testRepo, sha1)) != 0 || len(markerComments(f)) != 0 {
		t.Errorf("Finish past its deadline sent something: %+v", out)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("no warning for a report that ran out of time:\n%s", logs.String())
	}
}
