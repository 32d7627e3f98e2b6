package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted is a Provider whose Create answers from a script, one error per
// call (nil = success), and which counts Destroy calls.
type scripted struct {
	mu       sync.Mutex
	script   []error
	calls    []Candidate
	destroys int
	listed   []Resource
	// listFor, when set, is how many List calls show listed; later ones
	// show nothing (a listing catching up with deletes).
	listFor int
	// hiddenFor is how many List calls show nothing before listed shows
	// (a listing lagging behind creates).
	hiddenFor int
	lists     int
	cancel    func() // called during Create when set
}

func (s *scripted) PollInterval() time.Duration { return time.Nanosecond }

func (s *scripted) Name() string                             { return "scripted" }
func (s *scripted) Preflight(context.Context, Request) error { return nil }
func (s *scripted) Create(ctx context.Context, req Request, j Journal) (*Host, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, req.Candidate)
	j.Record(Resource{Kind: "instance", ID: fmt.Sprintf("i-%d", len(s.calls))})
	if s.cancel != nil {
		s.cancel()
		return nil, Classified(ClassTransient, "Cancelled", ctx.Err())
	}
	if len(s.script) == 0 {
		return &Host{ID: "ok", Region: req.Candidate.Region}, nil
	}
	err := s.script[0]
	s.script = s.script[1:]
	if err == nil {
		return &Host{ID: "ok", Region: req.Candidate.Region}, nil
	}
	return nil, err
}
func (s *scripted) Destroy(context.Context, Identity) (Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.destroys++
	return Report{}, nil
}
func (s *scripted) List(_ context.Context, f Filter) ([]Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists++
	if (s.listFor > 0 && s.lists > s.listFor) || s.lists <= s.hiddenFor {
		return nil, nil
	}
	var out []Resource
	for _, r := range s.listed {
		if f.Match(r.Tags) {
			out = append(out, r)
		}
	}
	return out, nil
}

func noSleep(context.Context, time.Duration) error { return nil }

