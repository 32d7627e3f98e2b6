package summary

import (
	"fmt"
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

// One step's long log is cut to its last maxPerStep bytes however much of
// the summary's budget is left, and the cut starts at a line: the block
// says how many bytes were cut, then whole lines to the end.
func TestStepLogIsCutToWholeLinesUnderItsCap(t *testing.T) {
	var out strings.Builder
	for i := range 12000 {
		fmt.Fprintf(&out, "line %06d abcd\n", i) // 17 bytes: no line starts at the cap
	}
	log := out.String()
	res := &verify.Result{Display: "SSH", Outcome: verify.Failed,
		Steps: []verify.StepResult{{Name: "long", Status: matrix.Fail, Output: log}}}
	_, body := logBlock(t, Markdown(res), "Log: long")
	head, rest, _ := strings.Cut(body, "\n")
	if len(rest) > maxPerStep {
		t.Errorf("the log block holds %d bytes of log, over the per-step cap of %d", len(rest), maxPerStep)
	}
	if want := fmt.Sprintf("[… %d bytes cut …]", len(log)-len(rest)-1); head != want {
		t.Errorf("the block starts %q, want %q", head, want)
	}
	if !strings.HasSuffix(log, "\n"+rest+"\n") {
		t.Errorf("what is kept does not start at a line: %.40q…", rest)
	}
}
