package libtest

import (
	"reflect"
	"testing"
)

// Outputs at the edges of what Parse reads: each case pins the whole
// Summary and the verdict.
func TestParseEdges(t *testing.T) {
	tests := []struct {
		name    string
		output  string
		exit    int
		want    Summary
		verdict Verdict
		why     string
	}{
		{
			// The output was cut to its tail: the result line survives,
			// the per-test lines and the failures list do not.
			name:    "a failed count with no test named",
			output:  "\nrunning 1 test\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n",
			exit:    101,
			want:    Summary{Binaries: 1, Failed: 1},
			verdict: Fail, why: "1 failed",
		},
		{
			// An ignored test with a reason is done, not running: a run
			// killed after it was not interrupted in it, and the failure
			// before it is the one to name.
			name:    "killed after a test ignored with a reason",
			output:  "\nrunning 3 tests\ntest b ... FAILED\ntest needs_kvm ... ignored, needs /dev/kvm\n",
			exit:    137,
			want:    Summary{Binaries: 1, Aborted: 1, Failures: []string{"b"}},
			verdict: Fail, why: "1 test binary(ies) stopped without a result (crashed or killed); failed: b",
		},
		{
			// A passing test's captured stderr is read like its stdout:
			// one that says it skipped checked nothing.
			name: "a passing test's stderr section says skipped",
			output: "\nrunning 2 tests\ntest gated ... ok\ntest real ... ok\n\nsuccesses:\n\n" +
				"---- gated stderr ----\nskipping: MVM_LIVE_SMOKE not set\n\n\nsuccesses:\n    gated\n    real\n\n" +
				"test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n",
			want:    Summary{Binaries: 1, Passed: 2, Skipped: 1},
			verdict: NotRun, why: "1 of 2 passing tests printed skipped (env-gated): not run",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse([]byte(tt.output))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n  %+v\nwant\n  %+v", got, tt.want)
			}
			v, why := got.Verdict(tt.exit)
			if v != tt.verdict || why != tt.why {
				t.Errorf("Verdict(%d) = %s, %q; want %s, %q", tt.exit, v, why, tt.verdict, tt.why)
			}
		})
	}
}
