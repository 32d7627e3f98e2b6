package fakegh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-github/v93/github"
)

const repo = "acme/widgets"

func client(t *testing.T, s *Server, token string) *github.Client {
	t.Helper()
	base := s.URL()
	opts := []github.ClientOptionsFunc{github.WithURLs(&base, nil), github.WithHTTPClient(s.Client()), github.WithDisableRateLimitCheck()}
	if token != "" {
		opts = append(opts, github.WithAuthToken(token))
	}
	c, err := github.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newServer(t *testing.T, opts ...Option) *Server {
	s := New(opts...)
	t.Cleanup(s.Close)
	s.AddToken("rw", Token{})
	s.AddToken("ro", Token{ReadOnly: true})
	s.SetPR(repo, PR{Number: 1, HeadSHA: strings.Repeat("a", 40)})
	return s
}

func TestTokens(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	for _, token := range []string{"", "wrong"} {
		_, resp, err := client(t, s, token).PullRequests.Get(ctx, "acme", "widgets", 1)
		if err == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token %q: %v, want 401", token, err)
		}
	}
	// The older "token" scheme is accepted too.
	req, _ := http.NewRequest("GET", s.URL()+"repos/acme/widgets/pulls/1", nil)
	req.Header.Set("Authorization", "token rw")
	resp, err := s.Client().Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("token scheme: %v %v", err, resp)
	}
	_, _, err = client(t, s, "ro").Issues.CreateComment(ctx, "acme", "widgets", 1, github.IssueCommentRequest{Body: "x"})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusForbidden || er.Message != "Resource not accessible by integration" {
		t.Errorf("read-only write: %v, want GitHub's 403", err)
	}
	if _, _, err := client(t, s, "ro").Issues.ListComments(ctx, "acme", "widgets", 1, nil); err != nil {
		t.Errorf("read-only read: %v", err)
	}
}

