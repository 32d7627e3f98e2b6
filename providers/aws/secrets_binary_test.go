package aws_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// The user data carries the run's host private key (DESIGN §5: the host key
// is injected so the client can pin it). Neither it nor the rest of the
// user data, nor the AWS secret, may reach the log, the outputs, the state,
// the job summary or the files in out.
func TestBinaryKeepsUserDataOutOfEverything(t *testing.T) {
	srv := binaryFake(t, true)
	bin := providertest.Binary(t)
	dir := t.TempDir()
	// The lane this machine can pass (no-kvm without KVM): the test is
	// about secrets, not KVM.
	lane, _ := providertest.Lane()
	runner := providertest.NewRunner(t, "")
	out := filepath.Join(dir, "out")
	env := baseEnv(t, append(runner.Env(), "GITHUB_ACTIONS=true", "GITHUB_RUN_ID=1",
		"INPUT_PROVIDER=aws", "INPUT_AWS-ENDPOINT="+srv.URL, "INPUT_REGION=us-east-1",
		"INPUT_SUITE="+providertest.SuiteFile(t, "echo hi"), "INPUT_OUT="+out, "INPUT_SSH-SOURCE-CIDR=127.0.0.1/32",
		"INPUT_TIMEOUT-MINUTES=10", "INPUT_COMMENT=false", "INPUT_LANE="+lane)...)
	p := providertest.Start(t, bin, env, nil)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit %d\n%s\nstderr:\n%s", code, p.Output(), p.Stderr())
	}
	// The runner reads the outputs and state after the step: they must
	// parse as it parses them before their text is searched below.
	if st := runner.Outputs(t)["status"]; st != "verified" {
		t.Errorf("status output %q, want verified", st)
	}
	if st := runner.State(t); st["identity"] == "" {
		t.Errorf("state %q lacks the identity", st)
	}

	instances := srv.Instances()
	if len(instances) != 1 {
		t.Fatalf("%d instances, want 1", len(instances))
	}
	userData := string(instances[0].UserData)
	var secrets []string
	inKey := false
	for _, l := range strings.Split(userData, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.Contains(l, "BEGIN OPENSSH PRIVATE KEY"):
			inKey = true
		case strings.Contains(l, "END OPENSSH PRIVATE KEY"):
			inKey = false
		case inKey && len(l) > 20:
			secrets = append(secrets, l)
		}
	}
	if len(secrets) == 0 {
		t.Fatalf("the user data holds no host private key to look for:\n%s", userData)
	}
	secrets = append(secrets, "#cloud-config", "PRIVATE KEY", "fake-secret")

	everything := map[string]string{"stdout": p.Output(), "stderr": p.Stderr()}
	for name, path := range runner.Files() {
		data, _ := os.ReadFile(path)
		everything[name] = string(data)
	}
	filepath.Walk(out, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			data, _ := os.ReadFile(path)
			everything[path] = string(data)
		}
		return nil
	})
	for name, text := range everything {
		var kept []string
		for _, l := range strings.Split(text, "\n") {
			// ::add-mask:: is how the runner learns what to hide.
			if !strings.HasPrefix(l, "::add-mask::") {
				kept = append(kept, l)
			}
		}
		text = strings.Join(kept, "\n")
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contains secret material %q", name, s)
			}
		}
	}
}

// Credentials minted from the role at run time are unknown to the runner as
// secrets, so the binary masks them (and the GitHub ID token) itself.
func TestBinaryMasksMintedCredentials(t *testing.T) {
	providertest.RequireTestHosts(t)
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer runtime-token" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"value": "gh-oidc-token"}) //nolint:errcheck
	}))
	t.Cleanup(gh.Close)
	srv := fake.New(fake.Config{Booter: idleBooter, WebIdentityToken: "gh-oidc-token", RoleARN: role})
	t.Cleanup(srv.Close)
	bin := providertest.Binary(t)
	var env []string
	for _, kv := range baseEnv(t) {
		if !strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") && !strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") {
			env = append(env, kv)
		}
	}
	env = append(env, "GITHUB_ACTIONS=true", "GITHUB_RUN_ID=1",
		"ACTIONS_ID_TOKEN_REQUEST_URL="+gh.URL+"/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=runtime-token",
		"INPUT_PROVIDER=aws", "INPUT_AWS-ENDPOINT="+srv.URL, "INPUT_REGION=us-east-1",
		"INPUT_AWS-ROLE-TO-ASSUME="+role, "INPUT_COMMENT=false")
	// The post step of a leg whose main saved its identity: it mints its
	// own credentials to sweep by tag.
	idJSON, err := json.Marshal(identity("aws"))
	if err != nil {
		t.Fatal(err)
	}
	env = append(env, "STATE_provider=aws", "STATE_identity="+string(idJSON), "STATE_out="+t.TempDir())
	p := providertest.Start(t, providertest.PostBinary(bin), env, nil)
	code := p.Wait(t)
	out := p.Output()
	if code != 0 {
		t.Fatalf("post: exit %d\n%s\nstderr:\n%s", code, out, p.Stderr())
	}
	if count(srv.Ops(), "sts:AssumeRoleWithWebIdentity") == 0 {
		t.Fatalf("the post step did not assume the role:\n%s", out)
	}
	tokens := srv.SessionTokens()
	if len(tokens) == 0 {
		t.Fatalf("the fake minted no session token:\n%s", out)
	}
	for _, secret := range append([]string{"gh-oidc-token", "minted-secret"}, tokens...) {
		if !strings.Contains(out, "::add-mask::"+secret) {
			t.Errorf("%s was not masked:\n%s", secret, out)
		}
	}
}
