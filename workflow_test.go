package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sethvargo/go-githubactions"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/cli"
	"github.com/tinylabscom/mvm-verify/internal/config"
)

// The verify workflow's docs job commits the docs table back to main. Its
// script runs here against a local bare repository standing in for
// GitHub, so what it pushes, and when it stands down, is checked.

type docsStep struct {
	run   string
	table string
}

func commitStep(t *testing.T) docsStep {
	t.Helper()
	data, err := os.ReadFile(".github/workflows/verify.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			If    string `yaml:"if"`
			Steps []struct {
				Name string            `yaml:"name"`
				Run  string            `yaml:"run"`
				Env  map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	docs, ok := wf.Jobs["docs"]
	if !ok {
		t.Fatal("verify.yml has no docs job")
	}
	// A cancelled run's matrix must not become the docs table.
	if !strings.Contains(docs.If, "!cancelled()") || strings.Contains(docs.If, "always()") {
		t.Errorf("docs job if: %q; want it to skip cancelled runs", docs.If)
	}
	for _, s := range docs.Steps {
		if s.Name == "Commit the docs table" {
			return docsStep{run: s.Run, table: s.Env["TABLE"]}
		}
	}
	t.Fatal("the docs job has no step named \"Commit the docs table\"")
	return docsStep{}
}

// git runs git in dir as a test identity and returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDocsJobCommitsTheTable(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is not installed (Debian package git; .ci/run installs it)")
	}
	step := commitStep(t)
	if step.table == "" {
		t.Fatal("the commit step has no TABLE env")
	}
	const ours = "| Provider | … |\n| AWS | ✅ |\n"
	for _, tc := range []struct {
		name string
		// after pushes to origin after the run's commit, before the step.
		after func(t *testing.T, other string)
		// table is what the report step left in the checkout.
		table      string
		wantPushed bool
		wantOutput string
	}{
		{name: "branch at the run's commit", table: ours, wantPushed: true},
		{name: "table unchanged", table: "old table\n", wantOutput: "already up to date"},
		{name: "another table commit landed", table: ours, wantPushed: true, after: func(t *testing.T, other string) {
			writeFile(t, filepath.Join(other, step.table), "a re-run's table\n")
			git(t, other, "commit", "-qam", "docs: verification matrix")
			git(t, other, "push", "-q", "origin", "main")
		}},
		{name: "newer code landed", table: ours, wantOutput: "has moved past", after: func(t *testing.T, other string) {
			writeFile(t, filepath.Join(other, "main.go"), "package main // newer\n")
			git(t, other, "commit", "-qam", "newer code")
			git(t, other, "push", "-q", "origin", "main")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			origin := filepath.Join(root, "origin.git")
			git(t, root, "init", "-q", "--bare", origin)
			seed := filepath.Join(root, "seed")
			git(t, root, "clone", "-q", origin, seed)
			writeFile(t, filepath.Join(seed, "main.go"), "package main\n")
			writeFile(t, filepath.Join(seed, step.table), "old table\n")
			git(t, seed, "add", ".")
			git(t, seed, "commit", "-qm", "the run's commit")
			git(t, seed, "push", "-q", "origin", "HEAD:main")
			sha := git(t, seed, "rev-parse", "HEAD")

			checkout := filepath.Join(root, "checkout")
			git(t, root, "clone", "-q", origin, checkout)
			if tc.after != nil {
				tc.after(t, seed)
			}
			before := git(t, seed, "ls-remote", origin, "refs/heads/main")
			writeFile(t, filepath.Join(checkout, step.table), tc.table)

			cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step.run)
			cmd.Dir = checkout
			cmd.Env = append(os.Environ(), "GITHUB_SHA="+sha, "GITHUB_REF_NAME=main", "RUNNER_TEMP="+t.TempDir(),
				"TABLE="+step.table, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("step: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.wantOutput) {
				t.Errorf("output lacks %q:\n%s", tc.wantOutput, out)
			}
			after := git(t, seed, "ls-remote", origin, "refs/heads/main")
			if !tc.wantPushed {
				if after != before {
					t.Errorf("main moved from %s to %s; want nothing pushed", before, after)
				}
				return
			}
			head := strings.Fields(after)[0]
			if parent := git(t, seed, "--git-dir", origin, "rev-parse", head+"^"); parent != strings.Fields(before)[0] {
				t.Errorf("pushed %s on %s, want on the branch's head %s", head, parent, before)
			}
			if got := git(t, seed, "--git-dir", origin, "show", head+":"+step.table); got != strings.TrimSpace(ours) {
				t.Errorf("pushed table %q, want %q", got, ours)
			}
			if files := git(t, seed, "--git-dir", origin, "show", "--format=", "--name-only", head); files != step.table {
				t.Errorf("the pushed commit changes %q, want only %s", files, step.table)
			}
		})
	}
}

