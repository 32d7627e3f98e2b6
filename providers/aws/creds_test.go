package aws_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// sharedFiles writes an AWS config and credentials file for one test and
// returns the environment naming them, with the metadata service off.
func sharedFiles(t *testing.T, config, credentials string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	cfg, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, []byte(credentials), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"AWS_CONFIG_FILE": cfg, "AWS_SHARED_CREDENTIALS_FILE": creds, "AWS_EC2_METADATA_DISABLED": "true"}
}

// masks collects what the adapter asks to mask.
type masks struct {
	mu  sync.Mutex
	got []string
}

func (m *masks) add(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = append(m.got, s)
}

func (m *masks) has(s string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Contains(m.got, s)
}

// TestSharedCredentialsProfile: AWS_PROFILE picks a profile of the shared
// credentials file, as the AWS CLI does.
func TestSharedCredentialsProfile(t *testing.T) {
	srv := fake.New(fake.Config{Booter: idleBooter, AccessKeys: map[string]string{"AKIDPROFILE": "profile-secret"}})
	defer srv.Close()
	environ := sharedFiles(t, "[profile ci]\nregion = us-west-2\n",
		"[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = wrong\n\n"+
			"[ci]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n")
	environ["AWS_PROFILE"] = "ci"
	p, err := aws.New(options(srv, nil, environ), aws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// The fake knows only the profile's key: the default profile's would
	// be refused with InvalidClientTokenId.
	if err := p.Preflight(context.Background(), request(identity("aws"))); err != nil {
		t.Fatalf("preflight with profile ci: %v", err)
	}

	environ["AWS_PROFILE"] = "nope"
	p, err = aws.New(options(srv, nil, environ), aws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	before := len(srv.Ops())
	err = p.Preflight(context.Background(), request(identity("aws")))
	if providers.ClassOf(err) != providers.ClassAuth || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing profile: %v, want an auth error naming the profile", err)
	}
	if len(srv.Ops()) != before {
		t.Errorf("a missing profile reached the API: %v", srv.Ops()[before:])
	}
}

// TestWebIdentityTokenFileProfile: a shared-config profile with
// web_identity_token_file and role_arn (what EKS and other OIDC setups
// write) is exchanged at STS, and the minted secrets are masked.
func TestWebIdentityTokenFileProfile(t *testing.T) {
	srv := fake.New(fake.Config{Booter: idleBooter, WebIdentityToken: "token-from-file", RoleARN: role})
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("token-from-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	environ := sharedFiles(t, "[profile oidc]\nweb_identity_token_file = "+tokenFile+"\nrole_arn = "+role+"\n", "")
	environ["AWS_PROFILE"] = "oidc"
	var m masks
	o := options(srv, nil, environ)
	o.Mask = m.add
	p, err := aws.New(o, aws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Preflight(context.Background(), request(identity("aws"))); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	if n := count(srv.Ops(), "sts:AssumeRoleWithWebIdentity"); n != 1 {
		t.Errorf("AssumeRoleWithWebIdentity calls = %d, want 1", n)
	}
	if !m.has("minted-secret") {
		t.Errorf("the minted secret key was not masked; masked %d values", len(m.got))
	}
}

// TestNoCredentials: nothing configured anywhere (no keys, no profile, no
// role, metadata service off) reads as the matrix's Notes, before any call.
func TestNoCredentials(t *testing.T) {
	srv := newFake(t, nil)
	p, err := aws.New(options(srv, nil, sharedFiles(t, "", "")), aws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Preflight(context.Background(), request(identity("aws")))
	if err == nil || err.Error() != "auth: Needs AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "+
		"(e.g. with aws-actions/configure-aws-credentials) or aws-role-to-assume" {
		t.Errorf("preflight = %v", err)
	}
	if len(srv.Ops()) != 0 {
		t.Errorf("reached the API: %v", srv.Ops())
	}
}

// TestEndpointFromEnvironment: AWS_ENDPOINT_URL (the SDK's own setting)
// points every service at the fake without the aws-endpoint input.
func TestEndpointFromEnvironment(t *testing.T) {
	srv := newFake(t, idleBooter)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	o := options(srv, nil, env)
	in := o.Input
	o.Input = func(k string) string {
		if k == "aws-endpoint" {
			return ""
		}
		return in(k)
	}
	p, err := aws.New(o, aws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Preflight(context.Background(), request(identity("aws"))); err != nil {
		t.Fatalf("preflight through AWS_ENDPOINT_URL: %v", err)
	}
	if count(srv.Ops(), "sts:GetCallerIdentity") != 1 {
		t.Errorf("ops = %v", srv.Ops())
	}
}

// TestInstanceProfileCredentials: on a self-hosted runner on EC2 with
// nothing else configured, the instance profile's credentials (from the
// metadata service, here a loopback fake of it) are used, and masked.
func TestInstanceProfileCredentials(t *testing.T) {
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			io.WriteString(w, "imds-session") //nolint:errcheck
		case r.Header.Get("X-Aws-Ec2-Metadata-Token") != "imds-session":
			http.Error(w, "no token", http.StatusUnauthorized)
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
			io.WriteString(w, "runner-role") //nolint:errcheck
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/runner-role":
			json.NewEncoder(w).Encode(map[string]string{ //nolint:errcheck
				"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAPROFILE", "SecretAccessKey": "profile-role-secret",
				"Token": "profile-role-token", "Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
				"LastUpdated": time.Now().UTC().Format(time.RFC3339),
			})
		default:
			http.NotFound(w, r)
		}
	}))
	defer imds.Close()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
	srv := fake.New(fake.Config{Booter: idleBooter, AccessKeys: map[string]string{"ASIAPROFILE": "profile-role-secret"}})
	defer srv.Close()
	environ := sharedFiles(t, "", "")
	delete(environ, "AWS_EC2_METADATA_DISABLED")
	var m masks
	o := options(srv, nil, environ)
	o.Mask = m.add
	p, err := aws.New(o, aws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Preflight(context.Background(), request(identity("aws"))); err != nil {
		t.Fatalf("preflight with instance-profile credentials: %v", err)
	}
	if !m.has("profile-role-secret") || !m.has("profile-role-token") {
		t.Errorf("the instance profile's secret and token were not masked")
	}
}

// TestExpiredEnvironmentSession: AWS_* credentials of a role session, as
// aws-actions/configure-aws-credentials exports them, that expire before
// the teardown (a post step after a long main). Nothing can renew them:
// the refusal is not retried, reads as auth, and says what to change.
func TestExpiredEnvironmentSession(t *testing.T) {
	srv := newFake(t, idleBooter)
	key, secret, token := srv.MintSession()
	environ := map[string]string{"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token}
	p, err := aws.New(options(srv, nil, environ), aws.Config{RetryBackoff: func(int) time.Duration { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	id := identity("aws")
	if err := p.Preflight(context.Background(), request(id)); err != nil {
		t.Fatalf("preflight with the session: %v", err)
	}
	srv.ExpireSessions()
	seen := len(srv.Calls())
	_, err = p.Destroy(context.Background(), id)
	if providers.ClassOf(err) != providers.ClassAuth || !strings.Contains(err.Error(), "RequestExpired") ||
		!strings.Contains(err.Error(), "use aws-role-to-assume or a longer role-duration-seconds") {
		t.Fatalf("destroy with an expired session: %v, want auth RequestExpired saying what to change", err)
	}
	after := srv.Calls()[seen:]
	for i := 1; i < len(after); i++ {
		if after[i].Op == after[i-1].Op && after[i].Op == after[0].Op {
			t.Errorf("%s was retried with credentials that cannot be renewed: %v", after[i].Op, srv.Ops()[seen:])
			break
		}
	}
}

// TestRequestExpiredWithLongTermKeys: EC2 answers RequestExpired also for
// a request signed with a clock off by more than its allowed skew, and
// long-term keys do not expire: the error says to check the clock, not
// to change role-duration-seconds (TestExpiredEnvironmentSession has the
// session's wording).
func TestRequestExpiredWithLongTermKeys(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.Inject(fakecloud.Fault{Op: "DescribeRegions", Status: http.StatusBadRequest, Code: "RequestExpired",
		Message: "Request has expired."})
	p := newProvider(t, srv, nil)
	err := p.Preflight(context.Background(), request(identity("aws")))
	if providers.ClassOf(err) != providers.ClassAuth || !strings.Contains(err.Error(), "RequestExpired") ||
		!strings.Contains(err.Error(), "the AWS credentials expired or this machine's clock is off") ||
		strings.Contains(err.Error(), "role-duration-seconds") {
		t.Fatalf("preflight answered RequestExpired with long-term keys: %v, want auth naming the clock, not role-duration-seconds", err)
	}
}
