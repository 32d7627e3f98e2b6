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
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
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

// Fault is an injected failure: the next Times requests matching Method and
// Path get Status instead of being served. With Status 0 it is a hook, not
// a failure: During runs and the request is then served as usual.
type Fault struct {
	Method string // "" matches any method
	Path   string // substring of the path; "" matches any path
	Status int
	// Message is the JSON "message"; a default fits the status.
	Message string
	// RetryAfter, when set, is sent as Retry-After (whole seconds).
	RetryAfter time.Duration
	// Header is sent with the answer as well, e.g. a Retry-After of 0.
	Header http.Header
	// RateLimitReset, when set, makes this a primary rate limit:
	// x-ratelimit-remaining: 0 and x-ratelimit-reset this far from now.
	RateLimitReset time.Duration
	// Secondary marks a secondary (abuse) rate limit in documentation_url.
	Secondary bool
	Times     int // 0 means once
	// During, when set, runs while the matching request is held, before
	// it is answered (or applied, with Apply): a test can let other
	// clients finish, or move the PR's head, while this request is in
	// flight, as a slow gateway that finally answers 502 would.
	During func()
	// Apply serves the request (its change lands) and then answers Status
	// anyway, as a gateway that times out after the backend did the work.
	Apply bool
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

// staleReads is how often a read is served from a past state, and how far
// back that state may be.
type staleReads struct {
	rnd    *rand.Rand
	chance float64
	lag    time.Duration
}

// snapshot is the comments and statuses as they stood from at on.
type snapshot struct {
	at       time.Time
	comments map[int64]*Comment
	statuses []*Status
}

// Option configures a Server.
type Option func(*Server)

// WithMaxPerPage lowers the page size cap (GitHub's is 100) so tests page
// through few comments.
func WithMaxPerPage(n int) Option { return func(s *Server) { s.perPage = n } }

// WithDelay delays every request by d(r) before it is served and again
// before its response is written, so concurrent requests interleave.
func WithDelay(d func(*http.Request) time.Duration) Option { return func(s *Server) { s.delay = d } }

// WithStaleReads serves a share (chance, 0 to 1) of the reads of comments
// and statuses from the state as it stood at a random instant up to lag
// ago, as GitHub's read replicas do: a read may miss writes (its own
// client's too) made within lag before it. Each stale read is one
// consistent past state, and lag bounds how old it is; pull requests are
// always read fresh. Draws come from a source seeded with seed.
func WithStaleReads(seed uint64, chance float64, lag time.Duration) Option {
	return func(s *Server) {
		s.stale = &staleReads{rnd: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)), chance: chance, lag: lag}
	}
}

// RandomDelay returns a delay function drawing uniformly from [0, max) with a
// seeded source; it is safe for concurrent use.
func RandomDelay(seed uint64, max time.Duration) func(*http.Request) time.Duration {
	var mu sync.Mutex
	rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func(*http.Request) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return time.Duration(rnd.Int64N(int64(max)))
	}
}

// ClientHeader names the client a request comes from, for WithAdversary's
// per-request draws: a test gives each client its own (NamedClient).
const ClientHeader = "X-Fakegh-Client"

// Adversary makes the fake as hostile as the sticky comment protocol says
// GitHub may be (internal/ghreport/sticky.go), and no more: every read of
// comments and statuses is served from a past state up to StaleLag old,
// most near that bound, and a share of the comment writes (create, update)
// are held before they are applied, whether or not their client still
// waits, as GitHub may finish a request its client gave up on. A test
// sets the bounds to what the protocol claims to survive and shows the
// protocol survives them, and that it does not once a guard is taken out.
//
// Each request's draws come from a source seeded with Seed, the request's
// client (ClientHeader) and its number among that client's requests, so a
// failing run can be replayed from its seed: the same client's n-th request
// gets the same delays, staleness and hold whatever the others do.
type Adversary struct {
	Seed uint64
	// MaxDelay: a request waits up to this before it is served, and its
	// answer up to this again after.
	MaxDelay time.Duration
	// ReadDelay: a read of comments or statuses waits up to this more,
	// before and after (GitHub slow to list, fast to write).
	ReadDelay time.Duration
	// WriteAnswerDelay: the answer to a comment write waits up to this
	// more after the write landed (a slow way back, which GitHub's
	// request limit does not bound).
	WriteAnswerDelay time.Duration
	// StaleLag: how old a read's state may be. Half of the reads get a
	// state exactly this old, the rest one up to this old.
	StaleLag time.Duration
	// HoldShare of the comment writes are held (0 to 1), each for up to
	// MaxHold before it is applied; the answer comes after that. A
	// client that stops waiting does not stop the write.
	HoldShare float64
	MaxHold   time.Duration
}

// WithAdversary makes the fake an Adversary. It replaces WithDelay and
// WithStaleReads.
func WithAdversary(a Adversary) Option {
	return func(s *Server) {
		s.adv = &a
		s.requests = map[string]uint64{}
		// Keep the states a stale read may be served from.
		s.stale = &staleReads{lag: a.StaleLag}
	}
}

// plan is what the adversary does to one request.
type plan struct {
	before, after time.Duration // waits before serving and before answering
	hold          time.Duration // extra wait of a held comment write
	// staleAge: how old a state a read is served (-1: the present).
	staleAge time.Duration
}

