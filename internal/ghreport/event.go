package ghreport

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// Event is what the reporting needs from the workflow run's event.
type Event struct {
	// Name is GITHUB_EVENT_NAME ("pull_request", "push", ...).
	Name string
	// Repo is the repository the workflow runs in, "owner/name".
	Repo string
	// HeadSHA is the commit the results are about: the PR's head commit on
	// pull_request events (GITHUB_SHA is a merge commit there, and statuses
	// posted to it never show on the PR), on a push to a branch the
	// payload's after (the commit the branch now points to), else
	// GITHUB_SHA (on a tag push too: an annotated tag's after is the tag
	// object, not a commit, and statuses cannot be posted to it).
	HeadSHA string
	// PR is the pull request number; 0 when the event has none (push).
	PR int
	// HeadRepo and BaseRepo are the PR's head and base repositories.
	HeadRepo, BaseRepo string
	// RunURL links the workflow run (GITHUB_SERVER_URL/REPO/actions/runs/ID).
	RunURL string
	// JobsURL is where the run's job pages are: a job's page is JobsURL/ID
	// for its check run ID (GITHUB_SERVER_URL/REPO/actions/runs/ID/job).
	JobsURL string
	// RunID and RunAttempt (GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT), Job
	// (GITHUB_JOB, the job's id in the workflow) and RunnerName
	// (RUNNER_NAME) find this job's page among the run's jobs.
	RunID      int64
	RunAttempt int
	Job        string
	RunnerName string
}

// Fork reports whether the PR comes from another repository.
func (e Event) Fork() bool {
	return e.PR != 0 && e.HeadRepo != "" && e.BaseRepo != "" && !strings.EqualFold(e.HeadRepo, e.BaseRepo)
}

// readOnlyFork reports whether the token cannot write: a fork PR's
// pull_request event runs with a read-only token, while pull_request_target
// runs in the base repository with its normal token.
func (e Event) readOnlyFork() bool {
	return e.Fork() && e.Name != "pull_request_target"
}

// commitEvents are the events without a pull request whose GITHUB_SHA is
// the commit the run is about (pushed, dispatched on a ref, the default
// branch on schedule, a merge group's, a release's, a created ref's, a
// deployment's). Any other event without one (issue_comment, workflow_run,
// repository_dispatch, ...) sets GITHUB_SHA to the default branch's latest
// commit, which is not the commit a ChatOps or follow-up run verifies.
var commitEvents = map[string]bool{
	"push": true, "workflow_dispatch": true, "schedule": true, "merge_group": true,
	"release": true, "create": true, "deployment": true, "deployment_status": true,
}

// CommitNotice is a notice for an event that names no pull request and no
// commit of its own (issue_comment, workflow_run): the statuses would go
// to GITHUB_SHA, the default branch's latest commit, whatever was
// verified. Empty for every other event, and outside Actions (no name).
func (e Event) CommitNotice() string {
	if e.PR != 0 || e.Name == "" || e.HeadSHA == "" || commitEvents[e.Name] {
		return ""
	}
	return fmt.Sprintf("the %s event names no pull request, so the commit statuses go to GITHUB_SHA %s, "+
		"which for this event is the default branch's latest commit, not necessarily the one verified: "+
		"pass head-sha (and pull-request, for the comment) to pick the commit", e.Name, matrix.ShortSHA(e.HeadSHA))
}

// pushedCommit reports whether a push payload's after names a commit: a
// branch's new head (refs/heads/...) given as a full SHA, not the all-zero
// one a deleted branch's push carries. A tag push's after is the tag's
// object, which for an annotated tag is no commit (GitHub refuses statuses
// on it: "No commit found for SHA"); GITHUB_SHA is the tagged commit there.
// Anything else leaves GITHUB_SHA in place rather than failing the leg over
// a field the runner's own variable also gives.
func pushedCommit(ref, after string) bool {
	return strings.HasPrefix(ref, "refs/heads/") && matrix.ValidSHA(after) && strings.Trim(after, "0") != ""
}

