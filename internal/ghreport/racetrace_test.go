package ghreport

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// raceTrace records what a concurrency trial's fake served and what its
// legs logged, on the legs' clock, to show how a failing trial went.
type raceTrace struct {
	clock *fastClock
	mu    sync.Mutex
	lines []traceLine
}

type traceLine struct {
	at   time.Time
	text string
}

func (rt *raceTrace) add(at time.Time, format string, args ...any) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.lines = append(rt.lines, traceLine{at: at, text: fmt.Sprintf(format, args...)})
}

// virtual is a real instant on the legs' clock.
func (rt *raceTrace) virtual(t time.Time) time.Time {
	return rt.clock.start.Add(t.Sub(rt.clock.start) * rt.clock.speedup)
}

// event records one request of the fake: comment reads and writes with the
// rows they held (key, source, ⏳ or done), and every status posted.
func (rt *raceTrace) event(ev fakegh.Event) {
	what := ""
	switch {
	case ev.Method == "GET" && strings.HasSuffix(ev.Path, "/comments"):
		var cs []struct {
			Body string `json:"body"`
		}
		_ = json.Unmarshal([]byte(ev.Body), &cs)
		for _, c := range cs {
			what += " " + traceRows(c.Body)
		}
	case (ev.Method == "POST" || ev.Method == "PATCH") && strings.Contains(ev.Path, "/comments"):
		var in struct {
			Body string `json:"body"`
		}
		_ = json.Unmarshal([]byte(ev.Body), &in)
		what = traceRows(in.Body)
	case ev.Method == "POST" && strings.Contains(ev.Path, "/statuses/"):
		what = ev.Body
	default:
		return
	}
	stale := ""
	if ev.StaleAge >= 0 {
		stale = fmt.Sprintf(" stale %s", rt.clock.speedup*ev.StaleAge)
	}
	gone := ""
	if ev.Gone {
		gone = " ANSWER UNHEARD"
	}
	rt.add(rt.virtual(ev.Applied), "fake %-14s %s %s%s (arrived %s, answered +%s)%s: %s", ev.Client, ev.Method, ev.Path, stale,
		rt.virtual(ev.Arrived).Sub(rt.clock.start).Round(time.Millisecond),
		rt.virtual(ev.Answered).Sub(rt.virtual(ev.Applied)).Round(time.Millisecond), gone, what)
}

// traceRows is a comment's rows in short: key:source:⏳/done, and its tag.
func traceRows(body string) string {
	st, found, err := matrix.DecodeState(body)
	if !found || err != nil {
		return "(no state)"
	}
	var parts []string
	for _, r := range st.Rows {
		state := "done"
		if r.Has(matrix.Pending) {
			state = "⏳"
		}
		src := string(r.Source)
		if src == "" {
			src = "leg"
		}
		parts = append(parts, r.Key+":"+src+":"+state)
	}
	tag := ""
	if i := strings.LastIndex(body, writeTagOpen); i >= 0 {
		tag = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(body[i+len(writeTagOpen):]), "-->"))
	}
	return "[" + strings.Join(parts, " ") + "] tag " + tag
}

// logger is a leg's logger writing into the trace.
func (rt *raceTrace) logger(leg string) *slog.Logger {
	return slog.New(traceHandler{rt: rt, leg: leg})
}

type traceHandler struct {
	rt  *raceTrace
	leg string
}

func (h traceHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h traceHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.rt.add(h.rt.clock.Now(), "leg  %-14s %s%s", h.leg, rec.Message, b.String())
	return nil
}
func (h traceHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h traceHandler) WithGroup(string) slog.Handler      { return h }

// dump logs the trace in time order.
func (rt *raceTrace) dump(t *testing.T) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	sort.SliceStable(rt.lines, func(i, j int) bool { return rt.lines[i].at.Before(rt.lines[j].at) })
	var b strings.Builder
	for _, l := range rt.lines {
		fmt.Fprintf(&b, "%10s %s\n", l.at.Sub(rt.clock.start).Round(time.Millisecond), l.text)
	}
	t.Logf("trace (legs' clock):\n%s", b.String())
}
