package cli

import "testing"

// Every way down can end a leg has its own note: a finished run keeps its
// verdict and says whether the redone teardown worked; a killed run and a
// kept host say how they ended and whether down tore them down.
func TestDownNote(t *testing.T) {
	for _, tc := range []struct {
		how  legEnd
		code int
		want string
	}{
		{legFinished, ExitOK, "teardown redone by down"},
		{legFinished, ExitFailed, "down failed to redo the teardown (see the job)"},
		{legKilled, ExitOK, "the run ended without a result; torn down by down"},
		{legKilled, ExitFailed, "the run ended without a result; down failed to tear it down (see the job)"},
		{legKept, ExitOK, "host kept by up, torn down by down; the suite was not run"},
		{legKept, ExitFailed, "host kept by up; the suite was not run; down failed to tear it down (see the job)"},
	} {
		if got := downNote(tc.code, tc.how); got != tc.want {
			t.Errorf("downNote(%d, %d) = %q, want %q", tc.code, tc.how, got, tc.want)
		}
	}
}
