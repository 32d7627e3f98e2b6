package ghreport

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// TestConcurrentLegsLoseNoRows runs 8 legs against one PR at once, each
// starting and finishing, 50 times with different random interleavings:
// the fake delays every request before and after applying it, applies each
// request on its own, and serves every read from a state up to
// shortStaleLag old, so reads and writes of different legs interleave as
// they can on GitHub and its read replicas. Every trial must end with one comment holding all 8
// rows in their final state, each the leg's own row (notes and all), not one
// rebuilt from its status after a lost update: the read-back must have
// caught and repaired every lost write.
func TestConcurrentLegsLoseNoRows(t *testing.T) {
	legsRace(t, legsRaceOpts{maxDelay: 3 * time.Millisecond, staleLag: shortStaleLag, trials: 50, speedup: shortSpeedup, mod: shortSettings})
}

// TestConcurrentLegsLoseNoRowsWithSlowRequests is the concurrency test with
// requests slow next to the quiet period: up to 60 ms each against its
// 100 ms, so a share of the comment listings (with the PR's head read after
// them, when the comment is about an older push) take longer than half of
// it and the legs read again before writing (sticky.go), and some writes
// outlast their deadline (3·Quiet/4 after their read) and are waited out as
// writes that may land late. Every trial must end as in the fast test, and
// the guard must have fired (else the test showed nothing). The protocol's
// bounds hold whatever the latency (the legs enforce them on their own
// clock); the fake's stale reads stay at most shortStaleLag old, 2·10 ms
// against the 25 ms the bounds leave for them.
func TestConcurrentLegsLoseNoRowsWithSlowRequests(t *testing.T) {
	var oldReads atomic.Int64
	t.Cleanup(func() { // after the trials, which run in parallel
		if oldReads.Load() == 0 {
			t.Error("no leg ever read the comment again for an old read: the requests were not slow enough to show the guard")
		}
	})
	legsRace(t, legsRaceOpts{maxDelay: 30 * time.Millisecond, staleLag: shortStaleLag, trials: 16, speedup: shortSpeedup,
		mod: func(c *Config) {
			shortSettings(c)
			c.Logger = slog.New(countHandler{msg: "matrix comment read is old; reading it again before writing", n: &oldReads})
		}})
}

