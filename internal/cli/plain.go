package cli

import "strings"

// terminalText is markdown rendered by the matrix package (a table, the
// report's summary) as a terminal shows it: the escapes matrix.Escape put
// into cell text for GitHub's renderer (\|, &gt;, the zero width space
// &#8203; that keeps #12 from being an issue reference, …) read back as the
// text they stand for. The table's shape stays; summary.md, matrix.md and
// the comment keep the escapes.
//
// It undoes exactly what Escape writes: every backslash, ampersand and
// angle bracket of the original text is escaped there, so each one in the
// markdown starts an escape, except in what the renderers write around
// the cells (a link's brackets, a code span's backticks), which has none of
// them.
func terminalText(md string) string {
	var b strings.Builder
	b.Grow(len(md))
next:
	for i := 0; i < len(md); i++ {
		c := md[i]
		switch {
		case c == '\\' && i+1 < len(md) && strings.IndexByte("\\|[]!`:.", md[i+1]) >= 0:
			i++
			b.WriteByte(md[i])
			continue
		case c == '&' || c == '<':
			for _, e := range markdownEntities {
				if strings.HasPrefix(md[i:], e[0]) {
					b.WriteString(e[1])
					i += len(e[0]) - 1
					continue next
				}
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// markdownEntities are what Escape writes for a character, and the
// character.
var markdownEntities = [][2]string{
	{"&lt;", "<"},
	{"&gt;", ">"},
	{"&amp;", "&"},
	{"&#8203;", ""},
	{"<span>$</span>", "$"},
}