func TestCommentsPaginateAndOrder(t *testing.T) {
	s := newServer(t, WithMaxPerPage(3))
	ctx := context.Background()
	c := client(t, s, "rw")
	var ids []int64
	for i := range 7 {
		got, _, err := c.Issues.CreateComment(ctx, "acme", "widgets", 1, github.IssueCommentRequest{Body: strings.Repeat("x", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) > 0 && got.GetID() <= ids[len(ids)-1] {
			t.Fatalf("ids not increasing: %d after %v", got.GetID(), ids)
		}
		ids = append(ids, got.GetID())
	}
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	var seen []int64
	pages := 0
	for {
		page, resp, err := c.Issues.ListComments(ctx, "acme", "widgets", 1, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, cm := range page {
			seen = append(seen, cm.GetID())
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if pages != 3 || len(seen) != 7 || seen[0] != ids[0] || seen[6] != ids[6] {
		t.Errorf("%d pages, ids %v, want 3 pages of %v", pages, seen, ids)
	}
	if _, err := c.Issues.DeleteComment(ctx, "acme", "widgets", ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := c.Issues.UpdateComment(ctx, "acme", "widgets", ids[0], github.IssueCommentRequest{Body: "y"}); err == nil || resp.StatusCode != 404 {
		t.Errorf("update of a deleted comment: %v, want 404", err)
	}
	_, resp, err := c.Issues.CreateComment(ctx, "acme", "widgets", 1, github.IssueCommentRequest{Body: strings.Repeat("é", MaxCommentBody+1)})
	if err == nil || resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("oversized comment: %v, want 422", err)
	}
}

func TestStatuses(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	c := client(t, s, "rw")
	sha := strings.Repeat("b", 40)
	for _, st := range []string{"pending", "success"} {
		if _, _, err := c.Repositories.CreateStatus(ctx, "acme", "widgets", sha, github.RepoStatus{State: new(st), Context: new("mvm-verify/aws")}); err != nil {
			t.Fatal(err)
		}
	}
	combined, _, err := c.Repositories.GetCombinedStatus(ctx, "acme", "widgets", sha, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(combined.Statuses) != 1 || combined.Statuses[0].GetState() != "success" || combined.GetState() != "success" {
		t.Errorf("combined = %+v, want the latest per context", combined)
	}
	_, _, err = c.Repositories.CreateStatus(ctx, "acme", "widgets", sha, github.RepoStatus{State: new("pending"), Description: new(strings.Repeat("d", 141))})
	if err == nil {
		t.Error("141-character description accepted")
	}
	_, _, err = c.Repositories.CreateStatus(ctx, "acme", "widgets", sha, github.RepoStatus{State: new("done")})
	if err == nil {
		t.Error("invalid state accepted")
	}
}

func TestFaultsAndDelays(t *testing.T) {
	var delays atomic.Int32
	s := newServer(t, WithDelay(func(*http.Request) time.Duration { delays.Add(1); return 0 }))
	s.Inject(Fault{Method: "GET", Path: "/pulls/", Status: 403, RateLimitReset: time.Minute})
	s.Inject(Fault{Path: "/pulls/", Status: 429, RetryAfter: 7 * time.Second})
	s.Inject(Fault{Path: "/pulls/", Status: 502, Times: 2})
	c := client(t, s, "rw")
	ctx := context.Background()

	_, _, err := c.PullRequests.Get(ctx, "acme", "widgets", 1)
	var rl *github.RateLimitError
	if !errors.As(err, &rl) || rl.Rate.Remaining != 0 || time.Until(rl.Rate.Reset.Time) < 50*time.Second {
		t.Errorf("primary rate limit: %v", err)
	}
	_, resp, err := c.PullRequests.Get(ctx, "acme", "widgets", 1)
	if err == nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" {
		t.Errorf("429: %v", err)
	}
	for range 2 {
		if _, resp, err := c.PullRequests.Get(ctx, "acme", "widgets", 1); err == nil || resp.StatusCode != 502 {
			t.Errorf("502: %v", err)
		}
	}
	pr, _, err := c.PullRequests.Get(ctx, "acme", "widgets", 1)
	if err != nil || pr.GetHead().GetSHA() != strings.Repeat("a", 40) {
		t.Errorf("after the faults: %v %v", pr, err)
	}
	if n := delays.Load(); n != 10 {
		t.Errorf("delay called %d times for 5 requests, want before and after each (10)", n)
	}
	raw, _ := http.NewRequest("GET", s.URL()+"repos/acme/widgets/pulls/1", nil)
	raw.Header.Set("Authorization", "Bearer rw")
	r2, err := s.Client().Do(raw)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.Header.Get("X-Ratelimit-Remaining") == "" || !strings.Contains(string(body), `"sha"`) {
		t.Errorf("plain response lacks rate headers or body: %v %s", r2.Header, body)
	}
}

func TestJobsOfARunAttempt(t *testing.T) {
	s := newServer(t)
	s.AddToken("noactions", Token{NoActions: true})
	s.AddJob(repo, 42, 2, Job{ID: 7, Name: "verify (aws)", RunnerName: "runner-1", Status: "in_progress"})
	ctx := context.Background()
	jobs, _, err := client(t, s, "rw").Actions.ListWorkflowJobsAttempt(ctx, "acme", "widgets", 42, 2, nil)
	if err != nil || len(jobs.Jobs) != 1 {
		t.Fatalf("jobs: %v, %+v", err, jobs)
	}
	j := jobs.Jobs[0]
	if j.GetName() != "verify (aws)" || j.GetRunnerName() != "runner-1" || j.GetHTMLURL() != JobURL(repo, 42, 7) {
		t.Errorf("job = %+v", j)
	}
	if _, _, err := client(t, s, "rw").Actions.ListWorkflowJobsAttempt(ctx, "acme", "widgets", 42, 1, nil); statusOf(err) != 404 {
		t.Errorf("unknown attempt: %v, want 404", err)
	}
	if _, _, err := client(t, s, "noactions").Actions.ListWorkflowJobsAttempt(ctx, "acme", "widgets", 42, 2, nil); statusOf(err) != 403 {
		t.Errorf("token without actions: read: %v, want 403", err)
	}
}

func statusOf(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// GET /user names a personal access token's login and refuses an
// installation token as GitHub does; comments and statuses carry their
// token's login, but the combined status does not name creators.
func TestIdentities(t *testing.T) {
	s := newServer(t)
	s.AddToken("pat", Token{Login: "alice", PAT: true})
	ctx := context.Background()
	if u, _, err := client(t, s, "pat").Users.Get(ctx, ""); err != nil || u.GetLogin() != "alice" {
		t.Errorf("GET /user with a PAT: %v %v, want alice", u, err)
	}
	_, resp, err := client(t, s, "rw").Users.Get(ctx, "")
	if err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /user with an installation token: %v, want 403", err)
	}
	sha := strings.Repeat("a", 40)
	st, _, err := client(t, s, "pat").Repositories.CreateStatus(ctx, "acme", "widgets", sha, github.RepoStatus{State: new("success"), Context: new("x")})
	if err != nil || st.GetCreator().GetLogin() != "alice" {
		t.Errorf("created status creator = %v (%v), want alice", st.GetCreator().GetLogin(), err)
	}
	c, _, err := client(t, s, "rw").Issues.CreateComment(ctx, "acme", "widgets", 1, github.IssueCommentRequest{Body: "hi"})
	if err != nil || c.GetUser().GetLogin() != "github-actions[bot]" || c.GetUser().GetType() != "Bot" {
		t.Errorf("comment author = %v (%v), want github-actions[bot], a Bot", c.GetUser(), err)
	}
	combined, _, err := client(t, s, "rw").Repositories.GetCombinedStatus(ctx, "acme", "widgets", sha, nil)
	if err != nil || len(combined.Statuses) != 1 || combined.Statuses[0].Creator != nil {
		t.Errorf("combined status: %v %+v, want one status without its creator", err, combined)
	}
}

// Stale reads are served from a past state no older than the lag: a read
// right after a write may miss it (here: always, with a lag far longer than
// the test), a read made once the lag has passed never does, and the
// fake's own accessors always see the present.
func TestStaleReads(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, WithStaleReads(1, 1, time.Hour))
	c := client(t, s, "rw")
	if _, _, err := c.Issues.CreateComment(ctx, "acme", "widgets", 1, github.IssueCommentRequest{Body: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Repositories.CreateStatus(ctx, "acme", "widgets", strings.Repeat("a", 40), github.RepoStatus{State: new("pending"), Context: new("c")}); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Issues.ListComments(ctx, "acme", "widgets", 1, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("stale list right after the write: %d comments (%v), want the state before it", len(got), err)
	}
	combined, _, err := c.Repositories.GetCombinedStatus(ctx, "acme", "widgets", strings.Repeat("a", 40), nil)
	if err != nil || len(combined.Statuses) != 0 {
		t.Errorf("stale combined status right after the write: %d statuses (%v), want none", len(combined.GetStatuses()), err)
	}
	if n := len(s.Comments(repo, 1)); n != 1 {
		t.Errorf("Comments sees %d, want the present's 1", n)
	}
	if _, _, err := c.PullRequests.Get(ctx, "acme", "widgets", 1); err != nil {
		t.Errorf("pull request read: %v", err)
	}

	// Bounded: once the lag has passed, every read sees the write, even
	// one served a state exactly lag old. The fake's clock is moved past
	// the lag rather than waited on; it stands still otherwise, so every
	// read below is made exactly lag after the write.
	const lag = time.Minute
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	s = newServer(t, WithStaleReads(2, 1, lag), WithClock(clock))
	c = client(t, s, "rw")
	created, _, err := c.Issues.CreateComment(ctx, "acme", "widgets", 1, github.IssueCommentRequest{Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := c.Issues.ListComments(ctx, "acme", "widgets", 1, nil); err != nil || len(got) != 0 {
		// Every read is served a past state, and the clock has not
		// moved since the write: it misses the write, so the reads
		// below see it because the lag passed, not because they are
		// fresh.
		t.Fatalf("read before the lag passed: %d comments (%v), want the state before the write", len(got), err)
	}
	mu.Lock()
	now = now.Add(lag)
	mu.Unlock()
	for range 20 {
		got, _, err := c.Issues.ListComments(ctx, "acme", "widgets", 1, nil)
		if err != nil || len(got) != 1 || got[0].GetID() != created.GetID() {
			t.Fatalf("read %s after the write: %d comments (%v), want the written one", lag, len(got), err)
		}
	}
}

// A fault with no status is a hook: During runs while the request is held,
// and the request is then served as usual, seeing what During changed.
func TestFaultHook(t *testing.T) {
	ctx := context.Background()
	s := newServer(t)
	c := client(t, s, "rw")
	created, _, err := c.Issues.CreateComment(ctx, "acme", "widgets", 1, github.IssueCommentRequest{Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	s.Inject(Fault{Method: "PATCH", Path: "/issues/comments/", During: func() { ran = s.DeleteComment(created.GetID()) }})
	if _, resp, err := c.Issues.UpdateComment(ctx, "acme", "widgets", created.GetID(), github.IssueCommentRequest{Body: "y"}); !ran || err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("update of a comment deleted while it was in flight: hook ran %v, %v; want 404", ran, err)
	}
	if _, _, err := c.Issues.UpdateComment(ctx, "acme", "widgets", created.GetID(), github.IssueCommentRequest{Body: "y"}); err == nil {
		t.Error("the comment is still there")
	}
}

// The adversary holds a comment write past its client's patience and still
// applies it (as GitHub may finish a request its client gave up on), and
// says so (Unanswered); its reads are served from a past state as old as
// StaleLag, never older; and a client's n-th request gets the same draws
// whatever other clients did, so a failing run replays from its seed.
func TestAdversary(t *testing.T) {
	ctx := context.Background()
	const hold = 300 * time.Millisecond
	var events []Event
	var mu sync.Mutex
	s := newServer(t, WithAdversary(Adversary{Seed: 7, HoldShare: 1, MaxHold: hold, StaleLag: time.Hour}),
		WithTrace(func(ev Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }))
	base := s.URL()
	c, err := github.NewClient(github.WithURLs(&base, nil), github.WithHTTPClient(s.NamedClient("leg-a")),
		github.WithDisableRateLimitCheck(), github.WithAuthToken("rw"))
	if err != nil {
		t.Fatal(err)
	}
	// Held writes until one's hold outlasts a client that waits 5 ms.
	var heldLong *Event
	for i := 0; heldLong == nil && i < 20; i++ {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
		_, _, err := c.Issues.CreateComment(wctx, "acme", "widgets", 1, github.IssueCommentRequest{Body: "x"})
		cancel()
		if err == nil {
			continue // held under 5 ms: answered
		}
		// The client gave up; the write still lands within the hold.
		deadline := time.Now().Add(2 * hold)
		for len(s.Comments(repo, 1)) < i+1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := len(s.Comments(repo, 1)); n != i+1 {
			t.Fatalf("write %d: %d comments %s after its client gave up, want it applied within the hold", i, n, 2*hold)
		}
		// Its trace event comes once the answer is ready, just after.
		var last Event
		for time.Now().Before(deadline) {
			mu.Lock()
			if n := len(events); n > 0 {
				last = events[n-1]
			}
			mu.Unlock()
			if last.Method == "POST" && last.Gone {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if !last.Gone {
			t.Fatalf("held write: last event %+v, want a POST whose answer went unheard", last)
		}
		heldLong = &last
	}
	if heldLong == nil {
		t.Fatal("no write held longer than 5 ms in 20")
	}
	if s.Unanswered() != 1 {
		t.Errorf("Unanswered() = %d, want 1", s.Unanswered())
	}
	// Every write above came after the server started, an hour ago at
	// most: reads a StaleLag of an hour old see none of them half the
	// time, and a state from before the first write at least.
	saw := map[int]bool{}
	for range 20 {
		got, _, err := c.Issues.ListComments(ctx, "acme", "widgets", 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		saw[len(got)] = true
	}
	if !saw[0] {
		t.Errorf("reads saw %v comments, want some served from before any write (StaleLag an hour)", saw)
	}

	// Replay: the same seed, client and request number draw the same plan.
	a := Adversary{Seed: 3, MaxDelay: time.Second, StaleLag: time.Second, HoldShare: 0.5, MaxHold: time.Second}
	plans := func(clients ...string) map[string][]plan {
		srv := &Server{adv: &a, requests: map[string]uint64{}}
		out := map[string][]plan{}
		for _, cl := range clients {
			for _, method := range []string{"GET", "PATCH", "GET", "POST"} {
				r, _ := http.NewRequest(method, "http://x/repos/acme/widgets/issues/1/comments", nil)
				r.Header.Set(ClientHeader, cl)
				out[cl] = append(out[cl], srv.planFor(r))
			}
		}
		return out
	}
	one, two := plans("leg-a"), plans("leg-b", "leg-a")
	if fmt.Sprint(one["leg-a"]) != fmt.Sprint(two["leg-a"]) {
		t.Errorf("leg-a's plans depend on leg-b's requests:\n%v\n%v", one["leg-a"], two["leg-a"])
	}
	if fmt.Sprint(two["leg-a"]) == fmt.Sprint(two["leg-b"]) {
		t.Errorf("two clients drew the same plans: %v", two["leg-a"])
	}
}
