package ghreport

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// Twenty legs with 4,000-character notes do not fit GitHub's 65,536
// characters at the first note limits CommentBody tries: only the smaller
// ones fit, and the fake refuses an oversized body with 422 as GitHub does.
// Every leg's row stays, each with the start of its notes and a mark that
// says the full notes are in the leg's job summary (the row links the
// job). The comment's hidden state then holds the cut notes only (but for
// rows it still had room for whole), so the report job, which builds its
// summary (and matrix.json, and the docs table) from that state, has them
// cut too: its summary must carry the mark, never pass the cut notes off
// as whole.
func TestManyLongNotesFitTheComment(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(3, 4))
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var rows []matrix.Row
	for i := range 20 {
		key := fmt.Sprintf("leg%02d", i)
		var b strings.Builder
		b.WriteString(key + ": ")
		for b.Len() < 4000 {
			b.WriteByte(letters[rnd.IntN(len(letters))])
		}
		row := legRow(key, matrix.Fail, b.String())
		r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
		if out := r.Finish(ctx, row); out.Degraded || out.CommentURL == "" {
			t.Fatalf("Finish %s (leg %d of 20, 4,000-character notes): %+v", key, i+1, out)
		}
		rows = append(rows, row)
	}
	body := markerComments(f)[0].Body
	if n := utf8.RuneCountInString(body); n > fakegh.MaxCommentBody {
		t.Fatalf("comment has %d characters, over GitHub's %d", n, fakegh.MaxCommentBody)
	}
	const mark = "full notes in the leg's job summary"
	cutRight := func(where string, got matrix.Row, whole string) {
		t.Helper()
		kept, marked := strings.CutSuffix(got.Notes, cutMark)
		if !marked || !strings.Contains(cutMark, mark) {
			t.Errorf("%s: row %s notes %q do not end in the mark %q", where, got.Key, matrix.Truncate(got.Notes, 80), mark)
			return
		}
		if kept == "" || !strings.HasPrefix(whole, kept) || len(kept) >= len(whole) {
			t.Errorf("%s: row %s kept notes %q, want a cut start of its notes", where, got.Key, matrix.Truncate(got.Notes, 60))
		}
	}
	// The state keeps a row's notes whole while the comment has room, so
	// the last legs to write may keep theirs; a row cut once stays cut
	// (its whole text is gone from the state). 20 × 4,000 characters do
	// not fit: most rows are cut.
	st := commentState(t, f)
	whole := map[string]bool{}
	for _, want := range rows {
		got, ok := findRow(st.Rows, want.Key)
		if !ok {
			t.Errorf("row %s lost from the comment", want.Key)
			continue
		}
		if got.Notes == want.Notes {
			whole[want.Key] = true
		} else {
			// Cut, not dropped: the state keeps the notes' start.
			cutRight("comment state", got, want.Notes)
		}
		if got.JobURL == "" {
			t.Errorf("row %s links no job, so the mark points nowhere", want.Key)
		}
		if start := want.Notes[:12]; !strings.Contains(body, start) {
			t.Errorf("comment table lacks the start of %s's notes %q", want.Key, start)
		}
	}
	if n := strings.Count(body, mark); n != len(rows) {
		t.Errorf("comment table has the cut mark %d times, want it once for each of the %d rows", n, len(rows))
	}

	// The report job: its rows come from the comment's state.
	r, _ := newReporter(t, f, prEvent(sha1), testToken, nil)
	got, out, err := r.Report(ctx, nil, "")
	if err != nil || out.Degraded {
		t.Fatalf("Report: %+v, %v", out, err)
	}
	summary := Summary(got, sha1)
	for _, want := range rows {
		row, ok := findRow(got, want.Key)
		if !ok {
			t.Errorf("report lost row %s", want.Key)
			continue
		}
		if whole[want.Key] {
			if row.Notes != want.Notes || !strings.Contains(summary, want.Notes) {
				t.Errorf("report: row %s lost the whole notes the comment's state kept", want.Key)
			}
			continue
		}
		cutRight("report", row, want.Notes)
		if strings.Contains(summary, want.Notes) {
			t.Errorf("report summary has %s's whole notes, which the comment's state did not hold: the test is wrong", want.Key)
		}
		if !strings.Contains(summary, want.Notes[:12]) {
			t.Errorf("report summary lacks the start of %s's notes", want.Key)
		}
	}
	if len(whole) > len(rows)/2 {
		t.Errorf("%d of %d rows kept whole notes in the state: %d × 4,000 characters cannot fit", len(whole), len(rows), len(rows))
	}
	if n, cut := strings.Count(summary, mark), len(rows)-len(whole); n != cut {
		t.Errorf("report summary says %d times that the full notes are in the leg's job summary, want once per cut row (%d):\n%s",
			n, cut, summary)
	}
}

