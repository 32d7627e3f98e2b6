package fakegh

import (
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Injected trouble: faults, delays, stale reads and the Adversary that
// does all of it, seeded per request.

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

// Inject queues a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, &f)
}

// changed records the state as it now stands, for stale reads. The caller
// holds s.mu.
func (s *Server) changed() {
	if s.stale == nil {
		return
	}
	snap := snapshot{at: s.now(), comments: make(map[int64]*Comment, len(s.comments)), statuses: slices.Clip(s.statuses)}
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
	at := s.now().Add(-age)
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