func TestCreateWithFallback(t *testing.T) {
	capErr := Classified(ClassCapacity, "InsufficientInstanceCapacity", errors.New("no room in us-east-1a"))
	quotaErr := Classified(ClassQuota, "VcpuLimitExceeded", errors.New("vCPU limit"))
	throttle := Classified(ClassTransient, "RequestLimitExceeded", errors.New("slow down"))
	authErr := Classified(ClassAuth, "AuthFailure", errors.New("bad key"))
	cands := []Candidate{{Region: "r1", Zone: "a"}, {Region: "r1", Zone: "b"}, {Region: "r2"}}

	tests := []struct {
		name         string
		script       []error
		maxTransient int
		wantOK       bool
		wantHostOn   string // zone of the candidate that succeeded
		wantCalls    int
		wantDestroys int
		wantClasses  []Class
		wantErrClass Class
	}{
		{name: "first succeeds", script: nil, wantOK: true, wantHostOn: "a", wantCalls: 1, wantClasses: []Class{ClassUnknown}},
		{name: "capacity then next zone", script: []error{capErr}, wantOK: true, wantHostOn: "b", wantCalls: 2, wantDestroys: 1,
			wantClasses: []Class{ClassCapacity, ClassUnknown}},
		{name: "quota then capacity then third", script: []error{quotaErr, capErr}, wantOK: true, wantHostOn: "", wantCalls: 3, wantDestroys: 2,
			wantClasses: []Class{ClassQuota, ClassCapacity, ClassUnknown}},
		{name: "throttled twice on the same candidate", script: []error{throttle, throttle}, wantOK: true, wantHostOn: "a", wantCalls: 3,
			wantClasses: []Class{ClassTransient, ClassTransient, ClassUnknown}},
		{name: "transient exhausted moves on", script: []error{throttle, throttle}, maxTransient: 1, wantOK: true, wantHostOn: "b", wantCalls: 3, wantDestroys: 1,
			wantClasses: []Class{ClassTransient, ClassTransient, ClassUnknown}},
		{name: "auth stops", script: []error{authErr}, wantCalls: 1, wantClasses: []Class{ClassAuth}, wantErrClass: ClassAuth},
		{name: "unclassified stops", script: []error{errors.New("boom")}, wantCalls: 1, wantClasses: []Class{ClassUnknown}, wantErrClass: ClassUnknown},
		{name: "all capacity", script: []error{capErr, capErr, capErr}, wantCalls: 3, wantDestroys: 3,
			wantClasses: []Class{ClassCapacity, ClassCapacity, ClassCapacity}, wantErrClass: ClassCapacity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &scripted{script: tt.script}
			var j MemJournal
			var slept []time.Duration
			o := FallbackOptions{
				MaxTransient: tt.maxTransient,
				Backoff:      func(n int) time.Duration { return time.Duration(n+1) * time.Second },
				Sleep:        func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil },
			}
			h, attempts, err := CreateWithFallback(context.Background(), p, Request{}, cands, &j, o)
			if tt.wantOK != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.wantOK)
			}
			if tt.wantOK && h.ID != "ok" {
				t.Fatalf("host = %+v", h)
			}
			if tt.wantOK && attempts[len(attempts)-1].Candidate.Zone != tt.wantHostOn {
				t.Errorf("succeeded on %+v, want zone %q", attempts[len(attempts)-1].Candidate, tt.wantHostOn)
			}
			if !tt.wantOK && ClassOf(err) != tt.wantErrClass {
				t.Errorf("error class = %v, want %v (%v)", ClassOf(err), tt.wantErrClass, err)
			}
			if len(p.calls) != tt.wantCalls || p.destroys != tt.wantDestroys {
				t.Errorf("calls=%d destroys=%d, want %d/%d", len(p.calls), p.destroys, tt.wantCalls, tt.wantDestroys)
			}
			var classes []Class
			for _, a := range attempts {
				classes = append(classes, a.Class)
				if (a.Class == ClassCapacity || a.Class == ClassQuota) && !a.CleanedUp {
					t.Errorf("attempt %+v not cleaned up", a)
				}
				if a.OK != (a.Error == "") {
					t.Errorf("attempt %+v: OK and Error disagree", a)
				}
			}
			if fmt.Sprint(classes) != fmt.Sprint(tt.wantClasses) {
				t.Errorf("attempt classes = %v, want %v", classes, tt.wantClasses)
			}
			if got := len(j.Records()); got != tt.wantCalls {
				t.Errorf("journal has %d records, want %d", got, tt.wantCalls)
			}
			for i, d := range slept {
				if d != time.Duration(i+1)*time.Second {
					t.Errorf("backoff %d = %v", i, d)
				}
			}
		})
	}
}

func TestCreateWithFallbackCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &scripted{cancel: cancel}
	_, attempts, err := CreateWithFallback(ctx, p, Request{}, []Candidate{{Region: "a"}, {Region: "b"}}, nil, FallbackOptions{Sleep: noSleep})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(p.calls) != 1 || len(attempts) != 1 {
		t.Errorf("calls=%d attempts=%d after cancel, want 1/1", len(p.calls), len(attempts))
	}
}

func TestCreateWithFallbackNoCandidates(t *testing.T) {
	_, _, err := CreateWithFallback(context.Background(), &scripted{}, Request{}, nil, nil, FallbackOptions{})
	if ClassOf(err) != ClassInvalid {
		t.Fatalf("err = %v, want invalid", err)
	}
}

