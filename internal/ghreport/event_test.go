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

// On a branch push the commit is the payload's after, the branch's new head;
// GITHUB_SHA (given another value here, so the test tells which was read) is
// the fallback when there is no payload or its after names no commit, and on
// a tag push, where an annotated tag's after is the tag object (no commit:
// statuses posted to it are refused) while GITHUB_SHA is the tagged commit.
func TestLoadEventPush(t *testing.T) {
	env := envOf(map[string]string{"GITHUB_EVENT_NAME": "push", "GITHUB_REPOSITORY": testRepo, "GITHUB_SHA": sha2})
	zero := strings.Repeat("0", 40)
	for _, tc := range []struct {
		name, path, want string
	}{
		{"payload's after", writeEvent(t, `{"ref":"refs/heads/main","after":"`+sha1+`"}`), sha1},
		{"no payload", "", sha2},
		{"no after", writeEvent(t, `{"ref":"refs/heads/main"}`), sha2},
		{"after not a SHA", writeEvent(t, `{"ref":"refs/heads/main","after":"HEAD"}`), sha2},
		{"short after", writeEvent(t, `{"ref":"refs/heads/main","after":"`+sha1[:12]+`"}`), sha2},
		{"deleted branch", writeEvent(t, `{"ref":"refs/heads/gone","after":"`+zero+`","deleted":true}`), sha2},
		{"annotated tag", writeEvent(t, `{"ref":"refs/tags/v1","after":"`+sha1+`"}`), sha2},
		{"no ref", writeEvent(t, `{"after":"`+sha1+`"}`), sha2},
	} {
		ev, err := LoadEvent(tc.path, env)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if ev.HeadSHA != tc.want || ev.PR != 0 || ev.Fork() {
			t.Errorf("%s: push event = %+v, want head %s and no PR", tc.name, ev, tc.want)
		}
	}
}

// after is read from a push's payload only: another event's after (a
// pull_request synchronize carries one too) does not replace its commit.
func TestLoadEventAfterOnlyOnPush(t *testing.T) {
	env := envOf(map[string]string{"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_REPOSITORY": testRepo, "GITHUB_SHA": sha2})
	ev, err := LoadEvent(writeEvent(t, `{"after":"`+sha1+`"}`), env)
	if err != nil {
		t.Fatal(err)
	}
	if ev.HeadSHA != sha2 {
		t.Errorf("workflow_dispatch event with an after: head %s, want GITHUB_SHA %s", ev.HeadSHA, sha2)
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

// A malformed head SHA is refused naming where it came from (the payload's
// field or GITHUB_SHA), the value and the form, as a refused input is.
func TestLoadEventErrors(t *testing.T) {
	env := envOf(map[string]string{"GITHUB_SHA": sha1})
	tests := map[string]struct {
		path string
		env  func(string) string
		want string
	}{
		"missing file": {filepath.Join(t.TempDir(), "nope.json"), env, "GITHUB_EVENT_PATH="},
		"not json":     {writeEvent(t, "{"), env, "expected the event's JSON"},
		"no head sha":  {writeEvent(t, `{"pull_request":{"number":7,"head":{}}}`), env, "without number or head.sha"},
		"malformed sha": {writeEvent(t, `{"pull_request":{"number":7,"head":{"sha":"HEAD"}}}`), env,
			`: pull_request.head.sha: got "HEAD", expected a full commit SHA (40 or 64 lowercase hex digits)`},
		"malformed GITHUB_SHA": {"", envOf(map[string]string{"GITHUB_SHA": "main"}),
			`GITHUB_SHA: got "main", expected a full commit SHA (40 or 64 lowercase hex digits)`},
	}
	for name, tt := range tests {
		if _, err := LoadEvent(tt.path, tt.env); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tt.want)
		}
	}
}

// loadPayload reads testdata/events/<name>.json as the event named name.
func loadPayload(t *testing.T, name string, env map[string]string) Event {
	t.Helper()
	env["GITHUB_EVENT_NAME"] = name
	ev, err := LoadEvent(filepath.Join("testdata", "events", name+".json"), envOf(env))
	if err != nil {
		t.Fatalf("LoadEvent %s: %v", name, err)
	}
	return ev
}