// After each write a leg waits before reading back: half the base delay
// plus a random part of it, the base Settle after the first write and
// doubling with each write up to eight times Settle, so legs whose writes
// collide drift apart. Here a competing
// writer puts the older comment back after every write, so the leg writes
// Attempts times and every wait it asks for is a settle delay.
func TestSettleDelayIsJitteredAndGrows(t *testing.T) {
	f := newFake(t)
	older := mustBody(t, legRow("gcp", matrix.Pass, "older body"))
	id := f.AddComment(testRepo, testPR, "github-actions[bot]", older)
	const settle, attempts = time.Second, 7
	var mu sync.Mutex
	var waits []time.Duration
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
		c.Settle, c.Attempts = settle, attempts
		c.Clock = testClock{sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			f.SetCommentBody(id, older) // drops the leg's row again
			return ctx.Err()
		}}
	})
	out := r.Finish(context.Background(), legRow("aws", matrix.Pass, "mine"))
	if !out.Degraded || !strings.Contains(out.Notice, "did not stay") {
		t.Errorf("outcome = %+v, want degraded: the row did not stay", out)
	}
	if n := countRequests(f, http.MethodPatch); n != attempts {
		t.Fatalf("%d comment writes, want Attempts (%d)", n, attempts)
	}
	if len(waits) != attempts {
		t.Fatalf("waits %v, want one after each of the %d writes", waits, attempts)
	}
	seen := map[time.Duration]bool{}
	for i, d := range waits {
		base := settle << min(i, 3)
		if d < base/2 || d >= base/2+base {
			t.Errorf("wait after write %d = %v, want in [%v, %v)", i+1, d, base/2, base/2+base)
		}
		if i >= 3 {
			seen[d] = true
		}
	}
	// Writes 4 to 7 share a base: jitter makes their waits differ.
	if len(seen) < 2 {
		t.Errorf("waits after writes 4-%d are all %v: no jitter", attempts, waits[3])
	}

	// Over many draws the jitter spans most of its window, not a sliver.
	base := settle << 3
	lo, hi := base*2, time.Duration(0)
	for range 200 {
		d := r.settleDelay(5)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > base/2+base/4 || hi < base/2+3*base/4 {
		t.Errorf("200 settle delays span [%v, %v], want most of [%v, %v)", lo, hi, base/2, base/2+base)
	}
}

// The report's final write stops after Attempts writes when a competing
// writer keeps putting an older comment back (dropping rows): it does not
// go on until the context ends. The matrix and the docs file are produced
// all the same, and the notice says the comment did not hold.
func TestReportStopsAfterAttemptsWhenRowsKeepBeingDropped(t *testing.T) {
	f := newFake(t)
	reportFixture(t, f)
	cs := markerComments(f)
	if len(cs) != 1 {
		t.Fatalf("%d matrix comments after the fixture, want 1", len(cs))
	}
	id, older := cs[0].ID, mustBody(t, legRow("aws", matrix.Pass, "older body"))
	docs := copySeed(t)
	expected := []string{"aws", "gcp", "azure", "ovh"}

	const attempts = 3
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	waits := 0
	r, _ := newReporter(t, f, prEvent(sha1), testToken, func(c *Config) {
		c.Attempts = attempts
		c.Clock = testClock{sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waits++
			n := waits
			mu.Unlock()
			f.SetCommentBody(id, older)
			if n > attempts+2 {
				// Far past the bound: end the report rather than let it
				// write until the test times out.
				cancel()
			}
			return ctx.Err()
		}}
	})
	before := countRequests(f, http.MethodPatch)
	rows, out, err := r.Report(ctx, expected, docs)
	if err != nil {
		t.Fatal(err)
	}
	if n := countRequests(f, http.MethodPatch) - before; n != attempts {
		t.Errorf("%d final comment writes, want Attempts (%d)", n, attempts)
	}
	if ctx.Err() != nil {
		t.Errorf("the report ran until its context was canceled instead of stopping after %d writes", attempts)
	}
	if !out.Degraded || !strings.Contains(out.Notice, "did not stay") || out.CommentURL != "" {
		t.Errorf("outcome = %+v, want degraded with a notice that the comment did not hold", out)
	}
	if len(rows) != len(expected) {
		t.Errorf("rows %+v, want one for each of %v", rows, expected)
	}
	if !out.FileRewritten {
		t.Errorf("outcome = %+v, want the docs file rewritten", out)
	}
	got, err := os.ReadFile(docs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| AWS | ✅ | ✅ | ✅ | $2.50 / 35 min, c8i.large |",
		"| OVH | ✅ | ❌ | ❌ | quota: no bare metal in gra |",
		"| Azure | — | ⏳ pending | ? | Needs az CLI install |", // no result this run: kept
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("docs file lacks %q:\n%s", want, got)
		}
	}
}

func countRequests(f *fakegh.Server, method string) int {
	n := 0
	for _, req := range f.Requests() {
		if req.Method == method {
			n++
		}
	}
	return n
}
