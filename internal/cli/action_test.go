package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func phaseStatus(t *testing.T, resultPath, name string) string {
	t.Helper()
	data, err := os.ReadFile(resultPath)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Phases []struct{ Name, Status string }
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Phases {
		if p.Name == name {
			return p.Status
		}
	}
	return ""
}

// parseFileCommands reads a GITHUB_OUTPUT / GITHUB_STATE file the way the
// runner does: key=value lines and key<<DELIM heredocs.
func parseFileCommands(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	out := map[string]string{}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l == "" {
			continue
		}
		if k, delim, ok := strings.Cut(l, "<<"); ok {
			var val []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				val = append(val, lines[i])
			}
			out[k] = strings.Join(val, "\n")
			continue
		}
		k, v, _ := strings.Cut(l, "=")
		out[k] = v
	}
	return out
}

// TestRunnerContract runs the binary as GitHub's runner runs a Docker
// action: main with INPUT_* and the file commands, then post with STATE_*
// read back from the state file.
func TestRunnerContract(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	files := map[string]string{}
	for _, name := range []string{"GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"} {
		files[name] = filepath.Join(dir, strings.ToLower(name))
		if err := os.WriteFile(files[name], nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	event := filepath.Join(dir, "event.json")
	if err := os.WriteFile(event, []byte(`{"pull_request":{"number":7,"head":{"sha":"0123456789abcdef0123456789abcdef01234567","repo":{"full_name":"o/r"}},"base":{"repo":{"full_name":"o/r"}}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	suite := writeSuite(t, "user: root\nsteps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	env := cmdEnv(t,
		"GITHUB_ACTIONS=true",
		"GITHUB_REPOSITORY=o/r", "GITHUB_RUN_ID=4242", "GITHUB_RUN_ATTEMPT=1", "GITHUB_JOB=verify",
		"GITHUB_SHA=ffffffffffffffffffffffffffffffffffffffff",
		"GITHUB_EVENT_NAME=pull_request", "GITHUB_EVENT_PATH="+event,
		"GITHUB_OUTPUT="+files["GITHUB_OUTPUT"], "GITHUB_STATE="+files["GITHUB_STATE"],
		"GITHUB_STEP_SUMMARY="+files["GITHUB_STEP_SUMMARY"],
		"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "out"),
		"INPUT_LOCAL-STATE-DIR="+filepath.Join(dir, "state"), "INPUT_TIMEOUT-MINUTES=10",
		"INPUT_COMMENT=false",
	)
	main := runBin(t, env)
	if main.code != 0 {
		t.Fatalf("main exit %d\nstdout:\n%s\nstderr:\n%s", main.code, main.stdout, main.stderr)
	}
	if !strings.Contains(main.stdout, "::group::hello") || !strings.Contains(main.stdout, "::endgroup::") {
		t.Errorf("step output is not in a ::group:: block:\n%s", main.stdout)
	}
	outputs := parseFileCommands(t, files["GITHUB_OUTPUT"])
	if outputs["status"] != "verified" {
		t.Errorf("output status %q, want verified", outputs["status"])
	}
	var row struct {
		Key     string `json:"key"`
		HeadSHA string `json:"head_sha"`
		Cells   map[string]struct{ Status string }
	}
	if err := json.Unmarshal([]byte(outputs["row"]), &row); err != nil {
		t.Fatalf("output row is not JSON: %v: %q", err, outputs["row"])
	}
	if row.Key != "local" || row.Cells["Live cycle"].Status != "pass" {
		t.Errorf("row %+v: want key local and Live cycle pass", row)
	}
	if row.HeadSHA != "0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("row head SHA %q, want the PR head from the event, not GITHUB_SHA", row.HeadSHA)
	}
	summary, _ := os.ReadFile(files["GITHUB_STEP_SUMMARY"])
	if !strings.Contains(string(summary), "| Provider | Preflight | Live cycle | Seccomp probe | Notes |") {
		t.Errorf("job summary lacks the matrix header:\n%s", summary)
	}

	state := parseFileCommands(t, files["GITHUB_STATE"])
	if state["identity"] == "" || state["provider"] != "local" {
		t.Fatalf("state lacks identity/provider: %v", state)
	}
	postEnv := env
	for k, v := range state {
		postEnv = append(postEnv, "STATE_"+k+"="+v)
	}
	postEnv = append(postEnv, "GITHUB_STEP_SUMMARY="+files["GITHUB_STEP_SUMMARY"])
	cmd := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	cmd.Env = postEnv
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("post: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "leak check") {
		t.Errorf("post did not run the leak check:\n%s", out)
	}
	summary, _ = os.ReadFile(files["GITHUB_STEP_SUMMARY"])
	if !strings.Contains(string(summary), "leak check: nothing tagged with this run is left") {
		t.Errorf("post summary lacks the leak check:\n%s", summary)
	}
}

// TestPostAfterKilledMain: the post step tears down from state alone when
// main never got to its own teardown.
func TestPostWithoutStateDoesNothing(t *testing.T) {
	cmd := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	cmd.Env = cmdEnv(t, "GITHUB_ACTIONS=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("post: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "nothing to tear down") {
		t.Errorf("post output %q", out)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yml")
	os.WriteFile(badYAML, []byte("user: mvm\nsteps:\n  - name: a\n    run: x\n    timeout: [1, 2]\n"), 0o644)
	cases := []struct {
		name string
		args []string
		want []string // all must appear in stderr
	}{
		{"unknown provider", []string{"run", "--provider", "nimbus"}, []string{"provider", "nimbus", "local"}},
		{"malformed duration", []string{"run", "--provider", "local", "--ready-timeout", "soon"}, []string{"ready-timeout", "soon"}},
		{"ssh without host", []string{"run", "--provider", "ssh", "--ssh-private-key-file", badYAML, "--insecure-host-key"}, []string{"ssh-host"}},
		{"missing suite", []string{"run", "--provider", "local", "--suite", filepath.Join(dir, "nope.yml")}, []string{"suite", "nope.yml"}},
		{"yaml type error", []string{"run", "--provider", "local", "--suite", badYAML}, []string{"bad.yml", ":5", "timeout"}},
		{"unknown command", []string{"launch"}, []string{"launch"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			tmp := t.TempDir()
			r := runBin(t, cmdEnv(t, "TMPDIR="+tmp), append(tc.args, "--out", out)...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if _, err := os.Stat(filepath.Join(out, "result.json")); err == nil {
				t.Errorf("a run was started: result.json exists")
			}
			if left := processesMentioning(t, tmp); len(left) > 0 {
				t.Errorf("processes started: %v", left)
			}
		})
	}
}
