package summary

import (
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/probe"
	"github.com/tinylabscom/mvm-verify/internal/verify"
)

// The probe's report is the host's word (the ssh provider's host may be
// anyone's): the summary renders its text escaped, as the matrix's cells.
func TestSummaryEscapesTheProbesText(t *testing.T) {
	hostile := "[x](http://e) <img src=x> @someone"
	res := &verify.Result{Provider: "ssh", Probe: &probe.Report{Kernel: hostile, Problems: []string{hostile}}}
	md := Markdown(res)
	if !strings.Contains(md, "### Host probe") {
		t.Fatalf("no probe section:\n%s", md)
	}
	for _, bad := range []string{"[x](", "<img", "@someone"} {
		if strings.Contains(md, bad) {
			t.Errorf("the summary carries the host's %q unescaped:\n%s", bad, md)
		}
	}
}
