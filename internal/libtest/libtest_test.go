package libtest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "outputs", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Two binaries that compiled to nothing: what the seccomp test looks like on
// a non-Linux target.
const nonLinux = `    Finished ` + "`test`" + ` profile [unoptimized + debuginfo] target(s) in 0.02s
     Running unittests src/lib.rs (target/debug/deps/mvm_guest-0a1b2c)

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/seccomp_apply.rs (target/debug/deps/seccomp_apply-3d4e5f)

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

`

// stdout and stderr through one SSH channel: cargo's stderr lines land ahead
// of the previous binary's buffered results, and warnings sit in between.
const interleaved = `warning: unused variable: ` + "`x`" + `
   Compiling mvm-guest v0.4.0 (/home/mvm/mvm/crates/mvm-guest)
    Finished ` + "`test`" + ` profile [unoptimized + debuginfo] target(s) in 41.20s
     Running unittests src/lib.rs (target/debug/deps/mvm_guest-aa)
     Running tests/seccomp_apply.rs (target/debug/deps/seccomp_apply-bb)

running 2 tests
test config::parses ... ok
test config::rejects_version_key ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

   Doc-tests mvm_guest

running 3 tests
test apply_denies_listed_syscalls ... ok
test apply_allows_the_rest ... ok
test apply_twice_is_rejected - should panic ... ok

test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.02s


running 1 test
test crates/mvm-guest/src/lib.rs - Filter (line 12) ... ignored

test result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

`

// One env-gated test skipped, one really run, with --nocapture.
const partlyGated = `
running 2 tests
test smoke_boots_vm ... skipped: MVM_LIVE_SMOKE not set
ok
test smoke_exec ... exec ok in 412ms
ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.41s
`

// A test mentions skipping in its name only: that is not a skip.
const skipInName = `
running 1 test
test skipped_entries_are_pruned ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
`

// A killed run: the binary started but never printed its result.
const killed = `
running 3 tests
test a ... ok
test b ... ok
`

