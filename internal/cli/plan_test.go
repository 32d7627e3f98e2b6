package cli

import (
	"io"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/providers"
)

// The plan the CLI hands the cycle: in Actions a signalled run tears down
// within the 7 s (the runner's SIGKILL follows at about 10 s); at
// a terminal, where nothing follows up, it may take a minute. The user's
// insecure-host-key reaches the cycle, which alone may then connect to a
// host without a pinned key.
func TestPlanCancelBudgetAndHostKeyChoice(t *testing.T) {
	for _, tc := range []struct {
		name     string
		actions  string
		insecure bool
		budget   time.Duration
	}{
		{"actions", "true", false, 7 * time.Second},
		{"actions, insecure-host-key", "true", true, 7 * time.Second},
		{"terminal", "", false, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string {
				if k == "GITHUB_ACTIONS" {
					return tc.actions
				}
				return ""
			}})
			run := &config.Run{Suite: &config.Suite{}, TimeoutMinutes: 30, TeardownBudget: 5 * time.Minute, InsecureHostKey: tc.insecure}
			plan := a.plan(run, nil, providers.Identity{})
			if plan.CancelBudget != tc.budget {
				t.Errorf("cancel budget %s, want %s", plan.CancelBudget, tc.budget)
			}
			if plan.InsecureHostKey != tc.insecure {
				t.Errorf("plan's insecure-host-key %v, want %v (the input's)", plan.InsecureHostKey, tc.insecure)
			}
		})
	}
}
