package config

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const regenerate = "run `go run ./internal/config/gen` from the repository root"

func readRepoFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatalf("%v (%s)", err, regenerate)
	}
	return data
}

// action.yml declares exactly the inputs of the table, in order, with their
// descriptions and defaults, and runs the binary without args.
func TestActionYAMLMatchesInputs(t *testing.T) {
	data := readRepoFile(t, ActionFile)
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse action.yml: %v", err)
	}
	root := doc.Content[0]

	inputs := child(t, root, "inputs")
	var names []string
	for i := 0; i+1 < len(inputs.Content); i += 2 {
		names = append(names, inputs.Content[i].Value)
	}
	var want []string
	for _, in := range Inputs() {
		want = append(want, in.Name)
	}
	if !slices.Equal(names, want) {
		t.Errorf("action.yml inputs %v\nwant %v (%s)", names, want, regenerate)
	}
	for _, in := range Inputs() {
		var got struct {
			Description string
			Required    bool
			Default     *string
		}
		n := lookup(inputs, in.Name)
		if n == nil {
			continue
		}
		if err := n.Decode(&got); err != nil {
			t.Fatalf("input %s: %v", in.Name, err)
		}
		def := ""
		if got.Default != nil {
			def = *got.Default
		}
		if got.Description != in.Description || def != actionDefault(in) || got.Required {
			t.Errorf("action.yml input %s = %+v (default %q)\nwant description %q, default %q, required false (%s)",
				in.Name, got, def, in.Description, actionDefault(in), regenerate)
		}
	}

	outputs := child(t, root, "outputs")
	var outs []string
	for i := 0; i+1 < len(outputs.Content); i += 2 {
		outs = append(outs, outputs.Content[i].Value)
	}
	var wantOuts []string
	for _, o := range Outputs() {
		wantOuts = append(wantOuts, o.Name)
	}
	if !slices.Equal(outs, wantOuts) {
		t.Errorf("action.yml outputs %v, want %v", outs, wantOuts)
	}
	for _, o := range []string{"status", "row", "matrix", "summary-path", "result-path"} {
		if !slices.Contains(outs, o) {
			t.Errorf("action.yml lacks output %s", o)
		}
	}

	var runs map[string]any
	if err := child(t, root, "runs").Decode(&runs); err != nil {
		t.Fatal(err)
	}
	wantRuns := map[string]any{
		"using": "docker", "image": "Dockerfile",
		"entrypoint": "/usr/local/bin/mvm-verify", "post-entrypoint": "/usr/local/bin/mvm-verify-post",
		"post-if": "always()",
	}
	if _, ok := runs["args"]; ok {
		t.Error("action.yml runs has args: the binary reads INPUT_* itself")
	}
	for k, v := range wantRuns {
		if runs[k] != v {
			t.Errorf("runs.%s = %v, want %v", k, runs[k], v)
		}
	}
	if len(runs) != len(wantRuns) {
		t.Errorf("runs = %v, want exactly %v", runs, wantRuns)
	}
	for _, k := range []string{"name", "description", "author", "branding"} {
		child(t, root, k)
	}

	gen, err := ActionYAML()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gen, data) {
		t.Errorf("action.yml is not what the generator writes; %s", regenerate)
	}
}

func child(t *testing.T, m *yaml.Node, key string) *yaml.Node {
	t.Helper()
	n := lookup(m, key)
	if n == nil {
		t.Fatalf("action.yml has no %s", key)
	}
	return n
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func TestReadmeListsEveryInput(t *testing.T) {
	data := readRepoFile(t, ReadmeFile)
	want, err := SpliceReadme(data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("%s's inputs or outputs table is stale; %s", ReadmeFile, regenerate)
	}
	if _, err := SpliceReadme([]byte("# no markers\n")); err == nil {
		t.Error("a README without markers was accepted")
	}
}

func TestDocsMatchInputs(t *testing.T) {
	data := readRepoFile(t, DocsFile)
	if !bytes.Equal(data, InputsMarkdown()) {
		t.Errorf("%s is stale; %s", DocsFile, regenerate)
	}
	// Each input has its own table row, with its default.
	for _, in := range Inputs() {
		// A cell ends at the first pipe that is not escaped.
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(in.Name) + "`( \\(secret\\))? \\| ((?:[^|\\\\]|\\\\.)*) \\|").FindSubmatch(data)
		if row == nil {
			t.Errorf("%s has no row for %s", DocsFile, in.Name)
			continue
		}
		if d := actionDefault(in); d != "" && !strings.Contains(string(row[2]), cell(d)) {
			t.Errorf("%s row %s shows default %q, want %q", DocsFile, in.Name, row[2], d)
		}
	}
}

