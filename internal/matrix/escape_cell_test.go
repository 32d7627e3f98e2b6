package matrix

import (
	"strings"
	"testing"
)

// TestEscapeKeepsOneCell: a cell's text stays one cell of one row. An
// unescaped "|" would split the cell (shifting every column after it) and
// a line break would end the table row; both come from step output and
// error messages.
func TestEscapeKeepsOneCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a|b", `a\|b`},
		{"|", `\|`},
		{"x || y", `x \|\| y`},
		{`a\|b`, `a\\\|b`},
		{"line one\nline two", "line one line two"},
		{"crlf\r\nend", "crlf end"},
		{"cr\rend", "cr end"},
		{"two\n\nbreaks", "two  breaks"},
		{"\ntrailing and leading\n", "trailing and leading"},
		{"a|b\nc|d", `a\|b c\|d`},
		{"[link](x) ![img](y)", `\[link\](x) \!\[img\](y)`},
		{"<b>", "&lt;b&gt;"},
	}
	for _, tt := range tests {
		got := Escape(tt.in)
		if got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.ContainsAny(got, "\r\n") {
			t.Errorf("Escape(%q) = %q: holds a line break", tt.in, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] != '|' {
				continue
			}
			n := 0
			for j := i - 1; j >= 0 && got[j] == '\\'; j-- {
				n++
			}
			if n%2 == 0 {
				t.Errorf("Escape(%q) = %q: the | at %d is not escaped and splits the cell", tt.in, got, i)
			}
		}
	}
}
