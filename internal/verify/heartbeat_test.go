package verify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// A step that is silent for longer than the heartbeat gets "still running"
// lines in the live output, at a terminal and in Actions, and none of them
// in its kept output, which is what libtest parses and the step log keeps.
func TestHeartbeatForASilentStep(t *testing.T) {
	testhost.RequireRoot(t)
	libtestOut := `echo; echo 'running 1 test'; printf 'test quiet ... '; sleep 0.4; echo ok; echo;` +
		` echo 'test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.40s'`
	for _, actions := range []bool{false, true} {
		t.Run(map[bool]string{false: "terminal", true: "actions"}[actions], func(t *testing.T) {
			hp := &hostProvider{}
			plan := testPlan(hp,
				Step{Name: "quiet", Run: "sleep 0.4", Column: matrix.LiveCycle},
				Step{Name: "tests", Run: libtestOut, Parse: "libtest", Column: matrix.SeccompProbe},
			)
			plan.Heartbeat = 20 * time.Millisecond
			plan.Actions = actions
			out := newWatchWriter("\x00")
			plan.Out = out
			res := Run(context.Background(), plan)
			if res.Outcome != Verified {
				t.Fatalf("outcome %s (%s), want verified\n%s", res.Outcome, res.FirstFailure, out)
			}
			live := out.String()
			for _, name := range []string{"quiet", "tests"} {
				if !strings.Contains(live, "   … "+name+" still running (") {
					t.Errorf("no heartbeat for the silent step %q in the live output:\n%s", name, live)
				}
			}
			if actions {
				// The beat is inside the group and on a line of its own,
				// after the partial "test quiet ... ".
				group := live[strings.Index(live, "::group::tests"):]
				group = group[:strings.Index(group, "::endgroup::")]
				if !strings.Contains(group, "test quiet ... \n   … tests still running (") {
					t.Errorf("the beat is not on its own line inside the step's group:\n%s", group)
				}
			}
			for _, sr := range res.Steps {
				if strings.Contains(sr.Output, "still running") {
					t.Errorf("step %s's kept output has the heartbeat:\n%s", sr.Name, sr.Output)
				}
			}
			tests := res.Steps[1]
			if tests.Tests == nil || tests.Tests.Passed != 1 || tests.Status != matrix.Pass {
				t.Errorf("libtest parse of the step: %+v, status %s; want 1 passed", tests.Tests, tests.Status)
			}
		})
	}
}
