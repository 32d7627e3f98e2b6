// Package fakegh is a stateful fake of the parts of the GitHub REST API that
// mvm-verify uses: commit statuses, issue comments, pull requests and the
// jobs of a workflow run attempt. It
// behaves like GitHub where the reporting depends on it: comment lists are
// paginated with Link headers, ids increase, each request is atomic and
// nothing else is serialized (there are no conditional writes), tokens are
// checked, a read-only token gets GitHub's 403 on writes, and faults (rate
// limits, 5xx), per-request delays and stale reads (GitHub serves reads
// from replicas that lag behind the writes) can be injected, or all of it
// at once, seeded per request, by an Adversary as hostile as the sticky
// comment protocol says GitHub may be.
//
// It listens on loopback only.
package fakegh

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"
)

// Limits GitHub enforces that the fake enforces too.
const (
	MaxCommentBody       = 65536 // characters
	MaxStatusDescription = 140   // characters
	MaxPerPage           = 100
	defaultPerPage       = 30
)

// Token is what a token may do.
type Token struct {
	// Login is the account the token acts as: comments and statuses it
	// creates are that account's. Default github-actions[bot].
	Login    string
	ReadOnly bool
	// PAT: a personal access token, for which GET /user names the login.
	// Without it the token is an installation token (GITHUB_TOKEN, a
	// GitHub App's), for which GitHub answers GET /user with 403
	// "Resource not accessible by integration".
	PAT bool
	// NoActions: the token lacks actions: read, so the Actions API answers
	// 403 "Resource not accessible by integration".
	NoActions bool
}

// Job is a job of a workflow run attempt.
type Job struct {
	ID         int64
	Name       string // as GitHub shows it: "verify (aws)" in a matrix
	RunnerName string
	Status     string // queued, in_progress, completed
}

// Comment is an issue comment as stored.
type Comment struct {
	ID        int64
	Repo      string
	Issue     int
	Body      string
	Login     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Status is a commit status as stored.
type Status struct {
	ID          int64
	Repo        string
	SHA         string
	State       string
	TargetURL   string
	Description string
	Context     string
	Login       string
	CreatedAt   time.Time
}

// PR is a pull request as stored.
type PR struct {
	Number   int
	HeadSHA  string
	HeadRepo string
	BaseRepo string
}

// Request is one logged request.
type Request struct {
	Method, Path string
	Status       int
}

// Server is the fake API.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	tokens   map[string]Token
	prs      map[string]*PR // "owner/repo#n"
	comments map[int64]*Comment
	statuses []*Status
	jobs     map[string][]Job // "owner/repo/run/attempt"
	nextID   int64
	faults   []*Fault
	log      []Request
	perPage  int
	delay    func(*http.Request) time.Duration
	now      func() time.Time

	// Stale reads (WithStaleReads): past states of comments and
	// statuses, oldest first, and how reads pick one.
	stale     *staleReads
	snapshots []snapshot

	// adv (WithAdversary) plans every request's delays, staleness and
	// hold; requests counts each client's requests for its draws.
	adv      *Adversary
	requests map[string]uint64
	// unanswered counts the comment writes applied whose client had
	// stopped waiting by the time the answer was ready.
	unanswered int
	trace      func(Event)
}

// Event is one request as the fake served it (WithTrace).
type Event struct {
	Client, Method, Path string
	// Arrived: when the request came in; Applied: when it was served
	// (a write landed, a read took its state); Answered: when the answer
	// was ready.
	Arrived, Applied, Answered time.Time
	// StaleAge: how old a state the read was served; -1 for the present.
	StaleAge time.Duration
	Status   int
	// Gone: the client had stopped waiting when the answer was ready.
	Gone bool
	// Body is the write's body, or the answer to a read.
	Body string
}

// WithTrace calls fn with every request once it is answered, to show how a
// failing run went.
func WithTrace(fn func(Event)) Option { return func(s *Server) { s.trace = fn } }

// Option configures a Server.
type Option func(*Server)

