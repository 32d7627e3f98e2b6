package cli

import (
	"io"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/ghreport"
)

// MVM_VERIFY_POLL_INTERVAL shortens the sticky comment's read-back waits
// only against a GitHub API on loopback (the tests' fake). Against GitHub
// or a GHES host, ghConfig leaves Settle and Quiet at 0, the production
// values, whatever the variable says: the comment protocol keeps every row
// only while GitHub's read lag stays under Quiet/8, and people set the
// variable to hurry provider polls.
func TestPollIntervalShortensGitHubWaitsOnlyOnLoopback(t *testing.T) {
	withPoll := newApp(Env{Getenv: func(k string) string {
		if k == pollIntervalEnv {
			return "50ms"
		}
		return ""
	}, Stdout: io.Discard, Stderr: io.Discard})
	without := newApp(Env{Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: io.Discard})
	for _, tc := range []struct {
		api  string
		want time.Duration
	}{
		{"https://api.github.com", 0},
		{"https://ghes.example.com/api/v3/", 0},
		{"http://10.0.0.5:8080/api/v3/", 0},
		{"http://127.0.0.1:41234/", 50 * time.Millisecond},
		{"http://127.7.0.9/", 50 * time.Millisecond},
		{"http://[::1]:8080/", 50 * time.Millisecond},
		{"http://localhost:8080/", 50 * time.Millisecond},
		{"not a url\x7f", 0},
	} {
		cfg := withPoll.ghConfig(&config.Run{GitHubAPIURL: tc.api}, ghreport.Event{}, startBudget)
		if cfg.Settle != tc.want || cfg.Quiet != tc.want {
			t.Errorf("MVM_VERIFY_POLL_INTERVAL=50ms, API %q: settle %s, quiet %s; want %s (0: production)", tc.api, cfg.Settle, cfg.Quiet, tc.want)
		}
		cfg = without.ghConfig(&config.Run{GitHubAPIURL: tc.api}, ghreport.Event{}, startBudget)
		if cfg.Settle != 0 || cfg.Quiet != 0 {
			t.Errorf("no MVM_VERIFY_POLL_INTERVAL, API %q: settle %s, quiet %s; want the production values", tc.api, cfg.Settle, cfg.Quiet)
		}
	}
}