// Every step that runs this action, in this repository's workflows, the
// examples and the README, is loaded here through the real config loader
// with its inputs as the runner would pass them (INPUT_*, action.yml's
// defaults filled in, expressions given plausible values). A refusal there
// is the action exiting 2 on every run of that workflow, which no other
// test sees: the workflows are not run by the tests.

// actionRef is how workflows outside this repository name the action.
const actionRef = "tinylabscom/mvm-verify@"

// actionStep is one step that runs the action, in one leg of its job's
// matrix.
type actionStep struct {
	where string            // file, job, step and leg, for messages
	with  map[string]string // the step's with:, expressions not yet evaluated
	leg   map[string]string // the matrix leg; nil without a matrix
	keys  map[string]bool   // every matrix key of the job, in any leg
	local bool              // uses: ./ (this repository's own workflows)
}

type workflowStep struct {
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	With map[string]string `yaml:"with"`
}

type workflowFile struct {
	Jobs map[string]struct {
		Strategy struct {
			Matrix yaml.Node `yaml:"matrix"`
		} `yaml:"strategy"`
		Steps []workflowStep `yaml:"steps"`
	} `yaml:"jobs"`
}

// workflowSources are the workflows to check: this repository's, any in
// examples/, and the YAML blocks of the README that are workflows.
func workflowSources(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var files []string
	for _, pattern := range []string{".github/workflows/*.yml", ".github/workflows/*.yaml", "examples/*.yml", "examples/*.yaml",
		"examples/*/*.yml", "examples/*/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = data
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for i, block := range yamlBlocks(string(readme)) {
		out[fmt.Sprintf("README.md (yaml block %d)", i+1)] = []byte(block)
	}
	return out
}

// yamlBlocks returns the fenced ```yaml blocks of a markdown text.
func yamlBlocks(md string) []string {
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(md, "\n") {
		switch trimmed := strings.TrimSpace(line); {
		case !in && (trimmed == "```yaml" || trimmed == "```yml"):
			in, cur = true, nil
		case in && trimmed == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

// actionSteps returns every step of the sources that runs the action, once
// per leg of its job's matrix. Files that are not workflows (suites) are
// passed over.
func actionSteps(t *testing.T, sources map[string][]byte) []actionStep {
	t.Helper()
	var steps []actionStep
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		var probe map[string]any
		if err := yaml.Unmarshal(sources[name], &probe); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := probe["jobs"]; !ok {
			continue // a suite, not a workflow
		}
		var wf workflowFile
		if err := yaml.Unmarshal(sources[name], &wf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, jobName := range slices.Sorted(maps.Keys(wf.Jobs)) {
			job := wf.Jobs[jobName]
			legs, err := matrixLegs(&job.Strategy.Matrix)
			if err != nil {
				t.Fatalf("%s: job %s: matrix: %v", name, jobName, err)
			}
			keys := map[string]bool{}
			for _, leg := range legs {
				for k := range leg {
					keys[k] = true
				}
			}
			if len(legs) == 0 {
				legs = []map[string]string{nil}
			}
			for i, s := range job.Steps {
				local := s.Uses == "./"
				if !local && !strings.HasPrefix(s.Uses, actionRef) {
					continue
				}
				for _, leg := range legs {
					where := fmt.Sprintf("%s: job %s, step %d", name, jobName, i+1)
					if s.Name != "" {
						where += fmt.Sprintf(" (%s)", s.Name)
					}
					if leg != nil {
						where += fmt.Sprintf(", matrix %v", leg)
					}
					steps = append(steps, actionStep{where: where, with: s.With, leg: leg, keys: keys, local: local})
				}
			}
		}
	}
	return steps
}

// matrixLegs expands a job's strategy.matrix as GitHub does: the product
// of its dimensions less exclude, then each include entry added to every
// original combination whose dimension values it does not change, or made
// a combination of its own when it fits none.
func matrixLegs(n *yaml.Node) ([]map[string]string, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("a matrix from an expression (%q) is not expanded here: list its legs", n.Value)
	}
	var dims []string
	values := map[string][]string{}
	var include, exclude []map[string]string
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		switch key {
		case "include", "exclude":
			var entries []map[string]string
			if err := val.Decode(&entries); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			if key == "include" {
				include = entries
			} else {
				exclude = entries
			}
		default:
			var list []string
			if err := val.Decode(&list); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			dims = append(dims, key)
			values[key] = list
		}
	}
	var legs []map[string]string
	if len(dims) > 0 {
		legs = []map[string]string{{}}
		for _, d := range dims {
			var next []map[string]string
			for _, leg := range legs {
				for _, v := range values[d] {
					c := maps.Clone(leg)
					c[d] = v
					next = append(next, c)
				}
			}
			legs = next
		}
	}
	matches := func(leg, entry map[string]string, only []string) bool {
		for k, v := range entry {
			if (only == nil || slices.Contains(only, k)) && leg[k] != v {
				return false
			}
		}
		return true
	}
	legs = slices.DeleteFunc(legs, func(leg map[string]string) bool {
		return slices.ContainsFunc(exclude, func(e map[string]string) bool { return matches(leg, e, nil) })
	})
	original := len(legs)
	for _, entry := range include {
		added := false
		for _, leg := range legs[:original] {
			if matches(leg, entry, dims) {
				maps.Copy(leg, entry)
				added = true
			}
		}
		if !added {
			legs = append(legs, maps.Clone(entry))
		}
	}
	return legs, nil
}

var expression = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// evaluate replaces each ${{ … }} in s with a plausible value: a matrix
// value of the leg, or one from known. a || b is the first that is not
// empty. Anything else is an error naming it, so a new expression in a
// workflow gets a value here rather than passing unchecked.
func evaluate(s string, step actionStep, known map[string]string) (string, error) {
	var bad error
	out := expression.ReplaceAllStringFunc(s, func(m string) string {
		expr := expression.FindStringSubmatch(m)[1]
		for _, operand := range strings.Split(expr, "||") {
			operand = strings.TrimSpace(operand)
			var v string
			switch name, isMatrix := strings.CutPrefix(operand, "matrix."); {
			case isMatrix && step.keys[name]:
				v = step.leg[name] // a leg without the key reads ""
			case len(operand) >= 2 && operand[0] == '\'' && operand[len(operand)-1] == '\'':
				v = operand[1 : len(operand)-1]
			default:
				var ok bool
				if v, ok = known[operand]; !ok {
					bad = fmt.Errorf("no plausible value for %q in ${{ %s }}: add one to this test", operand, expr)
					return m
				}
			}
			if v != "" {
				return v
			}
		}
		return ""
	})
	return out, bad
}

// actionInputs reads action.yml's inputs and their defaults.
func actionInputs(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs map[string]struct {
			Default string `yaml:"default"`
		} `yaml:"inputs"`
	}
	if err := yaml.Unmarshal(data, &action); err != nil {
		t.Fatal(err)
	}
	if len(action.Inputs) == 0 {
		t.Fatal("action.yml declares no inputs")
	}
	defaults := map[string]string{}
	for name, in := range action.Inputs {
		defaults[name] = in.Default
	}
	return defaults
}

// registeredProviders asks the binary, as a user would, which providers it
// has: the same registry the action's config load is given.
func registeredProviders(t *testing.T) []string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), cli.Env{Args: []string{"mvm-verify", "providers", "--json"},
		Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	if code != cli.ExitOK {
		t.Fatalf("mvm-verify providers --json: exit %d\n%s", code, stderr.String())
	}
	var infos []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &infos); err != nil {
		t.Fatalf("mvm-verify providers --json: %v\n%s", err, stdout.String())
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
	}
	if len(names) == 0 {
		t.Fatal("mvm-verify providers --json lists no provider")
	}
	return names
}

