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