func TestAttemptJSON(t *testing.T) {
	b, err := json.Marshal(Attempt{Class: ClassCapacity, Code: "X"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"class":"capacity"`) {
		t.Fatalf("json = %s", b)
	}
	var a Attempt
	if err := json.Unmarshal(b, &a); err != nil || a.Class != ClassCapacity {
		t.Fatalf("round trip: %+v %v", a, err)
	}
}

func TestCandidateDefaults(t *testing.T) {
	d := Candidate{Region: "us-east-1", Zone: "us-east-1a", Type: "c8i.large"}
	if got := (Candidate{Region: "us-west-2"}).Defaults(d); got.Zone != "" || got.Type != "c8i.large" || got.Market != "on-demand" {
		t.Errorf("other region took the default zone: %+v", got)
	}
	if got := (Candidate{}).Defaults(d); got != (Candidate{Region: "us-east-1", Zone: "us-east-1a", Type: "c8i.large", Market: "on-demand"}) {
		t.Errorf("defaults = %+v", got)
	}
}

func TestKVMCatalog(t *testing.T) {
	tests := []struct {
		provider, typ string
		want          KVMKind
		known         bool
	}{
		{"aws", "c8i.large", KVMNested, true},
		{"aws", "M8I.2xlarge", KVMNested, true},
		{"aws", "c5.metal", KVMYes, true},
		{"aws", "m7i.metal-24xl", KVMYes, true},
		{"aws", "t3.large", KVMNo, true},
		{"aws", "c8i-flex.large", KVMNested, true},
		{"aws", "r8i-flex.2xlarge", KVMNested, true},
		{"aws", "c7i-flex.large", KVMNo, true},
		{"aws", "m5d.large", KVMNo, true},
		{"aws", "u7i-12tb.224xlarge", KVMNo, true},
		{"aws", "p6-b200.48xlarge", KVMNo, true},
		{"aws", "u-6tb1.metal", KVMYes, true},
		{"aws", "g4dn.metal", KVMYes, true},
		{"aws", "mac2-m2.metal", KVMNo, true}, // macOS
		{"aws", "mac-m4.metal", KVMNo, true},
		{"aws", "x9z.large", KVMUnknown, false},
		{"gcp", "n2-standard-4", KVMNested, true},
		{"gcp", "e2-medium", KVMNo, true},
		{"hetzner", "cx22", KVMNo, true},
		{"nowhere", "c8i.large", KVMUnknown, false},
	}
	for _, tt := range tests {
		k, ok := KVMSupport(tt.provider, tt.typ)
		if k.Kind != tt.want || ok != tt.known {
			t.Errorf("KVMSupport(%s, %s) = %v,%v want %v,%v", tt.provider, tt.typ, k.Kind, ok, tt.want, tt.known)
		}
	}
	if k, _ := KVMSupport("aws", "c5.metal"); k.PricePerHour != 4.08 {
		t.Errorf("c5.metal price = %v", k.PricePerHour)
	}
}

// TestCheckKVM: on AWS only bare metal and C8i/M8i/R8i (flex too) with
// nested virtualization expose KVM; every other family EC2 sells is
// refused on the kvm lane before anything is created, with a message that
// names the types that would do. A family the catalog has never heard of
// (a new one) is let through for the host probe to judge.
func TestCheckKVM(t *testing.T) {
	const ex = "a type with nested virtualization such as c8i.large, or a *.metal type"
	err := CheckKVM("aws", "t3.large", LaneKVM, ex)
	want := `input "instance-type": got "t3.large", expected a type with nested virtualization such as c8i.large, or a *.metal type; ` +
		`or set lane: no-kvm (no KVM on this type: virtualized without nested virtualization; ` +
		`on AWS only *.metal types and C8i/M8i/R8i (and their -flex variants) with CpuOptions.NestedVirtualization expose KVM)`
	if err == nil || !strings.Contains(err.Error(), want) || ClassOf(err) != ClassInvalid {
		t.Fatalf("err = %v, want %q", err, want)
	}
	var in *InputError
	if !errors.As(err, &in) || in.Field != "type" || in.Value != "t3.large" {
		t.Errorf("refusal does not name the candidate field: %#v", in)
	}
	for _, typ := range []string{"m5d.large", "c5d.large", "c6in.large", "m6in.large", "c7gn.large", "c7i-flex.large", "i4i.large",
		"g5.xlarge", "z1d.large", "r7iz.large", "x2iedn.xlarge", "c8a.large", "m8a.large", "c8g.large", "p5.48xlarge", "mac2.metal"} {
		err := CheckKVM("aws", typ, LaneKVM, ex)
		if err == nil || ClassOf(err) != ClassInvalid || !strings.Contains(err.Error(), "on AWS only *.metal types and C8i/M8i/R8i") {
			t.Errorf("CheckKVM(%s, kvm) = %v, want refused naming the types with KVM", typ, err)
		}
	}
	for _, c := range []struct{ typ, lane string }{
		{"t3.large", LaneNoKVM}, {"g5.xlarge", LaneNoKVM}, {"c8i.large", LaneKVM}, {"c8i-flex.large", LaneKVM}, {"m8i.xlarge", LaneKVM},
		{"r8i-flex.large", LaneKVM}, {"c5.metal", ""}, {"m7i.metal-24xl", LaneKVM},
		{"c9z.large", LaneKVM}, // a family the catalog does not know yet: the probe decides
	} {
		if err := CheckKVM("aws", c.typ, c.lane, ex); err != nil {
			t.Errorf("CheckKVM(%s, %s) = %v", c.typ, c.lane, err)
		}
	}
	if k, ok := KVMSupport("aws", "c9z.large"); ok || k.Kind != KVMUnknown {
		t.Errorf("c9z.large = %v (known %v), want unknown", k.Kind, ok)
	}
}

func TestSourceCIDR(t *testing.T) {
	found := func(ip string) EgressFunc {
		return func(context.Context) (net.IP, error) { return net.ParseIP(ip), nil }
	}
	failing := func(context.Context) (net.IP, error) { return nil, errors.New("offline") }
	tests := []struct {
		name, override string
		anywhere       bool
		discover       EgressFunc
		want, wantErr  string
	}{
		{name: "discovered v4", discover: found("203.0.113.7"), want: "203.0.113.7/32"},
		{name: "discovered v6", discover: found("2001:db8::1"), want: "2001:db8::1/128"},
		{name: "override", override: "198.51.100.0/24", discover: failing, want: "198.51.100.0/24"},
		// The one rule for the input (config's at load): a CIDR, a bare
		// address refused with the length to add.
		{name: "override bare address", override: "198.51.100.9", wantErr: `input "ssh-source-cidr": got "198.51.100.9", expected a CIDR like 203.0.113.7/32 (add /32 for one address)`},
		{name: "override masked", override: "198.51.100.9/24", want: "198.51.100.0/24"},
		{name: "anywhere needs opt-in", override: "0.0.0.0/0", wantErr: "allow-ssh-from-anywhere"},
		{name: "anywhere with opt-in", override: "0.0.0.0/0", anywhere: true, want: "0.0.0.0/0"},
		// 16 million addresses are not "the runner": a range wider than
		// a /24 (IPv4) or /64 (IPv6) takes the opt-in.
		{name: "a /8 needs opt-in", override: "10.0.0.0/8",
			wantErr: `input "ssh-source-cidr": got "10.0.0.0/8", expected a range of /24 or narrower (such as the runner's address as a /32), or allow-ssh-from-anywhere: true to open SSH that wide`},
		{name: "a /23 needs opt-in", override: "198.51.100.0/23", wantErr: `input "ssh-source-cidr": got "198.51.100.0/23", expected a range of /24 or narrower`},
		{name: "a /24 is allowed", override: "198.51.100.0/24", want: "198.51.100.0/24"},
		{name: "a /8 with opt-in", override: "10.0.0.0/8", anywhere: true, want: "10.0.0.0/8"},
		{name: "wider than /8 with opt-in", override: "10.0.0.0/7", anywhere: true, want: "10.0.0.0/7"},
		{name: "v6 /32 needs opt-in", override: "2001:db8::/32",
			wantErr: `input "ssh-source-cidr": got "2001:db8::/32", expected a range of /64 or narrower (such as the runner's address as a /128), or allow-ssh-from-anywhere: true to open SSH that wide`},
		{name: "v6 /63 needs opt-in", override: "2001:db8::/63", wantErr: `expected a range of /64 or narrower`},
		{name: "v6 /64 is allowed", override: "2001:db8::/64", want: "2001:db8::/64"},
		{name: "v6 /32 with opt-in", override: "2001:db8::/32", anywhere: true, want: "2001:db8::/32"},
		{name: "opt-in without override", anywhere: true, discover: failing, want: "0.0.0.0/0"},
		// An IPv4-mapped range holds IPv4 addresses only: it is judged,
		// and returned, as the IPv4 range it names, not as an IPv6 /96.
		{name: "v4-mapped all of IPv4 needs opt-in", override: "::ffff:0.0.0.0/96",
			wantErr: `input "ssh-source-cidr": got "::ffff:0.0.0.0/96", expected a range of /24 or narrower (such as the runner's address as a /32), or allow-ssh-from-anywhere: true to open SSH that wide`},
		{name: "v4-mapped /8 needs opt-in", override: "::ffff:10.0.0.0/104", wantErr: `expected a range of /24 or narrower`},
		{name: "v4-mapped /23 needs opt-in", override: "::ffff:198.51.100.0/119", wantErr: `expected a range of /24 or narrower`},
		{name: "v4-mapped /24 is allowed", override: "::ffff:198.51.100.0/120", want: "198.51.100.0/24"},
		{name: "v4-mapped address", override: "::ffff:203.0.113.7/128", want: "203.0.113.7/32"},
		{name: "v4-mapped with opt-in", override: "::ffff:0.0.0.0/96", anywhere: true, want: "0.0.0.0/0"},
		// Masked to fewer than 96 bits the ::ffff: marker is gone: an IPv6 range.
		{name: "v6 /80 around the mapped space", override: "::ffff:0.0.0.0/80", want: "::/80"},
		{name: "bad override", override: "my-laptop", wantErr: `input "ssh-source-cidr": got "my-laptop", expected a CIDR like 203.0.113.7/32`},
		{name: "discovery fails", discover: failing, wantErr: "offline"},
		{name: "no discoverer", wantErr: "ssh-source-cidr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SourceCIDR(context.Background(), tt.override, tt.anywhere, tt.discover)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestHTTPEgress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			fmt.Fprintln(w, "<html>nope</html>")
			return
		}
		fmt.Fprintln(w, "192.0.2.44")
	}))
	defer srv.Close()
	ip, err := HTTPEgress(srv.Client(), srv.URL+"/")(context.Background())
	if err != nil || ip.String() != "192.0.2.44" {
		t.Fatalf("ip = %v, %v", ip, err)
	}
	if _, err := HTTPEgress(srv.Client(), srv.URL+"/bad")(context.Background()); err == nil {
		t.Fatal("non-IP body accepted")
	}
}

