package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	awsfake "github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// maskedFirst checks that stdout tells the runner to mask each of secrets
// (`::add-mask::` followed by the value) before any line that is not a
// mask command: the runner hides a value only in what is printed after
// its mask, so a mask that comes late, or never, leaves the value readable
// in the log.
func maskedFirst(t *testing.T, stdout string, secrets []string) {
	t.Helper()
	lines := strings.Split(stdout, "\n")
	first := slices.IndexFunc(lines, func(l string) bool { return !strings.HasPrefix(l, "::add-mask::") })
	if first < 0 {
		first = len(lines)
	}
	for _, s := range secrets {
		at := slices.Index(lines, "::add-mask::"+s)
		switch {
		case at < 0:
			// Named by its start only: the failure log is an artifact too.
			t.Errorf("stdout never masks the secret starting %q", s[:min(len(s), 12)])
		case at > first:
			t.Errorf("stdout masks the secret starting %q on line %d, after line %d %q, which is not a mask command",
				s[:min(len(s), 12)], at+1, first+1, lines[first])
		}
	}
}

// TestRunnerMasksSecretInputs runs a main step as GitHub's runner does,
// with the secret inputs a workflow passes from its secrets: an SSH private
// key and a GitHub token. The runner masks a secret only when it comes
// from the secrets context; a value passed through an input, or read from a
// file, is the action's to mask. So stdout must carry `::add-mask::` for
// the token and for every line of the key (the runner matches a mask line
// by line, and a step that prints the key prints it line by line), before
// anything else is printed.
func TestRunnerMasksSecretInputs(t *testing.T) {
	h, _, keyPEM := sshSudoUserHost(t)
	gh := fakeGitHub(t)
	dir := t.TempDir()
	suite := writeSuite(t, "user: "+cliSuiteUser+"\nsteps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	env := cmdEnv(t, append(append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"GITHUB_STATE="+emptyFile(t, "state"),
		"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(),
		"INPUT_PROVIDER=ssh", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "out"),
		"INPUT_SSH-HOST="+h.Addr(), fmt.Sprintf("INPUT_SSH-PORT=%d", h.Port()), "INPUT_SSH-USER="+cliSuiteUser,
		"INPUT_SSH-PRIVATE-KEY="+string(keyPEM), "INPUT_SSH-KNOWN-HOST="+h.KnownHostsLine()), thisHostLane().laneInputs()...)...)
	r := runBin(t, env)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if len(gh.Statuses(ghRepo, ghHead)) == 0 {
		t.Fatal("the run posted no status: the token was not used, and the test shows nothing about it")
	}
	secrets := []string{ghToken}
	for _, l := range strings.Split(string(keyPEM), "\n") {
		if strings.TrimSpace(l) != "" {
			secrets = append(secrets, l)
		}
	}
	if len(secrets) < 4 {
		t.Fatalf("the key has %d lines to look for, want its armour and body", len(secrets)-1)
	}
	maskedFirst(t, r.stdout, secrets)
}

// awsRole is the role the fake STS lets the fake OIDC token assume.
const awsRole = "arn:aws:iam::123456789012:role/mvm-verify"

// readyMarker is the file the user data's last runcmd writes (what
// cloud-init does on a real instance); the fake's hosts get it at boot.
var readyMarker = regexp.MustCompile(`/var/lib/mvm-verify/ready-[A-Za-z0-9_.-]+`)

// awsFake is the fake EC2 and STS, booting each instance as a real SSH
// test host that is ready at once; STS trusts token for awsRole.
func awsFake(t *testing.T, token string) *awsfake.Server {
	t.Helper()
	testhost.RequireRoot(t)
	booter := fakecloud.TestHostBooter{Port: 22, AfterBoot: func(_ context.Context, spec fakecloud.BootSpec, _ fakecloud.Machine) error {
		marker := readyMarker.Find(spec.UserData)
		if marker == nil {
			return nil
		}
		t.Cleanup(func() { os.Remove(string(marker)) })
		if err := os.MkdirAll(filepath.Dir(string(marker)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(string(marker), nil, 0o644)
	}}
	srv := awsfake.New(awsfake.Config{Booter: booter, WebIdentityToken: token, RoleARN: awsRole})
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		// The instances are test hosts on this machine: what the cycle
		// uploaded to them outlives them, as it would not on EC2.
		for _, in := range srv.Instances() {
			if name := in.Tags["Name"]; name != "" && !strings.ContainsAny(name, "/.") {
				os.RemoveAll("/tmp/mvm-verify-" + name)
			}
		}
	})
	return srv
}

// oidcServer is the runner's ID token endpoint: it hands token to a
// request with the job's runtime token.
func oidcServer(t *testing.T, runtimeToken, token string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+runtimeToken {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"value": token}) //nolint:errcheck // client gone
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/token?api-version=2.0"
}

// awsIsolated keeps the SDK off this machine's AWS configuration and off
// the instance metadata service (169.254.169.254, not loopback).
func awsIsolated(t *testing.T) []string {
	dir := t.TempDir()
	return []string{"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-credentials")}
}

// TestRunnerMasksMintedCredentials runs an aws leg's main step as the
// runner does, with aws-role-to-assume: the step exchanges the job's OIDC
// token at STS for session credentials. The runner knows none of them as
// secrets (they did not exist when the job started), so the binary must
// mask each — the ID token, the minted secret key and session token — as
// it gets it, in main as in post (providers/aws covers post).
func TestRunnerMasksMintedCredentials(t *testing.T) {
	const oidcToken = "gh-oidc-token-for-main"
	// Before the fake, so what its host leaves of the user goes last.
	suiteUser := freshCLISuiteUser(t)
	srv := awsFake(t, oidcToken)
	dir := t.TempDir()
	suite := writeSuite(t, "user: "+suiteUser+"\nsteps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	env := cmdEnv(t, append([]string{"GITHUB_ACTIONS=true", "GITHUB_RUN_ID=1", "MVM_VERIFY_POLL_INTERVAL=100ms",
		"GITHUB_OUTPUT=" + emptyFile(t, "outputs"), "GITHUB_STATE=" + emptyFile(t, "state"), "GITHUB_STEP_SUMMARY=" + emptyFile(t, "summary"),
		"ACTIONS_ID_TOKEN_REQUEST_URL=" + oidcServer(t, "runtime-token", oidcToken), "ACTIONS_ID_TOKEN_REQUEST_TOKEN=runtime-token",
		"INPUT_PROVIDER=aws", "INPUT_AWS-ENDPOINT=" + srv.URL, "INPUT_REGION=us-east-1", "INPUT_AWS-ROLE-TO-ASSUME=" + awsRole,
		"INPUT_SSH-SOURCE-CIDR=127.0.0.1/32", "INPUT_SUITE=" + suite, "INPUT_OUT=" + filepath.Join(dir, "out"),
		"INPUT_COMMENT=false"}, append(awsIsolated(t), thisHostLane().laneInputs()...)...)...)
	r := runBin(t, env)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if len(srv.Instances()) == 0 {
		t.Fatalf("main created no instance: the minted credentials were not used\n%s", r.stdout)
	}
	tokens := srv.SessionTokens()
	if len(tokens) == 0 {
		t.Fatalf("the fake STS minted no session token: main did not assume the role\n%s", r.stdout)
	}
	lines := strings.Split(r.stdout, "\n")
	for _, secret := range append([]string{oidcToken, "minted-secret"}, tokens...) {
		if !slices.Contains(lines, "::add-mask::"+secret) {
			t.Errorf("main did not mask the minted secret starting %q", secret[:min(len(secret), 12)])
		}
	}
}
