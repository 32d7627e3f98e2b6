package verify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// eventLog records, in order, what a test watches happen: the ready
// phase's reconnect lines (as an io.Writer for its output) and its pauses.
type eventLog struct {
	mu     sync.Mutex
	events []string
	pauses []time.Duration
	text   strings.Builder
}

func (l *eventLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.text.Write(p)
	for _, line := range strings.Split(string(p), "\n") {
		if strings.Contains(line, "reconnected with the same keys to wait for the host to be ready") ||
			strings.Contains(line, "connected again to wait for the host to be ready") {
			l.events = append(l.events, "reconnect")
		}
	}
	return len(p), nil
}

func (l *eventLog) pause(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, "pause")
	l.pauses = append(l.pauses, d)
}

// A host that drops every connection right after it is made again (sshd
// restarted over and over by a package, a flapping network) is asked
// again only after a pause, growing from the ready poll interval, after
// every reconnect: with the same keys (Redial) and, when that fails,
// with the fallback dial. The pauses are recorded, not slept: each
// reconnect is followed by one before the command runs again.
func TestReadyPausesAfterEachReconnect(t *testing.T) {
	testhost.RequireRoot(t)
	for _, tc := range []struct {
		name string
		// redialLimit is remote's reconnect limit; a nanosecond makes
		// every reconnect with the same keys fail, so the fallback dial
		// (again) is what connects.
		redialLimit time.Duration
		fallback    bool
	}{
		{name: "reconnect with the same keys", redialLimit: time.Minute},
		{name: "fallback dial", redialLimit: time.Nanosecond, fallback: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keyPEM, authorized := testhost.ClientKeyPEM(t)
			h := testhost.Start(t, testhost.Options{Users: []testhost.User{testHostUser(authorized)}})
			signer, err := remote.ParsePrivateKey(keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			target := remote.Target{Addr: h.Addr(), Port: h.Port(), User: testUser, Signer: signer, HostKey: h.HostKey()}
			opts := remote.DialOptions{InitialBackoff: 10 * time.Millisecond, RedialLimit: tc.redialLimit}
			ctx := t.Context()
			client, err := remote.Dial(ctx, target, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { client.Close() })

			const poll = 10 * time.Millisecond
			const drops = 4 // after reconnects, besides the first loss
			log := &eventLog{}
			c := &cycle{
				plan:   &Plan{ReadyPoll: poll},
				res:    &Result{},
				out:    remote.NewMasker(log, nil),
				host:   &providers.Host{Address: h.Addr(), Port: h.Port(), User: testUser},
				client: client,
			}
			dropped := 0
			c.sleep = func(ctx context.Context, d time.Duration) error {
				log.pause(d)
				// The host drops the connection just made, before the
				// command is asked again.
				if dropped < drops {
					dropped++
					if _, err := h.DropConnections(); err != nil {
						t.Errorf("drop %d: %v", dropped, err)
					}
				}
				return ctx.Err()
			}
			var agains atomic.Int32
			again := func(ctx context.Context) (*remote.Client, error) {
				agains.Add(1)
				return remote.Dial(ctx, target, opts)
			}
			t.Cleanup(func() { c.client.Close() })

			if _, err := h.DropConnections(); err != nil {
				t.Fatal(err)
			}
			res, err := c.runReady(ctx, remote.RunSpec{Command: "echo asked", Timeout: time.Minute}, again)
			if err != nil {
				t.Fatalf("runReady: %v\n%s", err, log.text.String())
			}
			if !strings.Contains(string(res.Output), "asked") {
				t.Errorf("output %q, want the command's", res.Output)
			}

			var want []string
			for range drops + 1 {
				want = append(want, "reconnect", "pause")
			}
			if got := strings.Join(log.events, " "); got != strings.Join(want, " ") {
				t.Errorf("events %q\nwant %q: every reconnect followed by a pause before the command is asked again\n%s", got, want, log.text.String())
			}
			for i, d := range log.pauses {
				if want := min(poll<<i, readyRedialMaxPause); d != want {
					t.Errorf("pause %d is %s, want %s (the ready poll interval, doubled after each further reconnect)", i+1, d, want)
				}
			}
			wantAgain := 0
			if tc.fallback {
				wantAgain = drops + 1
			}
			if n := int(agains.Load()); n != wantAgain {
				t.Errorf("the fallback dial ran %d times, want %d", n, wantAgain)
			}
		})
	}
}

