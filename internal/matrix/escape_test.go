package matrix

import "testing"

// Backticks in step output must not open a code span in a table cell: in
// one, every other escape Escape makes shows literally (&lt;nil&gt;, C:\\x,
// https\://). Each backtick comes out escaped (after an odd number of
// backslashes), which GitHub shows as a plain backtick.
func TestEscapeBackticks(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"got `<nil>`", "got \\`&lt;nil&gt;\\`"},
		{"path `C:\\x`", "path \\`C:\\\\x\\`"},
		{"``a`b``", "\\`\\`a\\`b\\`\\`"},
		{"see `https://evil.example`", "see \\`https\\://evil.example\\`"},
		// A backslash of the input before a backtick stays a backslash:
		// both are escaped, so it cannot escape our escape.
		{"\\`x`", "\\\\\\`x\\`"},
	} {
		got := Escape(tc.in)
		if got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for i := 0; i < len(got); i++ {
			if got[i] != '`' {
				continue
			}
			n := 0
			for j := i - 1; j >= 0 && got[j] == '\\'; j-- {
				n++
			}
			if n%2 == 0 {
				t.Errorf("Escape(%q) = %q: the backtick at %d is not escaped, so a code span can form", tc.in, got, i)
			}
		}
	}
}
