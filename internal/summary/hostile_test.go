package summary

import (
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// hostile is text from a run (a step's failure reason, a cloud's resource
// kind or ID) that would split a table, render an image or HTML, or ping
// someone if it reached the summary unescaped.
const hostile = "x | y ![i](https://evil.example/p.png) <b>bold</b> @someone"

// Text the run reports outside the logs is escaped where the summary
// shows it: a step's reason in the steps table, a leaked resource's kind
// and ID in the resources list.
func TestHostileReasonAndLeakAreEscaped(t *testing.T) {
	res := &verify.Result{Display: "SSH", Outcome: verify.Failed,
		Steps: []verify.StepResult{{Name: "smoke", Status: matrix.Fail, Reason: "reason " + hostile}},
		Leaks: []providers.Resource{{Kind: "kind " + hostile, ID: "id " + hostile}},
	}
	md := Markdown(res)
	for _, want := range []string{
		" | " + matrix.Escape("reason "+hostile) + " |\n",
		"- **LEAKED** " + matrix.Escape("kind "+hostile) + " `" + matrix.Escape("id "+hostile) + "`\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks the escaped %q:\n%s", want, md)
		}
	}
	for _, raw := range []string{"![", "<b>", "@someone", "x | y"} {
		if strings.Contains(md, raw) {
			t.Errorf("summary holds %q unescaped:\n%s", raw, md)
		}
	}
}
