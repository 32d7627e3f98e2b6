package cli

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/ghreport"
	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// compress is how much faster than production TestConcurrentStartsFitTheirBudget
// runs: every wait the Reporter asks for and every deadline the CLI gives it
// are divided by it, and the fake GitHub answers in a few milliseconds,
// which at this scale is tens of milliseconds or more: GitHub's own pace.
// Not more: the deadlines are real time, and on a loaded machine (CI runs
// packages side by side) a budget of a few hundred milliseconds was missed
// by the machine, not by the Reporter.
const compress = 20

func compressedSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d / compress)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// TestConcurrentStartsFitTheirBudget runs a matrix's 8 legs starting at once
// and then finishing, as the CLI reports them: the Reporter configured by
// ghConfig with the production settle, quiet and attempts, each Start within
// the CLI's startBudget and each Finish within finishReserve, all of it
// time-compressed. No Start may run out of its time (a false "reporting
// incomplete" notice on every busy matrix, and the leg's cycle held back),
// and no leg's final row may be lost.
func TestConcurrentStartsFitTheirBudget(t *testing.T) {
	const (
		trials = 10
		head   = "1111111111111111111111111111111111111111"
		token  = "ghs_test_token_0123456789"
		pr     = 7
	)
	keys := []string{"hetzner-no-kvm", "gcp", "aws", "azure", "vultr", "latitude", "equinix", "ovh"}
	a := newApp(Env{Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: io.Discard})
	for trial := range trials {
		seed := uint64(trial + 1)
		f := fakegh.New(fakegh.WithDelay(fakegh.RandomDelay(seed, 2*time.Millisecond)))
		t.Cleanup(f.Close)
		f.AddToken(token, fakegh.Token{})
		f.SetPR("acme/widgets", fakegh.PR{Number: pr, HeadSHA: head})
		ev := ghreport.Event{Name: "pull_request", Repo: "acme/widgets", HeadSHA: head, PR: pr,
			HeadRepo: "acme/widgets", BaseRepo: "acme/widgets", RunURL: "https://github.com/acme/widgets/actions/runs/42"}
		run := &config.Run{GitHubToken: token, GitHubAPIURL: f.URL(), Comment: true}

		var wg sync.WaitGroup
		problems := make(chan string, 2*len(keys))
		begin := make(chan struct{})
		for i, key := range keys {
			cfg := a.ghConfig(run, ev, startBudget)
			if cfg.Settle != 0 || cfg.Quiet != 0 {
				t.Fatalf("ghConfig set settle %s and quiet %s without MVM_VERIFY_POLL_INTERVAL, want the defaults", cfg.Settle, cfg.Quiet)
			}
			cfg.HTTPClient, cfg.Clock = f.Client(), ghClock{sleep: compressedSleep}
			cfg.Rand = rand.New(rand.NewPCG(seed, uint64(i)))
			r, err := ghreport.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-begin
				sctx, cancel := context.WithTimeout(context.Background(), startBudget/compress)
				out := r.Start(sctx, matrix.Row{Key: key})
				cancel()
				if out.Degraded || !out.StatusPosted || out.CommentURL == "" {
					problems <- fmt.Sprintf("%s Start: %+v", key, out)
				}
				fctx, cancel := context.WithTimeout(context.Background(), finishReserve/compress)
				defer cancel()
				row := matrix.Row{Key: key, Notes: "final of " + key}
				row.Set(matrix.Preflight, matrix.Pass, "")
				row.Set(matrix.LiveCycle, matrix.Pass, "")
				row.Set(matrix.SeccompProbe, matrix.Pass, "")
				if out := r.Finish(fctx, row); out.Degraded {
					problems <- fmt.Sprintf("%s Finish: %+v", key, out)
				}
			}()
		}
		close(begin)
		wg.Wait()
		close(problems)
		for p := range problems {
			t.Errorf("trial %d: %s", trial, p)
		}

		var body string
		n := 0
		for _, c := range f.Comments("acme/widgets", pr) {
			if strings.HasPrefix(c.Body, ghreport.Marker) {
				body, n = c.Body, n+1
			}
		}
		if n != 1 {
			t.Fatalf("trial %d: %d matrix comments, want 1", trial, n)
		}
		st, _, err := matrix.DecodeState(body)
		if err != nil {
			t.Fatalf("trial %d: comment state: %v", trial, err)
		}
		for _, key := range keys {
			found := false
			for _, row := range st.Rows {
				found = found || (row.Key == key && row.Notes == "final of "+key && !row.Has(matrix.Pending))
			}
			if !found {
				t.Errorf("trial %d: %s's final row is not in the comment: %+v", trial, key, st.Rows)
			}
		}
	}
}