func TestLeakCheck(t *testing.T) {
	id := Identity{RunID: "42", RunAttempt: "1", Job: "verify", Key: "aws", Leg: "aaaa"}
	other := Identity{RunID: "43", RunAttempt: "1", Job: "verify", Key: "aws", Leg: "aaaa"}
	// Another leg of the same matrix job with the same key: not this leg's leak.
	sibling := Identity{RunID: "42", RunAttempt: "1", Job: "verify", Key: "aws", Leg: "bbbb"}
	p := &scripted{listed: []Resource{
		{Kind: "instance", ID: "i-1", Region: "us-east-1", Tags: id.Tags()},
		{Kind: "security-group", ID: "sg-2", Tags: other.Tags()},
		{Kind: "instance", ID: "i-3", Region: "us-east-1", Tags: sibling.Tags()},
	}}
	leaked, err := LeakCheck(context.Background(), p, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaked) != 1 || leaked[0].ID != "i-1" {
		t.Fatalf("leaked = %+v", leaked)
	}
	if p.lists != leakListings {
		t.Errorf("a leak was listed %d times, want %d (the listings' lag outwaited first)", p.lists, leakListings)
	}

	// Deleted a moment ago, still listed twice: not a leak.
	lagging := &scripted{listFor: 2, listed: p.listed}
	if leaked, err := LeakCheck(context.Background(), lagging, id); err != nil || len(leaked) != 0 {
		t.Fatalf("lagging listing: leaked = %+v, %v", leaked, err)
	}
	if lagging.lists != 3 {
		t.Errorf("lists = %d, want 3", lagging.lists)
	}
}