func crlfAndColor(s string) string {
	s = strings.ReplaceAll(s, "... ok\n", "... \x1b[32mok\x1b(B\x1b[m\n")
	s = strings.ReplaceAll(s, "... FAILED\n", "... \x1b[31mFAILED\x1b(B\x1b[m\n")
	s = strings.ReplaceAll(s, "test result: FAILED.", "test result: \x1b[31mFAILED\x1b(B\x1b[m.")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

func TestParseAndVerdict(t *testing.T) {
	failing := string(fixture(t, "lib-int-doc-failing.txt"))
	tests := []struct {
		name    string
		output  string
		exit    int
		want    Summary
		verdict Verdict
		whyHas  string
	}{
		{
			name:   "unit, integration and doc-tests with failures (cargo test --no-fail-fast)",
			output: failing,
			exit:   101,
			want: Summary{Binaries: 3, Passed: 5, Failed: 2, Ignored: 2,
				Failures: []string{"tests::fails", "src/lib.rs - three (line 5)"}},
			verdict: Fail, whyHas: "2 failed, first: tests::fails",
		},
		{
			name:    "same output with CRLF line ends and ANSI colours",
			output:  crlfAndColor(failing),
			exit:    101,
			want:    Summary{Binaries: 3, Passed: 5, Failed: 2, Ignored: 2, Failures: []string{"tests::fails", "src/lib.rs - three (line 5)"}},
			verdict: Fail, whyHas: "first: tests::fails",
		},
		{
			name:    "libtest's own colours (-- --color always)",
			output:  string(fixture(t, "lib-failing-color.txt")),
			exit:    101,
			want:    Summary{Binaries: 1, Passed: 2, Failed: 1, Ignored: 2, Failures: []string{"tests::fails"}},
			verdict: Fail, whyHas: "1 failed, first: tests::fails",
		},
		{
			name:    "--format terse, where only the closing list names failures",
			output:  string(fixture(t, "lib-failing-terse.txt")),
			exit:    101,
			want:    Summary{Binaries: 1, Passed: 2, Failed: 1, Ignored: 2, Failures: []string{"tests::fails"}},
			verdict: Fail, whyHas: "1 failed, first: tests::fails",
		},
		{
			name:    "the seccomp crate passing",
			output:  string(fixture(t, "seccompcrate.txt")),
			want:    Summary{Binaries: 3, Passed: 6},
			verdict: Pass, whyHas: "6 passed",
		},
		{
			name:    "interleaved cargo output, should-panic and ignored doc-test",
			output:  interleaved,
			want:    Summary{Binaries: 3, Passed: 5, Ignored: 1},
			verdict: Pass, whyHas: "5 passed, 1 ignored",
		},
		{
			name:    "running 0 tests on a non-Linux target",
			output:  nonLinux,
			want:    Summary{Binaries: 2, ZeroTestBinaries: 2},
			verdict: NotRun, whyHas: "running 0 tests is not run, never a pass (2 binaries)",
		},
		{
			name:    "every test filtered out",
			output:  string(fixture(t, "all-filtered.txt")),
			want:    Summary{Binaries: 1, FilteredOut: 2, ZeroTestBinaries: 1},
			verdict: NotRun, whyHas: "(1 binary, 2 filtered out)",
		},
		{
			name:    "gated tests with --nocapture --test-threads=1",
			output:  string(fixture(t, "gated-nocapture.txt")),
			want:    Summary{Binaries: 1, Passed: 2, Skipped: 2},
			verdict: NotRun, whyHas: "all 2 passing tests printed skipped",
		},
		{
			name:    "gated tests with --show-output",
			output:  string(fixture(t, "gated-show-output.txt")),
			want:    Summary{Binaries: 1, Passed: 2, Skipped: 2},
			verdict: NotRun, whyHas: "env-gated",
		},
		{
			// cargo's stderr "Running" for the next binary lands after
			// libtest's "ok" and before its newline (one SSH channel).
			name: "gated test with cargo's next Running line inside its result line",
			output: "\nrunning 1 test\ntest gated ... ok     Running tests/x.rs (target/debug/deps/x-1a2b)\n\n" +
				"successes:\n\n---- gated stdout ----\nskipped: MVM_LIVE_SMOKE not set\n\n\nsuccesses:\n    gated\n\n" +
				"test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n",
			want:    Summary{Binaries: 1, Passed: 1, Skipped: 1},
			verdict: NotRun, whyHas: "printed skipped",
		},
		{
			// Under --nocapture a test's eprintln! goes to stderr, inline.
			name: "gated test printing its skip to stderr under --nocapture",
			output: "\nrunning 1 test\ntest gated ... skipping: set LIVE=1\nok\n\n" +
				"test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n",
			want:    Summary{Binaries: 1, Passed: 1, Skipped: 1},
			verdict: NotRun, whyHas: "printed skipped",
		},
		{
			// "ok" then words that are not cargo's: a test's own output
			// under --nocapture, not a result.
			name: "a test printing ok and more under --nocapture",
			output: "\nrunning 1 test\ntest chatty ... ok so far\nok\n\n" +
				"test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n",
			want:    Summary{Binaries: 1, Passed: 1},
			verdict: Pass, whyHas: "1 passed",
		},
		{
			name:    "gated tests really run (MVM_LIVE_SMOKE=1, --nocapture)",
			output:  string(fixture(t, "gated-live-nocapture.txt")),
			want:    Summary{Binaries: 1, Passed: 2},
			verdict: Pass, whyHas: "2 passed",
		},
		{
			// libtest hides a passing test's output unless asked; the skip
			// cannot be seen, which is why gated steps run with --show-output.
			name:    "gated tests with output captured",
			output:  string(fixture(t, "gated-captured.txt")),
			want:    Summary{Binaries: 1, Passed: 2},
			verdict: Pass, whyHas: "2 passed",
		},
		{
			name:    "one gated test skipped, one run",
			output:  partlyGated,
			want:    Summary{Binaries: 1, Passed: 2, Skipped: 1},
			verdict: NotRun, whyHas: "1 of 2 passing tests printed skipped",
		},
		{
			name:    "skip in a test name is not a skip",
			output:  skipInName,
			want:    Summary{Binaries: 1, Passed: 1},
			verdict: Pass,
		},
		{
			name:    "test binary aborted (SIGABRT) mid-run",
			output:  string(fixture(t, "aborted.txt")),
			exit:    101,
			want:    Summary{Binaries: 1, Aborted: 1, Failures: []string{"b_aborts"}, Interrupted: []string{"b_aborts"}},
			verdict: Fail, whyHas: "while running b_aborts",
		},
		{
			name:    "killed while running in parallel",
			output:  killed,
			exit:    137,
			want:    Summary{Binaries: 1, Aborted: 1},
			verdict: Fail, whyHas: "stopped without a result",
		},
		{
			name:    "compile error",
			output:  string(fixture(t, "compile-error.txt")),
			exit:    101,
			want:    Summary{},
			verdict: Fail, whyHas: "exit status 101 with no failing test",
		},
		{
			name:    "passing output but a non-zero exit",
			output:  string(fixture(t, "seccompcrate.txt")),
			exit:    1,
			want:    Summary{Binaries: 3, Passed: 6},
			verdict: Fail, whyHas: "exit status 1",
		},
		{
			name:    "no output at all",
			output:  "",
			want:    Summary{},
			verdict: NotRun, whyHas: "no test binary ran",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse([]byte(tt.output))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n  %+v\nwant\n  %+v", got, tt.want)
			}
			v, why := got.Verdict(tt.exit)
			if v != tt.verdict || !strings.Contains(why, tt.whyHas) {
				t.Errorf("Verdict(%d) = %s, %q; want %s containing %q", tt.exit, v, why, tt.verdict, tt.whyHas)
			}
		})
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{Pass: "pass", Fail: "fail", NotRun: "not run"} {
		if v.String() != want {
			t.Errorf("%d.String() = %q, want %q", v, v.String(), want)
		}
	}
}

