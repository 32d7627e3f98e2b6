package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
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

// parseFileCommands reads a GITHUB_OUTPUT / GITHUB_STATE file as the
// runner does (providertest.ParseFileCommands); a file the runner would
// refuse fails the test.
func parseFileCommands(t *testing.T, path string) map[string]string {
	t.Helper()
	return providertest.ReadFileCommands(t, path)
}

// runnerInputs is what GitHub's runner passes a Docker action: an INPUT_
// variable for every input action.yml declares — the workflow's value, else
// the declared default with its expression evaluated — named INPUT_ plus the
// name in upper case, hyphens kept.
func runnerInputs(t *testing.T, with map[string]string, expr map[string]string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs map[string]struct {
			Default string `yaml:"default"`
		} `yaml:"inputs"`
	}
	if err := yaml.Unmarshal(data, &action); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	var env []string
	for name, in := range action.Inputs {
		v, ok := with[name]
		if !ok {
			v = in.Default
			for e, val := range expr {
				v = strings.ReplaceAll(v, e, val)
			}
			if strings.Contains(v, "${{") {
				t.Fatalf("input %s: default %q has an expression this test does not evaluate", name, v)
			}
		}
		env = append(env, "INPUT_"+strings.ToUpper(strings.ReplaceAll(name, " ", "_"))+"="+v)
	}
	for name := range with {
		if _, ok := action.Inputs[name]; !ok {
			t.Fatalf("with: %s is not an input of action.yml", name)
		}
	}
	return env
}

// runnerPostEnv is the post step's environment as GitHub's runner builds
// it (providertest.PostStep): main's environment, but every step gets fresh
// GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and GITHUB_STATE files, and what main
// saved in its state file reaches post only as STATE_* variables. It
// returns the env and post's files by variable name.
func runnerPostEnv(t *testing.T, mainEnv []string, state map[string]string) ([]string, map[string]string) {
	t.Helper()
	env, post := providertest.PostStep(t, mainEnv, state)
	return env, post.Files()
}