// WithClock puts the fake on the clock now: what it stamps comments and
// statuses with, and what its stale reads (WithStaleReads, WithAdversary)
// measure a state's age on, so a test can move time past the lag rather
// than wait it out. Default time.Now.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithMaxPerPage lowers the page size cap (GitHub's is 100) so tests page
// through few comments.
func WithMaxPerPage(n int) Option { return func(s *Server) { s.perPage = n } }

// New starts a fake on loopback. Stop it with Close.
func New(opts ...Option) *Server {
	s := &Server{
		tokens:   map[string]Token{},
		prs:      map[string]*PR{},
		comments: map[int64]*Comment{},
		jobs:     map[string][]Job{},
		nextID:   1000,
		perPage:  MaxPerPage,
		now:      time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	s.changed()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the API base URL, with a trailing slash, as go-github wants it.
func (s *Server) URL() string { return s.srv.URL + "/" }

// Client is an HTTP client for the fake.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// AddToken lets a token in.
func (s *Server) AddToken(token string, t Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.Login == "" {
		t.Login = "github-actions[bot]"
	}
	s.tokens[token] = t
}

// SetPR creates or moves a pull request (a push moves its head).
func (s *Server) SetPR(repo string, pr PR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pr.BaseRepo == "" {
		pr.BaseRepo = repo
	}
	if pr.HeadRepo == "" {
		pr.HeadRepo = repo
	}
	s.prs[fmt.Sprintf("%s#%d", repo, pr.Number)] = &pr
}

// AddJob adds a job to a run attempt; its html_url is
// https://github.com/<repo>/actions/runs/<run>/job/<id>.
func (s *Server) AddJob(repo string, run int64, attempt int, j Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.ID == 0 {
		s.nextID++
		j.ID = s.nextID
	}
	k := fmt.Sprintf("%s/%d/%d", repo, run, attempt)
	s.jobs[k] = append(s.jobs[k], j)
}

// JobURL is the html_url the fake gives a job.
func JobURL(repo string, run, id int64) string {
	return fmt.Sprintf("https://github.com/%s/actions/runs/%d/job/%d", repo, run, id)
}

// AddComment stores a comment as if login had written it.
func (s *Server) AddComment(repo string, issue int, login, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addComment(repo, issue, login, body).ID
}

func (s *Server) addComment(repo string, issue int, login, body string) *Comment {
	s.nextID++
	now := s.now().UTC().Truncate(time.Second)
	c := &Comment{ID: s.nextID, Repo: repo, Issue: issue, Body: body, Login: login, CreatedAt: now, UpdatedAt: now}
	s.comments[c.ID] = c
	s.changed()
	return c
}

// SetCommentBody replaces a comment's body, as another writer's update
// landing would.
func (s *Server) SetCommentBody(id int64, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.comments[id]; c != nil {
		c.Body = body
		c.UpdatedAt = s.now().UTC().Truncate(time.Second)
		s.changed()
	}
}

// DeleteComment deletes a comment, as another writer's delete landing
// would. It reports whether there was one.
func (s *Server) DeleteComment(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.comments[id] == nil {
		return false
	}
	delete(s.comments, id)
	s.changed()
	return true
}

// Comments returns the issue's comments, oldest first.
func (s *Server) Comments(repo string, issue int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.sortedComments(repo, issue) {
		out = append(out, *c)
	}
	return out
}

// Statuses returns every status posted for sha, oldest first.
func (s *Server) Statuses(repo, sha string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Status
	for _, st := range s.statuses {
		if st.Repo == repo && st.SHA == sha {
			out = append(out, *st)
		}
	}
	return out
}

// AddStatus stores a status as if it had been posted.
func (s *Server) AddStatus(repo string, st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	st.ID, st.Repo = s.nextID, repo
	if st.CreatedAt.IsZero() {
		st.CreatedAt = s.now().UTC().Truncate(time.Second)
	}
	s.statuses = append(s.statuses, &st)
	s.changed()
}

// Requests returns the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

func (s *Server) sortedComments(repo string, issue int) []*Comment {
	var out []*Comment
	for _, c := range s.comments {
		if c.Repo == repo && c.Issue == issue {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *Comment) int { return int(a.ID - b.ID) })
	return out
}
