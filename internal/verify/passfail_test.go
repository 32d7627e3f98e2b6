package verify

import (
	"context"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// TestPassFailVerdict: a passfail step (a script printing PASS/FAIL lines,
// as mvm's scripts/smoke-exec.sh) reads its exit status and its lines: a
// FAIL line fails it even at exit 0, a non-zero exit fails it, and exit 0
// with no PASS line is not run — never a pass.
func TestPassFailVerdict(t *testing.T) {
	const noPASS = "exit status 0 with no PASS line: nothing was checked"
	cases := []struct {
		name   string
		output string
		exit   int
		status matrix.Status
		reason string
	}{
		{"passes", "booting\nPASS boot\nPASS exec hello\n", 0, matrix.Pass, ""},
		{"FAIL line at exit 0", "PASS boot\nFAIL exec: no reply on vsock\nPASS teardown\n", 0, matrix.Fail,
			`printed "FAIL exec: no reply on vsock" (exit status 0)`},
		{"indented, coloured FAIL line", "PASS boot\n   \x1b[31mFAIL\x1b[0m exec\r\n", 0, matrix.Fail, `printed "FAIL exec" (exit status 0)`},
		{"FAIL lines counted, the first quoted", "FAIL one\nPASS two\nFAIL: three\n", 0, matrix.Fail,
			`printed 2 FAIL lines, the first "FAIL one" (exit status 0)`},
		// The verdict is a word of its own: alone, or followed by a space,
		// a colon or a dash.
		{"FAIL alone", "PASS boot\nFAIL\n", 0, matrix.Fail, `printed "FAIL" (exit status 0)`},
		{"FAIL: name", "PASS boot\nFAIL: exec\n", 0, matrix.Fail, `printed "FAIL: exec" (exit status 0)`},
		{"FAIL - why", "PASS boot\nFAIL\t- exec\n", 0, matrix.Fail, "printed \"FAIL\\t- exec\" (exit status 0)"},
		{"FAIL-name", "PASS boot\nFAIL-exec\n", 0, matrix.Fail, `printed "FAIL-exec" (exit status 0)`},
		{"PASS: name and PASS alone", "PASS: boot\nPASS\n", 0, matrix.Pass, ""},
		{"words that begin with FAIL are no FAIL line", "PASS boot\nFAILED: 0\nFAILOVER ok\nFAILURES none\n", 0, matrix.Pass, ""},
		{"words that begin with PASS are no PASS line", "PASSWORD set\nPASSED\n", 0, matrix.NotRun, noPASS},
		{"non-zero exit with PASS lines", "PASS boot\nPASS exec\n", 3, matrix.Fail, "exit status 3"},
		{"non-zero exit with a FAIL line", "PASS boot\nFAIL exec\n", 1, matrix.Fail, `exit status 1; printed "FAIL exec"`},
		{"non-zero exit, nothing printed", "", 2, matrix.Fail, "exit status 2"},
		{"exit 0, nothing printed", "", 0, matrix.NotRun, noPASS},
		{"exit 0, no PASS line", "smoke: skipped, MVM_LIVE_SMOKE unset\n", 0, matrix.NotRun, noPASS},
		// Only a line's start counts: words inside a line are output.
		{"PASS and FAIL inside lines", "checking FAIL paths\nall PASS\n", 0, matrix.NotRun, noPASS},
		{"a long FAIL line is cut", "PASS a\nFAIL " + strings.Repeat("x", 300) + "\n", 0, matrix.Fail,
			`printed "FAIL ` + strings.Repeat("x", 114) + `…" (exit status 0)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, reason := passFailVerdict([]byte(tc.output), tc.exit)
			if status != tc.status || reason != tc.reason {
				t.Errorf("passFailVerdict = %s %q, want %s %q", status, reason, tc.status, tc.reason)
			}
		})
	}
}

// TestRunPassFailAndSeccompOnRealHost: a leg on a real host whose Seccomp
// probe steps, parsed as passfail, fail (a FAIL line at exit 0, a non-zero
// exit) or read not run (no PASS line), while its Live cycle step passes:
// the leg fails (exit 1) and the Seccomp probe column is ❌, but the live
// cycle — all green — reads ✅, without "verified".
func TestRunPassFailAndSeccompOnRealHost(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{}
	plan := testPlan(p,
		Step{Name: "smoke", Run: `printf 'PASS boot\nPASS exec\n'`, Column: matrix.LiveCycle, Parse: "passfail"},
		Step{Name: "seccomp", Run: `printf 'PASS install\n  \033[31mFAIL apply: getppid returned 1\033[0m\n'; exit 0`,
			Column: matrix.SeccompProbe, Parse: "passfail"},
		Step{Name: "quiet", Run: "true", Column: matrix.SeccompProbe, Parse: "passfail"},
		Step{Name: "exits", Run: `echo PASS; exit 3`, Column: matrix.SeccompProbe, Parse: "passfail"},
	)
	res := Run(context.Background(), plan)
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts left: %v", left)
	}
	if res.Outcome != Failed {
		t.Fatalf("outcome %s (%s), want %s", res.Outcome, res.FirstFailure, Failed)
	}
	want := []struct {
		status matrix.Status
		reason string
	}{
		{matrix.Pass, ""},
		{matrix.Fail, `printed "FAIL apply: getppid returned 1" (exit status 0)`},
		{matrix.NotRun, "exit status 0 with no PASS line: nothing was checked"},
		{matrix.Fail, "exit status 3"},
	}
	if len(res.Steps) != len(want) {
		t.Fatalf("steps %+v, want %d", res.Steps, len(want))
	}
	for i, w := range want {
		if s := res.Steps[i]; s.Status != w.status || s.Reason != w.reason {
			t.Errorf("step %s: %s %q, want %s %q", s.Name, s.Status, s.Reason, w.status, w.reason)
		}
	}
	if want := `seccomp: printed "FAIL apply: getppid returned 1" (exit status 0)`; res.FirstFailure != want {
		t.Errorf("first failure %q, want %q", res.FirstFailure, want)
	}
	row := res.Row()
	if got := row.Cell(matrix.SeccompProbe); got.Status != matrix.Fail {
		t.Errorf("Seccomp probe cell %q, want ❌", got)
	}
	if got, want := row.Cell(matrix.LiveCycle), (matrix.Cell{Status: matrix.Pass}); got != want {
		t.Errorf("Live cycle cell %q, want %q", got, want)
	}
}