// waitOutput waits until out holds text, failing if the run ends first.
func waitOutput(t *testing.T, out *watchWriter, done <-chan *Result, text string) {
	t.Helper()
	for !strings.Contains(out.String(), text) {
		select {
		case res := <-done:
			t.Fatalf("the run ended before its output said %q: %s (%s)\n%s", text, res.Outcome, res.FirstFailure, out)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// limitedRedial dials as remote.Dial does with remote's reconnect limit
// cut to limit, so a test need not wait out the default, and counts the
// dials made through it (the first, and the fallback's).
func limitedRedial(limit time.Duration, dials *atomic.Int32, dialed chan<- int) func(context.Context, remote.Target, remote.DialOptions) (*remote.Client, error) {
	return func(ctx context.Context, t remote.Target, o remote.DialOptions) (*remote.Client, error) {
		o.RedialLimit = limit
		n := int(dials.Add(1))
		select {
		case dialed <- n:
		default:
		}
		return remote.Dial(ctx, t, o)
	}
}

// freezeListener stops the host's sshd listener (SIGSTOP): new
// connections are not answered, as while sshd restarts, until thaw.
func freezeListener(t *testing.T, h *testhost.Host) (thaw func()) {
	t.Helper()
	if err := syscall.Kill(h.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatalf("freeze the host's sshd %d: %v", h.Pid(), err)
	}
	var once sync.Once
	thaw = func() {
		once.Do(func() {
			if err := syscall.Kill(h.Pid(), syscall.SIGCONT); err != nil {
				t.Errorf("thaw the host's sshd %d: %v", h.Pid(), err)
			}
		})
	}
	t.Cleanup(thaw)
	waitProcessStopped(t, h.Pid())
	return thaw
}

// A connection lost while the ready phase waits for the marker, with the
// host not answering for longer than remote's reconnect limit, is dialed
// again from scratch until ready-timeout: once sshd answers again, the
// fallback dial connects, the progress line says so, and the host is
// ready.
func TestReadyFallbackDialAfterTheReconnectLimit(t *testing.T) {
	testhost.RequireRoot(t)
	p, marker, hosts := stillBooting(t)
	plan := testPlan(p, Step{Name: "ok", Run: "true", Column: matrix.LiveCycle})
	var dials atomic.Int32
	dialed := make(chan int, 4)
	plan.Dial = limitedRedial(200*time.Millisecond, &dials, dialed)
	// A clock a minute on at every reading, so each check of the marker
	// prints its progress line: the test sees that the wait has begun.
	var ticks atomic.Int64
	start := time.Now()
	plan.Now = func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * time.Minute) }
	out := newWatchWriter("\x00")
	plan.Out = out
	done := make(chan *Result, 1)
	go func() { done <- Run(context.Background(), plan) }()
	waitOutput(t, out, done, "waiting for cloud-init (status: running)")
	h := <-hosts
	if n := <-dialed; n != 1 {
		t.Fatalf("dial %d before the first", n)
	}

	thaw := freezeListener(t, h)
	if _, err := h.DropConnections(); err != nil {
		t.Fatal(err)
	}
	// The reconnect with the same keys has run out of its limit when
	// the fallback dials: sshd answers again.
	select {
	case <-dialed:
	case res := <-done:
		thaw()
		t.Fatalf("the run ended without dialing again: %s (%s)\n%s", res.Outcome, res.FirstFailure, out)
	}
	thaw()
	const fallback = "connected again to wait for the host to be ready"
	waitOutput(t, out, done, fallback)
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.SetCloudInit(testhost.CloudInitState{Status: "done"}); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if pr := res.Phase(PhaseReady); pr == nil || pr.Status != matrix.Pass {
		t.Fatalf("ready %+v, want passed after the fallback dial\n%s", pr, out)
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials through the plan, want 2 (the first and the fallback's)\n%s", n, out)
	}
	if strings.Contains(out.String(), "reconnected with the same keys to wait") {
		t.Errorf("the output says the reconnect with the same keys succeeded, though sshd did not answer within its limit\n%s", out)
	}
	if line := lineWith(out.String(), fallback); !strings.Contains(line, "SSH connection to "+h.Addr()) {
		t.Errorf("the fallback's progress line %q does not name the lost connection", line)
	}
	if res.Phase(PhaseSuite) == nil {
		t.Errorf("the suite did not run: %+v", res.Phases)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed", td)
	}
}

// lineWith is the first line of s that holds text.
func lineWith(s, text string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, text) {
			return l
		}
	}
	return ""
}

