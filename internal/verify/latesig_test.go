package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/proc"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// refusedCreate refuses every create, so a cycle goes from provision
// straight to the teardown with no SSH host: enough for what happens
// around the teardown. onList, when set, runs at the end of each List (the
// leak check); onDestroy at the start of each Destroy.
type refusedCreate struct {
	onList    func()
	onDestroy func()
}

func (p *refusedCreate) Name() string                                       { return "refuses" }
func (p *refusedCreate) Preflight(context.Context, providers.Request) error { return nil }

func (p *refusedCreate) Create(context.Context, providers.Request, providers.Journal) (*providers.Host, error) {
	return nil, providers.Classified(providers.ClassInvalid, "", errors.New("no such image"))
}

func (p *refusedCreate) Destroy(context.Context, providers.Identity) (providers.Report, error) {
	if p.onDestroy != nil {
		p.onDestroy()
	}
	return providers.Report{}, nil
}

func (p *refusedCreate) List(context.Context, providers.Filter) ([]providers.Resource, error) {
	if p.onList != nil {
		p.onList()
	}
	return nil, nil
}

const lateMarker = "!! cancelled during the teardown"

// TestSignalAfterTheTeardownChangesNothing: a signal that comes once the
// teardown has finished (here, as its phase is reported) neither cuts
// anything nor adds a notice, and nothing is written to the result or the
// output after Run returns: Run waits for the signal's watcher, which sees
// the teardown done. Before, the watcher ran on its own after Run returned,
// appending to the result's notices (a data race under -race) and printing
// that the teardown was being cut.
func TestSignalAfterTheTeardownChangesNothing(t *testing.T) {
	plan := testPlan(&refusedCreate{}, Step{Name: "never", Run: "true"})
	out := newWatchWriter(lateMarker)
	plan.Out = out
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	printedInHook := false
	var once sync.Once
	plan.OnProgress = func(r *Result) {
		if r.Phase(PhaseTeardown) == nil {
			return
		}
		once.Do(func() {
			cancel()
			// A watcher that does not know the teardown is over says so
			// at once; give it a moment to show it.
			select {
			case <-out.seen:
				printedInHook = true
			case <-time.After(time.Second):
			}
		})
	}
	res := Run(ctx, plan)
	notices := strings.Join(res.Notices, "\n")
	text := out.String()

	if printedInHook || strings.Contains(text, lateMarker) {
		t.Errorf("a signal after the teardown was taken for one during it:\n%s", text)
	}
	if strings.Contains(notices, "a signal came during the teardown") {
		t.Errorf("notices %q say a signal came during the teardown; it came after", res.Notices)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass || res.TeardownDeferred {
		t.Errorf("teardown %+v (deferred %v), want passed, not deferred", td, res.TeardownDeferred)
	}
	if res.Outcome != Errored {
		t.Errorf("outcome %s (%s), want error: the create was refused, before the signal", res.Outcome, res.FirstFailure)
	}
}

// TestSignalAtTheLeakChecksEndIsWaitedFor is a signal at the very end of
// the teardown (the leak check's List), racing its phase's end: whichever
// wins, Run returns only once the signal's watcher is done, so the result
// and the output agree and do not change afterwards (run it with -race:
// the watcher appended to the result's notices after Run returned).
func TestSignalAtTheLeakChecksEndIsWaitedFor(t *testing.T) {
	for i := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		plan := testPlan(&refusedCreate{onList: cancel}, Step{Name: "never", Run: "true"})
		out := newWatchWriter(lateMarker)
		plan.Out = out
		res := Run(ctx, plan)
		noticed := strings.Contains(strings.Join(res.Notices, "\n"), "a signal came during the teardown")
		printed := strings.Contains(out.String(), lateMarker)
		cancel()
		if noticed != printed {
			t.Fatalf("run %d: notice %v but the output's line %v: the signal's watcher was still running when Run returned\n%s", i, noticed, printed, out)
		}
		if td := res.Phase(PhaseTeardown); td == nil || td.Status == matrix.Fail {
			t.Fatalf("run %d: teardown %+v, want passed or cut short, not failed", i, td)
		}
	}
}