// countHandler counts the log records with message msg.
type countHandler struct {
	msg string
	n   *atomic.Int64
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

// shortStaleLag bounds how old a stale read is in the tests with
// shortSettings: under Quiet/8 (12.5 ms), as the protocol needs of GitHub's
// replicas (sticky.go). Each leg reads again rather than write from a read
// older than Quiet/2 and gives up on a write not answered 3·Quiet/4 after
// its read, on its own clock, so a loaded machine's scheduling delays make
// the legs read again or wait out a write that may land late, never break
// the bound. Stale reads are what
// made rows flip back after their leg trusted them: a read back served
// from before the last flip.
const shortStaleLag = 10 * time.Millisecond

// staleChance is the share of reads the concurrency tests' fakes serve
// stale: all of them, each from a random instant within the lag (some
// nearly fresh), which is what catches a protocol trusting a stale read.
const staleChance = 1

// shortSettings are the concurrency tests' settings for the fast fake.
func shortSettings(c *Config) {
	// Twice the default bound, so a loaded test machine does
	// not turn slow convergence into a reported give-up.
	c.Attempts = 2 * DefaultAttempts
	// shortSpeedup makes this 100ms: longer than a leg's read-to-write
	// latency against the fake plus its stale reads' lag (see
	// shortStaleLag), as the production default is against GitHub's,
	// yet short enough that legs still write while others watch their
	// rows, which is where rows were lost.
	c.Quiet = 200 * time.Second
}

// TestConcurrentLegsKeepRowsOfLegsThatStopAfterStart is the concurrency
// test with every third leg stopping after Start, as a leg killed mid-cycle
// does (its post step may not come): the others' writes race its ⏳ row,
// and no one confirms it after Start saw it once. Every trial must end with
// that leg's row still there, ⏳ for the head (its own, or rebuilt from its
// pending status), so the report can show it as ended without a result
// rather than lose it; the finishing legs' rows must be their own final
// ones as ever. Fewer trials than the full test: it adds interleavings, not
// another protocol.
func TestConcurrentLegsKeepRowsOfLegsThatStopAfterStart(t *testing.T) {
	legsRace(t, legsRaceOpts{
		maxDelay: time.Millisecond, staleLag: shortStaleLag, trials: 25, speedup: shortSpeedup, mod: shortSettings,
		stopAfterStart: func(i int) bool { return i%3 == 0 },
	})
}

// TestConcurrentLegsLoseNoRowsAtProductionSettings is the same with the
// production Settle, Quiet and Attempts against a fake as slow as GitHub:
// up to a second per request (half before applying it, half after) and
// reads up to half a second stale (under Quiet/8), with time running
// prodSpeedup times faster for the fake and the legs alike. It shows the
// defaults are long enough for GitHub's latency, not only the test
// settings for the fake's.
func TestConcurrentLegsLoseNoRowsAtProductionSettings(t *testing.T) {
	legsRace(t, legsRaceOpts{maxDelay: time.Second / 2 / prodSpeedup, staleLag: time.Second / 2 / prodSpeedup,
		trials: 50, speedup: prodSpeedup, mod: func(*Config) {}})
}

// prodSpeedup is how much faster than real time the production-settings
// test runs. Kept low enough that a loaded machine's scheduling delays
// (milliseconds) stay small next to the scaled waits and latencies.
const prodSpeedup = 50

// shortSpeedup is how much faster than real time the tests with
// shortSettings run.
const shortSpeedup = 2000

// fastClock is time running speedup times faster than real time from
// start, for the legs' waits (Sleep) and their clock (Now) alike: the ages
// the protocol measures (a read's, a write's late window) and the quiet
// period it waits must be on one time base, or the guards on them never
// fire (a read 50 ms old would be 50 ms old against a quiet period that
// takes 100 ms of real time but counts as 200 s).
type fastClock struct {
	start   time.Time
	speedup time.Duration
}

func newFastClock(speedup int) *fastClock {
	return &fastClock{start: time.Now(), speedup: time.Duration(speedup)}
}

func (c *fastClock) now() time.Time { return c.start.Add(time.Since(c.start) * c.speedup) }

// sleep waits 1/speedup of what was asked.
func (c *fastClock) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d / c.speedup)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newFastReporter is newReporter for a leg on clock c, configured by mod.
// Its comment writes' deadlines are on c's time too, as the protocol's
// bound on an answered write is in the time its quiet period is waited in.
func newFastReporter(t *testing.T, f *fakegh.Server, ev Event, c *fastClock, mod func(*Config)) *Reporter {
	t.Helper()
	r, _ := newReporter(t, f, ev, testToken, func(cfg *Config) {
		cfg.Now, cfg.Sleep = c.now, c.sleep
		mod(cfg)
	})
	r.speedup = c.speedup
	return r
}

type legsRaceOpts struct {
	maxDelay time.Duration // the fake delays each request up to twice this
	// staleLag: the fake serves staleChance of the reads of comments and
	// statuses from a state up to this old, as GitHub's replicas do.
	staleLag time.Duration
	trials   int           // runs, each with its own interleaving
	speedup  int           // the legs' time runs this much faster (fastClock)
	mod      func(*Config) // configures every leg's Reporter
	// stopAfterStart says which legs (by index) report Start and never
	// Finish; nil: every leg finishes.
	stopAfterStart func(i int) bool
}