// plausible are values for the expressions the workflows use, of the
// forms GitHub gives them (vars and secrets as a user would set them).
func plausible(t *testing.T) map[string]string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	hostPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	// ci.yml's action-ssh job names its throwaway client key by path.
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	hostLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub)))
	const sha = "0123456789abcdef0123456789abcdef01234567"
	return map[string]string{
		"steps.sshd.outputs.host":            "172.17.0.1",
		"steps.sshd.outputs.key-file":        keyFile,
		"steps.sshd.outputs.known-host":      hostLine + " ci-host",
		"github.token":                       "ghs_0123456789abcdefABCDEF0123456789abcd",
		"github.server_url":                  "https://github.com",
		"github.repository":                  "tinylabscom/mvm-verify",
		"github.sha":                         sha,
		"github.event.pull_request.head.sha": sha,
		"job.check_run_id":                   "31415926535",
		"vars.VERIFY_AWS_ROLE":               "arn:aws:iam::123456789012:role/mvm-verify",
		"vars.VERIFY_SSH_HOST":               "203.0.113.7",
		"vars.VERIFY_SSH_USER":               "ubuntu",
		"vars.VERIFY_SSH_KNOWN_HOST":         "203.0.113.7 " + hostLine,
		"secrets.VERIFY_SSH_PRIVATE_KEY":     string(pem.EncodeToMemory(block)),
	}
}

