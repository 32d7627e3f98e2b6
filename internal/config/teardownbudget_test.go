package config

import (
	"errors"
	"testing"
	"time"
)

// In run and up a teardown-budget of seconds is refused: a cloud teardown
// (terminate, wait, delete the group) does not fit in it, and from the CLI
// no post step would finish what it cut short. The error names the input,
// the value and the least accepted, and is the only error about it: the
// check against timeout-minutes does not pile a second one on.
func TestTeardownBudgetBelowAMinuteRefused(t *testing.T) {
	for _, mode := range []string{ModeRun, ModeUp} {
		for _, budget := range []string{"1s", "59s", "59.9s", "500ms", "0s", "-5m"} {
			_, err := load(t, map[string]string{"mode": mode, "provider": "aws", "teardown-budget": budget})
			wantInputError(t, err, "teardown-budget",
				`input "teardown-budget": got "`+budget+`", expected a duration of at least 1m, e.g. 5m`)
			if n := len(unjoin(err)); n != 1 {
				t.Errorf("%s with teardown-budget %s: %d errors, want 1: %v", mode, budget, n, err)
			}
		}
	}
}

// The least accepted is exactly a minute, however it is written, and it
// still has to leave a minute of work inside timeout-minutes.
func TestTeardownBudgetOfAMinuteAccepted(t *testing.T) {
	for _, budget := range []string{"1m", "60s", "1m0s", "90s"} {
		r, err := load(t, map[string]string{"provider": "aws", "teardown-budget": budget, "timeout-minutes": "3"})
		if err != nil {
			t.Errorf("teardown-budget %s: %v", budget, err)
			continue
		}
		if r.TeardownBudget < MinTeardownBudget {
			t.Errorf("teardown-budget %s: TeardownBudget = %s", budget, r.TeardownBudget)
		}
	}
	_, err := load(t, map[string]string{"provider": "aws", "teardown-budget": "1m", "timeout-minutes": "1"})
	wantInputError(t, err, "timeout-minutes", `expected more minutes than teardown-budget (1m0s) plus at least one minute of work`)
}

// down gives its teardown at least a minute whatever the input says, and
// report tears nothing down: neither refuses a short budget, so a post step
// or down run never fails to start over it.
func TestTeardownBudgetMinimumOnlyInTheCycle(t *testing.T) {
	for _, mode := range []string{ModeDown, ModeReport} {
		r, err := load(t, map[string]string{"mode": mode, "teardown-budget": "10s"})
		if err != nil {
			t.Errorf("%s with teardown-budget 10s: %v", mode, err)
			continue
		}
		if r.TeardownBudget != 10*time.Second {
			t.Errorf("%s: TeardownBudget = %s, want 10s", mode, r.TeardownBudget)
		}
	}
	// A value of the wrong form is still that, not "at least 1m".
	_, err := load(t, map[string]string{"provider": "aws", "teardown-budget": "soon"})
	var ie *InputError
	if !errors.As(err, &ie) || ie.Expected != "a positive duration like 90m or 1h30m" {
		t.Errorf("teardown-budget soon: %v, want the positive-duration error", err)
	}
}
