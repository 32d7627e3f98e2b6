package ghreport

import "testing"

// TestForkIgnoresCase: GitHub's owner and repository names are
// case-insensitive, so a head repository spelt otherwise than the base is
// the same repository, not a fork. A same-repository PR misread as a fork
// on pull_request would be taken to have a read-only token: no status and
// no comment.
func TestForkIgnoresCase(t *testing.T) {
	for _, tc := range []struct {
		head, base string
		want       bool
	}{
		{"Owner/Repo", "owner/repo", false},
		{"ACME/widgets", "acme/Widgets", false},
		{"acme/widgets", "acme/widgets", false},
		{"someone/widgets", "acme/widgets", true},
	} {
		ev := Event{Name: "pull_request", Repo: tc.base, PR: 7, HeadRepo: tc.head, BaseRepo: tc.base}
		if got := ev.Fork(); got != tc.want {
			t.Errorf("Fork() with head %q, base %q = %v, want %v", tc.head, tc.base, got, tc.want)
		}
	}
}
