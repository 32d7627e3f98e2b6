package ghreport

import (
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// A leg's commit status: a check not run (—) is never success, a kept host
// (⏳) stays pending, and only n/a or ? beside passes is success.
func TestStatusStateNotRunIsNeverSuccess(t *testing.T) {
	row := func(pre, live, sec matrix.Status) matrix.Row {
		var r matrix.Row
		r.Set(matrix.Preflight, pre, "")
		r.Set(matrix.LiveCycle, live, "")
		r.Set(matrix.SeccompProbe, sec, "")
		return r
	}
	cases := []struct {
		name string
		row  matrix.Row
		want string
	}{
		{"verified", row(matrix.Pass, matrix.Pass, matrix.Pass), stateSuccess},
		{"incomplete: seccomp ran 0 tests", row(matrix.Pass, matrix.Pass, matrix.NotRun), stateFailure},
		{"host up, suite not run", row(matrix.Pass, matrix.Pending, matrix.NotRun), statePending},
		{"no-KVM lane", row(matrix.Pass, matrix.NA, matrix.Pass), stateSuccess},
		{"column without a step", row(matrix.Pass, matrix.Pass, matrix.Unknown), stateSuccess},
		{"failed", row(matrix.Pass, matrix.Fail, matrix.NotRun), stateFailure},
	}
	for _, tc := range cases {
		if got := StatusState(tc.row); got != tc.want {
			t.Errorf("%s: state %s, want %s", tc.name, got, tc.want)
		}
	}
}
