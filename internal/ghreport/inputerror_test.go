package ghreport

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
)

// ghreport's InputError is its own type (it may not import providers), but
// it must read exactly as providers.InputError does for the same input,
// value, form and cause, or a user would see two shapes of one refusal.
// (The test may import providers; the package may not.)
func TestInputErrorReadsAsProvidersInputError(t *testing.T) {
	cause := &fs.PathError{Op: "open", Path: "docs/matrix.md", Err: fs.ErrNotExist}
	for name, tc := range map[string]struct {
		input, value, expected string
		err                    error
	}{
		"value":     {"github-repository", "no-slash", "owner/name like tinylabscom/mvm", nil},
		"missing":   {"github-repository", "", "owner/name like tinylabscom/mvm", nil},
		"cause":     {"matrix-file", "docs/matrix.md", "a markdown file with markers", cause},
		"quoted":    {"github-api-url", "ftp://x\n\"y\"", "an http(s) URL", nil},
		"key":       {"github-api-url", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn", "an http(s) URL", nil},
		"key words": {"matrix-file", "my PRIVATE KEY", "a markdown file", errors.New("no such file")},
	} {
		got := (&InputError{Input: tc.input, Value: tc.value, Expected: tc.expected, Err: tc.err}).Error()
		want := (&providers.InputError{Input: tc.input, Value: tc.value, Expected: tc.expected, Err: tc.err}).Error()
		if got != want {
			t.Errorf("%s: ghreport reads\n%s\nproviders reads\n%s", name, got, want)
		}
	}
	err := error(&InputError{Input: "matrix-file", Value: "docs/matrix.md", Expected: "x", Err: cause})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v does not unwrap to its cause", err)
	}
}
