package summary

import (
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/verify"
)

// logBlock returns the fence and the body of the log block titled title
// in md: the text between the opening fence line and the closing one.
func logBlock(t *testing.T, md, title string) (fence, body string) {
	t.Helper()
	head := "<details><summary>" + matrix.Escape(title) + "</summary>\n\n"
	i := strings.Index(md, head)
	if i < 0 {
		t.Fatalf("no log block %q in:\n%s", title, md)
	}
	rest := md[i+len(head):]
	nl := strings.IndexByte(rest, '\n')
	fence, rest = rest[:nl], rest[nl+1:]
	if fence == "" || strings.Trim(fence, "`") != "" {
		t.Fatalf("log block %q opens with %q, not a fence", title, fence)
	}
	end := strings.Index(rest, "\n"+fence+"\n\n</details>")
	if end < 0 {
		t.Fatalf("log block %q is not closed by its fence %q:\n%s", title, fence, rest)
	}
	return fence, rest[:end]
}

// longestRun is the longest run of backticks in s.
func longestRun(s string) int {
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

// A log holding runs of four and five backticks, not just three, gets a
// fence longer than all of them: one backtick more than three would be
// closed by the log's own line of four.
func TestLogFenceOutrunsEveryBacktickRun(t *testing.T) {
	out := "```\nfour:\n````\nfive:\n`````\n| not | a | table |\n<b>after</b>"
	res := &verify.Result{Display: "SSH", Outcome: verify.Failed,
		Steps: []verify.StepResult{{Name: "fences", Status: matrix.Fail, Output: out}}}
	fence, body := logBlock(t, Markdown(res), "Log: fences")
	if len(fence) <= longestRun(out) {
		t.Errorf("fence %q is not longer than the log's run of %d backticks", fence, longestRun(out))
	}
	if body != out {
		t.Errorf("log body %q, want the log verbatim %q", body, out)
	}
}

// Logs collected from the host share the summary's budget with the step
// logs: many long ones are cut and then left out, and the whole stays
// under GitHub's 1 MiB limit.
func TestCollectedLogsAreCutUnderTheSummaryLimit(t *testing.T) {
	res := &verify.Result{Display: "SSH", Outcome: verify.Failed}
	big := strings.Repeat(strings.Repeat("y", 1000)+"\n", 200)
	for i := range 40 {
		res.Collected = append(res.Collected, verify.Log{Name: "log " + string(rune('a'+i%26)), Text: big})
	}
	md := Markdown(res)
	if len(md) > maxTotal+maxPerStep {
		t.Fatalf("summary is %d bytes, over its budget of %d and one last block (GitHub refuses 1 MiB)", len(md), maxTotal)
	}
	if n := strings.Count(md, "<details>"); n == 0 || n == 40 {
		t.Errorf("%d of 40 collected logs shown, want the first few and the rest left out", n)
	}
	if !strings.Contains(md, "bytes cut") {
		t.Error("long logs were not marked as cut")
	}
}
