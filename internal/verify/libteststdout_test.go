package verify

import (
	"context"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// cargo writes "Running tests/x.rs" to stderr while libtest's line is
// still open on stdout. Parsed from the combined output, the gated test's
// "skipped" went unseen and the step read as a pass; libtest is parsed from
// stdout alone.
func TestLibtestParsesStdoutAlone(t *testing.T) {
	requireRootHosts(t)
	script := `echo; echo 'running 1 test'; printf 'test gated ... ok'; sleep 0.2;` +
		` echo '     Running tests/x.rs' >&2; sleep 0.2; echo; echo;` +
		` echo 'successes:'; echo; echo '---- gated stdout ----'; echo 'skipped: MVM_LIVE_SMOKE not set'; echo; echo;` +
		` echo 'successes:'; echo '    gated'; echo;` +
		` echo 'test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s'`
	plan := testPlan(&hostProvider{}, Step{Name: "gated", Run: script, Parse: "libtest", Column: matrix.SeccompProbe})
	res := Run(context.Background(), plan)
	st := res.Steps[0]
	if st.Tests == nil || st.Tests.Skipped != 1 || st.Status != matrix.NotRun || res.Outcome != Incomplete {
		t.Fatalf("step %s, tests %+v, outcome %s; want the gated skip seen: not run, incomplete\noutput:\n%s",
			st.Status, st.Tests, res.Outcome, st.Output)
	}
}
