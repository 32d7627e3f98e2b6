package verify

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/remote"
)

// DefaultHeartbeat is how long something may run silently before the
// cycle says it is still running: a quiet step of an hour should not look
// like a hung run.
const DefaultHeartbeat = time.Minute

// heartbeat prints "… NAME still running (ELAPSED)" whenever a command
// (or an upload) has been silent for an interval. The line goes to the
// live output only: the command's kept output, which is parsed as libtest
// and kept as the step's log, is captured apart from it.
type heartbeat struct {
	mu      sync.Mutex
	out     io.Writer
	step    *remote.StepWriter // nil: not a command's output (an upload)
	actions bool
	name    string
	start   time.Time
	last    time.Time // the last output or beat
	// atLineStart: the last byte written to step ended a line (in
	// Actions; a terminal StepWriter holds partial lines itself).
	atLineStart bool
	stop        chan struct{}
	done        chan struct{}
}

// startHeartbeat begins beating for name every interval of silence. With
// step set, the output goes through the heartbeat (Write) so it knows when
// the command was last heard from, and in Actions the beat lands inside
// the step's group. Stop must be called when the work ends.
func startHeartbeat(out io.Writer, step *remote.StepWriter, actions bool, name string, interval time.Duration) *heartbeat {
	now := time.Now()
	h := &heartbeat{out: out, step: step, actions: actions, name: name, start: now, last: now,
		atLineStart: true, stop: make(chan struct{}), done: make(chan struct{})}
	go h.run(interval)
	return h
}

func (h *heartbeat) run(interval time.Duration) {
	defer close(h.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			h.beat(now, interval)
		}
	}
}

func (h *heartbeat) beat(now time.Time, interval time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// A tick can come a little early of a full interval's silence.
	if now.Sub(h.last) < interval*9/10 {
		return
	}
	h.last = now
	line := fmt.Sprintf("   … %s still running (%s)\n", h.name, now.Sub(h.start).Round(time.Second))
	if h.step != nil && h.actions {
		// Inside the group: its ::group:: must come first, and a
		// partial line of the command's must not swallow the beat.
		if !h.atLineStart {
			line = "\n" + line
		}
		h.step.Write([]byte(line))
		h.atLineStart = true
		return
	}
	// At a terminal the step writer holds a partial line back, so the
	// output is always at a line start between its writes.
	io.WriteString(h.out, line)
}

// Write passes the command's live output on and notes when it was heard.
func (h *heartbeat) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(p) > 0 {
		h.last = time.Now()
		h.atLineStart = p[len(p)-1] == '\n'
	}
	return h.step.Write(p)
}

// Stop ends the beats; none is printed after it returns.
func (h *heartbeat) Stop() {
	close(h.stop)
	<-h.done
}