// stepInputs are the step's inputs as the runner passes them to the
// container: every input action.yml declares, given or defaulted, with the
// expressions evaluated.
func stepInputs(step actionStep, defaults, known map[string]string) (map[string]string, error) {
	var errs []error
	for name := range step.with {
		if _, ok := defaults[name]; !ok {
			errs = append(errs, fmt.Errorf("with: %s is no input of action.yml", name))
		}
	}
	inputs := map[string]string{}
	for name, def := range defaults {
		v, given := step.with[name]
		if !given {
			v = def
		}
		v, err := evaluate(v, step, known)
		if err != nil {
			errs = append(errs, fmt.Errorf("input %s: %w", name, err))
		}
		inputs[name] = v
	}
	return inputs, errors.Join(errs...)
}

// loadAsAction loads the inputs as the action's main step does, and for
// run and up as its post step does too (mode down, the provider from the
// main step's state): an exit 2 in either is what this test is for.
func loadAsAction(inputs map[string]string, providerNames []string, known map[string]string) (*config.Run, error) {
	envs := map[string]string{
		"GITHUB_ACTIONS":    "true",
		"GITHUB_SERVER_URL": known["github.server_url"],
		"GITHUB_REPOSITORY": known["github.repository"],
		"GITHUB_SHA":        known["github.sha"],
	}
	for name, v := range inputs {
		envs["INPUT_"+strings.ToUpper(name)] = v
	}
	getenv := func(k string) string { return envs[k] }
	// As the action reads them: through go-githubactions, an empty value
	// counting as not given.
	gha := githubactions.New(githubactions.WithGetenv(getenv))
	src := func(name string) (string, bool) {
		v := gha.GetInput(name)
		return v, v != ""
	}
	mode, _ := src("mode")
	if mode == "" {
		mode = config.ModeRun
	}
	run, err := config.LoadWith(src, config.Options{Providers: providerNames, Mode: mode, Getenv: getenv,
		HeadSHA: known["github.sha"], PullRequest: 7})
	if err != nil {
		return nil, fmt.Errorf("main step (mode %s): %w", mode, err)
	}
	if mode == config.ModeRun || mode == config.ModeUp {
		if _, err := config.LoadWith(src, config.Options{Providers: providerNames, Mode: config.ModeDown,
			Provider: run.Provider, Getenv: getenv}); err != nil {
			return nil, fmt.Errorf("post step: %w", err)
		}
	}
	return run, nil
}

func TestWorkflowsGiveTheActionValidInputs(t *testing.T) {
	defaults := actionInputs(t)
	names := registeredProviders(t)
	known := plausible(t)
	steps := actionSteps(t, workflowSources(t))
	// The test must see the steps it is about, or it checks nothing.
	perSource := map[string]int{}
	for _, s := range steps {
		perSource[strings.SplitN(s.where, ":", 2)[0]]++
	}
	if perSource[".github/workflows/verify.yml"] < 3 {
		t.Errorf("found %d action steps in .github/workflows/verify.yml, want its verify, report and docs jobs' (%v)",
			perSource[".github/workflows/verify.yml"], perSource)
	}
	readme := 0
	for src, n := range perSource {
		if strings.HasPrefix(src, "README.md") {
			readme += n
		}
	}
	if readme < 2 {
		t.Errorf("found %d action steps in the README's examples, want its legs' and report's (%v)", readme, perSource)
	}
	for _, step := range steps {
		inputs, err := stepInputs(step, defaults, known)
		if err != nil {
			t.Errorf("%s: %v", step.where, err)
			continue
		}
		if _, err := loadAsAction(inputs, names, known); err != nil {
			t.Errorf("%s: the action would exit 2 (bad input):\n%v", step.where, err)
		}
	}
}

// The built-in suite verifies mvm: in this repository's own workflows its
// default checkout, the workflow's repository, would be mvm-verify, whose
// code the mvm suite cannot build or test. A leg running it must name mvm.
func TestOwnLegsCheckOutMvm(t *testing.T) {
	defaults := actionInputs(t)
	names := registeredProviders(t)
	known := plausible(t)
	checked := 0
	for _, step := range actionSteps(t, workflowSources(t)) {
		if !step.local {
			continue
		}
		inputs, err := stepInputs(step, defaults, known)
		if err != nil {
			t.Errorf("%s: %v", step.where, err)
			continue
		}
		run, err := loadAsAction(inputs, names, known)
		if err != nil {
			continue // TestWorkflowsGiveTheActionValidInputs reports it
		}
		if (run.Mode != config.ModeRun && run.Mode != config.ModeUp) || run.SuitePath != "" {
			continue
		}
		checked++
		own := known["github.server_url"] + "/" + known["github.repository"]
		if strings.TrimSuffix(strings.TrimSuffix(run.Repository, "/"), ".git") == own {
			t.Errorf("%s: the built-in mvm suite checks out %s, this repository; give repository: %s (and a ref)",
				step.where, run.Repository, config.DefaultRepository)
		}
	}
	if checked == 0 {
		t.Error("no leg of this repository's workflows runs the built-in suite; this test checks nothing")
	}
}

