package providertest

import (
	"regexp"
	"strings"
	"testing"
)

// cyclePhases are the phases of a whole cycle, as the summary's Phases
// table names them.
var cyclePhases = []string{"preflight", "provision", "ready", "probe", "suite", "collect", "teardown"}

// WantLiveCell is the Live cycle cell of a leg that passed on lane: on the
// kvm lane the cycle is verified on its day; on the no-kvm lane the cell
// reads n/a because the lane has no KVM, and for nothing else (a step
// not run would say so instead).
func WantLiveCell(lane string) *regexp.Regexp {
	if lane == laneNoKVM {
		return regexp.MustCompile(`^n/a \(no KVM\)$`)
	}
	return regexp.MustCompile(`^✅ verified \d{4}-\d{2}-\d{2}$`)
}

// CheckPassingSummary checks sum, the summary.md of a run of SuiteFile's
// (or RootSuiteFile's) suite that passed on lane (Lane; why is its reason): see
// passingSummaryProblems.
func CheckPassingSummary(t *testing.T, sum, display, lane, why string) {
	t.Helper()
	for _, p := range passingSummaryProblems(sum, display, lane) {
		t.Errorf("%s (lane %s: %s)", p, lane, why)
	}
	if t.Failed() {
		t.Logf("summary:\n%s", sum)
	}
}

// passingSummaryProblems is what is wrong with sum as the summary of a
// passing run on lane: the row whose Provider is display has Preflight ✅
// and the Live cycle cell WantLiveCell(lane); the summary names the lane;
// every phase of the cycle is there and ✅; SuiteFile's one step, hello,
// passed.
func passingSummaryProblems(sum, display, lane string) []string {
	var problems []string
	row := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(display) + ` \|([^|]*)\|([^|]*)\|`).FindStringSubmatch(sum)
	if row == nil {
		problems = append(problems, "summary has no "+display+" row")
	} else {
		if pre := strings.TrimSpace(row[1]); pre != "✅" {
			problems = append(problems, "Preflight cell "+quote(pre)+", want ✅")
		}
		if live, want := strings.TrimSpace(row[2]), WantLiveCell(lane); !want.MatchString(live) {
			problems = append(problems, "Live cycle cell "+quote(live)+", want one matching "+want.String())
		}
	}
	if !strings.Contains(strings.ToLower(sum), "lane `"+lane+"`") {
		problems = append(problems, "summary does not name lane `"+lane+"`")
	}
	for _, ph := range cyclePhases {
		m := regexp.MustCompile(`(?m)^\| ` + ph + ` \|([^|]*)\|`).FindStringSubmatch(sum)
		switch {
		case m == nil:
			problems = append(problems, "Phases table has no "+ph+" row")
		case strings.TrimSpace(m[1]) != "✅":
			problems = append(problems, "phase "+ph+" "+quote(strings.TrimSpace(m[1]))+", want ✅")
		}
	}
	step := regexp.MustCompile(`(?m)^\| hello \| Live cycle \|([^|]*)\|`).FindStringSubmatch(sum)
	switch {
	case step == nil:
		problems = append(problems, "Steps table has no hello step in the Live cycle column")
	case strings.TrimSpace(step[1]) != "✅ pass":
		problems = append(problems, "step hello "+quote(strings.TrimSpace(step[1]))+", want ✅ pass")
	}
	return problems
}

func quote(s string) string { return `"` + s + `"` }
