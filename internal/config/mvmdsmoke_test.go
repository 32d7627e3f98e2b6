package config

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The default suite's mvmd smoke step, run with bash on this machine
// against stand-ins: a cargo that builds nothing, mvmd and mvm-hostd that
// record their arguments and sleep (with a child, as a daemon's worker),
// and a smoke-mvmd.sh that checks both are running and the files exist.

// fakeDaemon records its arguments and pid under $FAKE_DIR/<name>, starts
// a child and waits. FAKE_DIE=<name> makes it fail at start instead;
// FAKE_STUBBORN=1 makes it and its child ignore SIGTERM.
const fakeDaemon = `#!/bin/bash
name="$(basename "$0")"
d="$FAKE_DIR/$name"
mkdir -p "$d"
printf '%s\n' "$@" > "$d/args"
echo "$name up with $*"
if [ "${FAKE_DIE:-}" = "$name" ]; then echo "$name: boom" >&2; exit 4; fi
if [ -n "${FAKE_STUBBORN:-}" ]; then trap '' TERM; fi
echo $$ > "$d/pid"
sleep 1000 &
echo $! > "$d/child.tmp"
mv "$d/child.tmp" "$d/child"
wait
`

// fakeSmoke waits for both daemons to have written their pids (the step
// without readiness probes goes on right after the start), then checks
// each is running and the files they were given exist.
const fakeSmoke = `#!/bin/bash
set -eu
for n in mvm-hostd mvmd; do
  for _ in $(seq 2000); do [ -s "$FAKE_DIR/$n/child" ] && break; sleep 0.01; done
  for f in pid child; do
    p="$(cat "$FAKE_DIR/$n/$f")"
    kill -0 "$p" || { echo "fake smoke: $n ($f $p) is not running"; exit 1; }
  done
done
test -s "$MVMD_DESIRED" || { echo "fake smoke: no $MVMD_DESIRED"; exit 1; }
test -s "$MVMD_COORDINATOR_CONFIG" || { echo "fake smoke: no $MVMD_COORDINATOR_CONFIG"; exit 1; }
echo "fake smoke ran"
touch "$FAKE_DIR/smoke-ran"
exit "${FAKE_SMOKE_EXIT:-0}"
`

type mvmdSmoke struct {
	home, fake, work string
}

