package matrix

import (
	"html"
	"regexp"
	"strings"
	"testing"
)

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

// renderedText is a cell's text as GitHub's mention, reference and math
// finders see it: after markdown has read its backslash escapes and
// entities, cut where a dollar sign stands in a span of its own (each
// piece is a text node of its own, and math is found within one).
func renderedText(md string) []string {
	var pieces []string
	for _, p := range strings.Split(md, "<span>$</span>") {
		var b strings.Builder
		for i := 0; i < len(p); i++ {
			if p[i] == '\\' && i+1 < len(p) && strings.IndexByte("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", p[i+1]) >= 0 {
				i++
			}
			b.WriteByte(p[i])
		}
		pieces = append(pieces, html.UnescapeString(b.String()))
	}
	return pieces
}

var (
	// What GitHub links in rendered text: a mention notifies, an issue
	// reference adds a "mentioned this" entry to the issue's timeline.
	mentionRe  = regexp.MustCompile(`(^|[^\w])@[A-Za-z0-9]`)
	issueRefRe = regexp.MustCompile(`#[0-9]|(?i)(^|[^a-z0-9])gh-[0-9]`)
)

// checkNeutral fails when rendered markdown could mention someone, refer
// to an issue or render math.
func checkNeutral(t *testing.T, in, md string) {
	t.Helper()
	dollars := 0
	for _, text := range renderedText(md) {
		if mentionRe.MatchString(text) {
			t.Errorf("Escape(%q) = %q: renders as %q, a mention", in, md, text)
		}
		if issueRefRe.MatchString(text) {
			t.Errorf("Escape(%q) = %q: renders as %q, an issue reference", in, md, text)
		}
		dollars += strings.Count(text, "$")
	}
	if dollars > 1 {
		t.Errorf("Escape(%q) = %q: %d dollar signs outside spans of their own could pair as math", in, md, dollars)
	}
	if strings.ContainsAny(strings.ReplaceAll(md, "<span>$</span>", ""), "<>") {
		t.Errorf("Escape(%q) = %q: raw HTML other than a dollar sign's span", in, md)
	}
}

// Issue references and mentions in step output must not link: GitHub
// finds them after reading escapes and entities, so only a character
// between the sign and what follows stops them.
func TestEscapeNeutralisesReferences(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"fixes #123", "fixes #&#8203;123"},
		{"acme/widgets#7", "acme/widgets#&#8203;7"},
		{"GH-42 and gh-9, Gh-1", "GH-&#8203;42 and gh-&#8203;9, Gh-&#8203;1"},
		{"ping @octocat and @acme/team", "ping @&#8203;octocat and @&#8203;acme/team"},
		{"built octo/repo@0123abc", "built octo/repo@&#8203;0123abc"},
		{"user@example.com", "user@&#8203;example.com"},
		// Not followed by what would link: left as they are.
		{"# heading, #x, step #, GH-x, @ alone", "# heading, #x, step #, GH-x, @ alone"},
		// The comment writes an at sign as &#64; before escaping.
		{"&#64;octocat", "@&#8203;octocat"},
		// Entities of step output show as written: read, they would
		// be the signs above.
		{"&#35;5 &commat;x &#36;a&#36; &amp;", "&amp;#&#8203;35;5 &amp;commat;x &amp;#&#8203;36;a&amp;#&#8203;36; &amp;amp;"},
		{"AT&T", "AT&amp;T"},
	} {
		got := Escape(tc.in)
		if got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		checkNeutral(t, tc.in, got)
	}
}

// Two dollar signs in one cell can render as math on GitHub, and neither
// a backslash nor an entity stops that there; each goes in a span of its
// own. A lone one, as in a cost, stays as it is.
func TestEscapeMath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"$2.50 / 35 min, c5.metal", "$2.50 / 35 min, c5.metal"},
		{"$HOME and $PATH", "<span>$</span>HOME and <span>$</span>PATH"},
		{"$$x^2$$", "<span>$</span><span>$</span>x^2<span>$</span><span>$</span>"},
		{"cost $1, $`x`$", "cost <span>$</span>1, <span>$</span>\\`x\\`<span>$</span>"},
		{"\\$a$", "\\\\<span>$</span>a<span>$</span>"},
	} {
		got := Escape(tc.in)
		if got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		checkNeutral(t, tc.in, got)
	}
}

// Everything Escape guards against, at once and run together, still comes
// out neutral: one guard's output must not make another's input.
func TestEscapeHostileMix(t *testing.T) {
	parts := []string{"#1", "GH-2", "@u", "&#64;v", "&#35;3", "$", "$$", "<b>", "|", "`", "\\", "![", "](", "://", "www.", "\n", "&", "#", "gh-"}
	for _, a := range parts {
		for _, b := range parts {
			for _, c := range parts {
				in := a + b + c + "9x"
				checkNeutral(t, in, Escape(in))
			}
		}
	}
}