// TestRunnerContract runs the binary as GitHub's runner runs a Docker
// action: main with every input of action.yml and the file commands, then
// post with STATE_* read back from the state file.
func TestRunnerContract(t *testing.T) {
	testhost.RequireRoot(t)
	const repo, head, token = "o/r", "0123456789abcdef0123456789abcdef01234567", "ghs_runnertoken"
	gh := fakegh.New()
	t.Cleanup(gh.Close)
	gh.AddToken(token, fakegh.Token{Login: "github-actions[bot]"})
	gh.SetPR(repo, fakegh.PR{Number: 7, HeadSHA: head, HeadRepo: repo, BaseRepo: repo})

	dir := t.TempDir()
	runner := providertest.NewRunner(t, "")
	event := filepath.Join(dir, "event.json")
	if err := os.WriteFile(event, []byte(`{"pull_request":{"number":7,"head":{"sha":"`+head+`","repo":{"full_name":"o/r"}},"base":{"repo":{"full_name":"o/r"}}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	inputs := runnerInputs(t, map[string]string{
		"provider": "local", "suite": suite, "out": filepath.Join(dir, "out"),
		"local-state-dir": filepath.Join(dir, "state"), "timeout-minutes": "10",
	}, map[string]string{
		"${{ github.token }}":                                     token,
		"${{ github.server_url }}":                                "https://github.example",
		"${{ github.repository }}":                                repo,
		"${{ github.event.pull_request.head.sha || github.sha }}": head,
	})
	env := cmdEnv(t, append(append(inputs, runner.Env()...),
		"GITHUB_ACTIONS=true", "GITHUB_API_URL="+gh.URL(), "GITHUB_SERVER_URL=https://github.example",
		"GITHUB_REPOSITORY="+repo, "GITHUB_RUN_ID=4242", "GITHUB_RUN_ATTEMPT=1", "GITHUB_JOB=verify",
		"GITHUB_SHA=ffffffffffffffffffffffffffffffffffffffff",
		"GITHUB_EVENT_NAME=pull_request", "GITHUB_EVENT_PATH="+event, "MVM_VERIFY_POLL_INTERVAL=50ms",
	)...)
	main := runBin(t, env)
	if main.code != 0 {
		t.Fatalf("main exit %d\nstdout:\n%s\nstderr:\n%s", main.code, main.stdout, main.stderr)
	}
	if !strings.Contains(main.stdout, "::group::hello") || !strings.Contains(main.stdout, "::endgroup::") {
		t.Errorf("step output is not in a ::group:: block:\n%s", main.stdout)
	}
	outputs := runner.Outputs(t)
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
	// The lane auto resolves to here decides the row's key and whether a
	// passing suite makes Live cycle pass or n/a (no KVM to run it on).
	lane := thisHostLane()
	if row.Key != lane.key("local") || row.Cells["Live cycle"].Status != string(lane.liveStatus) {
		t.Errorf("row %+v: want key %s and Live cycle %s (%s)", row, lane.key("local"), lane.liveStatus, lane.why)
	}
	if row.HeadSHA != "0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("row head SHA %q, want the PR head from the event, not GITHUB_SHA", row.HeadSHA)
	}
	summary := runner.Summary(t)
	if !strings.Contains(summary, "| Provider | Preflight | Live cycle | Seccomp probe | Notes |") {
		t.Errorf("job summary lacks the matrix header:\n%s", summary)
	}
	// summary-path and result-path name the files the run wrote in out:
	// the summary is the one in the job summary, the result says verified.
	if want := filepath.Join(dir, "out", "summary.md"); outputs["summary-path"] != want {
		t.Errorf("output summary-path %q, want %q", outputs["summary-path"], want)
	} else if md := readFile(t, want); !strings.Contains(md, "| Provider | Preflight | Live cycle | Seccomp probe | Notes |") ||
		!strings.Contains(summary, md) {
		t.Errorf("summary-path's file is not the leg's summary as in the job summary:\n%s", md)
	}
	if want := filepath.Join(dir, "out", "result.json"); outputs["result-path"] != want {
		t.Errorf("output result-path %q, want %q", outputs["result-path"], want)
	} else {
		var res struct {
			Outcome, Provider string
			Steps             []struct{ Name, Status string }
		}
		if err := json.Unmarshal([]byte(readFile(t, want)), &res); err != nil || res.Outcome != "verified" || res.Provider != "local" {
			t.Errorf("result-path's file: %v, %+v; want outcome verified for provider local", err, res)
		}
		// The suite's step passed on either lane.
		if len(res.Steps) != 1 || res.Steps[0].Name != "hello" || res.Steps[0].Status != "pass" {
			t.Errorf("result-path's steps %+v, want the one step hello passed", res.Steps)
		}
	}
	// With the defaults the runner passes (the job's token, comment: true),
	// the leg reports on GitHub.
	if st := gh.Statuses(repo, head); len(st) == 0 || st[len(st)-1].State != "success" {
		t.Errorf("statuses on the head SHA: %+v, want the last one success", st)
	}
	if c := gh.Comments(repo, 7); len(c) != 1 {
		t.Errorf("%d PR comments, want the one sticky matrix comment", len(c))
	}
	for _, o := range []string{outputs["row"], summary} {
		if strings.Contains(o, token) {
			t.Error("the token leaked into an output or the summary")
		}
	}

	state := runner.State(t)
	if state["identity"] == "" || state["provider"] != "local" {
		t.Fatalf("state lacks identity/provider: %v", state)
	}
	postEnv, post := runner.Post(t, env)
	cmd := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	cmd.Env = postEnv
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("post: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "leak check") {
		t.Errorf("post did not run the leak check:\n%s", out)
	}
	if sum := post.Summary(t); !strings.Contains(sum, "leak check: nothing tagged with this run is left") {
		t.Errorf("post's job summary lacks the leak check:\n%s", sum)
	}
	// Main's files are the runner's by now: post writes only its own.
	if after := runner.Summary(t); after != summary {
		t.Errorf("post wrote into main's job summary file:\n%s", strings.TrimPrefix(after, summary))
	}
}

// TestPostWithoutStateDoesNothing: a post step whose main saved no state
// (bad input, or killed before provisioning) has nothing to tear down.
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

// In Actions, bad input also sets the status output to error and says what
// was wrong in the job summary.
func TestBadInputInActions(t *testing.T) {
	runner := providertest.NewRunner(t, "")
	r := runBin(t, cmdEnv(t, append(runner.Env(), "GITHUB_ACTIONS=true",
		"INPUT_PROVIDER=nimbus", "INPUT_OUT="+filepath.Join(t.TempDir(), "out"))...))
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got := runner.Outputs(t)["status"]; got != "error" {
		t.Errorf("status output %q, want error", got)
	}
	if st := runner.State(t); len(st) > 0 {
		t.Errorf("state saved for a run refused at its input: %q", st)
	}
	sum := runner.Summary(t)
	if !strings.Contains(sum, "bad input") || !strings.Contains(sum, `input "provider": got "nimbus"`) {
		t.Errorf("job summary does not say what was wrong:\n%s", sum)
	}
	if !strings.Contains(r.stdout, "::error") {
		t.Errorf("no error annotation:\n%s", r.stdout)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yml")
	os.WriteFile(badYAML, []byte("user: mvm\nsteps:\n  - name: a\n    run: x\n    timeout: [1, 2]\n"), 0o644)
	keyPEM, _ := testhost.ClientKeyPEM(t)
	keyFile := filepath.Join(dir, "id")
	os.WriteFile(keyFile, keyPEM, 0o600)
	const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGHvPNOe5+l0KHl3rO6Ma5dNd8AGBEvghAnCI/9+37F4"
	twoDocs := filepath.Join(dir, "two.yml")
	os.WriteFile(twoDocs, []byte(quickSuite+"---\nuser: v\n"), 0o644)
	good := filepath.Join(dir, "good.yml")
	os.WriteFile(good, []byte(quickSuite), 0o644)
	cases := []struct {
		name string
		args []string
		want []string // all must appear in stderr
	}{
		{"unknown provider", []string{"run", "--provider", "nimbus"},
			[]string{`input "provider": got "nimbus", expected one of aws, local, ssh`}},
		{"malformed duration", []string{"run", "--provider", "local", "--suite", good, "--ready-timeout", "soon"},
			[]string{`input "ready-timeout": got "soon", expected a positive duration like 90m`}},
		{"ssh without host", []string{"run", "--provider", "ssh", "--ssh-private-key-file", badYAML, "--insecure-host-key"},
			[]string{`input "ssh-host": missing, expected the host name or IP address`}},
		{"host key given and insecure-host-key", []string{"run", "--provider", "ssh", "--ssh-host", "192.0.2.1", "--ssh-private-key-file", badYAML,
			"--ssh-known-host", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGHvPNOe5+l0KHl3rO6Ma5dNd8AGBEvghAnCI/9+37F4", "--insecure-host-key"},
			[]string{`input "insecure-host-key": got "true", expected false when ssh-known-host is given`}},
		// A known_hosts line for another host would pin whatever key it
		// holds to ssh-host: the host part must select ssh-host:ssh-port.
		{"known host line for another host", []string{"run", "--provider", "ssh", "--ssh-host", "192.0.2.1", "--ssh-private-key-file", keyFile,
			"--ssh-known-host", "other.example " + hostKey, "--ready-timeout", "1s"},
			[]string{"ssh-known-host", `"other.example"`, "192.0.2.1", "expected a known_hosts line whose hosts include 192.0.2.1"}},
		{"known host line for another port", []string{"run", "--provider", "ssh", "--ssh-host", "192.0.2.1", "--ssh-port", "2222", "--ssh-private-key-file", keyFile,
			"--ssh-known-host", "192.0.2.1 " + hostKey, "--ready-timeout", "1s"},
			[]string{"ssh-known-host", `"192.0.2.1"`, "port 2222", "[192.0.2.1]:2222"}},
		{"missing suite", []string{"run", "--provider", "local", "--suite", filepath.Join(dir, "nope.yml")},
			[]string{`input "suite": got "` + filepath.Join(dir, "nope.yml") + `", expected a readable suite YAML file`}},
		{"yaml type error", []string{"run", "--provider", "local", "--suite", badYAML},
			[]string{"bad.yml:5", "timeout", "got a list", "expected a duration"}},
		{"suite of two YAML documents", []string{"run", "--provider", "local", "--suite", twoDocs},
			[]string{twoDocs + ":5: a second YAML document, expected one document per file"}},
		{"local state dir that cannot be made", []string{"run", "--provider", "local", "--suite", good, "--local-state-dir", "/proc/nope"},
			[]string{`input "local-state-dir": got "/proc/nope", expected an absolute path to a directory owned by you, not writable by group or others and not a symlink`}},
		{"candidates that do not parse", []string{"run", "--provider", "aws", "--candidates", "[oops"},
			[]string{`input "candidates": got "[oops", expected a list like [{region: us-east-1, zone: us-east-1a, type: c8i.large, market: spot}]`}},
		{"unknown command", []string{"launch"}, []string{`unknown command "launch": expected one of run, up, down, report`}},
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
			if strings.Contains(r.stderr, "AAAAC3NzaC1lZDI1NTE5") && !strings.Contains(tc.name, "insecure") {
				t.Errorf("stderr quotes the host key, not just the host part:\n%s", r.stderr)
			}
			if _, err := os.Stat(filepath.Join(out, "result.json")); err == nil {
				t.Errorf("a run was started: result.json exists")
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("--out %s was created for a run refused at its input", out)
			}
			if left := processesMentioning(t, tmp); len(left) > 0 {
				t.Errorf("processes started: %v", left)
			}
		})
	}
}