func newMvmdSmoke(t *testing.T) *mvmdSmoke {
	t.Helper()
	for _, tool := range []string{"bash", "setsid", "ps", "awk"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("no %s on this machine to run the mvmd smoke step with (Debian packages bash, util-linux, procps, mawk)", tool)
		}
	}
	dir := t.TempDir()
	m := &mvmdSmoke{home: filepath.Join(dir, "home"), fake: filepath.Join(dir, "fake")}
	m.work = filepath.Join(m.home, "mvmd-smoke")
	write := func(path, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A checkout already there: the step does not clone.
	if err := os.MkdirAll(filepath.Join(m.home, "mvmd", ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(m.fake, "bin", "cargo"), "#!/bin/sh\necho \"$*\" >> \"$FAKE_DIR/cargo.log\"\n")
	write(filepath.Join(m.home, "mvmd", "target", "debug", "mvmd"), fakeDaemon)
	write(filepath.Join(m.home, "mvmd", "target", "debug", "mvm-hostd"), fakeDaemon)
	write(filepath.Join(m.home, "mvm", "scripts", "smoke-mvmd.sh"), fakeSmoke)
	// Whatever the step leaves running must not outlive the test.
	t.Cleanup(func() {
		for _, n := range []string{"mvmd", "mvm-hostd"} {
			for _, f := range []string{"pid", "child"} {
				if pid := m.pid(n, f); pid > 0 && running(pid) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	})
	return m
}

// run runs the step's script as the runner would, with the step's env and
// extra on top; it returns the combined output and the exit status.
func (m *mvmdSmoke) run(t *testing.T, extra map[string]string) (string, int) {
	t.Helper()
	var step *Step
	for i, st := range DefaultSuite().Steps {
		if st.Name == "mvmd smoke" {
			step = &DefaultSuite().Steps[i]
		}
	}
	if step == nil {
		t.Fatal("the default suite has no mvmd smoke step")
	}
	env := []string{
		"HOME=" + m.home,
		"PATH=" + filepath.Join(m.fake, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"FAKE_DIR=" + m.fake,
		// Fast polls, no settle: the fakes are ready when they have
		// written their pids, which the probes or the fake smoke wait for.
		"SMOKE_SETTLE=0", "SMOKE_POLL=0.01",
	}
	for k, v := range step.Env {
		env = append(env, k+"="+v)
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command("bash", "-c", step.Run)
	cmd.Env = env
	cmd.Dir = m.home
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	default:
		t.Fatalf("running the mvmd smoke step: %v\n%s", err, out.String())
		return "", 0
	}
}

func (m *mvmdSmoke) pid(name, file string) int {
	b, err := os.ReadFile(filepath.Join(m.fake, name, file))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (m *mvmdSmoke) args(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(m.fake, name, "args"))
	if err != nil {
		t.Fatalf("%s was not started: %v", name, err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// assertGone checks that each daemon the step started, and its child,
// ended with the step.
func (m *mvmdSmoke) assertGone(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		for _, f := range []string{"pid", "child"} {
			pid := m.pid(n, f)
			if pid <= 0 {
				t.Errorf("%s recorded no %s", n, f)
				continue
			}
			if running(pid) {
				t.Errorf("%s's %s %d is still running after the step ended", n, f, pid)
			}
		}
	}
}

// running says whether pid is a live process: neither gone nor a zombie
// (this machine's init may never reap an orphan).
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself hold them.
	rest := b[bytes.LastIndexByte(b, ')')+1:]
	f := strings.Fields(string(rest))
	return len(f) > 0 && f[0] != "Z"
}

func TestMvmdSmokeStartsAndStopsTheDaemons(t *testing.T) {
	for _, tt := range []struct {
		name  string
		extra map[string]string
	}{
		// The suite's own env: no readiness probes.
		{"as shipped", nil},
		{"with readiness probes", map[string]string{
			"HOSTD_READY": `test -s "$FAKE_DIR/mvm-hostd/child"`,
			"MVMD_READY":  `test -s "$FAKE_DIR/mvmd/child"`,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMvmdSmoke(t)
			out, code := m.run(t, tt.extra)
			if code != 0 {
				t.Fatalf("step exited %d, want 0\n%s", code, out)
			}
			if _, err := os.Stat(filepath.Join(m.fake, "smoke-ran")); err != nil {
				t.Fatalf("smoke-mvmd.sh did not get through its checks\n%s", out)
			}
			cargo, _ := os.ReadFile(filepath.Join(m.fake, "cargo.log"))
			for _, w := range []string{"build --package mvmd --bin mvmd\n", "build --package mvm-hostd --bin mvm-hostd\n"} {
				if !strings.Contains(string(cargo), w) {
					t.Errorf("cargo ran %q, want %q among it", cargo, w)
				}
			}
			desired, coord := filepath.Join(m.work, "desired.json"), filepath.Join(m.work, "coordinator.toml")
			if got, want := m.args(t, "mvmd"), []string{"--config", coord, "--desired", desired}; !slices.Equal(got, want) {
				t.Errorf("mvmd started with %q, want %q", got, want)
			}
			if got, want := m.args(t, "mvm-hostd"), []string{"--desired", desired}; !slices.Equal(got, want) {
				t.Errorf("mvm-hostd started with %q, want %q", got, want)
			}
			m.assertGone(t, "mvmd", "mvm-hostd")
			// Each daemon logs to its own file in the work directory.
			for _, n := range []string{"mvmd", "mvm-hostd"} {
				if b, err := os.ReadFile(filepath.Join(m.work, n+".log")); err != nil || !strings.Contains(string(b), n+" up with") {
					t.Errorf("%s.log = %q, %v; want the daemon's output", n, b, err)
				}
			}
		})
	}
}

// A failing smoke is the step's verdict, and the daemons stop all the same;
// their logs' tails are printed to say why.
func TestMvmdSmokeFailureStopsTheDaemons(t *testing.T) {
	m := newMvmdSmoke(t)
	out, code := m.run(t, map[string]string{"FAKE_SMOKE_EXIT": "3"})
	if code != 3 {
		t.Fatalf("step exited %d, want the smoke script's 3\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(m.fake, "smoke-ran")); err != nil {
		t.Fatalf("smoke-mvmd.sh did not get through its checks\n%s", out)
	}
	m.assertGone(t, "mvmd", "mvm-hostd")
	for _, w := range []string{"mvmd.log", "mvmd up with", "mvm-hostd.log", "mvm-hostd up with"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q (the daemons' log tails):\n%s", w, out)
		}
	}
}

// A daemon that dies at its start fails the step before the smoke runs,
// with its log, and the other daemon is stopped.
func TestMvmdSmokeDaemonDiesAtStart(t *testing.T) {
	m := newMvmdSmoke(t)
	out, code := m.run(t, map[string]string{
		"FAKE_DIE":    "mvmd",
		"HOSTD_READY": `test -s "$FAKE_DIR/mvm-hostd/child"`,
		// Never true: the step must notice the death, not wait for it.
		"MVMD_READY":          `test -s "$FAKE_DIR/mvmd/child"`,
		"SMOKE_READY_TIMEOUT": "600",
	})
	if code == 0 {
		t.Fatalf("step passed with mvmd dead\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(m.fake, "smoke-ran")); err == nil {
		t.Errorf("smoke-mvmd.sh ran with mvmd dead\n%s", out)
	}
	for _, w := range []string{"mvmd exited during its start", "mvmd: boom"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	m.assertGone(t, "mvm-hostd")
}

// A daemon that ignores SIGTERM is killed once the grace has passed.
func TestMvmdSmokeKillsAStubbornDaemon(t *testing.T) {
	m := newMvmdSmoke(t)
	out, code := m.run(t, map[string]string{"FAKE_STUBBORN": "1", "SMOKE_STOP_GRACE": "1"})
	if code != 0 {
		t.Fatalf("step exited %d, want 0\n%s", code, out)
	}
	m.assertGone(t, "mvmd", "mvm-hostd")
	if !strings.Contains(out, "mvmd still running 1s after TERM; killing it") {
		t.Errorf("output does not say mvmd was killed:\n%s", out)
	}
}

// Bad timing values stop the step before it builds or starts anything.
func TestMvmdSmokeBadInput(t *testing.T) {
	for _, tt := range []struct{ name, value, want string }{
		{"SMOKE_SETTLE", "soon", `SMOKE_SETTLE: got "soon", expected seconds like 3 or 0.5`},
		{"SMOKE_STOP_GRACE", "1.5", `SMOKE_STOP_GRACE: got "1.5", expected whole seconds like 120`},
		{"MVMD_START", "", `MVMD_START: empty, expected the command line that starts the daemon`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMvmdSmoke(t)
			out, code := m.run(t, map[string]string{tt.name: tt.value})
			if code != 2 || !strings.Contains(out, tt.want) {
				t.Fatalf("step exited %d with\n%s\nwant 2 and %q", code, out, tt.want)
			}
			for _, p := range []string{filepath.Join(m.fake, "cargo.log"), m.work} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s exists: the step went on after the bad input", p)
				}
			}
		})
	}
}