// A connection lost during cloud-init status --wait, or during systemctl
// is-system-running --wait, is reconnected and the wait asked again: the
// host finishes booting and is ready.
func TestReadyReconnectsDuringTheBootWaits(t *testing.T) {
	testhost.RequireRoot(t)
	for _, tc := range []struct {
		name    string
		waiting func(h *testhost.Host) error // the state the wait waits out
		done    func(h *testhost.Host) error // its end
	}{
		{
			name:    "cloud-init status --wait",
			waiting: func(h *testhost.Host) error { return h.SetCloudInit(testhost.CloudInitState{Status: "running"}) },
			done:    func(h *testhost.Host) error { return h.SetCloudInit(testhost.CloudInitState{Status: "done"}) },
		},
		{
			name:    "systemctl is-system-running --wait",
			waiting: func(h *testhost.Host) error { return h.SetSystem(testhost.SystemState{State: "starting"}) },
			done:    func(h *testhost.Host) error { return h.SetSystem(testhost.SystemState{State: "running"}) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hp := &hostProvider{}
			hosts := make(chan *testhost.Host, 1)
			p := bootedProvider{hostProvider: hp, marker: writtenMarker(t), boot: func(h *testhost.Host) error {
				hosts <- h
				return tc.waiting(h)
			}}
			plan := testPlan(p, Step{Name: "ok", Run: "true", Column: matrix.LiveCycle})
			// The heartbeat says the wait is running.
			plan.Heartbeat = 20 * time.Millisecond
			out := newWatchWriter("\x00")
			plan.Out = out
			done := make(chan *Result, 1)
			go func() { done <- Run(context.Background(), plan) }()
			waitOutput(t, out, done, tc.name+" still running")
			h := <-hosts
			if _, err := h.DropConnections(); err != nil {
				t.Fatal(err)
			}
			waitOutput(t, out, done, "reconnected with the same keys to wait for the host to be ready")
			if err := tc.done(h); err != nil {
				t.Fatal(err)
			}
			res := <-done
			if pr := res.Phase(PhaseReady); pr == nil || pr.Status != matrix.Pass {
				t.Fatalf("ready %+v, want passed after the reconnect\n%s", pr, out)
			}
			if len(res.Notices) > 0 {
				t.Errorf("notices %q on a host that booted well", res.Notices)
			}
			if res.Phase(PhaseSuite) == nil {
				t.Errorf("the suite did not run: %+v", res.Phases)
			}
		})
	}
}

// unpinnedMarkerProvider hands the cycle a host it did not boot from our
// user data, without its host key, that has a ready marker: reached only
// under insecure-host-key.
type unpinnedMarkerProvider struct {
	*hostProvider
	marker string
	hosts  chan<- *testhost.Host
}

func (p unpinnedMarkerProvider) Create(ctx context.Context, req providers.Request, j providers.Journal) (*providers.Host, error) {
	h, err := p.hostProvider.Create(ctx, req, j)
	if err != nil {
		return nil, err
	}
	p.hostProvider.mu.Lock()
	p.hosts <- p.hostProvider.hosts[req.Identity.Run()+"/"+req.Identity.Key]
	p.hostProvider.mu.Unlock()
	h.HostKey = ""
	h.ReadyMarker = p.marker
	return h, nil
}

// Under insecure-host-key a connection lost while waiting for the marker
// is not dialed again from scratch once the reconnect (to the key first
// accepted) fails: that dial would trust whatever answers. The phase
// fails saying so.
func TestReadyNoFallbackDialUnderInsecureHostKey(t *testing.T) {
	testhost.RequireRoot(t)
	hp := &hostProvider{}
	hosts := make(chan *testhost.Host, 1)
	p := unpinnedMarkerProvider{hostProvider: hp, marker: filepath.Join(hostDir(t), "ready"), hosts: hosts}
	plan := testPlan(p, Step{Name: "ok", Run: "true", Column: matrix.LiveCycle})
	plan.InsecureHostKey = true
	var dials atomic.Int32
	plan.Dial = limitedRedial(200*time.Millisecond, &dials, nil)
	var ticks atomic.Int64
	start := time.Now()
	plan.Now = func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * time.Minute) }
	out := newWatchWriter("\x00")
	plan.Out = out
	var h *testhost.Host
	var thaw func()
	var thawMu sync.Mutex
	// sshd answers again once the phase has failed, for the teardown.
	plan.OnProgress = func(r *Result) {
		if pr := r.Phase(PhaseReady); pr != nil {
			thawMu.Lock()
			if thaw != nil {
				thaw()
			}
			thawMu.Unlock()
		}
	}
	done := make(chan *Result, 1)
	go func() { done <- Run(context.Background(), plan) }()
	waitOutput(t, out, done, "waiting for cloud-init (")
	h = <-hosts
	thawMu.Lock()
	thaw = freezeListener(t, h)
	thawMu.Unlock()
	if _, err := h.DropConnections(); err != nil {
		t.Fatal(err)
	}
	res := <-done
	pr := res.Phase(PhaseReady)
	if pr == nil || pr.Status != matrix.Fail {
		t.Fatalf("ready %+v, want failed\n%s", pr, out)
	}
	for _, want := range []string{"reconnecting failed", "not dialed again until ready-timeout", "not pinned (insecure-host-key)", "not the one first reached"} {
		if !strings.Contains(pr.Error, want) {
			t.Errorf("ready error %q lacks %q", pr.Error, want)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials through the plan, want 1: the fallback dial ran under insecure-host-key\n%s", n, out)
	}
	if strings.Contains(out.String(), "connected again to wait") {
		t.Errorf("the output says a fallback dial connected under insecure-host-key\n%s", out)
	}
	if td := res.Phase(PhaseTeardown); td == nil || td.Status != matrix.Pass {
		t.Errorf("teardown %+v, want passed", td)
	}
}