// legsRace runs 8 legs against one PR at once, o.trials times, and checks
// the comment each trial ends with.
func legsRace(t *testing.T, o legsRaceOpts) {
	const legs = 8
	keys := []string{"hetzner-no-kvm", "gcp", "aws", "azure", "vultr", "latitude", "equinix", "ovh"}
	outcomes := []matrix.Status{matrix.Pass, matrix.Fail, matrix.NA}
	stops := map[string]bool{}
	for i, key := range keys {
		stops[key] = o.stopAfterStart != nil && o.stopAfterStart(i)
	}
	maxDelay, mod := o.maxDelay, o.mod
	if o.speedup == 0 {
		t.Fatal("legsRace: no speedup")
	}
	for trial := range o.trials {
		// Trials run two at a time (go test's -parallel): each has a fake
		// of its own, and the legs mostly wait.
		t.Run(fmt.Sprintf("trial%d", trial), func(t *testing.T) {
			t.Parallel()
			seed := uint64(trial + 1)
			f := newFake(t, fakegh.WithDelay(fakegh.RandomDelay(seed, maxDelay)),
				fakegh.WithStaleReads(seed, staleChance, o.staleLag))
			if trial%2 == 1 {
				// An older push left a matrix behind with two other legs.
				old := legRow("qemu", matrix.Pass, "older push")
				old.HeadSHA, old.UpdatedAt = "0000000000000000000000000000000000000000", time.Unix(1, 0)
				body, err := CommentBody(matrix.State{HeadSHA: old.HeadSHA, Rows: []matrix.Row{old}})
				if err != nil {
					t.Fatal(err)
				}
				f.AddComment(testRepo, testPR, "github-actions[bot]", body)
			}
			pick := rand.New(rand.NewPCG(seed, 99))
			want := map[string]matrix.Status{}
			for _, k := range keys {
				want[k] = outcomes[pick.IntN(len(outcomes))]
			}

			var wg sync.WaitGroup
			results := make(chan string, 2*legs)
			start := make(chan struct{})
			clock := newFastClock(o.speedup)
			for i, key := range keys {
				r := newFastReporter(t, f, prEvent(sha1), clock, func(c *Config) {
					c.Rand = rand.New(rand.NewPCG(seed, uint64(i)))
					mod(c)
				})
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					ctx := context.Background()
					if out := r.Start(ctx, matrix.Row{Key: key}); out.Degraded {
						results <- fmt.Sprintf("%s Start: %+v", key, out)
					}
					if stops[key] {
						return
					}
					if out := r.Finish(ctx, legRow(key, want[key], "notes of "+key)); out.Degraded {
						results <- fmt.Sprintf("%s Finish: %+v", key, out)
					}
				}()
			}
			close(start)
			wg.Wait()
			close(results)
			for msg := range results {
				t.Errorf("trial %d: %s", trial, msg)
			}

			st := commentState(t, f)
			if st.HeadSHA != sha1 {
				t.Errorf("trial %d: comment about %s, want %s", trial, st.HeadSHA, sha1)
			}
			for _, key := range keys {
				row, ok := findRow(st.Rows, key)
				if !ok {
					t.Errorf("trial %d: row %s lost", trial, key)
					continue
				}
				if stops[key] {
					// Never finished: ⏳ in every cell, for the head.
					for _, c := range matrix.Columns {
						if got := row.Cell(c).Status; row.HeadSHA != sha1 || got != matrix.Pending {
							t.Errorf("trial %d: row %s of a leg that stopped after Start = %+v, want ⏳ for the head", trial, key, row)
							break
						}
					}
					if status, ok := latestStatus(f, sha1, ContextPrefix+key); !ok || status.State != "pending" {
						t.Errorf("trial %d: status of %s = %+v (found %v), want pending", trial, key, status, ok)
					}
					continue
				}
				if row.HeadSHA != sha1 || row.Has(matrix.Pending) {
					t.Errorf("trial %d: row %s = %+v, want finished for the head", trial, key, row)
				}
				for _, c := range []matrix.Column{matrix.LiveCycle, matrix.SeccompProbe} {
					if got := row.Cell(c).Status; got != want[key] {
						t.Errorf("trial %d: row %s %s = %s, want %s", trial, key, c, got, want[key])
					}
				}
				if row.Source != matrix.FromLeg || row.Notes != "notes of "+key {
					t.Errorf("trial %d: row %s is %s with notes %q, want the leg's own row with %q",
						trial, key, row.Source, row.Notes, "notes of "+key)
				}
			}
			if trial%2 == 1 {
				if _, ok := findRow(st.Rows, "qemu"); !ok {
					t.Errorf("trial %d: the older push's row vanished", trial)
				}
			}
		})
	}
}

