package verify

import (
	"context"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
)

// TestNoPostStepNoPromise: a CLI command inside Actions (a workflow's
// run: step) writes ::group:: output (Actions) but has no post step after
// it (PostStep unset): a leak check it could not confirm is not promised
// to a post step, which would never come; the output names the tags to
// check instead.
func TestNoPostStepNoPromise(t *testing.T) {
	p := &youngSlowLister{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	plan.Actions = true
	var out strings.Builder
	plan.Out = &out
	res := Run(context.Background(), plan)
	if !res.TeardownDeferred {
		t.Fatalf("the leak check was confirmed: the test shows nothing\n%s", out.String())
	}
	o := out.String()
	if strings.Contains(o, "post step") {
		t.Errorf("output promises a post step that does not come:\n%s", o)
	}
	want := "check for resources tagged " + providers.TagRun + "=" + plan.Identity.Run()
	if !strings.Contains(o, want) {
		t.Errorf("output does not say what to check (%q):\n%s", want, o)
	}
}
