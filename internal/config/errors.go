package config

import (
	"fmt"
	"strings"

	"github.com/tinylabscom/mvm-verify/providers"
)

// InputError is bad input: which input, the value given and the form
// expected. It is providers.InputError, the one type every refusal of an
// input has, so the adapters' checks (which config runs at load) and
// config's own read the same. Value is "***" for secret inputs, for
// anything that looks like key material and for anything holding a secret
// input's value. Err is the cause when there is one: a file that cannot be
// read, or a *FieldError inside the suite file or the candidates list.
type InputError = providers.InputError

// FieldError is a bad value inside a structured input: a key of the suite
// file or of one candidate. It reads like
// `suite.yml:7: steps[1].timeout: got "5 minutes", expected a duration like 10m`.
type FieldError struct {
	// File is the suite file's name; empty for inline inputs.
	File string
	// Line is the YAML line, 0 when unknown.
	Line int
	// Field is the path to the value, e.g. "steps[1].timeout".
	Field string
	// Problem replaces `got "<Value>"` when the trouble is not a value
	// (`unknown key "tiemout"`, `missing`).
	Problem  string
	Value    string
	Expected string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	if e.Problem != "" {
		b.WriteString(e.Problem)
	} else {
		fmt.Fprintf(&b, "got %q", echo(e.Value))
	}
	if e.Expected != "" {
		b.WriteString(", expected " + e.Expected)
	}
	return b.String()
}

// shorten keeps error lines readable when a value is a whole script.
func shorten(s string) string {
	const max = 80
	if first, _, multi := strings.Cut(s, "\n"); multi {
		s = first + "…"
	}
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

// echo is a value as an error quotes it: shortened, or "***" when it holds
// key material. A suite file or the candidates input holds no secrets, but
// a key pasted there by mistake must not reach the log, not even its
// first line.
func echo(s string) string {
	if providers.LooksLikeKey(s) {
		return "***"
	}
	return shorten(s)
}
