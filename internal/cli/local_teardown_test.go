package cli_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A step's own timeout stops it: the step fails, its column reads ❌, the
// notes say which step and after how long, and nothing it started is
// left running.
func TestRunLocalStepTimeout(t *testing.T) {
	// A sleep no other test runs, to find its processes by.
	sleep := fmt.Sprintf("sleep 300.%06d", time.Now().UnixNano()%1000000)
	suite := `
user: root
steps:
  - name: ok step
    run: "true"
  - name: hangs
    run: ` + sleep + `
    timeout: 2s
    column: Live cycle
`
	// A short leg: were the step's timeout ignored, the leg would end at
	// timeout-minutes instead, naming that, rather than after 300 s.
	r := localRun(t, suite, "--timeout-minutes", "2", "--teardown-budget", "30s")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	row := rowLine(t, r.file(t, "summary.md"))
	cells := strings.Split(row, "|")
	if !strings.Contains(cells[3], "❌") {
		t.Errorf("Live cycle cell in %q is not ❌", row)
	}
	if !strings.Contains(cells[5], "hangs") || !strings.Contains(cells[5], "timed out after 2s") {
		t.Errorf("Notes in %q do not say the step hangs timed out after 2s\nstdout:\n%s", row, r.stdout)
	}
	if left := processesMentioning(t, sleep); len(left) > 0 {
		t.Errorf("the timed-out step is still running after the run: %v", left)
	}
}
