package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// secretMarkers are strings no artifact of a run may hold whatever the
// keys: PEM armour of any private key (the per-run client key lives only in
// memory, so its armour is all a test can look for) and the user data.
var secretMarkers = []string{"PRIVATE KEY", "#cloud-config", "ed25519_private"}

// pemBodyLines are the base64 body lines of a PEM block, each long enough
// that finding one in an artifact means the key leaked.
func pemBodyLines(t *testing.T, pemData []byte) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(string(pemData), "\n") {
		if len(l) > 20 && !strings.HasPrefix(l, "-----") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatal("the key has no body lines to look for")
	}
	return lines
}

// checkSecretsStayOut reads every artifact of a run — its stdout and
// stderr, and the files and directories (walked) in paths — and fails on
// any of secrets in any of them. ::add-mask:: lines are how the runner
// learns what to hide, so they are dropped from stdout only, where the
// runner reads them; in a file (the job summary, the outputs, result.json)
// a mask command is not a command but a leak, and fails the test itself.
func checkSecretsStayOut(t *testing.T, stdout, stderr string, paths []string, secrets []string) {
	t.Helper()
	var kept []string
	for _, l := range strings.Split(stdout, "\n") {
		if !strings.HasPrefix(l, "::add-mask::") {
			kept = append(kept, l)
		}
	}
	artifacts := map[string]string{"stdout": strings.Join(kept, "\n"), "stderr": stderr}
	for _, root := range paths {
		err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if info.Mode().IsRegular() {
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				artifacts[path] = string(data)
			}
			return nil
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("read the run's artifacts under %s: %v", root, err)
		}
	}
	for _, want := range []string{"summary.md", "result.json"} {
		found := false
		for name := range artifacts {
			found = found || filepath.Base(name) == want
		}
		if !found {
			t.Fatalf("the run left no %s to search; artifacts: %d", want, len(artifacts))
		}
	}
	for name, text := range artifacts {
		if name != "stdout" && name != "stderr" && strings.Contains(text, "::add-mask::") {
			t.Errorf("%s holds an ::add-mask:: command, which only stdout may carry", name)
		}
		for _, bad := range secrets {
			if strings.Contains(text, bad) {
				// Named by its start only: the failure log is an artifact too.
				t.Errorf("%s contains secret material %q…", name, bad[:min(len(bad), 12)])
			}
		}
	}
}

// TestSecretsStayOutLocal runs whole local cycles as the runner runs the
// action — one passing, one with a failing step, whose log and notes reach
// the summary — and checks that the run's own keys show up in nothing it
// writes: the per-run host private key (read from the local sshd's host key
// file while the suite runs: the run deletes it at teardown) and the armour
// of any private key, which covers the client key that never leaves memory.
// The suite's first step prints that host key and the github-token input
// itself, as a careless or hostile step would, so the run has to mask what
// it is given, not only avoid printing it.
func TestSecretsStayOutLocal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failing bool
	}{{"passing", false}, {"failing step", true}} {
		t.Run(tc.name, func(t *testing.T) { secretsStayOutLocal(t, tc.failing) })
	}
}