// TestRealCargoSeccompCrate builds and tests testdata/seccompcrate with the
// real cargo (offline; the crate has no dependencies) and reads its output.
func TestRealCargoSeccompCrate(t *testing.T) {
	cargo, err := exec.LookPath("cargo")
	if err != nil {
		t.Fatal("cargo is not installed: the real libtest run needs a Rust toolchain (Debian package cargo; .ci/run installs it)")
	}
	target := t.TempDir()
	run := func(t *testing.T, env []string, args ...string) ([]byte, int) {
		t.Helper()
		cmd := exec.Command(cargo, append([]string{"test", "--offline", "--locked", "--manifest-path", filepath.Join("testdata", "seccompcrate", "Cargo.toml")}, args...)...)
		cmd.Env = append(append(os.Environ(), "CARGO_TARGET_DIR="+target, "CARGO_TERM_COLOR=never"), env...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return out, 0
		case errors.As(err, &exit):
			return out, exit.ExitCode()
		}
		t.Fatalf("run cargo: %v\n%s", err, out)
		return nil, 0
	}

	tests := []struct {
		name    string
		env     []string
		args    []string
		want    Summary
		verdict Verdict
	}{
		{"whole crate", nil, nil, Summary{Binaries: 4, Passed: 7}, Pass},
		{"the seccomp_apply test alone", nil, []string{"--test", "seccomp_apply"}, Summary{Binaries: 1, Passed: 4}, Pass},
		// Built as on a non-Linux target, the seccomp test file compiles to
		// nothing: one binary, no test in it at all, never a pass.
		{"the seccomp test compiled to nothing", []string{"RUSTFLAGS=--cfg seccompcrate_other_target"}, []string{"--test", "seccomp_apply", "--", "--show-output"}, Summary{Binaries: 1, ZeroTestBinaries: 1}, NotRun},
		{"a filter that matches nothing", nil, []string{"--test", "seccomp_apply", "--", "--exact", "no_such_test"}, Summary{Binaries: 1, FilteredOut: 4, ZeroTestBinaries: 1}, NotRun},
		// The built-in suite's libtest steps pass --show-output so that a
		// gated test's own "skipped" line is seen: not run, never a pass.
		{"a gated test that skipped itself", nil, []string{"--test", "gated", "--", "--show-output"}, Summary{Binaries: 1, Passed: 1, Skipped: 1}, NotRun},
		{"the gated test enabled", []string{"SECCOMPCRATE_LIVE=1"}, []string{"--test", "gated", "--", "--show-output"}, Summary{Binaries: 1, Passed: 1}, Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := run(t, tt.env, tt.args...)
			got := Parse(out)
			v, why := got.Verdict(code)
			if !reflect.DeepEqual(got, tt.want) || v != tt.verdict {
				t.Errorf("Parse = %+v, Verdict(%d) = %s (%s); want %+v, %s\n--- cargo output ---\n%s", got, code, v, why, tt.want, tt.verdict, out)
			}
		})
	}
}
