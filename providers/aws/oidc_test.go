package aws_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

const role = "arn:aws:iam::123456789012:role/mvm-verify"

func testOIDCRole(t *testing.T) {
	var fetched atomic.Int32
	// The Actions runtime's token endpoint, on loopback.
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer runtime-token" || r.URL.Query().Get("audience") != "sts.amazonaws.com" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		fetched.Add(1)
		json.NewEncoder(w).Encode(map[string]string{"value": "gh-oidc-token"}) //nolint:errcheck
	}))
	defer gh.Close()
	srv := fake.New(fake.Config{Booter: idleBooter, WebIdentityToken: "gh-oidc-token", RoleARN: role})
	defer srv.Close()
	environ := map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": gh.URL + "/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runtime-token"}

	var m masks
	newRole := func(roleARN string) *aws.Provider {
		o := options(srv, map[string]string{"aws-role-to-assume": roleARN}, environ)
		o.Mask = m.add
		p, err := aws.New(o, aws.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	id := identity("aws")
	main := newRole(role)
	if err := main.Preflight(context.Background(), request(id)); err != nil {
		t.Fatalf("preflight with the role: %v", err)
	}
	if _, err := main.Create(context.Background(), request(id), nil); err != nil {
		t.Fatal(err)
	}
	// The post step is a new process: it mints its own credentials.
	post := newRole(role)
	if _, err := post.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if fetched.Load() != 2 || count(srv.Ops(), "sts:AssumeRoleWithWebIdentity") != 2 {
		t.Errorf("tokens fetched = %d, assume-role calls = %d; want one each per process", fetched.Load(), count(srv.Ops(), "sts:AssumeRoleWithWebIdentity"))
	}
	assertNothingLeft(t, srv, post, id)
	// Minted at run time, so the runner does not know them as secrets.
	// The session tokens are the fake STS's, one per process: each is a
	// secret like the key.
	tokens := srv.SessionTokens()
	if len(tokens) != 2 {
		t.Errorf("session tokens minted = %d, want one per process", len(tokens))
	}
	for _, secret := range append([]string{"gh-oidc-token", "minted-secret"}, tokens...) {
		if !m.has(secret) {
			t.Errorf("%s was not masked", secret)
		}
	}

	err := newRole("arn:aws:iam::123456789012:role/other").Preflight(context.Background(), request(id))
	if providers.ClassOf(err) != providers.ClassAuth || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("wrong role: %v, want auth AccessDenied", err)
	}
}

// TestRoleSessionExpiresMidRun: the role's session runs out while the
// leg runs (here: the fake ends it at once, before the cache thinks it is
// due). EC2 refuses the next call with RequestExpired; the adapter drops
// the cached session and retries with one freshly minted, so the launch
// and the teardown go through.
func TestRoleSessionExpiresMidRun(t *testing.T) {
	srv, p := roleProvider(t)
	id := identity("aws")
	if err := p.Preflight(context.Background(), request(id)); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	srv.ExpireSessions()
	if _, err := p.Create(context.Background(), request(id), nil); err != nil {
		t.Fatalf("create after the session expired: %v", err)
	}
	srv.ExpireSessions()
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatalf("destroy after the session expired: %v", err)
	}
	if n := count(srv.Ops(), "sts:AssumeRoleWithWebIdentity"); n != 3 {
		t.Errorf("assume-role calls = %d, want 3: one at first, one after each expiry", n)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestExpiredOIDCToken: the role's session runs out and STS then refuses
// the job's GitHub OIDC token as expired. The exchange is tried once: the
// rule that renews expired credentials does not apply to the STS call
// that mints them (emptying the cache mid-refresh would only repeat the
// same exchange), nor to the failure to get credentials. The error names
// the OIDC token.
func TestExpiredOIDCToken(t *testing.T) {
	srv, p := roleProvider(t)
	id := identity("aws")
	if err := p.Preflight(context.Background(), request(id)); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	srv.ExpireSessions()
	// STS's own answer to an expired web identity token.
	srv.Inject(fakecloud.Fault{Op: "sts:AssumeRoleWithWebIdentity", Status: http.StatusBadRequest, Code: "ExpiredTokenException",
		Message: "Token expired: current date/time 1764441600 must be before the expiration date/time 1764438000"})
	before := count(srv.Ops(), "sts:AssumeRoleWithWebIdentity")
	err := p.Preflight(context.Background(), request(id))
	if n := count(srv.Ops(), "sts:AssumeRoleWithWebIdentity") - before; n != 1 {
		t.Errorf("AssumeRoleWithWebIdentity calls after the token expired = %d, want 1", n)
	}
	if providers.ClassOf(err) != providers.ClassAuth || !strings.Contains(err.Error(), "STS finds the GitHub OIDC token expired") ||
		!strings.Contains(err.Error(), "ExpiredTokenException") {
		t.Fatalf("preflight with an expired OIDC token: %v, want auth naming the GitHub OIDC token", err)
	}
}

// TestRoleRequestExpiredNamesClock: with aws-role-to-assume, EC2 answers
// RequestExpired on every call, even after the adapter renewed the
// session: a clock off beyond AWS's allowed skew. The error says to check
// the clock; advice to use aws-role-to-assume or a longer
// role-duration-seconds is wrong for a user who already does.
func TestRoleRequestExpiredNamesClock(t *testing.T) {
	srv, p := roleProvider(t)
	srv.Inject(fakecloud.Fault{Op: "DescribeRegions", Status: http.StatusBadRequest, Code: "RequestExpired", Message: "Request has expired."})
	err := p.Preflight(context.Background(), request(identity("aws")))
	if count(srv.Ops(), "DescribeRegions") == 0 {
		t.Fatalf("setup: preflight never called DescribeRegions: %v", srv.Ops())
	}
	if providers.ClassOf(err) != providers.ClassAuth || !strings.Contains(err.Error(), "RequestExpired") ||
		!strings.Contains(err.Error(), "this machine's clock is off") || strings.Contains(err.Error(), "role-duration-seconds") {
		t.Fatalf("preflight with the role answered RequestExpired after renewal: %v, want auth naming the clock, not role-duration-seconds", err)
	}
}

// roleProvider is a provider that assumes role with the job's GitHub OIDC
// token, served on loopback as the Actions runtime serves it, against a
// fake whose STS accepts that token; SDK retries do not back off.
func roleProvider(t *testing.T) (*fake.Server, *aws.Provider) {
	t.Helper()
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"value": "gh-oidc-token"}) //nolint:errcheck
	}))
	t.Cleanup(gh.Close)
	srv := fake.New(fake.Config{Booter: idleBooter, WebIdentityToken: "gh-oidc-token", RoleARN: role})
	t.Cleanup(srv.Close)
	environ := map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": gh.URL + "/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runtime-token"}
	p, err := aws.New(options(srv, map[string]string{"aws-role-to-assume": role}, environ),
		aws.Config{RetryBackoff: func(int) time.Duration { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	return srv, p
}