// TestPanickingCleanupIsMasked: a cleanup (here the provider's destroy)
// that panics with a secret in its value fails the teardown as an internal
// error, and neither that error (which the summary, result.json and the
// row's notes show) nor the log holds the secret.
func TestPanickingCleanupIsMasked(t *testing.T) {
	const secret = "tok-9f3a1c77e2d54b08"
	p := &refusedCreate{onDestroy: func() { panic("delete failed with token " + secret) }}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	plan.Secrets = []string{secret}
	var log strings.Builder
	plan.Logger = slog.New(slog.NewTextHandler(&log, nil))
	out := newWatchWriter("\x00")
	plan.Out = out
	res := Run(context.Background(), plan)

	td := res.Phase(PhaseTeardown)
	if td == nil || td.Status != matrix.Fail || !strings.Contains(td.Error, "internal error: delete failed with token ***") {
		t.Fatalf("teardown %+v, want failed as an internal error, its secret masked", td)
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"the result": string(data), "the row": mustRow(res), "the log": log.String(), "the output": out.String()} {
		if strings.Contains(text, secret) {
			t.Errorf("%s holds the secret from the cleanup's panic:\n%s", what, text)
		}
	}
	if !strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("the log lacks the panic at error level:\n%s", log.String())
	}
}

func mustRow(res *Result) string {
	data, _ := json.Marshal(res.Row())
	return string(data)
}

// debugHook is a slog handler that calls fn once, on the first debug
// record "cleanup" naming name: the cleanup is about to run.
type debugHook struct {
	name string
	once *sync.Once
	fn   func()
}

func (h debugHook) Enabled(context.Context, slog.Level) bool { return true }
func (h debugHook) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h debugHook) WithGroup(string) slog.Handler            { return h }

func (h debugHook) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "cleanup" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "name" && a.Value.String() == h.name {
			h.once.Do(h.fn)
			return false
		}
		return true
	})
	return nil
}

// TestLateSignalStopsHostCleanupsForTheDestroy: a signal during a
// teardown in the normal order, on a host the provider created, while a
// host-side cleanup hangs (the host stopped answering: its sshd frozen)
// ends that cleanup and skips the rest, as a signal before the teardown
// would have: the destroy, which removes the host and whatever they would
// have undone, still gets a live context. Before, the cleanup ran until
// the cut teardown ended, and the destroy was called with an ended one.
func TestLateSignalStopsHostCleanupsForTheDestroy(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	plan := testPlan(p, Step{Name: "ok", Run: "true", Column: matrix.LiveCycle})
	plan.Info.Creates = true
	plan.ProbeBinary = testProbeBinary(t) // so a host-side cleanup is pending
	plan.Lane = hostLane()
	// The "created" host is this machine, where the skipped cleanup
	// leaves the probe binary: in a directory of this test's own, which
	// the test removes.
	plan.Identity.RunID = fmt.Sprintf("late-%d", time.Now().UnixNano())
	t.Cleanup(func() { os.RemoveAll("/tmp/mvm-verify-" + plan.Identity.Name()) })
	// More than the kill grace (2 s) a cleanup ended by the signal may
	// take: the destroy comes after it, within the cut.
	plan.CancelBudget = 5 * time.Second
	plan.Timeout, plan.TeardownBudget = time.Hour, 30*time.Minute
	plan.Actions = true
	out := newWatchWriter("\x00")
	plan.Out = out
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	plan.Logger = slog.New(debugHook{name: "remove probe binary", once: &sync.Once{}, fn: cancel})
	// Once the suite has passed, the host stops answering: the host-side
	// cleanups hang, as on a host gone unresponsive.
	plan.OnVerdict = func(*Result) {
		h := p.onlyHost(t)
		for _, pid := range proc.Descendants(h.Pid()) {
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Errorf("SIGSTOP %d: %v", pid, err)
			}
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
		}
	}
	res := Run(ctx, plan)

	p.mu.Lock()
	destroys := append([]destroyCall(nil), p.destroys...)
	p.mu.Unlock()
	if len(destroys) == 0 {
		t.Fatalf("the provider's destroy never ran\n%s", out)
	}
	if d := destroys[0]; d.err != nil {
		t.Errorf("destroy called with an ended context (%v): the host-side cleanup used up the cut teardown\n%s", d.err, out)
	}
	if !strings.Contains(out.String(), "stopped by the signal, for the destroy that removes the host: remove probe binary") {
		t.Errorf("the output does not say the host-side cleanup was stopped for the destroy:\n%s", out)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left after the teardown: %v", left)
	}
	if res.Outcome != Verified {
		t.Errorf("outcome %s (%s), want the suite's verdict: verified", res.Outcome, res.FirstFailure)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status == matrix.Fail {
		t.Errorf("teardown %+v, want not failed: the host is destroyed\n%s", td, out)
	}
}
