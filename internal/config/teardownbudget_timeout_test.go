package config

import (
	"strings"
	"testing"
)

// A teardown-budget refused for being under a minute is refused once:
// with timeout-minutes 1 the check of timeout-minutes against the budget
// would otherwise refuse the same 30s a second time, under another input's
// name, and send the user to change timeout-minutes, which is fine.
func TestRefusedTeardownBudgetIsNotCheckedAgainstTimeout(t *testing.T) {
	for _, mode := range []string{ModeRun, ModeUp} {
		_, err := load(t, map[string]string{"mode": mode, "provider": "aws",
			"teardown-budget": "30s", "timeout-minutes": "1"})
		wantInputError(t, err, "teardown-budget",
			`input "teardown-budget": got "30s", expected a duration of at least 1m, e.g. 5m`)
		if errs := unjoin(err); len(errs) != 1 || strings.Contains(err.Error(), "timeout-minutes") {
			t.Errorf("%s: %d errors, want the one about teardown-budget: %v", mode, len(errs), err)
		}
	}
}