// lagging is a scripted provider whose listings lag behind creates for a
// while after a run begins (Lagger).
type lagging struct{ *scripted }

func (lagging) LagWindow() time.Duration { return 10 * time.Minute }

// TestLeakCheckOutwaitsCreateLag: a young run's resources missing from the
// first listings are still found, since one empty listing is not taken as
// clean until a few in a row are; a run older than the lag window stops at
// the first empty one.
func TestLeakCheckOutwaitsCreateLag(t *testing.T) {
	id := Identity{RunID: "42", RunAttempt: "1", Job: "verify", Key: "aws", Leg: "aaaa", CreatedAt: time.Now()}
	listed := []Resource{{Kind: "instance", ID: "i-1", Region: "us-east-1", Tags: id.Tags()}}

	young := lagging{&scripted{hiddenFor: 2, listed: listed}}
	leaked, err := LeakCheck(context.Background(), young, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaked) != 1 || leaked[0].ID != "i-1" {
		t.Errorf("young run, listings lagging twice: leaked = %+v, want i-1", leaked)
	}

	clean := lagging{&scripted{}}
	if leaked, err := LeakCheck(context.Background(), clean, id); err != nil || len(leaked) != 0 {
		t.Fatalf("clean young run: leaked = %+v, %v", leaked, err)
	}
	if clean.lists != leakQuietListings {
		t.Errorf("clean young run listed %d times, want %d quiet listings", clean.lists, leakQuietListings)
	}

	old := id
	old.CreatedAt = time.Now().Add(-time.Hour)
	oldRun := lagging{&scripted{hiddenFor: 2, listed: listed}}
	if _, err := LeakCheck(context.Background(), oldRun, old); err != nil || oldRun.lists != 1 {
		t.Errorf("run older than the lag window: %d listings (%v), want 1", oldRun.lists, err)
	}

	// Deleted a moment ago and still listed twice: not a leak, young or not.
	deleting := lagging{&scripted{listFor: 2, listed: listed}}
	if leaked, err := LeakCheck(context.Background(), deleting, id); err != nil || len(leaked) != 0 {
		t.Errorf("young run, deletes lagging: leaked = %+v, %v", leaked, err)
	}
}

