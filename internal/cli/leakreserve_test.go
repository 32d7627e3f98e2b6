package cli

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
)

// greedyCloud is a cloud whose listings lag behind creates (a young run
// needs several empty ones in a row) and show nothing: its Destroy
// succeeds only once the time it was given is up, as one whose own quiet
// sweeps ran to its deadline.
type greedyCloud struct {
	poll time.Duration
	// greedy makes Destroy wait until its context ends.
	greedy bool

	mu    sync.Mutex
	lists int
}

func (*greedyCloud) Name() string                                       { return "greedy" }
func (*greedyCloud) Preflight(context.Context, providers.Request) error { return nil }
func (*greedyCloud) LagWindow() time.Duration                           { return time.Hour }
func (g *greedyCloud) PollInterval() time.Duration                      { return g.poll }
func (*greedyCloud) Create(context.Context, providers.Request, providers.Journal) (*providers.Host, error) {
	return nil, nil
}

func (g *greedyCloud) Destroy(ctx context.Context, _ providers.Identity) (providers.Report, error) {
	if g.greedy {
		<-ctx.Done()
	}
	return providers.Report{}, nil
}

func (g *greedyCloud) List(context.Context, providers.Filter) ([]providers.Resource, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lists++
	return nil, nil
}

func quietApp(out, errOut *strings.Builder) *app {
	return newApp(Env{Getenv: func(string) string { return "" }, Stdout: out, Stderr: errOut})
}

// TestDestroyLeavesTheLeakCheckItsShare: the teardown of post and down
// (destroy) gives the provider's Destroy a deadline before its own, as
// the cycle does after a signal: a Destroy that uses all the time it is
// given still leaves the leak check of a young run its quiet listings, so
// a clean teardown is confirmed clean (exit 0), not failed as unconfirmed.
func TestDestroyLeavesTheLeakCheckItsShare(t *testing.T) {
	var out, errOut strings.Builder
	a := quietApp(&out, &errOut)
	p := &greedyCloud{poll: time.Millisecond, greedy: true}
	id := providers.Identity{RunID: "99", RunAttempt: "1", Job: "verify", Key: "aws", Leg: "leak1", CreatedAt: time.Now()}
	// The teardown budget post gives destroy.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()

	code, text, problem := a.destroy(ctx, p, id, true, "")
	if code != ExitOK || problem != "" {
		t.Errorf("a clean teardown whose destroy used its time: exit %d (%s), want 0\n%s%s", code, problem, text, errOut.String())
	}
	if !strings.Contains(text, "✅ leak check: nothing tagged with this run is left") {
		t.Errorf("the summary does not confirm nothing is left:\n%s", text)
	}
	if p.lists < 3 {
		t.Errorf("the leak check listed %d times; a young run needs 3 empty listings in a row", p.lists)
	}
}

// TestUnconfirmedLeakCheckSaysWhatToDo: a leak check that cannot be
// confirmed (polls a day apart: one listing before the deadline) fails
// the teardown, and its message says what to check — the leg's run and
// leg tags — and, for down, that running it again retries.
func TestUnconfirmedLeakCheckSaysWhatToDo(t *testing.T) {
	id := providers.Identity{RunID: "99", RunAttempt: "1", Job: "verify", Key: "aws", Leg: "leak1", CreatedAt: time.Now()}
	tags := providers.TagRun + "=99-1 and " + providers.TagLeg + "=leak1"
	for _, tc := range []struct {
		name, again string
	}{
		{"post", ""},
		{"down", "running down again (mvm-verify down --out /o) retries"},
	} {
		var out, errOut strings.Builder
		a := quietApp(&out, &errOut)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		code, text, problem := a.destroy(ctx, &greedyCloud{poll: 24 * time.Hour}, id, true, tc.again)
		cancel()
		if code != ExitFailed {
			t.Errorf("%s: exit %d, want 1 for an unconfirmed leak check\n%s", tc.name, code, text)
		}
		for _, said := range []string{text, problem, errOut.String()} {
			if !strings.Contains(said, "leak check not confirmed") || !strings.Contains(said, "check for resources tagged "+tags) {
				t.Errorf("%s: %q does not say the check was not confirmed and which tags to check (%s)", tc.name, said, tags)
			}
			if tc.again != "" && !strings.Contains(said, tc.again) {
				t.Errorf("%s: %q does not say that running down again retries", tc.name, said)
			}
		}
	}
}
