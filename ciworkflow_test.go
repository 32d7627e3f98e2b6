package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"go.yaml.in/yaml/v3"
)

// ci.yml's image and action-ssh jobs need a Docker engine and a GitHub
// runner, which this machine does not have. What of them can run here runs:
// the post step's expected message is the one the binary prints, and the
// action-ssh job's sshd step is run as written, then the binary is run with
// the action step's inputs as the runner passes them, against that sshd.

type ciStep struct {
	ID   string            `yaml:"id"`
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]string `yaml:"with"`
	Env  map[string]string `yaml:"env"`
}

func ciJobs(t *testing.T) map[string][]ciStep {
	t.Helper()
	data, err := os.ReadFile(".github/workflows/ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			Steps []ciStep `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	jobs := map[string][]ciStep{}
	for name, j := range wf.Jobs {
		jobs[name] = j.Steps
	}
	return jobs
}

// buildBinary builds mvm-verify and its post name as the Dockerfile does.
func buildBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "mvm-verify")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Link(bin, filepath.Join(dir, "mvm-verify-post")); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestCIImageJob(t *testing.T) {
	steps := ciJobs(t)["image"]
	var all []string
	for _, s := range steps {
		all = append(all, s.Run)
	}
	script := strings.Join(all, "\n")
	for _, want := range []string{"docker build -t mvm-verify:ci .", "docker run --rm mvm-verify:ci version",
		"--entrypoint /usr/local/bin/mvm-verify-post"} {
		if !strings.Contains(script, want) {
			t.Errorf("ci.yml image job does not run %q", want)
		}
	}
	m := regexp.MustCompile(`grep -q '([^']+)'`).FindStringSubmatch(script)
	if m == nil {
		t.Fatal("ci.yml image job checks the post step's output with no grep -q '…'")
	}
	bin := buildBinary(t)
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = []string{"GITHUB_ACTIONS=true"} // as docker run -e gives it: no GITHUB_STATE
	out, err := post.CombinedOutput()
	if err != nil || !strings.Contains(string(out), m[1]) {
		t.Errorf("post step without state: %v; output %q does not hold the image job's %q", err, out, m[1])
	}
}

func TestCIActionSSHJob(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		t.Fatal("no /usr/sbin/sshd (Debian package openssh-server; .ci/run installs it)")
	}
	for _, tool := range []string{"ssh", "ssh-keygen", "sudo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("no %s (Debian packages openssh-client, sudo; .ci/run installs them)", tool)
		}
	}
	var sshdStep, leg *ciStep
	steps := ciJobs(t)["action-ssh"]
	for i := range steps {
		switch {
		case steps[i].ID == "sshd":
			sshdStep = &steps[i]
		case steps[i].Uses == "./":
			leg = &steps[i]
		}
	}
	if sshdStep == nil || leg == nil {
		t.Fatal("ci.yml action-ssh job has no step with id sshd or no step using ./")
	}

	// The runner's docker0 address, here a loopback address of its own
	// (port 2222 is the workflow's), given by an ip that prints it.
	addr := fmt.Sprintf("127.%d.%d.%d", 100+rand.IntN(100), rand.IntN(250), 2+rand.IntN(250))
	root := t.TempDir()
	fake := filepath.Join(root, "fakebin")
	ws := filepath.Join(root, "workspace")
	runnerTemp := filepath.Join(root, "runner-temp")
	for _, d := range []string{fake, filepath.Join(ws, "examples"), runnerTemp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(fake, "ip"), "#!/bin/sh\necho '4: docker0    inet "+addr+"/8 scope host docker0'\n")
	if err := os.Chmod(filepath.Join(fake, "ip"), 0o755); err != nil {
		t.Fatal(err)
	}
	suite, err := os.ReadFile(leg.With["suite"])
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(ws, leg.With["suite"]), string(suite))
	ghOutput := filepath.Join(root, "sshd-output")
	t.Cleanup(func() {
		if pid, err := os.ReadFile(filepath.Join(runnerTemp, "sshd", "sshd.pid")); err == nil {
			var n int
			if _, err := fmt.Sscan(string(pid), &n); err == nil && n > 0 {
				_ = syscall.Kill(n, syscall.SIGTERM)
			}
		}
	})
	// As GitHub runs a run: step: bash -e, with pipefail.
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", sshdStep.Run)
	cmd.Dir = ws
	cmd.Env = append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH"), "RUNNER_TEMP="+runnerTemp, "GITHUB_OUTPUT="+ghOutput)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the sshd step: %v\n%s", err, out)
	}
	outputs := map[string]string{}
	data, err := os.ReadFile(ghOutput)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		outputs["steps.sshd.outputs."+k] = v
	}
	if outputs["steps.sshd.outputs.host"] != addr {
		t.Fatalf("sshd step outputs %v; want host %s", outputs, addr)
	}

	// The action step, as the runner passes it to the container: INPUT_*
	// for each with:, the workspace as the working directory.
	bin := buildBinary(t)
	step := actionStep{where: "ci.yml action-ssh", with: leg.With}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root, "GITHUB_ACTIONS=true",
		"GITHUB_OUTPUT=" + filepath.Join(root, "leg-output"), "GITHUB_STATE=" + filepath.Join(root, "leg-state"),
		"GITHUB_STEP_SUMMARY=" + filepath.Join(root, "leg-summary")}
	for name, v := range leg.With {
		v, err := evaluate(v, step, outputs)
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, "INPUT_"+strings.ToUpper(name)+"="+v)
	}
	run := exec.Command(bin)
	run.Dir, run.Env = ws, env
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("the action step: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(root, "leg-output"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^status<<\S+\nverified\n`).Match(got) {
		t.Errorf("the action step's outputs hold no status verified (the next step checks it):\n%s\n%s", got, out)
	}
	// The action's post step runs after every main step of the job, so
	// after "Stop sshd": it must finish without the host. The runner gives
	// it main's saved state as STATE_* variables.
	for _, s := range steps {
		if s.Name == "Stop sshd" {
			cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s.Run)
			cmd.Env = append(os.Environ(), "RUNNER_TEMP="+runnerTemp)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("the Stop sshd step: %v\n%s", err, out)
			}
		}
	}
	state, err := os.ReadFile(filepath.Join(root, "leg-state"))
	if err != nil {
		t.Fatal(err)
	}
	saved := fileCommands(string(state))
	if saved["provider"] != "ssh" {
		t.Fatalf("main saved state %v; want provider ssh", saved)
	}
	postEnv := env
	for k, v := range saved {
		postEnv = append(postEnv, "STATE_"+k+"="+v)
	}
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Dir, post.Env = ws, postEnv
	out, err = post.CombinedOutput()
	if err != nil {
		t.Errorf("the action's post step, sshd stopped: %v\n%s", err, out)
	}
	t.Logf("post step:\n%s", out)
}

