package aws_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// idle is a booted instance without SSH, for tests about the API only;
// the SSH tests boot real test hosts (see cycle_test.go).
type idle struct{ addr string }

func (m idle) Addr() string               { return m.addr }
func (m idle) Port() int                  { return 22 }
func (m idle) Stop(context.Context) error { return nil }

var idleBooter = fakecloud.BooterFunc(func(_ context.Context, spec fakecloud.BootSpec) (fakecloud.Machine, error) {
	return idle{addr: "127.0.0.1"}, nil
})

func newFake(t *testing.T, b fakecloud.Booter) *fake.Server {
	t.Helper()
	srv := fake.New(fake.Config{Booter: b})
	t.Cleanup(srv.Close)
	cleanProbeDirs(t, srv)
	return srv
}

// cleanProbeDirs removes, when the test ends, what the cycle uploaded to the
// fake's instances. They are test hosts on this machine, so the files
// outlive the instance; a real instance takes them with it.
func cleanProbeDirs(t *testing.T, srv *fake.Server) {
	t.Cleanup(func() {
		for _, in := range srv.Instances() {
			if name := in.Tags["Name"]; name != "" && !strings.ContainsAny(name, "/.") {
				os.RemoveAll("/tmp/mvm-verify-" + name)
			}
		}
	})
}

// env is what aws-actions/configure-aws-credentials exports.
var env = map[string]string{"AWS_ACCESS_KEY_ID": "AKIDFAKE", "AWS_SECRET_ACCESS_KEY": "fake-secret"}

func options(srv *fake.Server, inputs, environ map[string]string) providers.Options {
	in := map[string]string{"aws-endpoint": srv.URL}
	for k, v := range inputs {
		in[k] = v
	}
	return providers.Options{
		Input:        func(k string) string { return in[k] },
		Getenv:       func(k string) string { return environ[k] },
		PollInterval: time.Millisecond,
		HTTPClient:   loopbackOnly,
	}
}

// loopbackOnly is the adapter's HTTP client in tests: it refuses to dial
// anything but a loopback address, so a test that would reach a real AWS
// endpoint (or the instance metadata service) fails instead.
var loopbackOnly = &http.Client{Transport: &http.Transport{
	DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if ip, perr := netip.ParseAddr(host); err != nil || perr != nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("test refused to dial %s: tests reach loopback only", addr)
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	},
}}

func newProvider(t *testing.T, srv *fake.Server, inputs map[string]string) *aws.Provider {
	t.Helper()
	p, err := aws.New(options(srv, inputs, env), aws.Config{RetryBackoff: func(int) time.Duration { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newProviderWith is newProvider given the candidates the cycle parsed.
func newProviderWith(t *testing.T, srv *fake.Server, cands []providers.Candidate) *aws.Provider {
	t.Helper()
	o := options(srv, nil, env)
	o.Candidates = cands
	p, err := aws.New(o, aws.Config{RetryBackoff: func(int) time.Duration { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// createdRun starts a fake whose instances never answer SSH and creates
// one run's host in it: the setup of the teardown tests, which then shape
// the fake (a fault, a lag) and destroy.
func createdRun(t *testing.T) (*fake.Server, *aws.Provider, providers.Identity, *providers.Host) {
	t.Helper()
	srv := newFake(t, idleBooter)
	p := newProvider(t, srv, nil)
	id := identity("aws")
	h, err := p.Create(context.Background(), request(id), nil)
	if err != nil {
		t.Fatal(err)
	}
	return srv, p, id, h
}

func identity(key string) providers.Identity {
	now := time.Now().Truncate(time.Second)
	return providers.Identity{Repo: "tinylabscom/mvm", RunID: "4242", RunAttempt: "1", Job: "verify", Key: key,
		Leg: "0a1b2c3d4e5f", CreatedAt: now, ExpiresAt: now.Add(2 * time.Hour)}
}

func request(id providers.Identity) providers.Request {
	return providers.Request{
		Identity:      id,
		Lane:          providers.LaneKVM,
		User:          "mvm",
		UserData:      []byte("#cloud-config\n{}\n"),
		SSHSourceCIDR: "203.0.113.7/32",
		TTL:           2 * time.Hour,
		ReadyMarker:   "/var/lib/mvm-verify/ready",
	}
}

func noSleep(context.Context, time.Duration) error { return nil }

// leftInFake is every resource still in srv that carries the mvm-verify
// marker tag: each test has a fake of its own, so all of them are its
// run's. Instances, groups, volumes, network interfaces and spot requests.
func leftInFake(srv *fake.Server) []fake.Resource {
	return srv.Tagged(map[string]string{providers.TagMarker: "1"})
}

// assertNothingLeft checks the fake's own state and the adapter's leak check.
func assertNothingLeft(t *testing.T, srv *fake.Server, p providers.Provider, id providers.Identity) {
	t.Helper()
	if i, g, v := srv.Live(); i+g+v != 0 {
		t.Errorf("fake still holds %d instances, %d groups, %d volumes: %+v %+v", i, g, v, srv.Instances(), srv.Groups())
	}
	if left := srv.Tagged(id.Tags()); len(left) > 0 {
		t.Errorf("fake still holds resources tagged with the run: %v", left)
	}
	leaked, err := providers.LeakCheck(context.Background(), p, id)
	if err != nil {
		t.Fatalf("leak check: %v", err)
	}
	for _, r := range leaked {
		t.Errorf("leak check: %s %s in %s is still tagged with the run", r.Kind, r.ID, r.Region)
	}
}

// creating reports whether any call the fake saw creates or changes
// something. A DryRun call (the fake's "dryrun:" ops) creates nothing: the
// fake's TestDryRun holds it to that.
func creating(srv *fake.Server) []string {
	var out []string
	for _, op := range srv.Ops() {
		if !strings.HasPrefix(op, "Describe") && !strings.HasPrefix(op, "sts:") && !strings.HasPrefix(op, "ssm:") && !strings.HasPrefix(op, "dryrun:") {
			out = append(out, op)
		}
	}
	return out
}

func count(ops []string, op string) int {
	n := 0
	for _, o := range ops {
		if o == op {
			n++
		}
	}
	return n
}

// waitForInstance waits until the fake holds an instance: a launch the
// adapter was cancelled during is finished by the fake's handler on its own
// time.
func waitForInstance(t *testing.T, srv *fake.Server) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(srv.Interfaces()) == 0 { // stored after the instance and its volume
		if time.Now().After(deadline) {
			t.Fatal("the fake never finished the cancelled launch")
		}
		time.Sleep(time.Millisecond)
	}
}

// cutOffAtLaunch calls cancel the moment the fake receives the
// RunInstances it launches from, as if main were cut off while EC2
// answered it. Under SetConsistencyLag(lag) the lag calls before it are
// answered InvalidGroup.NotFound (the run's group is too new for them)
// and launch nothing.
func cutOffAtLaunch(srv *fake.Server, lag int, cancel func()) {
	calls := 0 // When runs under the kit's lock
	srv.Inject(fakecloud.Fault{Op: "RunInstances", When: func(fakecloud.Call) bool {
		if calls++; calls > lag {
			cancel()
		}
		return false
	}})
}

// cancelledWhenPolled is a context cancelled the moment the adapter first
// asks EC2 about its instance by id: RunInstances has answered and Create
// is waiting for the instance to run.
func cancelledWhenPolled(t *testing.T, srv *fake.Server) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv.Inject(fakecloud.Fault{Op: "DescribeInstances", When: func(c fakecloud.Call) bool {
		if c.Params["InstanceId.1"] != "" {
			cancel()
		}
		return false
	}})
	return ctx
}