func secretsStayOutLocal(t *testing.T, failing bool) {
	testhost.RequireRoot(t)
	dir := t.TempDir()
	runner := providertest.NewRunner(t, "")
	// The token is a secret input the run really uses: it reports to a
	// fake GitHub, whose comments and statuses are searched too.
	const repo, head = "o/r", "0123456789abcdef0123456789abcdef01234567"
	token := "ghs_" + strings.Repeat("S3cr3tT0k3n", 3)
	gh := fakegh.New()
	t.Cleanup(gh.Close)
	gh.AddToken(token, fakegh.Token{})
	gh.SetPR(repo, fakegh.PR{Number: 7, HeadSHA: head})
	event := filepath.Join(dir, "event.json")
	if err := os.WriteFile(event, []byte(`{"pull_request":{"number":7,"head":{"sha":"`+head+`","repo":{"full_name":"o/r"}},"base":{"repo":{"full_name":"o/r"}}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// The suite holds at its first step until the test has read the host
	// key, so the key is read while the run is in progress, not by luck.
	// The test opens the gate by writing the key file's path into it; the
	// step then prints the key's body and the token between two markers.
	// (The armour lines are not secret and not masked; the body is the key.)
	// The gate is where the suite's user, not root, can look; the key
	// file is root's, which the step reads through its passwordless sudo.
	gate := filepath.Join(openTempDir(t, "mvm-cli-shared-"), "gate")
	last := "echo hi from the host"
	if failing {
		last = "echo boom >&2; ls -la /; exit 3"
	}
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n"+
		"  - name: hold\n    run: |\n"+
		"      while [ ! -s "+gate+" ]; do sleep 0.05; done\n"+
		"      echo 'leak starts'\n"+
		"      sudo -n grep -v '^-----' \"$(cat "+gate+")\"\n"+
		"      echo "+token+"\n"+
		"      echo 'leak ends'\n"+
		"  - name: last\n    run: "+last+"\n    column: Live cycle\n")
	out, stateDir := filepath.Join(dir, "out"), filepath.Join(dir, "state")
	env := cmdEnv(t, append(runner.Env(), "GITHUB_ACTIONS=true", "GITHUB_RUN_ID=1", "GITHUB_RUN_ATTEMPT=1", "MVM_VERIFY_POLL_INTERVAL=50ms",
		"GITHUB_API_URL="+gh.URL(), "GITHUB_REPOSITORY="+repo, "GITHUB_SHA=ffffffffffffffffffffffffffffffffffffffff",
		"GITHUB_EVENT_NAME=pull_request", "GITHUB_EVENT_PATH="+event,
		"INPUT_PROVIDER=local", "INPUT_SUITE="+suite, "INPUT_OUT="+out, "INPUT_LOCAL-STATE-DIR="+stateDir,
		"INPUT_TIMEOUT-MINUTES=10", "INPUT_GITHUB-TOKEN="+token)...)

	cmd := exec.Command(bin)
	cmd.Env = env
	var stdout, stderr bytes.Buffer // read only after the run exited
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A step left running holds the output pipes open after the run ends.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// done is closed when the run has exited, with its error in runErr.
	done := make(chan struct{})
	var runErr error
	go func() { runErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			// The test failed while the run was held at its gate:
			// SIGTERM, so the run tears down what it made.
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				<-done
			}
		}
	})

	var hostKeyFile string
	var hostKey []byte
	guard := time.After(3 * time.Minute)
	for hostKey == nil {
		select {
		case <-done:
			t.Fatalf("the run ended before its host key could be read: %v\nstdout:\n%s\nstderr:\n%s", runErr, stdout.String(), stderr.String())
		case <-guard:
			t.Fatal("the run's sshd host key never appeared")
		case <-time.After(50 * time.Millisecond):
			hostKeyFile, hostKey = localHostKey(stateDir)
		}
	}
	if !bytes.HasPrefix(hostKey, []byte("-----BEGIN OPENSSH PRIVATE KEY-----")) {
		t.Fatal("the local sshd's host key file does not hold an OpenSSH private key")
	}
	// Renamed into place, so the step never reads a half-written path.
	if err := os.WriteFile(gate+".new", []byte(hostKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(gate+".new", gate); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("the run did not end after the gate opened")
	}
	err := runErr
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	want := 0
	if failing {
		want = 1
	}
	if code != want {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, want, stdout.String(), stderr.String())
	}
	sum := runner.Summary(t)
	if failing && !strings.Contains(sum, "boom") {
		t.Errorf("the job summary lacks the failing step's log, so the search covered less than a failure shows:\n%s", sum)
	}
	body := pemBodyLines(t, hostKey)
	// The step did print the key and the token: between its markers its
	// log holds a masked line for each, so the search below is not
	// searching output that never held a secret.
	holdLog := readFile(t, filepath.Join(out, "logs", "01-hold.log"))
	_, leaked, _ := strings.Cut(holdLog, "leak starts\n")
	leaked, _, ended := strings.Cut(leaked, "leak ends")
	if masked := strings.Count(leaked, "***"); !ended || masked < len(body)+1 {
		// Not the log itself: unmasked, it holds the key, and the failure
		// log is an artifact too.
		t.Errorf("the step's log shows %d masked lines between its markers (markers found: %v), want one per key body line and the token (%d)",
			masked, ended, len(body)+1)
	}
	// What the run sent GitHub is an artifact too.
	var sent strings.Builder
	for _, c := range gh.Comments(repo, 7) {
		sent.WriteString(c.Body + "\n")
	}
	for _, st := range gh.Statuses(repo, head) {
		sent.WriteString(st.Description + "\n" + st.TargetURL + "\n")
	}
	if sent.Len() == 0 {
		t.Error("the run sent GitHub nothing, so its token was never used")
	}
	sentFile := filepath.Join(dir, "sent-to-github")
	if err := os.WriteFile(sentFile, []byte(sent.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	checkSecretsStayOut(t, stdout.String(), stderr.String(),
		[]string{runner.OutputFile, runner.StateFile, runner.SummaryFile, out, stateDir, sentFile},
		append(append([]string{token}, secretMarkers...), body...))
}

// localHostKey is the file holding the host private key the local
// provider's sshd for the one leg in stateDir was given (the run's per-run
// host key) and that key; nil until its sshd is recorded and its key file
// written.
func localHostKey(stateDir string) (string, []byte) {
	states, _ := filepath.Glob(filepath.Join(stateDir, "mvmv-*.json"))
	if len(states) != 1 {
		return "", nil
	}
	data, err := os.ReadFile(states[0])
	if err != nil {
		return "", nil
	}
	var st struct{ Changes []struct{ Kind, Dir string } }
	if json.Unmarshal(data, &st) != nil {
		return "", nil // read while being written
	}
	for _, c := range st.Changes {
		if c.Kind == "sshd" && c.Dir != "" {
			path := filepath.Join(c.Dir, "host_ed25519")
			if key, err := os.ReadFile(path); err == nil && len(key) > 0 {
				return path, key
			}
		}
	}
	return "", nil
}
