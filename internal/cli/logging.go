package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// The program's log records are read by people, between the progress lines
// the cycle prints, at a terminal or in a workflow's log. So they are not
// slog's key=value records with a timestamp but lines in the progress's
// own voice, and only those worth reading there are shown:
//
//   - a warning (or worse) always, as "mvm-verify: warning: …" on stderr;
//   - a provider's info record is progress of its own (an instance
//     launched, a zone without capacity, a teardown sweep again): with
//     nothing else printed during a long wait, it is the only sign of what
//     the wait is. It is printed as a progress line ("   launched instance
//     id=…") on stdout, where the phase it belongs to is;
//   - any other info record that says the program is about to wait (it
//     has a wait or until attribute: a GitHub rate limit, a retry) is
//     progress too, for the same reason;
//   - everything else (debug, and info that a notice or progress line
//     already says) only with debugging on: MVM_VERIFY_DEBUG=1, or
//     RUNNER_DEBUG=1, which the runner sets when a workflow is re-run with
//     debug logging. In Actions these lines are ::debug:: commands, which the
//     runner shows only then anyway.
type logOutput struct {
	mu      sync.Mutex
	stdout  io.Writer
	stderr  io.Writer
	actions bool
	debug   bool
}

// debugOn says whether the environment asks for debug logging.
func debugOn(getenv func(string) string) bool {
	return getenv("MVM_VERIFY_DEBUG") == "1" || getenv("RUNNER_DEBUG") == "1"
}

// logHandler is a slog.Handler writing to a logOutput.
type logHandler struct {
	out *logOutput
	// progress makes info records progress lines (a provider's logger).
	progress bool
	// demote takes warnings as info: for the GitHub reporting, whose every
	// warning comes with the Outcome's notice, which the CLI shows (once).
	// The warning would say the same thing again, in another format.
	demote bool
	attrs  string // preformatted WithAttrs, each with a leading space
	prefix string // WithGroup's names, each with a trailing dot
}

func newLogger(out *logOutput, progress, demote bool) *slog.Logger {
	return slog.New(&logHandler{out: out, progress: progress, demote: demote})
}

func (h *logHandler) level(l slog.Level) slog.Level {
	if h.demote && l >= slog.LevelWarn && l < slog.LevelError {
		return slog.LevelInfo
	}
	return l
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool {
	// Info is decided per record (a wait attribute makes it progress).
	return h.level(l) >= slog.LevelInfo || h.out.debug
}

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	level := h.level(r.Level)
	var b strings.Builder
	b.WriteString(oneLineLog(r.Message))
	b.WriteString(h.attrs)
	waits := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "wait" || a.Key == "until" {
			waits = true
		}
		writeAttr(&b, h.prefix, a)
		return true
	})
	text := b.String()
	var w io.Writer
	var line string
	switch {
	case level >= slog.LevelError:
		w, line = h.out.stderr, "mvm-verify: error: "+text
	case level >= slog.LevelWarn:
		w, line = h.out.stderr, "mvm-verify: warning: "+text
	case level >= slog.LevelInfo && (h.progress || waits):
		w, line = h.out.stdout, "   "+text
	case !h.out.debug:
		return nil
	case h.out.actions:
		// Workflow commands are read from stdout.
		w, line = h.out.stdout, "::debug::"+escapeCommandData(text)
	default:
		w, line = h.out.stderr, "mvm-verify: "+strings.ToLower(level.String())+": "+text
	}
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	// One write per line, so lines written beside it do not cut into it.
	_, err := io.WriteString(w, line+"\n")
	return err
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		writeAttr(&b, h.prefix, a)
	}
	h2 := *h
	h2.attrs = b.String()
	return &h2
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix += name + "."
	return &h2
}

// writeAttr appends " key=value", the value quoted when it would not read
// as one word; groups are flattened to group.key.
func writeAttr(b *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if v.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range v.Group() {
			writeAttr(b, prefix, g)
		}
		return
	}
	s := v.String()
	if v.Kind() == slog.KindAny {
		if err, ok := v.Any().(error); ok {
			s = err.Error()
		} else {
			s = fmt.Sprint(v.Any())
		}
	}
	b.WriteString(" " + prefix + a.Key + "=")
	if s == "" || strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '"' || r == '=' || !unicode.IsPrint(r)
	}) {
		s = strconv.Quote(s)
	}
	b.WriteString(s)
}

// oneLineLog keeps a message on its line.
func oneLineLog(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// escapeCommandData escapes a workflow command's data as the runner
// unescapes it.
func escapeCommandData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}
