package providertest

import (
	"strings"
	"testing"
)

// passedSummary is the summary.md of a run of SuiteFile's suite that
// passed on lane, as the binary writes it (internal/summary): the row, the
// lane, the phases and the steps.
func passedSummary(lane string) string {
	row := "| AWS | ✅ | ✅ verified 2026-11-30 | n/a | 1 min |"
	if lane == laneNoKVM {
		row = "| AWS (no-kvm) | ✅ | n/a (no KVM) | n/a | 1 min, no-KVM lane |"
	}
	return "## mvm-verify: AWS — ✅ verified\n\n" +
		"| Provider | Preflight | Live cycle | Seccomp probe | Notes |\n|---|---|---|---|---|\n" + row + "\n\n" +
		"Lane `" + lane + "`, 2026-11-30 07:00 UTC.\n\n" +
		"### Phases\n\n| Phase | Result | Duration | Detail |\n|---|---|---|---|\n" +
		"| preflight | ✅ | 1s |  |\n| provision | ✅ | 1s |  |\n| ready | ✅ | 1s |  |\n| probe | ✅ | 1s |  |\n" +
		"| suite | ✅ | 1s |  |\n| collect | ✅ | 1s |  |\n| teardown | ✅ | 1s |  |\n\n" +
		"### Steps\n\n| Step | Column | Result | Tests | Duration | Detail |\n|---|---|---|---|---|---|\n" +
		"| hello | Live cycle | ✅ pass |  |  |  |\n"
}

// TestPassingSummary: the whole cycle's check of its summary, on both
// lanes whichever this machine runs. A passing run's summary passes it on
// its own lane; each way a run can fall short of passing, or pass on the
// other lane, is caught: on the no-kvm lane the Live cycle may read n/a
// only for want of KVM, and the phases and the suite's step must still
// pass.
func TestPassingSummary(t *testing.T) {
	c := Cloud{Display: "AWS"}
	for _, lane := range []string{laneKVM, laneNoKVM} {
		other := laneNoKVM
		if lane == laneNoKVM {
			other = laneKVM
		}
		good := passedSummary(lane)
		if p := passingSummaryProblems(good, c.RowDisplay(lane), lane); len(p) > 0 {
			t.Errorf("%s lane: a passing run's summary has problems: %q", lane, p)
		}
		liveCell := map[string]string{laneKVM: "✅ verified 2026-11-30", laneNoKVM: "n/a (no KVM)"}[lane]
		for _, tc := range []struct{ name, sum, want string }{
			{"the other lane's summary", passedSummary(other), "summary has no " + c.RowDisplay(lane) + " row"},
			{"the lane not named", strings.Replace(good, "Lane `"+lane+"`", "Lane `"+other+"`", 1), "does not name lane"},
			{"the other lane's Live cycle", strings.Replace(good, liveCell, map[string]string{laneKVM: "n/a (no KVM)", laneNoKVM: "✅ verified 2026-11-30"}[lane], 1), "Live cycle cell"},
			{"the live step not run", strings.Replace(good, liveCell, "n/a (hello not run)", 1), "Live cycle cell"},
			{"the Live cycle failed", strings.Replace(good, liveCell, "❌", 1), "Live cycle cell"},
			{"preflight failed", strings.Replace(good, "| ✅ | "+liveCell, "| ❌ | "+liveCell, 1), "Preflight cell"},
			{"a phase failed", strings.Replace(good, "| probe | ✅ |", "| probe | ❌ |", 1), "phase probe"},
			{"a phase missing", strings.Replace(good, "| teardown | ✅ | 1s |  |\n", "", 1), "no teardown row"},
			{"the step not run", strings.Replace(good, "| ✅ pass |", "| — not-run |", 1), "step hello"},
			{"the step failed", strings.Replace(good, "| ✅ pass |", "| ❌ fail |", 1), "step hello"},
			{"no steps", good[:strings.Index(good, "### Steps")], "no hello step"},
		} {
			if tc.sum == good {
				t.Fatalf("%s lane, %s: the case changes nothing", lane, tc.name)
			}
			p := passingSummaryProblems(tc.sum, c.RowDisplay(lane), lane)
			if !strings.Contains(strings.Join(p, "\n"), tc.want) {
				t.Errorf("%s lane, %s: problems %q, want one saying %q", lane, tc.name, p, tc.want)
			}
		}
	}
}
