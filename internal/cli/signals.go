package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// repeatWindow is how soon after the first signal another is taken for a
// copy of it rather than a deliberate second one: GNU timeout sends its
// signal to the process and then to its process group, and a runner or
// supervisor may pass one on twice. Such a copy must never cut the
// teardown short.
const repeatWindow = 2 * time.Second

// ExitForceQuit is the exit status of a run quit at once by a second
// Ctrl-C, its teardown unfinished: 128 + SIGINT, as a shell reports it.
const ExitForceQuit = 130

// signals is how the process takes SIGINT, SIGTERM and SIGHUP for its whole
// life. The first cancels the run, which then tears down. Later ones are
// ignored with a note, because the default action would kill the process
// mid-teardown and leave what it created (a billed cloud host) behind: in
// GitHub Actions every later one (the runner's SIGKILL takes over there,
// then the post step, or after a CLI command the down it names), and
// anywhere a copy arriving right after the first.
// Only outside GitHub Actions (a terminal, cron, another CI), a later,
// deliberate Ctrl-C quits at once — after saying what may be left and how
// to tear it down.
type signals struct {
	cancel    context.CancelFunc
	inActions bool
	stderr    io.Writer
	now       func() time.Time
	exit      func(int)
	// window is repeatWindow but in tests of the whole binary, which set
	// MVM_VERIFY_REPEAT_WINDOW so a second Ctrl-C needs no real wait.
	window time.Duration

	mu    sync.Mutex
	first time.Time       // when the first signal came; zero before it
	noted map[string]bool // notes already printed, so a burst prints each once
	// left says what a quit now would leave behind and how to tear it
	// down; set by the command while it has something to lose.
	left func() string
}

// newSignals makes the handler for a process whose run cancel stops.
func newSignals(cancel context.CancelFunc, inActions bool, stderr io.Writer) *signals {
	return &signals{cancel: cancel, inActions: inActions, stderr: stderr, now: time.Now, exit: os.Exit, window: repeatWindow}
}

// setLeft sets what a forced quit reports as left behind; nil for
// nothing to report. s may be nil (Run called without Main).
func (s *signals) setLeft(left func() string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.left = left
	s.mu.Unlock()
}

// handle acts on one signal.
func (s *signals) handle(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	name := signalName(sig)
	if s.first.IsZero() {
		s.first = now
		s.cancel()
		if s.inActions {
			fmt.Fprintf(s.stderr, "mvm-verify: %s: stopping and tearing down\n", name)
		} else {
			fmt.Fprintf(s.stderr, "mvm-verify: %s: stopping and tearing down; Ctrl-C again, after a moment, quits at once and may leave resources behind\n", name)
		}
		return
	}
	switch {
	case s.inActions && s.left != nil && !s.noted[name+" actions"]:
		// A command that leaves state for down (left is set: a CLI
		// command in a run: step, or down) has no post step to finish
		// its teardown: what the runner's kill cuts short, down does.
		s.note(name+" actions", "mvm-verify: %s ignored: already tearing down (the runner's kill may follow, and no post step finishes this teardown)", name)
		fmt.Fprint(s.stderr, s.left())
	case s.inActions:
		s.note(name+" actions", "mvm-verify: %s ignored: already tearing down (the runner's kill and the post step take over from here)", name)
	case now.Sub(s.first) < s.window:
		hint := ""
		if sig == os.Interrupt {
			hint = "; Ctrl-C again, after a moment, quits at once"
		}
		s.note(name+" repeat", "mvm-verify: %s ignored: it came right after the first (a copy, as timeout sends one to the process and one to its group); still tearing down%s", name, hint)
	case sig != os.Interrupt:
		s.note(name+" later", "mvm-verify: %s ignored: already tearing down (Ctrl-C quits at once and may leave resources behind)", name)
	default:
		msg := "mvm-verify: Ctrl-C again: quitting at once, without finishing the teardown\n"
		if s.left != nil {
			msg += s.left()
		}
		fmt.Fprint(s.stderr, msg)
		s.exit(ExitForceQuit)
	}
}

// note prints a one-line note once per key.
func (s *signals) note(key, format string, args ...any) {
	if s.noted[key] {
		return
	}
	if s.noted == nil {
		s.noted = map[string]bool{}
	}
	s.noted[key] = true
	fmt.Fprintf(s.stderr, format+"\n", args...)
}

func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

// leftNote is what a forced quit of a run leaves behind, as far as the
// run has recorded it, and the command that tears it down from --out.
func (s *state) leftNote(out string) string {
	var b strings.Builder
	s.mu.Lock()
	created := resourceNames(s)
	s.mu.Unlock()
	var host string
	var cleanups []string
	if s.leg != nil {
		s.leg.mu.Lock()
		if s.leg.st.Host != nil {
			host = s.leg.st.Host.Address
		}
		for _, c := range s.leg.st.HostCleanups {
			cleanups = append(cleanups, c.Name)
		}
		s.leg.mu.Unlock()
	}
	if len(created) == 0 && len(cleanups) == 0 {
		b.WriteString("mvm-verify: nothing was recorded as created yet, but the leg's state is left in " + hostDir(out) + "\n")
	} else {
		b.WriteString("mvm-verify: what the run made and its teardown may not have undone yet:\n")
		for _, r := range created {
			b.WriteString("  - " + r + "\n")
		}
		for _, c := range cleanups {
			fmt.Fprintf(&b, "  - on %s: %s\n", host, c)
		}
	}
	var cmd, note string
	if s.leg != nil {
		s.leg.mu.Lock()
		cmd, note = downCommand(out, &s.leg.st)
		s.leg.mu.Unlock()
	} else {
		cmd, note = downCommand(out, &upState{})
	}
	fmt.Fprintf(&b, "mvm-verify: to tear it down, run: %s\n", cmd)
	if note != "" {
		b.WriteString("mvm-verify: " + note + "\n")
	}
	return b.String()
}

// resourceNames names the resources recorded so far; s.mu is held.
func resourceNames(s *state) []string {
	var names []string
	for _, r := range s.created {
		n := r.Provider + " " + r.Kind + " " + r.ID
		if r.Name != "" && r.Name != r.ID {
			n += " (" + r.Name + ")"
		}
		names = append(names, n)
	}
	return names
}
