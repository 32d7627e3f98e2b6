package providertest

import (
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The tests' reader of GITHUB_OUTPUT and GITHUB_STATE must read what the
// runner reads and refuse what it refuses, or a malformed file would pass.
func TestParseFileCommandsLikeTheRunner(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       map[string]string
		err        string
	}{
		{"nothing", "", map[string]string{}, ""},
		{"value", "a=b\n", map[string]string{"a": "b"}, ""},
		{"empty value", "a=\n", map[string]string{"a": ""}, ""},
		{"no final newline", "a=b", map[string]string{"a": "b"}, ""},
		{"empty lines between", "\na=b\n\nc=d\n\n", map[string]string{"a": "b", "c": "d"}, ""},
		{"= before <<", "a=b<<c\n", map[string]string{"a": "b<<c"}, ""},
		{"<< before =", "a<<EOF\nx=y\nEOF\n", map[string]string{"a": "x=y"}, ""},
		{"heredoc", "a<<EOF\none\n\ntwo\nEOF\nb=c\n", map[string]string{"a": "one\n\ntwo", "b": "c"}, ""},
		{"heredoc ending in an empty line", "a<<EOF\none\n\nEOF\n", map[string]string{"a": "one\n"}, ""},
		{"empty heredoc", "a<<EOF\nEOF\n", map[string]string{"a": ""}, ""},
		{"heredoc of one empty line", "a<<EOF\n\nEOF\n", map[string]string{"a": ""}, ""},
		{"delimiter last, without newline", "a<<EOF\nx\nEOF", map[string]string{"a": "x"}, ""},
		{"delimiter inside a line", "a<<EOF\nnot EOF\nEOFx\nEOF\n", map[string]string{"a": "not EOF\nEOFx"}, ""},
		{"a later write wins", "a=1\na<<EOF\n2\nEOF\n", map[string]string{"a": "2"}, ""},
		// The runner on Linux ends lines at "\n" only: a "\r" stays in the
		// value, and a CRLF delimiter line matches only a CRLF header.
		{"crlf", "a<<EOF\r\none\r\nEOF\r\nb=c\r\n", map[string]string{"a": "one\r", "b": "c\r"}, ""},
		{"crlf delimiter for an lf header", "a<<EOF\none\r\nEOF\r\n", nil, `delimiter "EOF" is never on a line of its own`},
		{"heredoc without its end", "a<<EOF\nx\n", nil, `delimiter "EOF" is never on a line of its own`},
		{"delimiter not on its own line", "a<<EOF\nx EOF\n", nil, `delimiter "EOF" is never on a line of its own`},
		{"delimiter with a trailing space", "a<<EOF\nx\nEOF \n", nil, `delimiter "EOF" is never on a line of its own`},
		{"neither form", "just text\n", nil, "expected NAME=VALUE or NAME<<DELIMITER"},
		{"text after a heredoc", "a<<EOF\nx\nEOF\nstray\n", nil, `line 4 "stray"`},
		{"empty name", "=v\n", nil, "empty name"},
		{"empty heredoc name", "<<EOF\nx\nEOF\n", nil, "empty name or delimiter"},
		{"empty delimiter", "a<<\nx\n\n", nil, "empty name or delimiter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFileCommands(tc.text)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, err %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Errorf("got %q, err %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestRunnerRoundTrip: a step writes its file commands through the
// variables Env gives it, and the Runner reads them back; the post step
// gets fresh files and the state as STATE_*.
func TestRunnerRoundTrip(t *testing.T) {
	r := NewRunner(t, "")
	step := exec.Command("sh", "-c", `printf 'status=ok\nrow<<D\n{"a":1}\nline two\nD\n' >>"$GITHUB_OUTPUT"
printf 'id=7\nname<<D\nleg\nD\n' >>"$GITHUB_STATE"
printf '# summary\n' >>"$GITHUB_STEP_SUMMARY"`)
	mainEnv := append([]string{"PATH=/usr/bin:/bin", "STATE_stale=old"}, r.Env()...)
	step.Env = mainEnv
	if out, err := step.CombinedOutput(); err != nil {
		t.Fatalf("step: %v\n%s", err, out)
	}
	if got, want := r.Outputs(t), map[string]string{"status": "ok", "row": "{\"a\":1}\nline two"}; !maps.Equal(got, want) {
		t.Errorf("outputs %q, want %q", got, want)
	}
	if got, want := r.StateEnv(t), []string{"STATE_id=7", "STATE_name=leg"}; !slices.Equal(got, want) {
		t.Errorf("state env %q, want %q", got, want)
	}
	if got := r.Summary(t); got != "# summary\n" {
		t.Errorf("summary %q", got)
	}

	postEnv, post := r.Post(t, mainEnv)
	want := append([]string{"PATH=/usr/bin:/bin"}, post.Env()...)
	want = append(want, "STATE_id=7", "STATE_name=leg")
	if !slices.Equal(postEnv, want) {
		t.Errorf("post env %q, want %q (main's files and stale STATE_* replaced)", postEnv, want)
	}
	for name, f := range post.Files() {
		if f == r.Files()[name] {
			t.Errorf("post's %s is main's file %s, want a fresh one", name, f)
		}
	}
	if got := post.State(t); len(got) != 0 {
		t.Errorf("post's fresh state file holds %q", got)
	}
}
