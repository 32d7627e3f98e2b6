package ghreport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeEvent(t *testing.T, payload string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(path, []byte(payload), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadEvent(t *testing.T) {
	env := envOf(map[string]string{
		"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REPOSITORY": testRepo,
		// On pull_request GITHUB_SHA is the merge commit, never the head.
		"GITHUB_SHA":        sha2,
		"GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2",
		"GITHUB_JOB": "verify", "RUNNER_NAME": "GitHub Actions 7",
	})
	path := writeEvent(t, `{"action":"synchronize","pull_request":{"number":7,"head":{"sha":"`+sha1+`","repo":{"full_name":"acme/widgets"}},"base":{"repo":{"full_name":"acme/widgets"}}}}`)
	ev, err := LoadEvent(path, env)
	if err != nil {
		t.Fatal(err)
	}
	want := Event{Name: "pull_request", Repo: testRepo, HeadSHA: sha1, PR: 7, HeadRepo: testRepo, BaseRepo: testRepo,
		RunURL:  "https://github.com/acme/widgets/actions/runs/42/attempts/2",
		JobsURL: "https://github.com/acme/widgets/actions/runs/42/job",
		RunID:   42, RunAttempt: 2, Job: "verify", RunnerName: "GitHub Actions 7"}
	if ev != want {
		t.Errorf("LoadEvent = %+v\nwant        %+v", ev, want)
	}
	if ev.Fork() {
		t.Error("same-repo PR seen as a fork")
	}
}

func TestLoadEventPush(t *testing.T) {
	env := envOf(map[string]string{"GITHUB_EVENT_NAME": "push", "GITHUB_REPOSITORY": testRepo, "GITHUB_SHA": sha2})
	for _, path := range []string{"", writeEvent(t, `{"ref":"refs/heads/main","after":"`+sha2+`"}`)} {
		ev, err := LoadEvent(path, env)
		if err != nil {
			t.Fatal(err)
		}
		if ev.HeadSHA != sha2 || ev.PR != 0 || ev.Fork() {
			t.Errorf("push event (path %q) = %+v, want GITHUB_SHA and no PR", path, ev)
		}
	}
}

func TestLoadEventDeletedFork(t *testing.T) {
	path := writeEvent(t, `{"pull_request":{"number":3,"head":{"sha":"`+sha1+`","repo":null},"base":{"repo":{"full_name":"acme/widgets"}}}}`)
	ev, err := LoadEvent(path, envOf(map[string]string{"GITHUB_EVENT_NAME": "pull_request"}))
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Fork() || ev.Repo != testRepo {
		t.Errorf("PR from a deleted fork = %+v, want a fork in %s", ev, testRepo)
	}
}

func TestLoadEventErrors(t *testing.T) {
	env := envOf(map[string]string{"GITHUB_SHA": sha1})
	tests := map[string]struct {
		path string
		want string
	}{
		"missing file":  {filepath.Join(t.TempDir(), "nope.json"), "GITHUB_EVENT_PATH="},
		"not json":      {writeEvent(t, "{"), "want the event's JSON"},
		"no head sha":   {writeEvent(t, `{"pull_request":{"number":7,"head":{}}}`), "without number or head.sha"},
		"malformed sha": {writeEvent(t, `{"pull_request":{"number":7,"head":{"sha":"HEAD"}}}`), `"HEAD": want 40`},
	}
	for name, tt := range tests {
		if _, err := LoadEvent(tt.path, env); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tt.want)
		}
	}
}