// The legs the input check loads are GitHub's expansion of the matrix.
func TestMatrixLegs(t *testing.T) {
	for _, tc := range []struct {
		name, matrix string
		want         []map[string]string
	}{
		{name: "no matrix", matrix: "", want: nil},
		{name: "include only", matrix: "include: [{provider: aws, instance-type: c8i.large}, {provider: ssh}]",
			want: []map[string]string{{"provider": "aws", "instance-type": "c8i.large"}, {"provider": "ssh"}}},
		{name: "dimensions, exclude, include", matrix: "provider: [aws, ssh]\nlane: [kvm, no-kvm]\n" +
			"exclude: [{provider: ssh, lane: no-kvm}]\n" +
			// extends both aws legs; fits no leg (ssh, no-kvm is excluded), so a leg of its own
			"include: [{provider: aws, region: us-east-2}, {provider: ssh, lane: no-kvm, key: x}]",
			want: []map[string]string{
				{"provider": "aws", "lane": "kvm", "region": "us-east-2"},
				{"provider": "aws", "lane": "no-kvm", "region": "us-east-2"},
				{"provider": "ssh", "lane": "kvm"},
				{"provider": "ssh", "lane": "no-kvm", "key": "x"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n yaml.Node
			if tc.matrix != "" {
				var doc yaml.Node
				if err := yaml.Unmarshal([]byte(tc.matrix), &doc); err != nil {
					t.Fatal(err)
				}
				n = *doc.Content[0]
			}
			got, err := matrixLegs(&n)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tc.want, maps.Equal) {
				t.Errorf("legs = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestReadmeSuitesParse: every suite the README shows (a yaml block with
// steps, not a workflow) is one the loader accepts, whose bootstrap, once
// its placeholders are filled in, and whose steps are valid shell — so a
// user copying one starts from a suite that loads and checks out what
// its steps use.
func TestReadmeSuitesParse(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	shells := map[string]string{}
	for _, sh := range []string{"sh", "bash"} {
		path, err := exec.LookPath(sh)
		if err != nil {
			t.Fatalf("no %s on this machine to check the README's suites with (Debian packages dash, bash)", sh)
		}
		shells[sh] = path
	}
	syntax := func(shell, what, script string) {
		cmd := exec.Command(shells[shell], "-n")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %s -n: %v\n%s\n%s", what, shell, err, out, script)
		}
	}
	// A git init or clone into ~/mvm (the suite user's home, as sudo -iu
	// starts there).
	checkout := regexp.MustCompile(`(?m)\bgit (init|clone)\b.*\smvm$`)
	suites := 0
	for i, block := range yamlBlocks(string(readme)) {
		var top map[string]any
		if err := yaml.Unmarshal([]byte(block), &top); err != nil || top["steps"] == nil || top["jobs"] != nil {
			continue
		}
		suites++
		name := fmt.Sprintf("README.md (yaml block %d)", i+1)
		s, err := config.ParseSuite(name, []byte(block))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		x, err := s.Expand(config.Vars{Repo: "https://github.com/tinylabscom/mvm", Ref: "0123456789abcdef0123456789abcdef01234567"})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for j, c := range x.Bootstrap {
			if strings.Contains(c, "${MVM_") {
				t.Errorf("%s: bootstrap[%d] keeps a placeholder the cycle does not fill: %s", name, j, c)
			}
			syntax("sh", fmt.Sprintf("%s bootstrap[%d]", name, j), c)
		}
		for _, st := range x.Steps {
			syntax("bash", fmt.Sprintf("%s step %q", name, st.Name), st.Run)
			if strings.Contains(st.Run, "cd mvm") && !checkout.MatchString(strings.Join(x.Bootstrap, "\n")) {
				t.Errorf("%s: step %q works in ~/mvm, which no bootstrap command makes", name, st.Name)
			}
		}
	}
	if suites == 0 {
		t.Fatal("README shows no suite (a yaml block with steps)")
	}
}