// LoadEvent reads the event payload at path (GITHUB_EVENT_PATH) and the run's
// environment through env (os.Getenv in production). An empty path means no
// payload: the event is read from the environment alone.
func LoadEvent(path string, env func(string) string) (Event, error) {
	ev := Event{Name: env("GITHUB_EVENT_NAME"), Repo: env("GITHUB_REPOSITORY"), HeadSHA: env("GITHUB_SHA")}
	shaFrom := "GITHUB_SHA" // where HeadSHA came from, for its refusal
	if server, id := strings.TrimRight(env("GITHUB_SERVER_URL"), "/"), env("GITHUB_RUN_ID"); server != "" && ev.Repo != "" && id != "" {
		ev.RunURL = server + "/" + ev.Repo + "/actions/runs/" + id
		ev.JobsURL = ev.RunURL + "/job"
		if a := env("GITHUB_RUN_ATTEMPT"); a != "" && a != "1" {
			ev.RunURL += "/attempts/" + a
		}
	}
	ev.RunID, _ = strconv.ParseInt(env("GITHUB_RUN_ID"), 10, 64)
	ev.RunAttempt, _ = strconv.Atoi(env("GITHUB_RUN_ATTEMPT"))
	ev.Job, ev.RunnerName = env("GITHUB_JOB"), env("RUNNER_NAME")
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Event{}, fmt.Errorf("read event payload GITHUB_EVENT_PATH=%s: %w", path, err)
		}
		var payload struct {
			// Ref and After are a push's ref and its new head; on a
			// branch push after is what GITHUB_SHA is set from, but the
			// payload is the event itself.
			Ref         string `json:"ref"`
			After       string `json:"after"`
			PullRequest *struct {
				Number int `json:"number"`
				Head   struct {
					SHA  string `json:"sha"`
					Repo *struct {
						FullName string `json:"full_name"`
					} `json:"repo"`
				} `json:"head"`
				Base struct {
					Repo *struct {
						FullName string `json:"full_name"`
					} `json:"repo"`
				} `json:"base"`
			} `json:"pull_request"`
		}
		if err := json.Unmarshal(data, &payload); err != nil {
			return Event{}, fmt.Errorf("read event payload GITHUB_EVENT_PATH=%s: expected the event's JSON: %w", path, err)
		}
		if pr := payload.PullRequest; pr != nil {
			if pr.Number <= 0 || pr.Head.SHA == "" {
				return Event{}, fmt.Errorf("read event payload GITHUB_EVENT_PATH=%s: pull_request without number or head.sha", path)
			}
			ev.PR, ev.HeadSHA = pr.Number, pr.Head.SHA
			shaFrom = "read event payload GITHUB_EVENT_PATH=" + path + ": pull_request.head.sha"
			if pr.Head.Repo != nil {
				ev.HeadRepo = pr.Head.Repo.FullName
			} else {
				// GitHub sends a null head repo when the fork was deleted:
				// it is still a fork, and its token is read-only.
				ev.HeadRepo = "(deleted fork)"
			}
			if pr.Base.Repo != nil {
				ev.BaseRepo = pr.Base.Repo.FullName
			}
		} else if ev.Name == "push" && pushedCommit(payload.Ref, payload.After) {
			ev.HeadSHA = payload.After
		}
	}
	if ev.HeadSHA != "" && !matrix.ValidSHA(ev.HeadSHA) {
		// Not an input: the runner's variable or the event's payload,
		// said as a refused input is (got, expected).
		return Event{}, fmt.Errorf("%s: got %q, expected a full commit SHA (40 or 64 lowercase hex digits)", shaFrom, ev.HeadSHA)
	}
	if ev.Repo == "" && ev.BaseRepo != "" {
		ev.Repo = ev.BaseRepo
	}
	return ev, nil
}