// TestConcurrentLegsWithFaultsAndHeadMove is the concurrency test with
// GitHub misbehaving: comment writes answer 502 and 429 now and then, and in
// the middle of one held write the PR's head moves and the newer push's 8
// legs start. Every trial must end with one comment about the newer head
// holding each of its legs' own final rows: no write resent from a read made
// before a wait, and no older push's write over the newer matrix.
func TestConcurrentLegsWithFaultsAndHeadMove(t *testing.T) {
	const trials = 20
	keys := []string{"hetzner-no-kvm", "gcp", "aws", "azure", "vultr", "latitude", "equinix", "ovh"}
	for trial := range trials {
		seed := uint64(1000 + trial)
		f := newFake(t, fakegh.WithDelay(fakegh.RandomDelay(seed, time.Millisecond)))
		// The failed writes may land late, which the legs wait out: on a
		// clock running as fast as their waits.
		clock := newFastClock(shortSpeedup)
		var wg sync.WaitGroup
		results := make(chan string, 4*len(keys))
		leg := func(head string, i int, key string) {
			r := newFastReporter(t, f, prEvent(head), clock, func(c *Config) {
				c.Rand = rand.New(rand.NewPCG(seed, uint64(i)))
				shortSettings(c)
			})
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				r.Start(ctx, matrix.Row{Key: key})
				out := r.Finish(ctx, legRow(key, matrix.Pass, "notes of "+key+" at "+matrix.ShortSHA(head)))
				if head == sha2 && out.Degraded {
					results <- fmt.Sprintf("%s Finish: %+v", key, out)
				}
			}()
		}
		pick := rand.New(rand.NewPCG(seed, 7))
		f.Inject(fakegh.Fault{Method: "PATCH", Path: "/issues/comments/", Status: 502, Times: 1 + pick.IntN(3)})
		f.Inject(fakegh.Fault{Method: "POST", Path: "/comments", Status: 429, RetryAfter: 2 * time.Second})
		f.Inject(fakegh.Fault{Method: "PATCH", Path: "/issues/comments/", Status: 502, During: func() {
			f.SetPR(testRepo, fakegh.PR{Number: testPR, HeadSHA: sha2})
			for i, key := range keys {
				leg(sha2, i+len(keys), key)
			}
			// More faults for the newer push's legs.
			f.Inject(fakegh.Fault{Method: "PATCH", Path: "/issues/comments/", Status: 503, Times: 2})
			f.Inject(fakegh.Fault{Method: "PATCH", Path: "/issues/comments/", Status: 429, RetryAfter: time.Second})
		}})
		for i, key := range keys {
			leg(sha1, i, key)
		}
		wg.Wait()
		close(results)
		for msg := range results {
			t.Errorf("trial %d: %s", trial, msg)
		}
		if got := f.Comments(testRepo, testPR); len(got) == 0 {
			t.Fatalf("trial %d: no comment", trial)
		}
		st := commentState(t, f)
		if st.HeadSHA != sha2 {
			t.Errorf("trial %d: comment about %s, want the newer head %s", trial, matrix.ShortSHA(st.HeadSHA), matrix.ShortSHA(sha2))
		}
		for _, key := range keys {
			row, ok := findRow(st.Rows, key)
			want := "notes of " + key + " at " + matrix.ShortSHA(sha2)
			if !ok || row.HeadSHA != sha2 || row.Source != matrix.FromLeg || row.Notes != want || row.Has(matrix.Pending) {
				t.Errorf("trial %d: row %s = %+v (found %v), want the newer push's own final row", trial, key, row, ok)
			}
		}
	}
}