// pull_request_target runs in the base repository with its own token, and
// GITHUB_SHA is the base branch's commit: the head is the payload's, and a
// fork's PR is a fork that may still be written to.
func TestLoadEventPullRequestTarget(t *testing.T) {
	ev := loadPayload(t, "pull_request_target", map[string]string{"GITHUB_REPOSITORY": testRepo, "GITHUB_SHA": sha2})
	if ev.HeadSHA != sha1 || ev.PR != 7 || ev.HeadRepo != "mallory/widgets" || ev.BaseRepo != testRepo || ev.Repo != testRepo {
		t.Errorf("pull_request_target = %+v, want PR 7 at the fork's head %s", ev, sha1)
	}
	if !ev.Fork() || ev.readOnlyFork() {
		t.Errorf("fork %v, read-only %v: want a fork whose token can write", ev.Fork(), ev.readOnlyFork())
	}
	if n := ev.CommitNotice(); n != "" {
		t.Errorf("notice %q for an event naming its pull request", n)
	}
}

// workflow_dispatch has no pull request and GITHUB_SHA is the dispatched
// ref's commit, the one verified: no notice.
func TestLoadEventWorkflowDispatch(t *testing.T) {
	ev := loadPayload(t, "workflow_dispatch", map[string]string{"GITHUB_REPOSITORY": testRepo, "GITHUB_SHA": sha2})
	if ev.HeadSHA != sha2 || ev.PR != 0 || ev.Fork() {
		t.Errorf("workflow_dispatch = %+v, want GITHUB_SHA and no PR", ev)
	}
	if n := ev.CommitNotice(); n != "" {
		t.Errorf("notice %q, want none: GITHUB_SHA is the dispatched commit", n)
	}
	for _, name := range []string{"push", "schedule"} {
		if n := (Event{Name: name, HeadSHA: sha2}).CommitNotice(); n != "" {
			t.Errorf("%s: notice %q, want none", name, n)
		}
	}
}

// issue_comment (ChatOps on a PR): the PR is under issue.pull_request, not
// a top-level pull_request, and GITHUB_SHA is the default branch's latest
// commit. The statuses would go there, so the event carries a notice
// naming head-sha.
func TestLoadEventIssueCommentNotice(t *testing.T) {
	ev := loadPayload(t, "issue_comment", map[string]string{"GITHUB_REPOSITORY": testRepo, "GITHUB_SHA": sha2})
	if ev.HeadSHA != sha2 || ev.PR != 0 {
		t.Errorf("issue_comment = %+v, want GITHUB_SHA and no PR", ev)
	}
	n := ev.CommitNotice()
	for _, want := range []string{"issue_comment", "GITHUB_SHA 2222222", "head-sha"} {
		if !strings.Contains(n, want) {
			t.Errorf("notice %q lacks %q", n, want)
		}
	}
	if n := (Event{Name: "workflow_run", HeadSHA: sha2}).CommitNotice(); !strings.Contains(n, "workflow_run") {
		t.Errorf("workflow_run: notice %q, want one", n)
	}
}

// Every event whose GITHUB_SHA is the commit it is about goes without a
// notice; the ones whose GITHUB_SHA is just the default branch's latest
// commit carry one, unless a pull request in the payload names the head.
func TestCommitNoticeByEvent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		notice bool
	}{
		{"push", false}, {"workflow_dispatch", false}, {"schedule", false}, {"merge_group", false},
		{"release", false}, {"create", false}, {"deployment", false}, {"deployment_status", false},
		{"repository_dispatch", true}, {"workflow_run", true}, {"issue_comment", true},
	} {
		n := (Event{Name: tc.name, Repo: testRepo, HeadSHA: sha2}).CommitNotice()
		if tc.notice && !strings.Contains(n, tc.name) {
			t.Errorf("%s: notice %q, want one naming the event", tc.name, n)
		}
		if !tc.notice && n != "" {
			t.Errorf("%s: notice %q, want none: GITHUB_SHA is the commit it is about", tc.name, n)
		}
	}
	// An event outside the list whose payload has a pull request: the
	// head is the PR's, so there is nothing to warn about.
	path := writeEvent(t, `{"pull_request": {"number": 7, "head": {"sha": "`+sha1+`"}}}`)
	ev, err := LoadEvent(path, envOf(map[string]string{
		"GITHUB_EVENT_NAME": "pull_request_review", "GITHUB_REPOSITORY": testRepo, "GITHUB_SHA": sha2,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if ev.PR != 7 || ev.HeadSHA != sha1 {
		t.Fatalf("pull_request_review = %+v, want PR 7 at %s", ev, sha1)
	}
	if n := ev.CommitNotice(); n != "" {
		t.Errorf("pull_request_review: notice %q, want none for an event naming its pull request", n)
	}
}