func TestMemJournalConcurrent(t *testing.T) {
	var seen []string
	j := &MemJournal{OnRecord: func(r Resource) { seen = append(seen, r.ID) }}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { j.Record(Resource{ID: fmt.Sprint(i)}) })
	}
	wg.Wait()
	if len(j.Records()) != 50 || len(seen) != 50 {
		t.Fatalf("records=%d callbacks=%d", len(j.Records()), len(seen))
	}
	for i, r := range j.Records() {
		if seen[i] != r.ID {
			t.Fatalf("callback order differs at %d", i)
		}
	}
}

// zoned tries zone a then zone b inside one Create, reporting zone a
// through Request.Tried, as a cloud adapter falling back across zones does.
type zoned struct{ scripted }

func (z *zoned) DefaultCandidate() Candidate { return Candidate{Region: "r-1", Type: "big.large"} }

func (z *zoned) Create(ctx context.Context, req Request, j Journal) (*Host, error) {
	c := req.Candidate.Defaults(z.DefaultCandidate())
	a := c
	a.Zone = "r-1a"
	req.Tried(FailedAttempt(a, Classified(ClassCapacity, "NoRoom", errors.New("no room in r-1a")), time.Millisecond))
	if c.Market == MarketSpot {
		b := c
		b.Zone = "r-1b"
		return nil, At(b, Classified(ClassCapacity, "NoRoom", errors.New("no room in r-1b")))
	}
	return &Host{ID: "ok", Region: c.Region, Zone: "r-1b", Type: c.Type}, nil
}

