package providertest

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// BaseEnv is a clean environment for the binary: PATH, HOME, a TMPDIR of
// the test's own and a poll interval for tests (production polls are
// seconds apart; the binary takes MVM_VERIFY_POLL_INTERVAL as a test
// hook), then extra. A later entry wins over an earlier one of the same
// name.
func BaseEnv(t *testing.T, extra ...string) []string {
	// GITHUB_API_URL and MVM_VERIFY_EGRESS_URL point at a closed loopback
	// port unless extra gives the test's own (the last value wins): a test
	// that forgets its fake fails on a refused connection instead of
	// reaching the internet.
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + t.TempDir(),
		"MVM_VERIFY_POLL_INTERVAL=100ms", "GITHUB_API_URL=http://127.0.0.1:9/", "MVM_VERIFY_EGRESS_URL=http://127.0.0.1:9/"}, extra...)
}

// SuiteUser is the suite's user in the legs whose tests are not about
// root: a non-root user the fake's test host creates from the user data
// (its users entry, with passwordless sudo and the kvm group, as cloud-init
// makes it on a cloud host) and deletes, home and all, once no live test
// host uses it. Not root, whose login shell on a machine running these
// tests may read a .bashrc that takes seconds (a version manager's init),
// once for every SSH command the cycle runs: that measures the machine,
// not the run. A name no other package's tests use, as user names are
// machine-wide.
const SuiteUser = "mvmprv"

// SuiteFile writes a suite of one step, run as SuiteUser, whose result is
// the Live cycle column, and returns its path. The "host" is this machine:
// a step that reads or writes a file of the test's needs it somewhere
// SuiteUser may (SharedDir), not in t.TempDir(), which is root's alone.
func SuiteFile(t *testing.T, run string) string {
	t.Helper()
	return suiteFile(t, SuiteUser, run)
}

// RootSuiteFile is SuiteFile with a suite run as root, for the tests about
// root: a suite whose user is root logs in as root on a cloud host, whose
// root login the user data must set up (the seed's bug: root's SSH keys
// were not injected, so such a suite could not log in).
func RootSuiteFile(t *testing.T, run string) string {
	t.Helper()
	return suiteFile(t, "root", run)
}

func suiteFile(t *testing.T, user, run string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "suite.yml")
	suite := "user: " + user + "\nsteps:\n  - name: hello\n    run: " + run + "\n    column: Live cycle\n"
	if err := os.WriteFile(f, []byte(suite), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// SharedDir is a directory of the test's own that SuiteUser's steps may
// read and write (mode 1777, as /tmp), removed when t ends: the fake's
// hosts are this machine, and t.TempDir() is root's alone (0700). In /tmp
// itself, as a $TMPDIR may be private to root.
func SharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "mvm-providertest-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sortedInputs returns the names of in, sorted, so arguments and
// environments come out the same on every run.
func sortedInputs(in map[string]string) []string {
	names := make([]string, 0, len(in))
	for n := range in {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// RunArgs are the flags of `mvm-verify run` on c's provider against f:
// f's inputs, the suite, an out directory of the test's own, SSH open to
// loopback only, a ten-minute timeout and the lane this machine can run
// (Lane).
func RunArgs(t *testing.T, c Cloud, f Fake, suite string) []string {
	t.Helper()
	lane, why := Lane()
	t.Logf("lane %s: this machine's KVM, by the scenarios' own check: %s", lane, why)
	args := []string{"run", "--provider", c.Provider, "--lane", lane}
	in := f.Inputs()
	for _, n := range sortedInputs(in) {
		args = append(args, inputFlag(n), in[n])
	}
	return append(args, "--suite", suite, "--out", filepath.Join(t.TempDir(), "out"),
		"--ssh-source-cidr", "127.0.0.1/32", "--timeout-minutes", "10")
}

// OutDir is the --out directory of args.
func OutDir(args []string) string {
	for i, a := range args {
		if a == "--out" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// ActionEnv is the runner's environment for the action's main and post
// steps on c's provider against f, with its files in dir (NewRunner(t,
// dir)): GITHUB_STATE is dir/state, GITHUB_STEP_SUMMARY dir/summary,
// GITHUB_OUTPUT dir/output and the out input dir/out; the lane input is
// the lane this machine can run (Lane). extra comes last.
func ActionEnv(t *testing.T, c Cloud, f Fake, dir string, extra ...string) []string {
	t.Helper()
	lane, why := Lane()
	t.Logf("lane %s: this machine's KVM, by the scenarios' own check: %s", lane, why)
	env := append(BaseEnv(t), f.Env()...)
	env = append(env, NewRunner(t, dir).Env()...)
	env = append(env,
		"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=o/r", "GITHUB_RUN_ID=777", "GITHUB_RUN_ATTEMPT=1", "GITHUB_JOB=verify",
		"GITHUB_SHA=ffffffffffffffffffffffffffffffffffffffff", "GITHUB_EVENT_NAME=push", inputEnv("provider", c.Provider))
	in := f.Inputs()
	for _, n := range sortedInputs(in) {
		env = append(env, inputEnv(n, in[n]))
	}
	env = append(env, "INPUT_SUITE="+SuiteFile(t, "true"), "INPUT_OUT="+filepath.Join(dir, "out"),
		"INPUT_SSH-SOURCE-CIDR=127.0.0.1/32", "INPUT_TIMEOUT-MINUTES=10", "INPUT_COMMENT=false",
		inputEnv("lane", lane))
	return append(env, extra...)
}

// ReadState is the state in a GITHUB_STATE file, read as the runner reads
// it (ReadFileCommands): a file the runner would refuse fails the test.
func ReadState(t *testing.T, file string) map[string]string {
	t.Helper()
	return ReadFileCommands(t, file)
}

// PostEnv is env plus the main step's state as the runner passes it to
// the post step: STATE_<name>.
func PostEnv(env []string, state map[string]string) []string {
	return append(append([]string(nil), env...), stateEnv(state)...)
}
