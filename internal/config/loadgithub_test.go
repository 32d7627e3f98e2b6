package config

import (
	"errors"
	"strings"
	"testing"
)

// LoadGitHub reads the GitHub inputs as LoadWith does, and those alone: a
// leg refused for its timeout still knows where to report the refusal, and
// one refused for a GitHub input learns that it must not report.
func TestLoadGitHub(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	env := map[string]string{"GITHUB_TOKEN": "ghs_fromenv0123", "GITHUB_API_URL": "http://127.0.0.1:9/", "GITHUB_REPOSITORY": "o/r"}
	opt := Options{Getenv: func(k string) string { return env[k] }, HeadSHA: sha, PullRequest: 7}

	r, err := LoadGitHub(MapSource(map[string]string{"timeout-minutes": "abc", "provider": "Not A Provider"}), opt)
	if err != nil {
		t.Fatalf("other inputs refused the GitHub ones: %v", err)
	}
	if r.GitHubToken != "ghs_fromenv0123" || r.GitHubAPIURL != "http://127.0.0.1:9/" || r.GitHubRepo != "o/r" ||
		r.HeadSHA != sha || r.PullRequest != 7 || !r.Comment {
		t.Errorf("defaults from the environment and the event not taken: %+v", r)
	}
	r, err = LoadGitHub(MapSource(map[string]string{"pull-request": "9", "head-sha": strings.Repeat("a", 40),
		"comment": "false", "check-run-id": "42", "github-repository": "x/y"}), opt)
	if err != nil || r.PullRequest != 9 || r.HeadSHA != strings.Repeat("a", 40) || r.Comment || r.CheckRunID != 42 || r.GitHubRepo != "x/y" {
		t.Errorf("inputs over the defaults: %+v, %v", r, err)
	}

	for name, value := range map[string]string{
		"github-token": "ghs_a b", "github-api-url": "ftp://127.0.0.1/", "github-repository": "no-slash",
		"pull-request": "seven", "head-sha": "abc123", "check-run-id": "job-1", "comment": "yes",
	} {
		_, err := LoadGitHub(MapSource(map[string]string{name: value}), opt)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Input != name {
			t.Errorf("%s %q: error %v, want one naming the input", name, value, err)
		}
		if name == "github-token" && strings.Contains(err.Error(), value) {
			t.Errorf("the refused token is quoted: %v", err)
		}
	}
}
