package cli_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// badInputInActions runs the action's main step with the inputs in with
// (github-token as token) and returns the row output, after checking that
// it exited 2 and that token is in none of the outputs, the job summary,
// stdout, stderr or what was sent to (a fake) GitHub.
func badInputInActions(t *testing.T, with map[string]string, token string) matrix.Row {
	t.Helper()
	gh, ghBodies := tracedGitHub(t)
	gh.AddToken(token, fakegh.Token{Login: "github-actions[bot]"})
	outputs, summary, state := emptyFile(t, "outputs"), emptyFile(t, "summary"), emptyFile(t, "state")
	with = maps.Clone(with)
	with["out"] = filepath.Join(t.TempDir(), "out")
	with["github-token"] = token
	env := cmdEnv(t, append(append(actionsEnv(prEventFile(t, ghRepo), summary, outputs),
		runnerInputs(t, with, map[string]string{
			"${{ github.server_url }}":                                "https://github.example",
			"${{ github.repository }}":                                ghRepo,
			"${{ github.event.pull_request.head.sha || github.sha }}": ghHead,
		})...), "GITHUB_STATE="+state, "GITHUB_API_URL="+gh.URL())...)
	r := runBin(t, env)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for what, text := range map[string]string{"outputs": readFile(t, outputs), "job summary": readFile(t, summary),
		"stdout": r.stdout, "stderr": r.stderr, "requests to GitHub": strings.Join(ghBodies(), "\n")} {
		if strings.Contains(text, token) {
			t.Errorf("the github-token is in the %s:\n%s", what, text)
		}
	}
	var row matrix.Row
	if err := json.Unmarshal([]byte(parseFileCommands(t, outputs)["row"]), &row); err != nil {
		t.Fatalf("row output: %v", err)
	}
	return row
}

// A bad input's row holds no secret input's value pasted into another
// input, wherever the error quoting it came from: a suite file's field, a
// candidate's field, the key or the display.
func TestBadInputRowRedactsPastedToken(t *testing.T) {
	const token = "ghs_pastedtoken0123456789"
	suite := writeSuite(t, quickSuite)
	cases := []struct {
		name string
		with map[string]string
		key  string
	}{
		{"suite field", map[string]string{"provider": "local",
			"suite": writeSuite(t, "user: root\nsteps:\n  - name: a\n    run: \"true\"\n    timeout: "+token+"\n")}, "local"},
		{"suite key", map[string]string{"provider": "local",
			"suite": writeSuite(t, "user: root\nsteps:\n  - name: a\n    run: \"true\"\n    "+token+": 1\n")}, "local"},
		{"candidate field", map[string]string{"provider": "aws", "suite": suite,
			"candidates": "[{region: us-east-1, type: c8i.large, market: " + token + "}]"}, "aws"},
		{"key and display", map[string]string{"provider": "local", "suite": suite, "ready-timeout": "soon",
			"key": token, "display": "AWS " + token}, "local"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			row := badInputInActions(t, tc.with, token)
			if row.Key != tc.key {
				t.Errorf("row key %q, want %q", row.Key, tc.key)
			}
			if !strings.Contains(row.Notes, "bad input: input ") {
				t.Errorf("row notes %q do not name the input", row.Notes)
			}
		})
	}
}

// A display of more than one line, or a key not of a key's form, is not
// the row's: the row is keyed and named as without them.
func TestBadInputRowIgnoresMalformedKeyAndDisplay(t *testing.T) {
	suite := writeSuite(t, quickSuite)
	row := badInputInActions(t, map[string]string{"provider": "local", "suite": suite, "ready-timeout": "soon",
		"key": "Bad Key!", "display": "a\nb"}, "ghs_unusedtoken0123456789")
	if row.Key != "local" || row.Provider != "Local" {
		t.Errorf("row key %q, Provider cell %q; want local and Local", row.Key, row.Provider)
	}
}

