package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
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