var inputName = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

func TestInputTable(t *testing.T) {
	seen := map[string]bool{}
	for _, in := range Inputs() {
		if !inputName.MatchString(in.Name) {
			t.Errorf("input %q: names are lowercase words joined by -", in.Name)
		}
		if seen[in.Name] {
			t.Errorf("input %q listed twice", in.Name)
		}
		seen[in.Name] = true
		if !strings.HasSuffix(in.Description, ".") || len(in.Description) < 10 {
			t.Errorf("input %q: description %q should be a sentence", in.Name, in.Description)
		}
		if in.Secret && in.Default != "" {
			t.Errorf("input %q is secret and has a default", in.Name)
		}
		for _, m := range in.Modes {
			if !slices.Contains(Modes(), m) {
				t.Errorf("input %q: unknown mode %q", in.Name, m)
			}
		}
	}
	// Inputs returns a fresh table each call.
	a := Inputs()
	a[0].Name = "changed"
	if Inputs()[0].Name == "changed" {
		t.Error("Inputs shares its slice between calls")
	}
	// Every default loads: a run with nothing but a provider is valid (see
	// TestLoadDefaults); here every input's default parses on its own.
	r, err := load(t, map[string]string{"provider": "aws"})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range Inputs() {
		if in.Default != "" && r.Input(in.Name) != in.Default {
			t.Errorf("Inputs[%s] = %q, want the default %q", in.Name, r.Input(in.Name), in.Default)
		}
	}
}

// Every output says which modes set it, in action.yml and in the docs: a
// workflow reading an output its mode does not set gets "".
func TestOutputTable(t *testing.T) {
	var action struct {
		Outputs map[string]struct{ Description string }
	}
	if err := yaml.Unmarshal(readRepoFile(t, ActionFile), &action); err != nil {
		t.Fatal(err)
	}
	docs := string(InputsMarkdown())
	for _, out := range Outputs() {
		if len(out.Modes) == 0 {
			t.Errorf("output %q: no mode sets it", out.Name)
		}
		for _, m := range out.Modes {
			if !slices.Contains(Modes(), m) {
				t.Errorf("output %q: unknown mode %q", out.Name, m)
			}
		}
		if !strings.HasSuffix(out.Description, ".") || len(out.Description) < 10 {
			t.Errorf("output %q: description %q should be a sentence", out.Name, out.Description)
		}
		modes := strings.Join(out.Modes, ", ")
		if !strings.Contains(docs, "| `"+out.Name+"` | "+modes+" |") {
			t.Errorf("%s: output %s's row does not list its modes %s", DocsFile, out.Name, modes)
		}
		if d := action.Outputs[out.Name].Description; !strings.HasPrefix(d, "Set by "+modes+". ") {
			t.Errorf("%s: output %s's description does not say it is set by %s; %s", ActionFile, out.Name, modes, regenerate)
		}
	}
}

// actionlint, which CI runs over the workflows, reads action.yml through
// `uses: ./`: here every input is passed and every output read.
func TestActionlintAcceptsActionYAML(t *testing.T) {
	actionlint, err := exec.LookPath("actionlint")
	if err != nil {
		t.Fatal("actionlint is not on PATH: go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12 (.ci/run does)")
	}
	dir := t.TempDir()
	write := func(name, data string) {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(ActionFile, string(readRepoFile(t, ActionFile)))
	write("Dockerfile", "FROM scratch\n")
	// The project's actionlint config, with what it ignores and why.
	write(".github/actionlint.yaml", string(readRepoFile(t, ".github/actionlint.yaml")))
	var wf strings.Builder
	wf.WriteString("on: pull_request\njobs:\n  verify:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n")
	wf.WriteString("      - id: v\n        uses: ./\n        with:\n")
	for _, in := range Inputs() {
		fmt.Fprintf(&wf, "          %s: x\n", in.Name)
	}
	wf.WriteString("      - run: echo \"$OUT\"\n        env:\n          OUT: >-\n")
	for _, out := range Outputs() {
		fmt.Fprintf(&wf, "            ${{ steps.v.outputs.%s }}\n", out.Name)
	}
	write(".github/workflows/verify.yml", wf.String())

	// actionlint finds the project root by its .git directory.
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is not installed (Debian package git; .ci/run installs it)")
	}
	if out, err := exec.Command("git", "-C", dir, "init", "-q").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	cmd := exec.Command(actionlint, "-no-color")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("actionlint: %v\n%s", err, out)
	}
}
