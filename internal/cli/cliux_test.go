package cli_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// closedURL is a loopback URL nothing listens on: a GitHub API that
// cannot be reached, refused at once.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// report at a terminal has no job summary: its notices say where the
// matrix is instead (matrix.md in --out), it prints the paths of
// matrix.md and matrix.json as run prints summary.md's and result.json's,
// and when GitHub was to be read and was not, it says so, since the exit
// status (0: reporting never fails) does not. Every notice is said once,
// not repeated by a log record in another format.
func TestReportAtATerminalSaysWhereTheMatrixIs(t *testing.T) {
	for _, tc := range []struct {
		name, notice string
		env          []string
	}{
		{"no token", "no GitHub token, so the matrix is written to %s only", nil},
		{"GitHub unreachable", "GitHub reporting incomplete", []string{"GITHUB_TOKEN=test-token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			r := runBin(t, cmdEnv(t, tc.env...), "report", "--out", out, "--github-repository", "foo/bar",
				"--pull-request", "1", "--github-api-url", closedURL(t), "--expect", "aws")
			if r.code != 0 {
				t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			all := r.stdout + r.stderr
			md := filepath.Join(out, "matrix.md")
			notice := strings.Replace(tc.notice, "%s", md, 1)
			if n := strings.Count(all, notice); n != 1 {
				t.Errorf("the notice %q is said %d times, want once\nstdout:\n%s\nstderr:\n%s", notice, n, r.stdout, r.stderr)
			}
			for _, bad := range []string{"job summary", "level=", "msg=", "GitHub reporting degraded"} {
				if strings.Contains(all, bad) {
					t.Errorf("%q at a terminal\nstdout:\n%s\nstderr:\n%s", bad, r.stdout, r.stderr)
				}
			}
			if want := "nothing was read from GitHub (foo/bar), so this matrix holds only the rows expect names, each ? (no result)\n"; !strings.Contains(r.stdout, want) {
				t.Errorf("stdout does not say that nothing was read (%q)\n%s", want, r.stdout)
			}
			if want := "matrix: " + md + "\n        " + filepath.Join(out, "matrix.json") + "\n"; !strings.Contains(r.stdout, want) {
				t.Errorf("stdout does not name the files (%q)\n%s", want, r.stdout)
			}
			for _, name := range []string{"matrix.md", "matrix.json"} {
				if _, err := os.Stat(filepath.Join(out, name)); err != nil {
					t.Errorf("the printed path: %v", err)
				}
			}
		})
	}

	// With debugging on, the reporting's own record is there too, in the
	// same voice as the rest.
	out := filepath.Join(t.TempDir(), "out")
	r := runBin(t, cmdEnv(t, "GITHUB_TOKEN=test-token", "MVM_VERIFY_DEBUG=1"), "report", "--out", out,
		"--github-repository", "foo/bar", "--pull-request", "1", "--github-api-url", closedURL(t))
	if r.code != 0 || !strings.Contains(r.stderr, "mvm-verify: info: GitHub reporting degraded error=") {
		t.Errorf("exit %d with MVM_VERIFY_DEBUG=1, want 0 and the reporting's record\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// down reads --out and creates nothing: a file there is refused without
// the promise, meant for run and up, that the directory is created.
func TestDownOutFileIsNoDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runBin(t, cmdEnv(t), "down", "--out", file)
	if r.code != 2 || !strings.Contains(r.stderr, `input "out": got "`+file+`", expected a directory, not a file`) {
		t.Errorf("exit %d, want 2 and the input named with what it expects\nstderr:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "created") {
		t.Errorf("down's error speaks of creating the directory:\n%s", r.stderr)
	}
}

// up run with a relative --out prints a down command that works from any
// directory: the absolute path, quoted for the shell (it has a space), as
// the state path printed beside it is absolute. The command is run as
// printed (from another directory) to tear the host down.
func TestUpPrintsAnAbsoluteDownCommand(t *testing.T) {
	testhost.RequireRoot(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "rel out")
	suite := nonRootSuite(t, "steps:\n  - name: noop\n    run: \"true\"\n")
	env := cmdEnv(t)
	env[len(env)-1] = "TMPDIR=" + tmp
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(out, "host", "host.json")); err == nil {
			runBin(t, env, "down", "--out", out)
		}
	})
	up := runBinHow(t, launch{dir: tmp}, env, "up", "--provider", "local", "--suite", suite, "--out", "rel out",
		"--local-state-dir", filepath.Join(tmp, "state"))
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	want := "Tear down: mvm-verify down --out '" + out + "'\n"
	if !strings.Contains(up.stdout, want) {
		t.Fatalf("up printed no %q\n%s", want, up.stdout)
	}
	// The printed login command works as pasted into a shell, the space
	// in its paths included.
	login := ""
	for _, l := range strings.Split(up.stdout, "\n") {
		if c, ok := strings.CutPrefix(l, "Log in:"); ok {
			login = strings.TrimSpace(c)
		}
	}
	if login == "" {
		t.Fatalf("up printed no login command\n%s", up.stdout)
	}
	if b, err := exec.Command("sh", "-c", login+" -o BatchMode=yes echo logged-in").CombinedOutput(); err != nil || !strings.Contains(string(b), "logged-in") {
		t.Errorf("the printed login command %q fails in sh: %v\n%s", login, err, b)
	}
	// So does the down command a second up into the same --out names.
	again := runBinHow(t, launch{dir: t.TempDir()}, env, "up", "--provider", "local", "--suite", suite, "--out", out,
		"--local-state-dir", filepath.Join(tmp, "state"))
	if again.code != 2 || !strings.Contains(again.stderr, "run `mvm-verify down --out '"+out+"'` first") {
		t.Errorf("a second up into the kept host's --out: exit %d, want 2 naming the quoted down command\n%s", again.code, again.stderr)
	}
	down := runBinHow(t, launch{dir: t.TempDir()}, env, "down", "--out", out)
	if down.code != 0 {
		t.Errorf("the printed down, run elsewhere: exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
}

// The row run prints at a terminal is plain text, while summary.md keeps
// the markdown escapes GitHub's renderer needs.
func TestTerminalRowIsPlainText(t *testing.T) {
	testhost.RequireRoot(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	suite := nonRootSuite(t, "steps:\n  - name: \"check a>b | c #12\"\n    run: exit 3\n    column: Live cycle\n")
	env := cmdEnv(t)
	env[len(env)-1] = "TMPDIR=" + tmp
	r := runBin(t, env, "run", "--provider", "local", "--suite", suite, "--out", out, "--local-state-dir", filepath.Join(tmp, "state"))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (the step fails)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	row, prefix := "", thisHostLane().rowPrefix("local")
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, prefix) {
			row = l
		}
	}
	if !strings.HasSuffix(row, ", check a>b | c #12: exit status 3 |") {
		t.Errorf("printed row %q, want its notes as plain text\n%s", row, r.stdout)
	}
	if md := r.file(t, "summary.md"); !strings.Contains(md, `check a&gt;b \| c #&#8203;12: exit status 3`) {
		t.Errorf("summary.md lost its escapes:\n%s", md)
	}
}

// A cloud leg at a terminal shows the provider's progress where it
// happens, in the progress's own voice: the launched instance (the wait
// for it to run follows) is a line of the provision phase, not a log
// record with a timestamp on stderr.
func TestAWSLaunchIsAProgressLine(t *testing.T) {
	srv := awsFake(t, "")
	tmp := t.TempDir()
	suite := nonRootSuite(t, "steps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	env := cmdEnv(t, append([]string{"AWS_ACCESS_KEY_ID=AKIDFAKE", "AWS_SECRET_ACCESS_KEY=fake-secret",
		"MVM_VERIFY_POLL_INTERVAL=100ms"}, awsIsolated(t)...)...)
	r := runBin(t, env, append([]string{"run", "--provider", "aws", "--aws-endpoint", srv.URL, "--region", "us-east-1",
		"--ssh-source-cidr", "127.0.0.1/32", "--suite", suite, "--out", filepath.Join(tmp, "out")}, thisHostLane().laneArgs()...)...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	insts := srv.Instances()
	if len(insts) == 0 {
		t.Fatalf("no instance was launched: the test shows nothing\n%s", r.stdout)
	}
	start := strings.Index(r.stdout, "==> provision\n")
	end := strings.Index(r.stdout, "✓ provision")
	if start < 0 || end < start {
		t.Fatalf("no provision phase in the progress:\n%s", r.stdout)
	}
	if want := "\n   launched instance id=" + insts[0].ID + " "; !strings.Contains(r.stdout[start:end], want) {
		t.Errorf("the provision phase does not show %q:\n%s", want, r.stdout[start:end])
	}
	if strings.Contains(r.stdout+r.stderr, "level=") || strings.Contains(r.stdout+r.stderr, "time=") {
		t.Errorf("log records in slog's format at a terminal\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}
