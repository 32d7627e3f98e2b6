package summary

import (
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
)

// TestCandidatesTriedSaysWhatWasLeft: each failed attempt's Result cell
// says what became of what it created — deleted before the next
// candidate, or not (with the reason and who deletes it then), retried,
// a zone moved past, or left to the teardown — so a reader of the summary
// knows whether a capacity failure left a partial attempt behind. A pipe
// in the cleanup's error cannot split the row.
func TestCandidatesTriedSaysWhatWasLeft(t *testing.T) {
	cand := providers.Candidate{Region: "us-east-1", Zone: "us-east-1a", Type: "c8i.large", Market: "on-demand"}
	failed := func(class providers.Class, msg string, after providers.Aftermath) providers.Attempt {
		return providers.Attempt{Candidate: cand, Class: class, Error: msg, Aftermath: after, CleanedUp: after == providers.AttemptDeleted}
	}
	notDeleted := failed(providers.ClassCapacity, "InsufficientInstanceCapacity", providers.AttemptNotDeleted)
	notDeleted.CleanupError = "not allowed to delete sg-1 | UnauthorizedOperation"

	res := result()
	res.Attempts = []providers.Attempt{
		failed(providers.ClassCapacity, "InsufficientInstanceCapacity", providers.AttemptNextPlacement),
		failed(providers.ClassTransient, "RequestLimitExceeded", providers.AttemptRetried),
		failed(providers.ClassQuota, "VcpuLimitExceeded", providers.AttemptDeleted),
		notDeleted,
		failed(providers.ClassAuth, "AuthFailure", providers.AttemptLeftToTeardown),
		// From a result.json written before attempts said what became
		// of them: the failure alone, no claim either way.
		failed(providers.ClassCapacity, "InsufficientInstanceCapacity", ""),
		{Candidate: cand, OK: true},
	}
	md := Markdown(res)
	const pre = " | us-east-1 | us-east-1a | c8i.large | on-demand | "
	want := []string{
		"| 1" + pre + "❌ capacity: InsufficientInstanceCapacity — nothing launched there is left; next zone tried |  |",
		"| 2" + pre + "❌ transient: RequestLimitExceeded — retried on the same candidate; anything this try created is deleted by tag at teardown |  |",
		"| 3" + pre + "❌ quota: VcpuLimitExceeded — partial attempt deleted |  |",
		"| 4" + pre + "❌ capacity: InsufficientInstanceCapacity — partial attempt NOT deleted: not allowed to delete sg-1 \\| UnauthorizedOperation; no further candidate tried, the teardown deletes by tag again |  |",
		"| 5" + pre + "❌ auth: AuthFailure — stopped here; the teardown deletes what it left by tag |  |",
		"| 6" + pre + "❌ capacity: InsufficientInstanceCapacity |  |",
		"| 7" + pre + "✅ created |  |",
	}
	var rows []string
	for _, l := range strings.Split(md, "\n") {
		if strings.Contains(l, pre) {
			rows = append(rows, l)
		}
	}
	if len(rows) != len(want) {
		t.Fatalf("Candidates tried has %d rows, want %d:\n%s", len(rows), len(want), md)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d:\n got %s\nwant %s", i+1, rows[i], want[i])
		}
	}
}
