package aws_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// egressServer answers like checkip.amazonaws.com: the caller's address as
// plain text. A zero status answers 200.
func egressServer(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if status != 0 {
			w.WriteHeader(status)
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// upArgs are the flags of `mvm-verify up` against srv, on the lane this
// machine can run (providertest.Lane: kvm only with usable KVM).
func upArgs(t *testing.T, srv *fake.Server, out string) []string {
	lane, why := providertest.Lane()
	t.Logf("lane %s: %s", lane, why)
	return []string{"up", "--provider", "aws", "--lane", lane, "--aws-endpoint", srv.URL, "--region", "us-east-1",
		"--suite", providertest.SuiteFile(t, "true"), "--out", out, "--timeout-minutes", "10"}
}

// Without ssh-source-cidr the binary learns the runner's address and opens
// tcp/22 to that /32 only.
func TestBinaryOpensSSHToDiscoveredAddress(t *testing.T) {
	srv := binaryFake(t, true)
	bin := providertest.Binary(t)
	out := filepath.Join(t.TempDir(), "out")
	env := baseEnv(t, "MVM_VERIFY_EGRESS_URL="+egressServer(t, 0, "127.0.0.1\n"))
	up := providertest.Start(t, bin, env, upArgs(t, srv, out))
	if code := up.Wait(t); code != 0 {
		t.Fatalf("up: exit %d\n%s\nstderr:\n%s", code, up.Output(), up.Stderr())
	}
	t.Cleanup(func() {
		down := providertest.Start(t, bin, env, []string{"down", "--out", out})
		if code := down.Wait(t); code != 0 {
			t.Errorf("down: exit %d\n%s\nstderr:\n%s", code, down.Output(), down.Stderr())
		}
		if i, g, v := srv.Live(); i+g+v != 0 {
			t.Errorf("left in the fake after down: %d instances, %d groups, %d volumes", i, g, v)
		}
	})
	groups := srv.Groups()
	if len(groups) != 1 {
		t.Fatalf("%d security groups, want 1", len(groups))
	}
	want := fake.Rule{Protocol: "tcp", From: 22, To: 22, CIDR: "127.0.0.1/32"}
	if in := groups[0].Ingress; len(in) != 1 || in[0] != want {
		t.Errorf("ingress %+v, want only %+v", in, want)
	}
}

// A failed discovery is bad input (there is no safe address to open SSH
// to): exit 2 naming ssh-source-cidr, and nothing created.
func TestBinaryRefusesWithoutRunnerAddress(t *testing.T) {
	srv := binaryFake(t, true)
	bin := providertest.Binary(t)
	for name, url := range map[string]string{
		"server error": egressServer(t, http.StatusInternalServerError, "oops"),
		"not an ip":    egressServer(t, 0, "<html>captive portal</html>"),
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			p := providertest.Start(t, bin, baseEnv(t, "MVM_VERIFY_EGRESS_URL="+url), upArgs(t, srv, out))
			if code := p.Wait(t); code != 2 {
				t.Fatalf("exit %d, want 2\n%s\nstderr:\n%s", code, p.Output(), p.Stderr())
			}
			if msg := p.Output() + p.Stderr(); !strings.Contains(msg, `"ssh-source-cidr"`) {
				t.Errorf("the output does not name ssh-source-cidr:\n%s", msg)
			}
			if i, g, v := srv.Live(); i+g+v != 0 {
				t.Errorf("created in the fake: %d instances, %d groups, %d volumes", i, g, v)
			}
		})
	}
}

// With neither credentials nor a way to learn the runner's address, the
// run reports the credentials first: the provider's preflight comes before
// the address lookup, which would only have said "connection refused".
func TestBinaryCredentialsBeforeRunnerAddress(t *testing.T) {
	srv := binaryFake(t, true)
	bin := providertest.Binary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/"
	l.Close()
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + t.TempDir(),
		"MVM_VERIFY_POLL_INTERVAL=100ms", "MVM_VERIFY_EGRESS_URL=" + closed}, isolatedAWS(t.TempDir())...)
	out := filepath.Join(t.TempDir(), "out")
	p := providertest.Start(t, bin, env, []string{"run", "--provider", "aws", "--aws-endpoint", srv.URL, "--region", "us-east-1",
		"--suite", providertest.SuiteFile(t, "true"), "--out", out, "--timeout-minutes", "10"})
	if code := p.Wait(t); code != 2 {
		t.Fatalf("exit %d, want 2\n%s\nstderr:\n%s", code, p.Output(), p.Stderr())
	}
	all := p.Output() + p.Stderr()
	if !strings.Contains(all, "Needs AWS credentials") {
		t.Errorf("the output does not say credentials are needed:\n%s", all)
	}
	if strings.Contains(all, "ssh-source-cidr") {
		t.Errorf("the address lookup was reported before the credentials:\n%s", all)
	}
	if c := creating(srv); len(c) > 0 {
		t.Errorf("a refused run called %v", c)
	}
	if left := srv.Tagged(nil); len(left) > 0 {
		t.Errorf("a refused run created %v", left)
	}
}
