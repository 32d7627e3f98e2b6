package ghreport

import (
	"fmt"
	"strings"
)

// InputError is a refused input of the reporting: which input, the value
// given and the form expected. It reads as every other refused input does
// (providers.InputError, which internal/config's is) — `input "NAME": got
// "VALUE", expected FORM (cause)` — so a user sees one shape whoever
// refused the value. It is a type of this package's own because ghreport
// may not import providers (DESIGN §3); internal/cli exits 2 on it.
type InputError struct {
	// Input names the input, such as "github-repository".
	Input string
	// Value is the value as given; empty reads as missing.
	Value    string
	Expected string
	// Err is the cause when there is one: a file that cannot be read, or
	// what in its content is refused.
	Err error
}

func (e *InputError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "input %q: ", e.Input)
	switch {
	case e.Value == "":
		b.WriteString("missing")
	case looksLikeKey(e.Value):
		// A key pasted into the wrong input is not echoed back.
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

func (e *InputError) Unwrap() error { return e.Err }

// looksLikeKey reports whether s holds private key material, as
// providers.LooksLikeKey does.
func looksLikeKey(s string) bool {
	return strings.Contains(s, "-----BEGIN") || strings.Contains(s, "PRIVATE KEY")
}
