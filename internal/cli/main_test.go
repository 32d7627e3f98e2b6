package cli_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bin is the mvm-verify binary built once for every test here: the tests
// run it as a user or the runner would, never in-process.
var bin string

func TestMain(m *testing.M) {
	if os.Getenv(seccompOracleEnv) == "1" {
		os.Exit(seccompOracle())
	}
	dir, err := os.MkdirTemp("", "mvm-verify-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "mvm-verify")
	// Built as the Dockerfile builds it, so the tests run the binary the
	// image ships; stripped as it is, the probe binary every leg uploads
	// is a third smaller.
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/tinylabscom/mvm-verify")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build mvm-verify:", err)
		os.Exit(1)
	}
	if err := os.Link(bin, filepath.Join(dir, "mvm-verify-post")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the binary left behind.
type result struct {
	code           int
	stdout, stderr string
	out            string // the --out directory
}

func (r result) file(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(r.out, name))
	if err != nil {
		t.Fatalf("read %s: %v\nstdout:\n%s\nstderr:\n%s", name, err, r.stdout, r.stderr)
	}
	return string(data)
}

func (r result) resultJSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.file(t, "result.json")), &m); err != nil {
		t.Fatalf("result.json: %v", err)
	}
	return m
}

// cmdEnv is a clean environment: nothing from a surrounding Actions run
// leaks into the test, and temp files go where the test can inspect them.
func cmdEnv(t *testing.T, extra ...string) []string {
	// The production endpoints point at a closed loopback port unless the
	// test gives its own (the last value of a variable wins): a test that
	// forgets its fake fails on a refused connection instead of reaching
	// api.github.com or the egress service.
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + t.TempDir(),
		"GITHUB_API_URL=http://127.0.0.1:9/", "MVM_VERIFY_EGRESS_URL=http://127.0.0.1:9/"}
	return append(env, extra...)
}

// runBin runs the binary with args and env, waiting at most a few minutes.
func runBin(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return runBinHow(t, launch{}, env, args...)
}

// launch says how runBinHow starts the binary.
type launch struct {
	dir    string   // working directory; "" for the test's
	prefix []string // a command that execs its arguments, run with the binary's
}

// runBinHow is runBin with the binary started as how says.
func runBinHow(t *testing.T, how launch, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := ""
	for i, a := range args {
		if a == "--out" && i+1 < len(args) {
			out = args[i+1]
		}
	}
	argv := append(append(slices.Clone(how.prefix), bin), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = how.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String(), out: out}
}

// writeSuite writes a suite file into a temp dir and returns its path.
func writeSuite(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "suite.yml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// processesMentioning lists pids whose command line contains s, so a test
// can tell that nothing a run started is still running.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})), s) {
			pids = append(pids, e.Name()+": "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	return pids
}

// running is the binary started in the background, as the runner's main
// step or a user at a terminal: a test waits for it to reach a point, then
// signals or kills it.
type running struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    lockedBuffer // stdout and stderr, readable while it runs
	exited chan error
	// patience is how long waitUntil waits for its event (3 minutes when
	// zero); a test whose event comes late on a loaded machine sets more.
	patience time.Duration
}

func startBin(t *testing.T, env []string, args ...string) *running {
	t.Helper()
	r := &running{t: t, cmd: exec.Command(bin, args...), exited: make(chan error, 1)}
	r.cmd.Env = env
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	return r
}

// waitUntil polls done until it holds; the test fails if the binary exits
// first or it does not hold within r.patience (three minutes by default).
// detail adds to the failure message (e.g. the fake GitHub's comments).
func (r *running) waitUntil(what string, done func() bool, detail func() string) {
	r.t.Helper()
	guard := time.After(cmp.Or(r.patience, 3*time.Minute))
	for !done() {
		select {
		case err := <-r.exited:
			r.t.Fatalf("main ended before %s: %v\n%s", what, err, r.out.String())
		case <-guard:
			_ = r.cmd.Process.Kill()
			<-r.exited
			extra := ""
			if detail != nil {
				extra = "\n" + detail()
			}
			r.t.Fatalf("main never got to %s\n%s%s", what, r.out.String(), extra)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// signal sends sig to the binary.
func (r *running) signal(sig syscall.Signal) {
	r.t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatal(err)
	}
}

// cancelAsRunner cancels the binary as GitHub's runner cancels a step
// (docs.github.com, "Workflow cancellation reference"): SIGINT to the
// step's entry process — for a Docker action that is docker, which passes
// it on to the action — then SIGTERM if it has not exited within 7500 ms,
// and 2500 ms after that the process is killed. Only the binary is killed:
// the host it runs its suite on (here the local provider's sshd, standing
// in for a cloud VM) is not part of the step, and is the post step's to
// find. It returns once the binary is gone, with the signals it sent.
func (r *running) cancelAsRunner() []syscall.Signal {
	r.t.Helper()
	sent := []syscall.Signal{syscall.SIGINT}
	r.signal(syscall.SIGINT)
	for _, next := range []struct {
		after time.Duration
		sig   syscall.Signal
	}{{7500 * time.Millisecond, syscall.SIGTERM}, {2500 * time.Millisecond, syscall.SIGKILL}} {
		select {
		case <-r.exited:
			return sent
		case <-time.After(next.after):
		}
		// It may exit just now: an error here is a process already gone.
		_ = r.cmd.Process.Signal(next.sig)
		sent = append(sent, next.sig)
	}
	<-r.exited
	return sent
}

// kill SIGKILLs the binary, as a job timeout or a cancel's follow-up does,
// and waits until it is gone.
func (r *running) kill() {
	r.t.Helper()
	r.signal(syscall.SIGKILL)
	<-r.exited
}

// openTempDir is a directory under /tmp that every user may enter and
// write (t.TempDir's parent is root's alone), removed after the test.
func openTempDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyBinInto copies the built binary into dir, where a user other than
// root can run it, and returns its path.
func copyBinInto(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mvm-verify")
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
