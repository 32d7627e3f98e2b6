package verify

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// Each step's verdict is a line of its own as the step ends: a step that
// prints nothing shows too, and a failure says why there and then, not
// only in the final line. In Actions the line comes after the step's
// group, so it is visible with the group collapsed.
func TestStepVerdictLines(t *testing.T) {
	testhost.RequireRoot(t)
	for _, actions := range []bool{false, true} {
		p := &hostProvider{}
		plan := testPlan(p,
			Step{Name: "silent", Run: "true"},
			Step{Name: "exits", Run: "exit 3"},
			Step{Name: "slow", Run: "sleep 60", Timeout: time.Second},
			Step{Name: "kvm only", Run: "true", NeedsKVM: true},
		)
		plan.Lane = "no-kvm"
		plan.Actions = actions
		out := newWatchWriter("\x00")
		plan.Out = out
		res := Run(context.Background(), plan)
		if res.Outcome != Failed {
			t.Fatalf("actions=%v: outcome %s, want failed: %s", actions, res.Outcome, res.FirstFailure)
		}
		text := out.String()
		for _, re := range []string{
			`(?m)^   ✓ silent \(\d+(\.\d+)?m?s\)$`,
			`(?m)^   ✗ exits: exit status 3$`,
			`(?m)^   ✗ slow: timed out after 1s$`,
			`(?m)^   - kvm only: n/a \(no KVM\)$`,
		} {
			if !regexp.MustCompile(re).MatchString(text) {
				t.Errorf("actions=%v: no line matching %s in:\n%s", actions, re, text)
			}
		}
		if actions {
			// Each verdict follows its own group's end, outside it.
			for _, name := range []string{"silent", "exits", "slow"} {
				end := strings.Index(text, "::group::"+name)
				if end < 0 {
					t.Fatalf("no group for %s:\n%s", name, text)
				}
				rest := text[end:]
				if e, v := strings.Index(rest, "::endgroup::"), strings.Index(rest, " "+name+" ("); v >= 0 && v < e {
					t.Errorf("the verdict of %s is inside its group:\n%s", name, text)
				}
				if e, v := strings.Index(rest, "::endgroup::"), strings.Index(rest, " "+name+": "); v >= 0 && v < e {
					t.Errorf("the verdict of %s is inside its group:\n%s", name, text)
				}
			}
		}
	}
}
