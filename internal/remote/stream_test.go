package remote

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// stepInput is remote output as it arrives: split mid-line, with attempts to
// inject workflow commands and to close the group early, and no final
// newline.
var stepInput = []string{
	"Compiling mvm v0.1.0\n   Fini",
	"shed dev profile\n",
	"::set-output name=result::pwned\n",
	"::add-mask::nothing\n::error file=x::fake failure\n",
	"::endgroup::\n",
	"\n",
	"test result: ok. 3 passed",
}

func writeSteps(t *testing.T, sw *StepWriter, chunks []string) {
	t.Helper()
	for _, c := range chunks {
		n, err := sw.Write([]byte(c))
		if err != nil || n != len(c) {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestStepWriterActions(t *testing.T) {
	var buf bytes.Buffer
	sw := NewStepWriter(&buf, "Seccomp probe", true)
	writeSteps(t, sw, stepInput)
	out := buf.String()

	// Every line of remote output must sit between stop-commands and the
	// token line, where the runner does not read commands.
	start := strings.Index(out, "::stop-commands::"+sw.token+"\n")
	end := strings.Index(out, "\n::"+sw.token+"::\n")
	if start < 0 || end < start {
		t.Fatalf("no stop-commands section in\n%s", out)
	}
	for _, c := range []string{"::set-output", "::add-mask::", "::error", "::endgroup::\n\n"} {
		i := strings.Index(out, c)
		if i < start || i > end {
			t.Errorf("%q at %d is outside the command-free section [%d, %d]", c, i, start, end)
		}
	}
	if strings.Count(out, sw.token) != 2 {
		t.Errorf("token appears %d times, want 2", strings.Count(out, sw.token))
	}
	checkGolden(t, "step_actions.golden", []byte(strings.ReplaceAll(out, sw.token, "TOKEN")))
}

func TestStepWriterTerminal(t *testing.T) {
	var buf bytes.Buffer
	writeSteps(t, NewStepWriter(&buf, "Seccomp probe", false), stepInput)
	checkGolden(t, "step_terminal.golden", buf.Bytes())
}

func TestStepWriterTokensDiffer(t *testing.T) {
	a, b := NewStepWriter(nil, "a", true), NewStepWriter(nil, "b", true)
	if a.token == b.token || len(a.token) < 32 {
		t.Errorf("tokens %q and %q: want distinct random tokens", a.token, b.token)
	}
}

func TestStepWriterNameCannotInject(t *testing.T) {
	for _, actions := range []bool{true, false} {
		var buf bytes.Buffer
		sw := NewStepWriter(&buf, "build\n::set-output name=x::y\r%0A", actions)
		writeSteps(t, sw, []string{"line\n"})
		for line := range strings.Lines(buf.String()) {
			if strings.HasPrefix(line, "::set-output") {
				t.Errorf("actions=%v: name produced a line of its own: %q", actions, buf.String())
			}
		}
	}
	var buf bytes.Buffer
	writeSteps(t, NewStepWriter(&buf, "100% done\n", true), nil)
	if !strings.HasPrefix(buf.String(), "::group::100%25 done\n") {
		t.Errorf("group title not escaped: %q", buf.String())
	}
}

func TestStepWriterEmptyStepStillGroups(t *testing.T) {
	var buf bytes.Buffer
	sw := NewStepWriter(&buf, "quiet", true)
	writeSteps(t, sw, nil)
	want := "::group::quiet\n::stop-commands::" + sw.token + "\n::" + sw.token + "::\n::endgroup::\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
	if _, err := sw.Write([]byte("late")); err == nil {
		t.Error("write after Close succeeded")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestStepWriterReportsWriteErrors(t *testing.T) {
	sw := NewStepWriter(failingWriter{}, "x", true)
	if _, err := sw.Write([]byte("a\n")); err == nil {
		t.Error("Write on a failing writer returned no error")
	}
}

func TestMasker(t *testing.T) {
	secrets := []string{"s3cretTOKENvalue", "AAAAC3NzaC1lZDI1NTE5AAAA", "AAAAC3NzaC1lZDI1NTE5AAAAIExtended"}
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"none", "nothing to see\n", "nothing to see\n"},
		{"one", "token=s3cretTOKENvalue\n", "token=***\n"},
		{"twice adjacent", "s3cretTOKENvalues3cretTOKENvalue", "******"},
		{"longest wins", "key AAAAC3NzaC1lZDI1NTE5AAAAIExtended end", "key *** end"},
		{"shorter one", "key AAAAC3NzaC1lZDI1NTE5AAAAIEx end", "key ***IEx end"},
		{"prefix only", "s3cretTOKEN and more", "s3cretTOKEN and more"},
		{"prefix at end", "ends with s3cretTOK", "ends with s3cretTOK"},
		{"shorter at end", "key AAAAC3NzaC1lZDI1NTE5AAAA", "key ***"},
		{"near miss then hit", "s3cretTOKENvalu s3cretTOKENvalue", "s3cretTOKENvalu ***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskString(tt.in, secrets); got != tt.want {
				t.Errorf("MaskString = %q, want %q", got, tt.want)
			}
			// The same text written in every two-piece split, and byte by
			// byte, must come out the same.
			splits := [][]string{}
			for i := 0; i <= len(tt.in); i++ {
				splits = append(splits, []string{tt.in[:i], tt.in[i:]})
			}
			var bytewise []string
			for i := range len(tt.in) {
				bytewise = append(bytewise, tt.in[i:i+1])
			}
			splits = append(splits, bytewise)
			for _, chunks := range splits {
				var buf bytes.Buffer
				m := NewMasker(&buf, secrets)
				for _, c := range chunks {
					if n, err := m.Write([]byte(c)); err != nil || n != len(c) {
						t.Fatalf("Write(%q) = %d, %v", c, n, err)
					}
				}
				if err := m.Flush(); err != nil {
					t.Fatal(err)
				}
				if buf.String() != tt.want {
					t.Errorf("writes %q: got %q, want %q", chunks, buf.String(), tt.want)
				}
			}
		})
	}
}

func TestMaskerPassesCompleteLinesAtOnce(t *testing.T) {
	var buf bytes.Buffer
	m := NewMasker(&buf, []string{"s3cretTOKENvalue"})
	m.Write([]byte("line ending in a secret prefix s3cret\n"))
	if buf.String() != "line ending in a secret prefix s3cret\n" {
		t.Errorf("a line ending in newline was held: %q", buf.String())
	}
	m.Write([]byte("tail s3cretTOK"))
	if strings.Contains(buf.String(), "tail") && strings.Contains(buf.String(), "TOK") {
		t.Errorf("a possible secret prefix was passed on before the next write: %q", buf.String())
	}
}

func TestMaskerWithoutSecretsIsTransparent(t *testing.T) {
	var buf bytes.Buffer
	m := NewMasker(&buf, []string{"", ""})
	m.Write([]byte("a"))
	m.Write([]byte("b\n"))
	if buf.String() != "ab\n" {
		t.Errorf("got %q", buf.String())
	}
}

// Masker in front of StepWriter is how the cycle prints: a key line split
// across remote writes must not come out, in either mode.
func TestMaskerAroundStepWriter(t *testing.T) {
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	secret := keys.Secrets()[1]
	for _, actions := range []bool{true, false} {
		var buf bytes.Buffer
		m := NewMasker(&buf, keys.Secrets())
		sw := NewStepWriter(m, "leak", actions)
		writeSteps(t, sw, []string{"cat key: " + secret[:10], secret[10:] + "\nbye"})
		m.Flush()
		if strings.Contains(buf.String(), secret[5:20]) {
			t.Errorf("actions=%v: secret leaked:\n%s", actions, buf.String())
		}
		if !strings.Contains(buf.String(), "cat key: ***") {
			t.Errorf("actions=%v: mask missing:\n%s", actions, buf.String())
		}
	}
}
