package cli_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// TestUpThenDown keeps a local host, logs in with the printed ssh command
// (real OpenSSH, pinned host key), then tears it down.
func TestUpThenDown(t *testing.T) {
	testhost.RequireRoot(t)
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatal("OpenSSH client missing (Debian package openssh-client; .ci/run installs it)")
	}
	// The run's TMPDIR, where the kept host's sshd keeps its files: the
	// check that it runs, and that down stopped it, looks for this name.
	tmp := stickyTempDir(t)
	out := filepath.Join(tmp, "out")
	suite := nonRootSuite(t, "steps:\n  - name: noop\n    run: \"true\"\n")
	env := cmdEnv(t)
	env[len(env)-1] = "TMPDIR=" + tmp
	t.Cleanup(func() {
		// A check failing before the test's own down must not leave the
		// kept host's sshd running for the next test.
		if _, err := os.Stat(filepath.Join(out, "host", "host.json")); err == nil {
			runBin(t, env, "down", "--out", out)
		}
	})
	up := runBin(t, env, "up", "--provider", "local", "--suite", suite, "--out", out, "--local-state-dir", filepath.Join(tmp, "state"))
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	// The kept host's client key is the one private key up writes down,
	// 0600 and only there: nothing else up leaves or prints holds it.
	keyFile := filepath.Join(out, "host", "id_ed25519")
	info, err := os.Stat(keyFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the kept host's key %s: %v, mode %v; want 0600", keyFile, err, info)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.Walk(out, func(path string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() || path == keyFile {
			return err
		}
		data, err := os.ReadFile(path)
		for _, l := range append(pemBodyLines(t, keyPEM), "PRIVATE KEY") {
			if strings.Contains(string(data), l) {
				t.Errorf("%s holds the kept host's private key", path)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range append(pemBodyLines(t, keyPEM), "PRIVATE KEY") {
		if strings.Contains(up.stdout+up.stderr, l) {
			t.Fatalf("up printed the kept host's private key")
		}
	}

	// up says where its state is kept: the directory down reads, holding
	// the host's state file.
	st := regexp.MustCompile(`(?m)State: (.+)$`).FindStringSubmatch(up.stdout)
	if st == nil {
		t.Fatalf("up did not say where its state is kept:\n%s", up.stdout)
	}
	if _, err := os.Stat(filepath.Join(st[1], "host.json")); err != nil {
		t.Errorf("up's State: %s holds no host.json: %v\n%s", st[1], err, up.stdout)
	}
	if st[1] != filepath.Dir(keyFile) {
		t.Errorf("up's State: %s, want the kept host's state %s", st[1], filepath.Dir(keyFile))
	}

	m := regexp.MustCompile(`Log in:\s+(ssh .*)`).FindStringSubmatch(up.stdout)
	if m == nil {
		t.Fatalf("up printed no ssh command:\n%s", up.stdout)
	}
	args := strings.Fields(m[1])
	// The command pins the host key up saw, in the state's own
	// known_hosts file: checked strictly, never accepted on first use.
	knownHosts := filepath.Join(out, "host", "known_hosts")
	if !slices.Contains(args, "UserKnownHostsFile="+knownHosts) || !slices.Contains(args, "StrictHostKeyChecking=yes") {
		t.Fatalf("the printed ssh command %q does not check the host key strictly against %s", m[1], knownHosts)
	}
	args = append(args[1:len(args)-1], "-o", "BatchMode=yes", args[len(args)-1], "echo", "logged-in")
	login, err := exec.Command("ssh", args...).CombinedOutput()
	if err != nil || !strings.Contains(string(login), "logged-in") {
		t.Fatalf("ssh with the printed command: %v\n%s", err, login)
	}
	// The same command against a host presenting another key than the
	// file holds is refused: known_hosts now names another key.
	known, err := os.ReadFile(knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	pattern, _, _ := strings.Cut(string(known), " ")
	_, otherKey := testhost.HostKeyPair(t)
	if err := os.WriteFile(knownHosts, []byte(pattern+" "+otherKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused, err := exec.Command("ssh", args...).CombinedOutput()
	if err == nil || strings.Contains(string(refused), "logged-in") || !strings.Contains(string(refused), "Host key verification failed") {
		t.Errorf("ssh with the printed command to a host presenting another key: %v, want host key verification failed\n%s", err, refused)
	}
	if err := os.WriteFile(knownHosts, known, 0o600); err != nil {
		t.Fatal(err)
	}
	if len(processesMentioning(t, tmp)) == 0 {
		t.Fatal("no sshd of the kept host is running")
	}

	workDir := legWorkDir(t, filepath.Join(tmp, "state"))
	if _, err := os.Stat(filepath.Join(workDir, "mvm-verify")); err != nil {
		t.Fatalf("no probe binary on the kept host: %v", err)
	}

	down := runBin(t, env, "down", "--out", out)
	if down.code != 0 {
		t.Fatalf("down exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	if left := processesMentioning(t, tmp); len(left) > 0 {
		t.Errorf("still running after down: %v", left)
	}
	if _, err := os.Lstat(workDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the uploaded probe binary's dir %s is left after down (stat: %v)", workDir, err)
	}
	if _, err := os.Stat(filepath.Join(out, "host", "id_ed25519")); err == nil {
		t.Errorf("down left the client key behind")
	}
}

// TestDownAfterKilledRun: a run at a terminal killed with SIGKILL has no
// post step after it; its state in --out lets `down` tear down what it
// left, but never under a run that is still going.
func TestDownAfterKilledRun(t *testing.T) {
	testhost.RequireRoot(t)
	// Where the run's sshd keeps its files (under run-tmp), found by this
	// name before and after down.
	tmp := stickyTempDir(t)
	out := filepath.Join(tmp, "out")
	token := "mvr-killed-" + filepath.Base(tmp)
	suite := nonRootSuite(t, "steps:\n  - name: long\n    run: echo step-started; exec -a "+token+" sleep 600\n")
	// The run's local-state-dir is its default, under its TMPDIR; down
	// runs with another TMPDIR and must still find it.
	runTmp, downTmp := filepath.Join(tmp, "run-tmp"), filepath.Join(tmp, "down-tmp")
	for _, d := range []string{runTmp, downTmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := cmdEnv(t)
	env[len(env)-1] = "TMPDIR=" + runTmp
	downEnv := cmdEnv(t)
	downEnv[len(downEnv)-1] = "TMPDIR=" + downTmp
	args := []string{"run", "--provider", "local", "--suite", suite, "--out", out}
	main := startBin(t, env, args...)
	t.Cleanup(func() {
		// A failed check must not leave the run's sshd behind for the
		// next test: what down is for, done whether the test got there.
		_ = main.cmd.Process.Kill()
		if _, err := os.Stat(filepath.Join(out, "host", "host.json")); err == nil {
			runBin(t, env, "down", "--out", out)
		}
	})
	main.waitUntil("the step", func() bool { return len(processesMentioning(t, token)) > 0 }, nil)

	// While it runs, its state is not down's to take.
	busy := runBin(t, env, "down", "--out", out)
	if busy.code != 2 || !strings.Contains(busy.stderr, `"out"`) || !strings.Contains(busy.stderr, "still running") {
		t.Fatalf("down under a live run: exit %d, want 2 naming out and the live run\nstdout:\n%s\nstderr:\n%s", busy.code, busy.stdout, busy.stderr)
	}
	if len(processesMentioning(t, token)) == 0 {
		t.Fatal("down under a live run stopped its step")
	}
	// Nor is its --out another run's: that refusal says a leg is running.
	second := runBin(t, env, args...)
	if second.code != 2 || !strings.Contains(second.stderr, `"out"`) || !strings.Contains(second.stderr, "is running one") {
		t.Fatalf("run into a live run's --out: exit %d, want 2 saying a leg is running\nstdout:\n%s\nstderr:\n%s", second.code, second.stdout, second.stderr)
	}

	main.kill()
	if len(processesMentioning(t, token)) == 0 || len(processesMentioning(t, tmp)) == 0 {
		t.Fatalf("nothing of the killed run is left to tear down: the test shows nothing (%v, %v)", processesMentioning(t, token), processesMentioning(t, tmp))
	}
	// A second leg in the same --out would lose the first one's state.
	again := runBin(t, env, args...)
	if again.code != 2 || !strings.Contains(again.stderr, `"out"`) || !strings.Contains(again.stderr, "mvm-verify down --out") {
		t.Fatalf("run into the killed run's --out: exit %d, want 2 naming out and down\nstdout:\n%s\nstderr:\n%s", again.code, again.stdout, again.stderr)
	}

	// The state says local: down for another provider would tear down
	// nothing, and is refused.
	wrong := runBin(t, downEnv, "down", "--out", out, "--provider", "aws")
	if wrong.code != 2 || !strings.Contains(wrong.stderr, `input "provider"`) || !strings.Contains(wrong.stderr, "nothing, or local") {
		t.Fatalf("down --provider aws of a local leg: exit %d, want 2 naming provider\nstdout:\n%s\nstderr:\n%s", wrong.code, wrong.stdout, wrong.stderr)
	}
	down := runBin(t, downEnv, "down", "--out", out)
	if down.code != 0 {
		t.Fatalf("down exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	if left := append(processesMentioning(t, token), processesMentioning(t, tmp)...); len(left) > 0 {
		t.Errorf("still running after down: %v", left)
	}
	if _, err := os.Stat(filepath.Join(out, "host")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("down left the leg's state behind (stat: %v)", err)
	}
	// The killed run wrote no result; down writes how the leg ended.
	res := down.resultJSON(t)
	if ended, _ := res["ended"].(map[string]any); res["outcome"] != "error" || ended["live"] != "fail" ||
		ended["note"] != "the run ended without a result; torn down by down" {
		t.Errorf("result.json after down: outcome %v, ended %v; want error, live fail and the note", res["outcome"], res["ended"])
	}
	// --out is free again.
	if r := runBin(t, env, "down", "--out", out); r.code != 2 {
		t.Errorf("a second down: exit %d, want 2 (nothing to tear down)", r.code)
	}
}

// TestRunLeavesNoStateWhenClean: a run that tore down cleanly leaves no
// state for down, so the same --out serves the next run.
func TestRunLeavesNoStateWhenClean(t *testing.T) {
	testhost.RequireRoot(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	suite := nonRootSuite(t, "steps:\n  - name: noop\n    run: \"true\"\n")
	env := cmdEnv(t)
	env[len(env)-1] = "TMPDIR=" + tmp
	for i := range 2 {
		r := runBin(t, env, "run", "--provider", "local", "--suite", suite, "--out", out, "--local-state-dir", filepath.Join(tmp, "state"))
		if r.code != 0 {
			t.Fatalf("run %d: exit %d\nstdout:\n%s\nstderr:\n%s", i, r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(out, "host")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("run %d left state in %s (stat: %v)", i, out, err)
		}
	}
}

// TestDownEndsTheResult: up leaves a "host up" result in --out; once down
// has torn the host down, result.json and summary.md say how the leg
// ended, as its commit status does — error, live cycle not run, "host
// kept by up … the suite was not run" — with down's teardown among the
// phases, not an up whose host is gone.
func TestDownEndsTheResult(t *testing.T) {
	testhost.RequireRoot(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	suite := nonRootSuite(t, "steps:\n  - name: noop\n    run: \"true\"\n")
	env := cmdEnv(t)
	env[len(env)-1] = "TMPDIR=" + tmp
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(out, "host", "host.json")); err == nil {
			runBin(t, env, "down", "--out", out)
		}
	})
	up := runBin(t, env, "up", "--provider", "local", "--suite", suite, "--out", out, "--local-state-dir", filepath.Join(tmp, "state"))
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	// What up wrote, so the checks below see down change it.
	if res := up.resultJSON(t); res["outcome"] != "up" {
		t.Fatalf("up's result.json outcome = %v, want up", res["outcome"])
	}
	if md := up.file(t, "summary.md"); !strings.Contains(md, "⏳ host up") {
		t.Fatalf("up's summary.md does not say the host is up:\n%s", md)
	}

	down := runBin(t, env, "down", "--out", out)
	if down.code != 0 {
		t.Fatalf("down exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	const note = "host kept by up, torn down by down; the suite was not run"
	res := down.resultJSON(t)
	if res["outcome"] != "error" || res["kept"] != nil {
		t.Errorf("result.json after down: outcome %v, kept %v; want error and no kept host", res["outcome"], res["kept"])
	}
	if ended, _ := res["ended"].(map[string]any); ended["note"] != note || ended["live"] != "not-run" {
		t.Errorf("result.json after down: ended = %v, want note %q and live not-run", res["ended"], note)
	}
	var names []string
	var teardown map[string]any
	phases, _ := res["phases"].([]any)
	for _, p := range phases {
		ph, _ := p.(map[string]any)
		names = append(names, fmt.Sprint(ph["name"]))
		if ph["name"] == "teardown" {
			teardown = ph
		}
	}
	if teardown == nil || teardown["status"] != "pass" {
		t.Errorf("result.json phases after down: %v; want up's and down's passed teardown (teardown: %v)", names, teardown)
	}
	if !slices.Contains(names, "preflight") || !slices.Contains(names, "ready") {
		t.Errorf("result.json phases after down: %v; want up's phases kept", names)
	}

	md := down.file(t, "summary.md")
	// Preflight passed under up; the live cycle and the seccomp probe
	// were not run; the note is the commit status's.
	if row := "| ✅ | — | — | " + note + " |"; !strings.Contains(md, row) {
		t.Errorf("summary.md after down lacks the row %q:\n%s", row, md)
	}
	if strings.Contains(md, "host up") || strings.Contains(md, "⏳") {
		t.Errorf("summary.md after down still reads as a host up:\n%s", md)
	}
	if !strings.Contains(md, "| teardown | ✅ |") {
		t.Errorf("summary.md after down has no teardown phase:\n%s", md)
	}
}
