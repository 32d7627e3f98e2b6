package ghreport

import (
	"context"
	"strings"

	"github.com/google/go-github/v93/github"
)

// lookupJobURL points the status and the row at this job's page instead of
// the run's, once per Reporter: it lists the run attempt's jobs (which needs
// actions: read) and picks the one on this runner (RUNNER_NAME), else the
// only one named GITHUB_JOB. Any trouble (403 without actions: read, 404,
// no match) keeps the run URL: a less precise link is no reason to retry,
// wait or degrade, so the request is made once, outside call.
func (r *Reporter) lookupJobURL(ctx context.Context) {
	r.mu.Lock()
	if r.jobLooked || !r.lookupJob {
		r.mu.Unlock()
		return
	}
	r.jobLooked = true
	r.mu.Unlock()
	ev := r.cfg.Event
	if ev.RunID == 0 || (ev.RunnerName == "" && ev.Job == "") {
		return
	}
	attempt := int64(max(ev.RunAttempt, 1))
	var jobs []*github.WorkflowJob
	opts := &github.ListOptions{PerPage: 100}
	for page := 0; page < 5; page++ { // a run with more than 500 jobs links the run
		got, resp, err := r.gh.Actions.ListWorkflowJobsAttempt(ctx, r.owner, r.name, ev.RunID, attempt, opts)
		if err != nil {
			r.log.Info("job URL unknown; linking the run (the token may lack actions: read)", "error", err)
			return
		}
		jobs = append(jobs, got.Jobs...)
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if u := pickJob(jobs, ev.RunnerName, ev.Job); u != "" {
		r.mu.Lock()
		r.cfg.JobURL = u
		r.mu.Unlock()
	}
}

// pickJob is the html_url of the job running on runner, else of the only
// job named name (a matrix job's names carry the matrix values, so the job
// id matches only outside a matrix), else "".
func pickJob(jobs []*github.WorkflowJob, runner, name string) string {
	var byRunner, byName []*github.WorkflowJob
	for _, j := range jobs {
		if runner != "" && j.GetRunnerName() == runner {
			byRunner = append(byRunner, j)
		}
		if name != "" && j.GetName() == name {
			byName = append(byName, j)
		}
	}
	for _, set := range [][]*github.WorkflowJob{byRunner, byName} {
		// A self-hosted runner may have run earlier jobs of the attempt:
		// the one in progress is this one.
		var live []*github.WorkflowJob
		for _, j := range set {
			if j.GetStatus() == "in_progress" {
				live = append(live, j)
			}
		}
		for _, cand := range [][]*github.WorkflowJob{live, set} {
			if len(cand) != 1 {
				continue
			}
			if u := cand[0].GetHTMLURL(); strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
				return u
			}
		}
	}
	return ""
}