// Every placement tried inside a Create is a row of its own, with the
// candidate as resolved (default type, the zone actually tried).
func TestCreateWithFallbackReportsEveryPlacement(t *testing.T) {
	_, attempts, err := CreateWithFallback(context.Background(), &zoned{}, Request{},
		[]Candidate{{Market: MarketSpot}, {}}, nil, FallbackOptions{Sleep: noSleep})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		c  Candidate
		ok bool
	}{
		{Candidate{Region: "r-1", Zone: "r-1a", Type: "big.large", Market: MarketSpot}, false},
		{Candidate{Region: "r-1", Zone: "r-1b", Type: "big.large", Market: MarketSpot}, false},
		{Candidate{Region: "r-1", Zone: "r-1a", Type: "big.large", Market: MarketOnDemand}, false},
		{Candidate{Region: "r-1", Zone: "r-1b", Type: "big.large", Market: MarketOnDemand}, true},
	}
	if len(attempts) != len(want) {
		t.Fatalf("attempts = %+v, want %d rows", attempts, len(want))
	}
	for i, w := range want {
		a := attempts[i]
		if a.Candidate != w.c || a.OK != w.ok || (!a.OK && (a.Class != ClassCapacity || a.Code != "NoRoom")) {
			t.Errorf("attempt %d = %+v, want %+v ok=%v", i+1, a, w.c, w.ok)
		}
	}
}

// TestLegsApart: legs of one matrix job share run, job and key; only the
// leg id tells them apart, in names (so ClientTokens), tags and filters.
func TestLegsApart(t *testing.T) {
	a := Identity{Repo: "o/r", RunID: "42", RunAttempt: "1", Job: "verify", Key: "aws", Leg: "0123456789ab"}
	b := a
	b.Leg = "ba9876543210"
	if a.Name() == b.Name() {
		t.Errorf("legs share the name %s", a.Name())
	}
	for _, id := range []Identity{a, b} {
		if n := id.Name(); len(n) > 30 || Label(n) != n {
			t.Errorf("name %q: want at most 30 characters of [a-z0-9_-]", n)
		}
	}
	if a.Matches(b.Tags()) || b.Matches(a.Tags()) {
		t.Error("one leg matches the other's tags")
	}
	if !a.Matches(a.Tags()) || a.Tags()[TagLeg] != a.Leg {
		t.Errorf("a leg does not match its own tags %v", a.Tags())
	}
	// A filter without a leg (the planned janitor's, not built yet) still sees both.
	f := Filter{Run: a.Run(), Key: a.Key}
	if !f.Match(a.Tags()) || !f.Match(b.Tags()) {
		t.Error("a filter without a leg misses a leg")
	}
}

// TestIdentityTags pins the tag set of DESIGN §4 by its literal key names:
// the post step and the leak check of an older release find resources by
// these exact keys, as will the janitor DESIGN plans (not built yet), so a
// key renamed or dropped (expires-at, which that janitor is to delete by)
// must fail here, not in a cloud.
func TestIdentityTags(t *testing.T) {
	created := time.Unix(1767225600, 0)
	id := Identity{Repo: "tinylabscom/mvm", RunID: "4242", RunAttempt: "3", Job: "Verify AWS", Key: "AWS-c8i",
		Leg: "0a1b2c3d4e5f", CreatedAt: created, ExpiresAt: created.Add(3 * time.Hour)}
	want := map[string]string{
		"mvm-verify":     "1",
		"mvm-verify-run": "4242-3",
		"mvm-verify-job": "verify-aws", // label-safe: GCE labels are [a-z0-9_-]
		"mvm-verify-key": "aws-c8i",
		"mvm-verify-leg": "0a1b2c3d4e5f",
		"created-at":     "1767225600",
		"expires-at":     "1767236400",
	}
	if got := id.Tags(); !maps.Equal(got, want) {
		t.Errorf("Tags() = %v\nwant      %v", got, want)
	}
	// No attempt counts as the first; an identity saved before legs were
	// told apart carries no leg tag rather than an empty one.
	id.RunAttempt, id.Leg = "", ""
	got := id.Tags()
	if got["mvm-verify-run"] != "4242-1" {
		t.Errorf("run tag without an attempt = %q, want 4242-1", got["mvm-verify-run"])
	}
	if v, ok := got["mvm-verify-leg"]; ok {
		t.Errorf("leg tag %q on an identity without a leg", v)
	}
	if len(got) != len(want)-1 {
		t.Errorf("Tags() without a leg = %v, want the other %d tags", got, len(want)-1)
	}
}
