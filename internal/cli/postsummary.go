package cli

import (
	"cmp"
	"encoding/json"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// State keys main saves as it ends, for the post step's job summary.
const (
	// teardownEndedKey: verify.Run returned, so main's teardown ended
	// (finished, failed or cut short).
	teardownEndedKey = "teardown-ended"
	// summaryWrittenKey: main wrote the leg's row to the job summary.
	summaryWrittenKey = "summary-written"
)

// unsummarized is the job summary's section for a leg whose main step
// saved its verdict (before its teardown, or after it) but was killed
// before it wrote its summary: nothing else puts the leg's row there, and
// with reporting off (no token, a fork's pull request) the verdict would
// appear nowhere. It is main's row, as saved (or as its outcome tells it
// when the row is unusable), failed when the post step's teardown failed,
// with a note that main was killed; "" for a leg main did write up, or
// one without a verdict (abandonedSummary's) or kept by up (no teardown
// of main's to be killed in: its row is the host's, which post ends).
func unsummarized(get func(string) string, run *config.Run, id providers.Identity, teardownCode int) string {
	outcome := get("STATE_outcome")
	if outcome == "" || outcome == string(verify.Up) || get("STATE_"+summaryWrittenKey) == "true" {
		return ""
	}
	base := matrix.Row{Key: id.Key, Provider: cmp.Or(run.Display, matrix.DisplayName(id.Key)), Lane: run.Lane}
	var row matrix.Row
	if err := json.Unmarshal([]byte(get("STATE_row")), &row); err != nil || row.Key != id.Key {
		row = rowFromOutcome(base, verify.Outcome(outcome))
	}
	if teardownCode != ExitOK {
		row = *teardownFailed(row)
	}
	note := "main step killed during its teardown, before its summary; the post step finished the teardown"
	if get("STATE_"+teardownEndedKey) == "true" {
		note = "main step killed after its teardown, before its summary"
	}
	if row.Notes == "" {
		row.Notes = note
	} else {
		row.Notes = note + "; " + row.Notes
	}
	return "### mvm-verify: " + cmp.Or(row.Provider, base.Provider) + "\n\n" + matrix.Table([]matrix.Row{row}) + "\n"
}
