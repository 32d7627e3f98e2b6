package libtest

import (
	"reflect"
	"strings"
	"testing"
)

// TestParseAcrossBinaries covers how one binary's end is read from the
// next one's start, and a result that came on a later line than its test.
func TestParseAcrossBinaries(t *testing.T) {
	tests := []struct {
		name    string
		output  string
		exit    int
		want    Summary
		verdict Verdict
		why     string
	}{
		{
			// Cargo with --no-fail-fast goes on to the next binary after one
			// crashed: the new "running N tests" line closes the crashed one,
			// which never printed a result, and names the test it was in.
			name: "crashed binary followed by a passing one",
			output: `     Running unittests src/lib.rs (target/debug/deps/a-0123)

running 2 tests
test a::one ... ok
test a::crash ... 
error: test failed, to rerun pass ` + "`--lib`" + `

Caused by:
  process didn't exit successfully: ` + "`target/debug/deps/a-0123`" + ` (signal: 11, SIGSEGV: invalid memory reference)
     Running tests/b.rs (target/debug/deps/b-4567)

running 1 test
test b::fine ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: 1 target failed:
    ` + "`--lib`" + `
`,
			exit:    101,
			want:    Summary{Binaries: 2, Passed: 1, Aborted: 1, Failures: []string{"a::crash"}, Interrupted: []string{"a::crash"}},
			verdict: Fail,
			why:     "1 test binary(ies) stopped without a result (crashed or killed) while running a::crash",
		},
		{
			// The crash came after another test had failed: the verdict
			// names the test the binary was in when it stopped.
			name: "crashed binary after a failure, followed by a passing one",
			output: `running 3 tests
test a::bad ... FAILED
test a::crash ... 
running 1 test
test b::fine ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
`,
			exit: 101,
			want: Summary{Binaries: 2, Passed: 1, Aborted: 1, Failures: []string{"a::bad", "a::crash"},
				Interrupted: []string{"a::crash"}},
			verdict: Fail,
			why:     "1 test binary(ies) stopped without a result (crashed or killed) while running a::crash",
		},
		{
			// Killed between two tests, after one had failed: no test was
			// running, and the failure is named as a failure.
			name: "killed between tests after a failure",
			output: `running 3 tests
test a::bad ... FAILED
test a::good ... ok
`,
			exit:    137,
			want:    Summary{Binaries: 1, Aborted: 1, Failures: []string{"a::bad"}},
			verdict: Fail,
			why:     "1 test binary(ies) stopped without a result (crashed or killed); failed: a::bad",
		},
		{
			// --nocapture --test-threads=1: the test's output comes between its
			// name and its result. Once the result is read the test is done:
			// a binary killed after it was not "running" it.
			name: "late result, then the binary killed",
			output: `running 1 test
test a::prints ... 
hello from the test
ok
cleanup after the tests
`,
			exit:    0,
			want:    Summary{Binaries: 1, Aborted: 1},
			verdict: Fail,
			why:     "1 test binary(ies) stopped without a result (crashed or killed)",
		},
		{
			// A test named as failing is a failure even where the counts say
			// none failed (output cut and mixed by a wrapper), and even with
			// exit status 0.
			name: "named failure with zero failed count",
			output: `running 2 tests
test a::one ... ok
test a::two ... FAILED

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
`,
			exit:    0,
			want:    Summary{Binaries: 1, Passed: 2, Failures: []string{"a::two"}},
			verdict: Fail,
			why:     "failed: a::two",
		},
		{
			name: "named in the failure list only, zero failed count",
			output: `running 1 test
.
failures:
    a::listed

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
`,
			exit:    0,
			want:    Summary{Binaries: 1, Passed: 1, Failures: []string{"a::listed"}},
			verdict: Fail,
			why:     "failed: a::listed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse([]byte(tt.output))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse = %+v\nwant    %+v", got, tt.want)
			}
			v, why := got.Verdict(tt.exit)
			if v != tt.verdict || why != tt.why {
				t.Errorf("Verdict(%d) = %s %q, want %s %q", tt.exit, v, why, tt.verdict, tt.why)
			}
		})
	}
}

// A late result also ends the test's output: what follows is not its own.
func TestLateResultEndsTheTestsOutput(t *testing.T) {
	out := `running 2 tests
test a::gated ... 
ok
skipped: MVM_E2E not set
test a::real ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
`
	s := Parse([]byte(out))
	if s.Skipped != 0 {
		t.Errorf("Skipped = %d, want 0: the skip line came after a::gated's result", s.Skipped)
	}
	if v, why := s.Verdict(0); v != Pass || !strings.HasPrefix(why, "2 passed") {
		t.Errorf("Verdict = %s %q, want pass", v, why)
	}
}
