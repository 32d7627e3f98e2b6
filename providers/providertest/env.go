package providertest

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
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

// SuiteFile writes a suite of one step, run as root, whose result is the
// Live cycle column, and returns its path.
func SuiteFile(t *testing.T, run string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "suite.yml")
	suite := "user: root\nsteps:\n  - name: hello\n    run: " + run + "\n    column: Live cycle\n"
	if err := os.WriteFile(f, []byte(suite), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
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
// loopback only and a ten-minute timeout.
func RunArgs(t *testing.T, c Cloud, f Fake, suite string) []string {
	args := []string{"run", "--provider", c.Provider}
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
// steps on c's provider against f, with its files in dir: GITHUB_STATE is
// dir/state, GITHUB_STEP_SUMMARY dir/summary, GITHUB_OUTPUT dir/output
// and the out input dir/out. extra comes last.
func ActionEnv(t *testing.T, c Cloud, f Fake, dir string, extra ...string) []string {
	t.Helper()
	for _, name := range []string{"state", "summary", "output"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(BaseEnv(t), f.Env()...)
	env = append(env,
		"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=o/r", "GITHUB_RUN_ID=777", "GITHUB_RUN_ATTEMPT=1", "GITHUB_JOB=verify",
		"GITHUB_SHA=ffffffffffffffffffffffffffffffffffffffff", "GITHUB_EVENT_NAME=push",
		"GITHUB_STATE="+filepath.Join(dir, "state"), "GITHUB_OUTPUT="+filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY="+filepath.Join(dir, "summary"), inputEnv("provider", c.Provider))
	in := f.Inputs()
	for _, n := range sortedInputs(in) {
		env = append(env, inputEnv(n, in[n]))
	}
	env = append(env, "INPUT_SUITE="+SuiteFile(t, "true"), "INPUT_OUT="+filepath.Join(dir, "out"),
		"INPUT_SSH-SOURCE-CIDR=127.0.0.1/32", "INPUT_TIMEOUT-MINUTES=10", "INPUT_COMMENT=false")
	return append(env, extra...)
}

// ReadState parses a GITHUB_STATE file the way the runner does
// (name=value lines and name<<DELIMITER blocks).
func ReadState(t *testing.T, file string) map[string]string {
	t.Helper()
	state := map[string]string{}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		if k, delim, ok := strings.Cut(lines[i], "<<"); ok {
			var val []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				val = append(val, lines[i])
			}
			state[k] = strings.Join(val, "\n")
		} else if k, v, ok := strings.Cut(lines[i], "="); ok {
			state[k] = v
		}
	}
	return state
}

// PostEnv is env plus the main step's state as the runner passes it to
// the post step: STATE_<name>.
func PostEnv(env []string, state map[string]string) []string {
	out := append([]string(nil), env...)
	for k, v := range state {
		out = append(out, "STATE_"+k+"="+v)
	}
	return out
}