// planFor draws r's plan from the request's own source.
func (s *Server) planFor(r *http.Request) plan {
	a := s.adv
	client := r.Header.Get(ClientHeader)
	s.mu.Lock()
	n := s.requests[client]
	s.requests[client]++
	s.mu.Unlock()
	h := fnv.New64a()
	_, _ = h.Write([]byte(client))
	rnd := rand.New(rand.NewPCG(a.Seed, h.Sum64()^(n*0x9e3779b97f4a7c15)))
	p := plan{staleAge: -1}
	draw := func(d time.Duration) time.Duration {
		if d <= 0 {
			return 0
		}
		return time.Duration(rnd.Int64N(int64(d)))
	}
	p.before, p.after = draw(a.MaxDelay), draw(a.MaxDelay)
	path := r.URL.Path
	switch {
	case r.Method == http.MethodGet && !strings.Contains(path, "/pulls/"):
		p.before += draw(a.ReadDelay)
		p.after += draw(a.ReadDelay)
		if a.StaleLag > 0 {
			p.staleAge = a.StaleLag
			if rnd.IntN(2) == 0 {
				p.staleAge = draw(a.StaleLag + 1)
			}
		}
	case isCommentWrite(r):
		if rnd.Float64() < a.HoldShare {
			p.hold = draw(a.MaxHold + 1)
		}
		p.after += draw(a.WriteAnswerDelay)
	}
	return p
}

// isCommentWrite: r creates or updates an issue comment.
func isCommentWrite(r *http.Request) bool {
	return (r.Method == http.MethodPost || r.Method == http.MethodPatch) && strings.Contains(r.URL.Path, "/comments")
}

// Unanswered is how many comment writes were applied after their client had
// stopped waiting for the answer (a timeout): writes that landed when their
// writer could no longer know whether they would.
func (s *Server) Unanswered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unanswered
}

// NamedClient is an HTTP client for the fake whose requests name client
// (ClientHeader), for WithAdversary's per-request draws.
func (s *Server) NamedClient(client string) *http.Client {
	base := s.srv.Client()
	c := *base
	c.Transport = namedTransport{name: client, next: base.Transport}
	return &c
}

type namedTransport struct {
	name string
	next http.RoundTripper
}

func (t namedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(ClientHeader, t.name)
	return t.next.RoundTrip(r)
}

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

// Inject queues a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, &f)
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

// changed records the state as it now stands, for stale reads. The caller
// holds s.mu.
func (s *Server) changed() {
	if s.stale == nil {
		return
	}
	snap := snapshot{at: time.Now(), comments: make(map[int64]*Comment, len(s.comments)), statuses: slices.Clip(s.statuses)}
	for id, c := range s.comments {
		cc := *c
		snap.comments[id] = &cc
	}
	// Keep what a read may still be served: every state from lag ago on,
	// and the one that stood lag ago.
	cut := 0
	for i := 1; i < len(s.snapshots) && snap.at.Sub(s.snapshots[i].at) > s.stale.lag; i++ {
		cut = i
	}
	s.snapshots = append(s.snapshots[cut:], snap)
}

// servePast puts a past state of comments and statuses in place for r, when
// r is a read picked to be stale (by the adversary's plan: age old, or -1
// for the present), and returns what puts the present back.
// The caller holds s.mu, so nothing else sees the swap.
func (s *Server) servePast(r *http.Request, age time.Duration) (restore func()) {
	noop := func() {}
	if s.stale == nil || r.Method != http.MethodGet || strings.Contains(r.URL.Path, "/pulls/") || len(s.snapshots) == 0 {
		return noop
	}
	if s.adv == nil {
		if s.stale.rnd.Float64() >= s.stale.chance {
			return noop
		}
		age = time.Duration(s.stale.rnd.Int64N(int64(s.stale.lag) + 1))
	}
	if age < 0 {
		return noop
	}
	at := time.Now().Add(-age)
	// The state that stood at that instant: the last recorded at or
	// before it (the oldest kept when all are newer: setup, long ago).
	past := s.snapshots[0]
	for _, snap := range s.snapshots[1:] {
		if snap.at.After(at) {
			break
		}
		past = snap
	}
	comments, statuses := s.comments, s.statuses
	s.comments, s.statuses = past.comments, past.statuses
	return func() { s.comments, s.statuses = comments, statuses }
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

// takeFault consumes the first fault matching r, for a known token only (a
// bad token gets its 401 first, as on GitHub).
func (s *Server) takeFault(r *http.Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.auth(r); err != nil {
		return nil
	}
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == r.Method) && strings.Contains(r.URL.Path, f.Path) {
			f.Times--
			if f.Times == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			return f
		}
	}
	return nil
}

func (s *Server) faultError(f *Fault) *apiError {
	e := &apiError{status: f.Status, message: f.Message, header: http.Header{}}
	if e.message == "" {
		e.message = http.StatusText(f.Status)
	}
	if f.RetryAfter > 0 {
		e.header.Set("Retry-After", strconv.Itoa(int(f.RetryAfter.Round(time.Second)/time.Second)))
	}
	for k, v := range f.Header {
		e.header[http.CanonicalHeaderKey(k)] = v
	}
	if f.RateLimitReset > 0 {
		e.header.Set("X-Ratelimit-Limit", "5000")
		e.header.Set("X-Ratelimit-Remaining", "0")
		e.header.Set("X-Ratelimit-Reset", strconv.FormatInt(s.now().Add(f.RateLimitReset).Unix(), 10))
		if f.Message == "" {
			e.message = "API rate limit exceeded for installation."
		}
	}
	if f.Secondary {
		e.docURL = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"
		if f.Message == "" {
			e.message = "You have exceeded a secondary rate limit."
		}
	}
	return e
}

func notFound() *apiError { return &apiError{status: http.StatusNotFound, message: "Not Found"} }

func invalid(resource, field, msg string) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, message: "Validation Failed",
		errors: []map[string]string{{"resource": resource, "code": "custom", "field": field, "message": msg}}}
}

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
