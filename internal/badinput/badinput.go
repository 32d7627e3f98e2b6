// Package badinput holds the one shape of a refused input, shared by every
// package that refuses one (internal/config at load, a provider's input
// check or preflight, the reporting), so each reads the same and the CLI
// finds it with errors.As to exit 2. It imports nothing of ours, so the
// reporting, which may not import providers, can use it too.
package badinput

import (
	"fmt"
	"strings"
)

// Error is bad input: which input, the value given and the form
// expected. It is the one shape of every refused input, whoever refuses it
// — internal/config at load, an adapter's input check or its preflight —
// so each reads the same: `input "NAME": got "VALUE", expected FORM`. The
// CLI finds it with errors.As and exits 2 before anything is created.
type Error struct {
	// Input names the input, such as "ssh-user" or "candidates[1].type".
	// Empty for a refused candidate field (Field), which the caller that
	// knows where the value came from names; until then it reads as the
	// single input (region, zone, instance-type, market).
	Input string
	// Field is the candidate's field ("region", "zone", "type" or
	// "market") when Value is one candidate's.
	Field    string
	Value    string
	Expected string
	// Err is the cause when there is one: a file that cannot be read, the
	// reason a value is refused, or a structured input's own error.
	Err error
	// GivenEmpty says the empty Value was given (--out ""), so the error
	// reads got "" rather than missing.
	GivenEmpty bool
}

// Name is the input the error is about: Input, else the single input a
// candidate's Field comes from.
func (e *Error) Name() string {
	switch {
	case e.Input != "":
		return e.Input
	case e.Field == "type":
		return "instance-type"
	}
	return e.Field
}

func (e *Error) Error() string {
	if e.Expected == "" && e.Err != nil {
		return fmt.Sprintf("input %q: %v", e.Name(), e.Err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "input %q: ", e.Name())
	switch {
	case e.Value == "" && !e.GivenEmpty:
		b.WriteString("missing")
	case LooksLikeKey(e.Value):
		// A key pasted into the wrong input is not echoed back, whoever
		// made the error.
		b.WriteString(`got "***"`)
	default:
		fmt.Fprintf(&b, "got %q", e.Value)
	}
	fmt.Fprintf(&b, ", expected %s", e.Expected)
	if e.Err != nil {
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// LooksLikeKey reports whether a value holds private key material, so that
// a key pasted into the wrong input is not echoed back in an error.
func LooksLikeKey(s string) bool {
	return strings.Contains(s, "-----BEGIN") || strings.Contains(s, "PRIVATE KEY")
}
