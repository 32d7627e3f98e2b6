package remote

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
)

// StepWriter frames one step's live output.
//
// In GitHub Actions it writes a collapsible group and turns workflow
// commands off for the output (::stop-commands::TOKEN with a random token),
// so a remote line such as "::set-output name=x::y" or "::add-mask::" is
// printed, not obeyed. On a terminal it prefixes each line with "[NAME] ",
// holding a partial line until its newline or Close.
//
// It is safe for concurrent use. Close must be called once the step ends.
type StepWriter struct {
	mu      sync.Mutex
	w       io.Writer
	name    string
	actions bool
	token   string

	started     bool
	closed      bool
	atLineStart bool   // actions mode: the last byte written was '\n'
	partial     []byte // terminal mode: the line not yet ended
}

// NewStepWriter returns a writer for the step called name. actions selects
// the GitHub Actions framing.
func NewStepWriter(w io.Writer, name string, actions bool) *StepWriter {
	// A name is one line: a newline in it would end the group title and
	// start a line the runner parses.
	name = strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(name)), " ")
	return &StepWriter{w: w, name: name, actions: actions, token: newToken(), atLineStart: true}
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// escapeData escapes a workflow command's data the way the runner unescapes
// it.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func (s *StepWriter) header() []byte {
	if !s.actions {
		return nil
	}
	return []byte("::group::" + escapeData(s.name) + "\n::stop-commands::" + s.token + "\n")
}

// Write frames p. It reports len(p) when the underlying writer took all of
// the framed bytes.
func (s *StepWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errors.New("step writer: write after close")
	}
	var out []byte
	if !s.started {
		out = s.header()
		s.started = true
	}
	if s.actions {
		out = append(out, p...)
		if len(p) > 0 {
			s.atLineStart = p[len(p)-1] == '\n'
		}
	} else {
		out = s.prefixLines(out, p)
	}
	if len(out) == 0 {
		return len(p), nil
	}
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *StepWriter) prefixLines(out, p []byte) []byte {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.partial = append(s.partial, p...)
			break
		}
		out = append(out, "["+s.name+"] "...)
		out = append(out, s.partial...)
		out = append(out, p[:i+1]...)
		s.partial = s.partial[:0]
		p = p[i+1:]
	}
	return out
}

// Close ends the step: the held partial line (terminal), or the end of the
// command-free section and the group (Actions). A step with no output still
// gets its (empty) group.
func (s *StepWriter) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var out []byte
	if !s.started {
		out = s.header()
		s.started = true
	}
	if s.actions {
		if !s.atLineStart {
			out = append(out, '\n')
		}
		out = append(out, "::"+s.token+"::\n::endgroup::\n"...)
	} else if len(s.partial) > 0 {
		out = append(out, "["+s.name+"] "...)
		out = append(out, s.partial...)
		out = append(out, '\n')
		s.partial = nil
	}
	if len(out) == 0 {
		return nil
	}
	_, err := s.w.Write(out)
	return err
}

// Masker replaces every occurrence of a secret with "***" before it reaches
// the writer underneath, including occurrences split across writes: a tail
// that could be the start of a secret is held until the next write shows
// whether it is. Secrets never contain a newline (callers split PEMs into
// lines), so anything ending in a newline is passed on whole.
//
// It is safe for concurrent use. Flush passes on a held tail when the stream
// ends.
type Masker struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte
	pending []byte
}

// Mask is the replacement for a secret.
const Mask = "***"

// NewMasker returns a masking writer. Empty secrets are ignored.
func NewMasker(w io.Writer, secrets []string) *Masker {
	return &Masker{w: w, secrets: cleanSecrets(secrets)}
}

func cleanSecrets(secrets []string) [][]byte {
	var out [][]byte
	for _, s := range secrets {
		if s != "" {
			out = append(out, []byte(s))
		}
	}
	// Longest first, so a secret that contains another is masked whole.
	slices.SortFunc(out, func(a, b []byte) int { return len(b) - len(a) })
	return slices.CompactFunc(out, bytes.Equal)
}

// Write masks p. It reports len(p) once the masked bytes it could pass on
// were written.
func (m *Masker) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.secrets) == 0 {
		return m.w.Write(p)
	}
	m.pending = append(m.pending, p...)
	out, held := maskBytes(m.pending, m.secrets, true)
	m.pending = m.pending[:copy(m.pending, held)]
	if len(out) > 0 {
		if _, err := m.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush masks and writes the held tail: the stream has ended, so what could
// have become a longer secret did not.
func (m *Masker) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) == 0 {
		return nil
	}
	out, _ := maskBytes(m.pending, m.secrets, false)
	m.pending = m.pending[:0]
	_, err := m.w.Write(out)
	return err
}

// MaskString masks every secret in s in one go, for text that is complete
// (a kept command output, an error message).
func MaskString(s string, secrets []string) string {
	out, _ := maskBytes([]byte(s), cleanSecrets(secrets), false)
	return string(out)
}

// maskBytes returns buf with every secret replaced. With hold, a tail of buf
// that is a proper prefix of some secret is returned separately instead of
// being part of out.
func maskBytes(buf []byte, secrets [][]byte, hold bool) (out, held []byte) {
	// next[j] caches where secret j next occurs at or after i (-1: nowhere),
	// so each secret's occurrences are searched for once in all.
	next := make([]int, len(secrets))
	for j, s := range secrets {
		next[j] = bytes.Index(buf, s)
	}
	i := 0
	for {
		best, bestLen := -1, 0
		for j, s := range secrets {
			if next[j] >= 0 && next[j] < i {
				if k := bytes.Index(buf[i:], s); k >= 0 {
					next[j] = i + k
				} else {
					next[j] = -1
				}
			}
			if next[j] >= 0 && (best < 0 || next[j] < best || next[j] == best && len(s) > bestLen) {
				best, bestLen = next[j], len(s)
			}
		}
		if best < 0 {
			break
		}
		// A match that runs to the end of buf may be the start of a longer
		// secret; wait for more before deciding.
		if hold && prefixOfLonger(buf[best:], bestLen, secrets) {
			out = append(out, buf[i:best]...)
			return out, buf[best:]
		}
		out = append(out, buf[i:best]...)
		out = append(out, Mask...)
		i = best + bestLen
	}
	rest := buf[i:]
	n := 0
	if hold {
		n = secretPrefixSuffix(rest, secrets)
	}
	out = append(out, rest[:len(rest)-n]...)
	return out, rest[len(rest)-n:]
}

// prefixOfLonger reports whether tail is a proper prefix of a secret longer
// than n.
func prefixOfLonger(tail []byte, n int, secrets [][]byte) bool {
	for _, s := range secrets {
		if len(s) > n && len(tail) < len(s) && bytes.HasPrefix(s, tail) {
			return true
		}
	}
	return false
}

// secretPrefixSuffix returns the length of the longest tail of b that is a
// proper prefix of a secret.
func secretPrefixSuffix(b []byte, secrets [][]byte) int {
	longest := 0
	for _, s := range secrets {
		for l := min(len(s)-1, len(b)); l > longest; l-- {
			if b[len(b)-l] == s[0] && bytes.HasSuffix(b, s[:l]) {
				longest = l
				break
			}
		}
	}
	return longest
}
