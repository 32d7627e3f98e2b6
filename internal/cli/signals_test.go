package cli

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// signalsAt is a handler on a clock the test moves, recording cancels and
// exits instead of making them.
type signalsAt struct {
	*signals
	clock    time.Time
	cancels  int
	exitCode int // -1 until exit is called
	out      strings.Builder
}

func newSignalsAt(inActions bool) *signalsAt {
	h := &signalsAt{clock: time.Unix(1_800_000_000, 0), exitCode: -1}
	h.signals = newSignals(func() { h.cancels++ }, inActions, &h.out)
	h.now = func() time.Time { return h.clock }
	h.exit = func(code int) { h.exitCode = code }
	return h
}

// The same signal twice in quick succession (timeout's copy to the group)
// cancels once, is never the default action, and says it was ignored.
func TestRepeatedSignalIsIgnored(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt, syscall.SIGHUP} {
		h := newSignalsAt(false)
		h.setLeft(func() string { return "left: everything\n" })
		h.handle(sig)
		h.handle(sig)
		if h.cancels != 1 || h.exitCode != -1 {
			t.Errorf("%v twice: %d cancels, exit %d; want 1 cancel and no exit", sig, h.cancels, h.exitCode)
		}
		if !strings.Contains(h.out.String(), "ignored: it came right after the first") {
			t.Errorf("%v twice: no note that the copy was ignored:\n%s", sig, h.out.String())
		}
	}
}

// At a terminal, a Ctrl-C that comes later than a copy would is
// deliberate: it quits with 130, after saying what is left and how to
// tear it down. A later SIGTERM or SIGHUP is still ignored.
func TestLaterCtrlCQuitsAtATerminal(t *testing.T) {
	h := newSignalsAt(false)
	h.setLeft(func() string { return "left: local sshd 42\nrun: mvm-verify down --out /o\n" })
	h.handle(syscall.SIGTERM)
	h.clock = h.clock.Add(repeatWindow)
	h.handle(syscall.SIGTERM)
	h.handle(syscall.SIGHUP)
	if h.exitCode != -1 {
		t.Fatalf("a later SIGTERM or SIGHUP quit (exit %d); want them ignored:\n%s", h.exitCode, h.out.String())
	}
	h.handle(os.Interrupt)
	if h.exitCode != ExitForceQuit {
		t.Fatalf("a later Ctrl-C: exit %d, want %d:\n%s", h.exitCode, ExitForceQuit, h.out.String())
	}
	out := h.out.String()
	quit := strings.Index(out, "quitting at once")
	if quit < 0 || !strings.Contains(out[quit:], "left: local sshd 42\nrun: mvm-verify down --out /o\n") {
		t.Errorf("the forced quit does not say what is left and how to tear it down:\n%s", out)
	}
	if h.cancels != 1 {
		t.Errorf("%d cancels, want 1", h.cancels)
	}
}

// In Actions no signal after the first quits: the runner's kill and the
// post step take over.
func TestLaterSignalsIgnoredInActions(t *testing.T) {
	h := newSignalsAt(true)
	h.handle(os.Interrupt)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM, os.Interrupt} {
		h.clock = h.clock.Add(time.Minute)
		h.handle(sig)
	}
	if h.exitCode != -1 || h.cancels != 1 {
		t.Fatalf("in Actions: exit %d, %d cancels; want no exit and 1 cancel:\n%s", h.exitCode, h.cancels, h.out.String())
	}
	if n := strings.Count(h.out.String(), "post step take over"); n != 2 {
		t.Errorf("%d notes on the ignored signals, want one per signal kind (2):\n%s", n, h.out.String())
	}
}