// fileCommands reads a GITHUB_STATE or GITHUB_OUTPUT file: name=value
// lines and name<<DELIM blocks.
func fileCommands(text string) map[string]string {
	out := map[string]string{}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		if name, delim, ok := strings.Cut(lines[i], "<<"); ok {
			var value []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				value = append(value, lines[i])
			}
			out[name] = strings.Join(value, "\n")
		} else if name, value, ok := strings.Cut(lines[i], "="); ok {
			out[name] = value
		}
	}
	return out
}

// .ci/run installs Go only when the one at CI_GO_ROOT is missing or older
// than go.mod asks for. Its functions, sourced, are run here against a
// go.mod and a fake go of chosen versions; the install itself is tested
// against crafted proxies in ciinstallgo_test.go.
func TestCIRunGoVersion(t *testing.T) {
	ciRun, err := filepath.Abs(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	call := func(t *testing.T, dir, script string) (string, error) {
		t.Helper()
		cmd := exec.Command("bash", "-c", `source "$CI_RUN"; `+script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CI_RUN="+ciRun)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	for _, tc := range []struct{ gomod, want string }{
		{"module m\n\ngo 1.26.0\n", "go1.26.0"},
		{"module m\n\ngo 1.26\n", "go1.26.0"},
		{"module m\n\ngo 1.26.0\n\ntoolchain go1.26.3\n", "go1.26.3"},
		{"module m\n\ngo 1.27rc1\n", "go1.27rc1"},
	} {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "go.mod"), tc.gomod)
		if got, err := call(t, dir, "go_wanted"); err != nil || got != tc.want {
			t.Errorf("go_wanted for %q = %q, %v; want %s", tc.gomod, got, err, tc.want)
		}
	}
	if got, err := call(t, t.TempDir(), "touch go.mod; go_wanted"); err == nil || !strings.Contains(got, "go.mod") {
		t.Errorf("go_wanted without a go line = %q, %v; want an error naming go.mod", got, err)
	}

	root := t.TempDir()
	writeFile(t, filepath.Join(root, "bin", "go"), "#!/bin/sh\n[ \"$GOTOOLCHAIN\" = local ] || exit 3\necho 'go1.26.8 X:nodwarf5'\n")
	if err := os.Chmod(filepath.Join(root, "bin", "go"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		root, want string
		enough     bool
	}{
		{root, "go1.26.0", true},
		{root, "go1.26.8", true},
		{root, "go1.26.10", false},
		{root, "go1.27.0", false},
		{filepath.Join(root, "missing"), "go1.26.0", false},
	} {
		cmd := exec.Command("bash", "-c", `source "$CI_RUN"; go_new_enough "$1" "$2"`, "bash", tc.root, tc.want)
		cmd.Env = append(os.Environ(), "CI_RUN="+ciRun)
		out, err := cmd.CombinedOutput()
		if got := err == nil; got != tc.enough {
			t.Errorf("go_new_enough %s %s (a go1.26.8 there) = %v, want %v\n%s", tc.root, tc.want, got, tc.enough, out)
		}
	}
}
