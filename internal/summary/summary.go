// Package summary renders a leg's Result as the job summary (markdown) that
// GitHub shows on the run page, or summary.md outside Actions.
package summary

import (
	"fmt"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// GitHub refuses step summaries over 1 MiB; logs are cut to stay well under.
const (
	maxTotal   = 900 << 10
	maxPerStep = 64 << 10
)

// Markdown renders the summary.
func Markdown(res *verify.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## mvm-verify: %s — %s\n\n", matrix.Escape(res.Display), outcomeWord(res.Outcome))
	b.WriteString(matrix.Table([]matrix.Row{res.Row()}))
	b.WriteString("\n")
	if res.Identity.HeadSHA != "" {
		fmt.Fprintf(&b, "Commit `%s`, lane `%s`, %s.\n\n", short(res.Identity.HeadSHA), orDash(res.Lane), res.Started.UTC().Format("2006-01-02 15:04 MST"))
	} else {
		fmt.Fprintf(&b, "Lane `%s`, %s.\n\n", orDash(res.Lane), res.Started.UTC().Format("2006-01-02 15:04 MST"))
	}

	for _, n := range res.Notices {
		fmt.Fprintf(&b, "Note: %s.\n\n", matrix.Escape(n))
	}

	b.WriteString("### Phases\n\n| Phase | Result | Duration | Detail |\n|---|---|---|---|\n")
	for _, p := range res.Phases {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", p.Name, p.Status.Symbol(), dur(p.Duration), matrix.Escape(p.Error))
	}
	b.WriteString("\n")

	if len(res.Steps) > 0 {
		b.WriteString("### Steps\n\n| Step | Column | Result | Tests | Duration | Detail |\n|---|---|---|---|---|---|\n")
		for _, s := range res.Steps {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", matrix.Escape(s.Name), matrix.Escape(string(s.Column)),
				s.Status.Symbol()+" "+string(s.Status), tests(s), dur(s.Duration), matrix.Escape(s.Reason))
		}
		b.WriteString("\n")
	}

	if res.Probe != nil {
		b.WriteString("### Host probe\n\n")
		b.WriteString(res.Probe.Markdown(matrix.Escape))
		b.WriteString("\n")
	}

	if len(res.Attempts) > 0 {
		b.WriteString("### Candidates tried\n\n| # | Region | Zone | Type | Market | Result | Time |\n|---|---|---|---|---|---|---|\n")
		for i, a := range res.Attempts {
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", i+1, matrix.Escape(a.Candidate.Region), matrix.Escape(a.Candidate.Zone),
				matrix.Escape(a.Candidate.Type), matrix.Escape(a.Candidate.Market), matrix.Escape(attemptResult(a)), dur(a.Duration))
		}
		b.WriteString("\n")
	}

	if len(res.Created) > 0 || len(res.Leaks) > 0 {
		b.WriteString("### Resources\n\n")
		for _, r := range res.Created {
			fmt.Fprintf(&b, "- created %s `%s`\n", matrix.Escape(r.Kind), matrix.Escape(r.ID))
		}
		for _, r := range res.Leaks {
			fmt.Fprintf(&b, "- **LEAKED** %s `%s`\n", matrix.Escape(r.Kind), matrix.Escape(r.ID))
		}
		b.WriteString("\n")
	}

	budget := maxTotal - b.Len()
	for _, s := range res.Steps {
		if s.Output == "" || budget <= 0 {
			continue
		}
		out := tail(s.Output, min(maxPerStep, budget))
		block := details("Log: "+s.Name, out)
		budget -= len(block)
		b.WriteString(block)
	}
	for _, l := range res.Collected {
		if budget <= 0 {
			break
		}
		block := details(l.Name, tail(l.Text, min(maxPerStep, budget)))
		budget -= len(block)
		b.WriteString(block)
	}
	return b.String()
}

// attemptResult is an attempt's Result cell: created, or why it failed
// and what became of what it created, so a reader knows whether a failed
// candidate may have left something behind.
func attemptResult(a providers.Attempt) string {
	if a.Error == "" {
		return "✅ created"
	}
	s := "❌ " + a.Class.String() + ": " + a.Error
	switch a.Aftermath {
	case providers.AttemptDeleted:
		s += " — partial attempt deleted"
	case providers.AttemptNotDeleted:
		s += " — partial attempt NOT deleted: " + a.CleanupError +
			"; no further candidate tried, the teardown deletes by tag again"
	case providers.AttemptRetried:
		// Not cleaned up before the retry: a transient failure after
		// the launch (throttled while waiting for it to run) may leave
		// an instance running, which carries the run's tags.
		s += " — retried on the same candidate; anything this try created is deleted by tag at teardown"
	case providers.AttemptNextPlacement:
		s += " — nothing launched there is left; next zone tried"
	case providers.AttemptLeftToTeardown:
		s += " — stopped here; the teardown deletes what it left by tag"
	}
	return s
}

// details renders text in a collapsed block inside a code fence longer than
// any run of backticks in the text, so step output cannot close it or render
// as markdown or HTML.
func details(title, text string) string {
	fence := "```"
	for strings.Contains(text, fence) {
		fence += "`"
	}
	return fmt.Sprintf("<details><summary>%s</summary>\n\n%s\n%s\n%s\n\n</details>\n\n", matrix.Escape(title), fence, strings.TrimRight(text, "\n"), fence)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := s[len(s)-n:]
	if i := strings.IndexByte(cut, '\n'); i >= 0 {
		cut = cut[i+1:]
	}
	return fmt.Sprintf("[… %d bytes cut …]\n%s", len(s)-len(cut), cut)
}

func tests(s verify.StepResult) string {
	if s.Tests == nil {
		return ""
	}
	t := s.Tests
	return fmt.Sprintf("%d passed, %d failed, %d ignored", t.Passed, t.Failed, t.Ignored)
}

func outcomeWord(o verify.Outcome) string {
	switch o {
	case verify.Verified:
		return "✅ verified"
	case verify.Failed:
		return "❌ failed"
	case verify.Cancelled:
		return "❌ cancelled"
	case verify.TimedOut:
		return "❌ timed out"
	case verify.Incomplete:
		return "❌ incomplete (a check was not run)"
	case verify.Up:
		return "⏳ host up (suite not run)"
	}
	return "❌ error"
}

func dur(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
