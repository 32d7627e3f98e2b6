package fakegh

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The endpoints: comments, pull requests, jobs and commit statuses.

func commentBody(r *http.Request) (string, *apiError) {
	var in struct {
		Body *string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return "", &apiError{status: http.StatusBadRequest, message: "Problems parsing JSON"}
	}
	if in.Body == nil || *in.Body == "" {
		return "", invalid("IssueComment", "body", "body is missing")
	}
	if utf8.RuneCountInString(*in.Body) > MaxCommentBody {
		return "", invalid("IssueComment", "body", fmt.Sprintf("body is too long (maximum is %d characters)", MaxCommentBody))
	}
	return *in.Body, nil
}

func (s *Server) comment(r *http.Request, repo string, id int64) (int, any, *apiError) {
	c := s.comments[id]
	if c == nil || c.Repo != repo {
		return 0, nil, notFound()
	}
	switch r.Method {
	case http.MethodGet:
		return http.StatusOK, s.commentJSON(c), nil
	case http.MethodPatch:
		body, aerr := commentBody(r)
		if aerr != nil {
			return 0, nil, aerr
		}
		c.Body = body
		c.UpdatedAt = s.now().UTC().Truncate(time.Second)
		s.changed()
		return http.StatusOK, s.commentJSON(c), nil
	case http.MethodDelete:
		delete(s.comments, id)
		s.changed()
		return http.StatusNoContent, nil, nil
	}
	return 0, nil, notFound()
}

func (s *Server) commentJSON(c *Comment) map[string]any {
	base := "https://github.com/" + c.Repo
	return map[string]any{
		"id":         c.ID,
		"node_id":    fmt.Sprintf("IC_%d", c.ID),
		"body":       c.Body,
		"user":       map[string]any{"login": c.Login, "type": userType(c.Login)},
		"created_at": c.CreatedAt.Format(time.RFC3339),
		"updated_at": c.UpdatedAt.Format(time.RFC3339),
		"html_url":   fmt.Sprintf("%s/pull/%d#issuecomment-%d", base, c.Issue, c.ID),
	}
}

func userType(login string) string {
	if strings.HasSuffix(login, "[bot]") {
		return "Bot"
	}
	return "User"
}

func (s *Server) listComments(r *http.Request, repo string, issue int, hdr http.Header) (int, any, *apiError) {
	all := s.sortedComments(repo, issue)
	got, aerr := page(r, all, s.perPage, hdr)
	if aerr != nil {
		return 0, nil, aerr
	}
	out := make([]map[string]any, 0, len(got))
	for _, c := range got {
		out = append(out, s.commentJSON(c))
	}
	return http.StatusOK, out, nil
}

func (s *Server) getPR(repo, num string) (int, any, *apiError) {
	pr := s.prs[repo+"#"+num]
	if pr == nil {
		return 0, nil, notFound()
	}
	return http.StatusOK, map[string]any{
		"number": pr.Number,
		"state":  "open",
		"head":   map[string]any{"sha": pr.HeadSHA, "repo": map[string]any{"full_name": pr.HeadRepo}},
		"base":   map[string]any{"repo": map[string]any{"full_name": pr.BaseRepo}},
	}, nil
}

func (s *Server) listJobs(r *http.Request, repo, run, attempt string, hdr http.Header) (int, any, *apiError) {
	runID, err1 := strconv.ParseInt(run, 10, 64)
	n, err2 := strconv.Atoi(attempt)
	all, ok := s.jobs[fmt.Sprintf("%s/%d/%d", repo, runID, n)]
	if err1 != nil || err2 != nil || !ok {
		return 0, nil, notFound()
	}
	got, aerr := page(r, all, MaxPerPage, hdr)
	if aerr != nil {
		return 0, nil, aerr
	}
	out := make([]map[string]any, 0, len(got))
	for _, j := range got {
		out = append(out, map[string]any{
			"id": j.ID, "run_id": runID, "run_attempt": n, "name": j.Name, "runner_name": j.RunnerName,
			"status": j.Status, "html_url": JobURL(repo, runID, j.ID),
		})
	}
	return http.StatusOK, map[string]any{"total_count": len(all), "jobs": out}, nil
}

var statusStates = []string{"pending", "success", "failure", "error"}

func (s *Server) createStatus(r *http.Request, repo, sha string, tok Token) (int, any, *apiError) {
	var in struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return 0, nil, &apiError{status: http.StatusBadRequest, message: "Problems parsing JSON"}
	}
	if !slices.Contains(statusStates, in.State) {
		return 0, nil, invalid("Status", "state", "state is not included in the list")
	}
	if utf8.RuneCountInString(in.Description) > MaxStatusDescription {
		return 0, nil, invalid("Status", "description", "description is too long (maximum is 140 characters)")
	}
	if in.Context == "" {
		in.Context = "default"
	}
	s.nextID++
	st := &Status{ID: s.nextID, Repo: repo, SHA: sha, State: in.State, TargetURL: in.TargetURL,
		Description: in.Description, Context: in.Context, Login: tok.Login, CreatedAt: s.now().UTC().Truncate(time.Second)}
	s.statuses = append(s.statuses, st)
	s.changed()
	return http.StatusCreated, statusJSON(st), nil
}

func statusJSON(st *Status) map[string]any {
	return map[string]any{
		"id": st.ID, "state": st.State, "target_url": st.TargetURL, "description": st.Description,
		"context": st.Context, "creator": map[string]any{"login": st.Login},
		"created_at": st.CreatedAt.Format(time.RFC3339), "updated_at": st.CreatedAt.Format(time.RFC3339),
	}
}

// newest returns the statuses for sha, newest first (GitHub's list order).
func (s *Server) newest(repo, sha string) []*Status {
	var out []*Status
	for i := len(s.statuses) - 1; i >= 0; i-- {
		if st := s.statuses[i]; st.Repo == repo && st.SHA == sha {
			out = append(out, st)
		}
	}
	return out
}

func (s *Server) listStatuses(r *http.Request, repo, sha string, hdr http.Header) (int, any, *apiError) {
	got, aerr := page(r, s.newest(repo, sha), MaxPerPage, hdr)
	if aerr != nil {
		return 0, nil, aerr
	}
	out := make([]map[string]any, 0, len(got))
	for _, st := range got {
		out = append(out, statusJSON(st))
	}
	return http.StatusOK, out, nil
}

func (s *Server) combinedStatus(r *http.Request, repo, sha string, hdr http.Header) (int, any, *apiError) {
	var latest []*Status
	seen := map[string]bool{}
	for _, st := range s.newest(repo, sha) {
		if !seen[st.Context] {
			seen[st.Context] = true
			latest = append(latest, st)
		}
	}
	state := "success"
	for _, st := range latest {
		switch st.State {
		case "failure", "error":
			state = "failure"
		case "pending":
			if state == "success" {
				state = "pending"
			}
		}
	}
	if len(latest) == 0 {
		state = "pending"
	}
	got, aerr := page(r, latest, min(s.perPage, MaxPerPage), hdr)
	if aerr != nil {
		return 0, nil, aerr
	}
	out := make([]map[string]any, 0, len(got))
	for _, st := range got {
		j := statusJSON(st)
		// GitHub's combined status does not say who created each status;
		// only the list of statuses and the created status do.
		delete(j, "creator")
		out = append(out, j)
	}
	return http.StatusOK, map[string]any{"state": state, "sha": sha, "total_count": len(latest), "statuses": out}, nil
}
