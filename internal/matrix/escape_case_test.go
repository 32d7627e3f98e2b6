package matrix

import "testing"

// GitHub handles and GH- references are case-insensitive: "@Octocat"
// pings the same user as "@octocat", and "gH-1" links like "GH-1". Each
// case is neutralised.
func TestEscapeNeutralisesReferencesAnyCase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ping @Octocat", "ping @&#8203;Octocat"},
		{"ping @ZED", "ping @&#8203;ZED"},
		{"GH-1 gH-2 Gh-3 gh-4", "GH-&#8203;1 gH-&#8203;2 Gh-&#8203;3 gh-&#8203;4"},
	} {
		got := Escape(tc.in)
		if got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		checkNeutral(t, tc.in, got)
	}
}