// A long error (a suite file with many bad keys) is cut in the row's note,
// a table cell, to 300 characters.
func TestBadInputRowNoteBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("user: root\nsteps:\n  - name: a\n    run: \"true\"\n")
	for i := range 20 {
		b.WriteString("    tiemout" + strings.Repeat("x", i+1) + ": 1\n")
	}
	row := badInputInActions(t, map[string]string{"provider": "local", "suite": writeSuite(t, b.String())},
		"ghs_unusedtoken0123456789")
	if n := utf8.RuneCountInString(row.Notes); n > 300 || n < 200 {
		t.Errorf("row notes are %d characters, want the error cut to at most 300: %q", n, row.Notes)
	}
}

// The command line in a workflow (GITHUB_ACTIONS set) sets the row output
// of a bad input too: a --mode the subcommand overrules, given a token, is
// refused without quoting it, in the row as on stderr.
func TestBadModeFlagRowRedactsToken(t *testing.T) {
	const token = "ghs_pastedtoken0123456789"
	outputs, summary := emptyFile(t, "outputs"), emptyFile(t, "summary")
	env := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), summary, outputs), "GITHUB_STATE="+emptyFile(t, "state"))...)
	r := runBin(t, env, "run", "--provider", "local", "--github-token", token, "--mode", token,
		"--out", filepath.Join(t.TempDir(), "out"))
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	got := parseFileCommands(t, outputs)
	var row matrix.Row
	if err := json.Unmarshal([]byte(got["row"]), &row); err != nil {
		t.Fatalf("row output: %v: %v", err, got)
	}
	if !strings.Contains(row.Notes, `input "mode"`) {
		t.Errorf("row notes %q do not name the input", row.Notes)
	}
	for what, text := range map[string]string{"outputs": readFile(t, outputs), "job summary": readFile(t, summary),
		"stdout": r.stdout, "stderr": r.stderr} {
		if strings.Contains(text, token) {
			t.Errorf("the github-token is in the %s:\n%s", what, text)
		}
	}
}

// An error the CLI builds itself quotes its value as given: an --out whose
// path holds a pasted token, refused for an earlier leg's state in it, is
// quoted with the token replaced, in the row and everywhere else.
func TestBadOutRowRedactsToken(t *testing.T) {
	const token = "ghs_pastedtoken0123456789"
	out := filepath.Join(t.TempDir(), token)
	if err := os.MkdirAll(filepath.Join(out, "host"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "host", "host.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	gh, ghBodies := tracedGitHub(t)
	gh.AddToken(token, fakegh.Token{Login: "github-actions[bot]"})
	outputs, summary := emptyFile(t, "outputs"), emptyFile(t, "summary")
	env := cmdEnv(t, append(append(actionsEnv(prEventFile(t, ghRepo), summary, outputs),
		runnerInputs(t, map[string]string{"mode": "up", "provider": "local", "suite": writeSuite(t, quickSuite),
			"out": out, "github-token": token}, map[string]string{
			"${{ github.server_url }}":                                "https://github.example",
			"${{ github.repository }}":                                ghRepo,
			"${{ github.event.pull_request.head.sha || github.sha }}": ghHead,
		})...), "GITHUB_STATE="+emptyFile(t, "state"), "GITHUB_API_URL="+gh.URL())...)
	r := runBin(t, env)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var row matrix.Row
	if err := json.Unmarshal([]byte(parseFileCommands(t, outputs)["row"]), &row); err != nil {
		t.Fatalf("row output: %v", err)
	}
	if !strings.Contains(row.Notes, `input "out"`) || !strings.Contains(row.Notes, "***") {
		t.Errorf("row notes %q do not name the input with the token hidden", row.Notes)
	}
	for what, text := range map[string]string{"outputs": readFile(t, outputs), "job summary": readFile(t, summary),
		"stdout": strings.ReplaceAll(r.stdout, "::add-mask::"+token+"\n", ""), "stderr": r.stderr,
		"requests to GitHub": strings.Join(ghBodies(), "\n")} {
		if strings.Contains(text, token) {
			t.Errorf("the github-token is in the %s:\n%s", what, text)
		}
	}
}
