package fakegh

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Serving a request: the delays and faults around it, the atomic state
// change, authentication and routing to an endpoint.

type apiError struct {
	status  int
	message string
	header  http.Header
	docURL  string
	errors  []map[string]string
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := plan{staleAge: -1}
	ev := Event{Client: r.Header.Get(ClientHeader), Method: r.Method, Path: r.URL.Path, Arrived: time.Now()}
	if s.adv != nil {
		p = s.planFor(r)
	}
	if s.adv != nil || s.trace != nil {
		// The body is read now: a held write is applied even after its
		// client has gone (and its connection with it).
		if body, err := io.ReadAll(r.Body); err == nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			ev.Body = string(body)
		}
	}
	if s.delay != nil {
		time.Sleep(s.delay(r))
	}
	time.Sleep(p.before + p.hold)
	f := s.takeFault(r)
	if f != nil && f.During != nil {
		f.During()
	}
	if f != nil && f.Status == 0 {
		f = nil // a hook: serve the request as usual
	}
	ev.Applied = time.Now()
	status, body, hdr := s.handle(r, f, p.staleAge)
	if s.delay != nil {
		time.Sleep(s.delay(r))
	}
	time.Sleep(p.after)
	ev.Answered, ev.Gone, ev.Status, ev.StaleAge = time.Now(), r.Context().Err() != nil, status, p.staleAge
	if isCommentWrite(r) && status < 300 && ev.Gone {
		s.mu.Lock()
		s.unanswered++
		s.mu.Unlock()
	}
	if s.trace != nil {
		if r.Method == http.MethodGet && body != nil {
			out, _ := json.Marshal(body)
			ev.Body = string(out)
		}
		s.trace(ev)
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

// handle serves one request atomically: the lock is held for the state
// change only, as GitHub applies each request on its own.
func (s *Server) handle(r *http.Request, f *Fault, staleAge time.Duration) (int, any, http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hdr := http.Header{}
	var status int
	var body any
	var err *apiError
	if f == nil || f.Apply {
		restore := s.servePast(r, staleAge)
		status, body, err = s.route(r, hdr)
		restore()
	}
	if f != nil {
		err = s.faultError(f)
	}
	if err != nil {
		status = err.status
		for k, v := range err.header {
			hdr[k] = v
		}
		e := map[string]any{"message": err.message, "documentation_url": "https://docs.github.com/rest"}
		if err.docURL != "" {
			e["documentation_url"] = err.docURL
		}
		if err.errors != nil {
			e["errors"] = err.errors
		}
		body = e
	}
	if hdr.Get("X-Ratelimit-Remaining") == "" {
		hdr.Set("X-Ratelimit-Limit", "5000")
		hdr.Set("X-Ratelimit-Remaining", "4999")
		hdr.Set("X-Ratelimit-Reset", strconv.FormatInt(s.now().Add(time.Hour).Unix(), 10))
	}
	s.log = append(s.log, Request{Method: r.Method, Path: r.URL.Path, Status: status})
	return status, body, hdr
}

func (s *Server) route(r *http.Request, hdr http.Header) (int, any, *apiError) {
	tok, aerr := s.auth(r)
	if aerr != nil {
		return 0, nil, aerr
	}
	// GHES serves the same API under /api/v3.
	path := strings.TrimPrefix(r.URL.Path, "/api/v3")
	if strings.Trim(path, "/") == "user" && r.Method == http.MethodGet {
		if !tok.PAT {
			return 0, nil, &apiError{status: http.StatusForbidden, message: "Resource not accessible by integration",
				docURL: "https://docs.github.com/rest/users/users#get-the-authenticated-user"}
		}
		return http.StatusOK, map[string]any{"login": tok.Login, "type": userType(tok.Login)}, nil
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 4 || parts[0] != "repos" {
		return 0, nil, notFound()
	}
	repo := parts[1] + "/" + parts[2]
	rest := parts[3:]
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	if write && tok.ReadOnly {
		return 0, nil, &apiError{status: http.StatusForbidden, message: "Resource not accessible by integration",
			docURL: "https://docs.github.com/rest/issues/comments#create-an-issue-comment"}
	}
	switch {
	case rest[0] == "actions" && len(rest) == 6 && rest[1] == "runs" && rest[3] == "attempts" && rest[5] == "jobs" && r.Method == http.MethodGet:
		if tok.NoActions {
			return 0, nil, &apiError{status: http.StatusForbidden, message: "Resource not accessible by integration",
				docURL: "https://docs.github.com/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run-attempt"}
		}
		return s.listJobs(r, repo, rest[2], rest[4], hdr)
	case rest[0] == "statuses" && len(rest) == 2 && r.Method == http.MethodPost:
		return s.createStatus(r, repo, rest[1], tok)
	case rest[0] == "commits" && len(rest) == 3 && rest[2] == "status" && r.Method == http.MethodGet:
		return s.combinedStatus(r, repo, rest[1], hdr)
	case rest[0] == "commits" && len(rest) == 3 && rest[2] == "statuses" && r.Method == http.MethodGet:
		return s.listStatuses(r, repo, rest[1], hdr)
	case rest[0] == "pulls" && len(rest) == 2 && r.Method == http.MethodGet:
		return s.getPR(repo, rest[1])
	case rest[0] == "issues" && len(rest) == 3 && rest[1] == "comments":
		id, err := strconv.ParseInt(rest[2], 10, 64)
		if err != nil {
			return 0, nil, notFound()
		}
		return s.comment(r, repo, id)
	case rest[0] == "issues" && len(rest) == 3 && rest[2] == "comments":
		n, err := strconv.Atoi(rest[1])
		if err != nil || s.prs[fmt.Sprintf("%s#%d", repo, n)] == nil {
			return 0, nil, notFound()
		}
		switch r.Method {
		case http.MethodGet:
			return s.listComments(r, repo, n, hdr)
		case http.MethodPost:
			body, aerr := commentBody(r)
			if aerr != nil {
				return 0, nil, aerr
			}
			return http.StatusCreated, s.commentJSON(s.addComment(repo, n, tok.Login, body)), nil
		}
	}
	return 0, nil, notFound()
}

func (s *Server) auth(r *http.Request) (Token, *apiError) {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		raw, ok = strings.CutPrefix(h, "token ")
	}
	if t, known := s.tokens[raw]; ok && known {
		return t, nil
	}
	return Token{}, &apiError{status: http.StatusUnauthorized, message: "Bad credentials"}
}

func notFound() *apiError { return &apiError{status: http.StatusNotFound, message: "Not Found"} }

func invalid(resource, field, msg string) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, message: "Validation Failed",
		errors: []map[string]string{{"resource": resource, "code": "custom", "field": field, "message": msg}}}
}

// page cuts items to the requested page and sets the Link header the way
// GitHub does, so clients follow rel="next".
func page[T any](r *http.Request, items []T, maxPer int, hdr http.Header) ([]T, *apiError) {
	q := r.URL.Query()
	per := defaultPerPage
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, &apiError{status: http.StatusUnprocessableEntity, message: "per_page must be a positive integer"}
		}
		per = n
	}
	per = min(per, maxPer)
	p := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, &apiError{status: http.StatusUnprocessableEntity, message: "page must be a positive integer"}
		}
		p = n
	}
	last := max(1, (len(items)+per-1)/per)
	link := func(n int, rel string) string {
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		v := url.Values{}
		v.Set("per_page", strconv.Itoa(per))
		v.Set("page", strconv.Itoa(n))
		u.RawQuery = v.Encode()
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	var links []string
	if p < last {
		links = append(links, link(p+1, "next"), link(last, "last"))
	}
	if p > 1 {
		links = append(links, link(1, "first"), link(p-1, "prev"))
	}
	if len(links) > 0 {
		hdr.Set("Link", strings.Join(links, ", "))
	}
	lo := min((p-1)*per, len(items))
	hi := min(lo+per, len(items))
	return items[lo:hi], nil
}
