package verify

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/libtest"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/remote"
)

// A step not run prints "not run" once: the passfail reason does not say
// it again, and a libtest reason that says it is printed as it is.
func TestStepLineSaysNotRunOnce(t *testing.T) {
	_, zero := (libtest.Summary{}).Verdict(0)
	_, noPASS := passFailVerdict([]byte("smoke: skipped\n"), 0)
	for _, tc := range []struct {
		reason, want string
	}{
		{noPASS, "   - live: not run (exit status 0 with no PASS line: nothing was checked)\n"},
		{zero, "   - live: " + zero + "\n"},
		{"", "   - live: not run (no verdict)\n"},
	} {
		var buf bytes.Buffer
		c := &cycle{out: remote.NewMasker(&buf, nil)}
		c.stepLine(StepResult{Name: "live", Status: matrix.NotRun, Reason: tc.reason})
		if err := c.out.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); got != tc.want || strings.Count(got, "not run") != 1 {
			t.Errorf("step line %q, want %q (not run said once)", got, tc.want)
		}
	}
}
