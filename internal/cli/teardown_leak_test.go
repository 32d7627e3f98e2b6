package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// awsLeg is a leg on the fake EC2 whose security group (tagged with the
// leg, as the adapter tags it) is already there, as a killed main or an
// `up` leaves it. The leg began an hour ago, so one empty sweep or listing
// is enough (no describe-after-create lag to outwait).
type awsLeg struct {
	srv   *fake.Server
	id    providers.Identity
	group string
	env   []string // credentials and the fake's endpoint, kept off this machine's AWS settings
}

func newAWSLeg(t *testing.T) awsLeg {
	t.Helper()
	srv := fake.New(fake.Config{})
	t.Cleanup(srv.Close)
	now := time.Now().UTC().Truncate(time.Second)
	id := providers.Identity{Repo: ghRepo, RunID: "99", RunAttempt: "1", Job: "verify", Key: "aws",
		HeadSHA: ghHead, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), Leg: "leak1"}
	var tags []ec2types.Tag
	for k, v := range id.Tags() {
		tags = append(tags, ec2types.Tag{Key: sdk.String(k), Value: sdk.String(v)})
	}
	client := ec2.NewFromConfig(sdk.Config{Region: "us-east-1", BaseEndpoint: sdk.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake-secret", "")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: sdk.String(id.Name()), Description: sdk.String("mvm-verify leak test"),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: tags}}})
	if err != nil {
		t.Fatalf("create the leg's security group on the fake EC2: %v", err)
	}
	dir := t.TempDir()
	env := []string{"AWS_ACCESS_KEY_ID=AKIDFAKE", "AWS_SECRET_ACCESS_KEY=fake-secret",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + filepath.Join(dir, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-credentials"), "MVM_VERIFY_POLL_INTERVAL=50ms"}
	return awsLeg{srv: srv, id: id, group: sdk.ToString(out.GroupId), env: env}
}

// post runs the post step fresh for the leg, as the runner would after its
// main step, with summary as the job summary and extra after the leg's
// environment; it returns the step's output and exit status.
func (l awsLeg) post(t *testing.T, summary string, extra ...string) ([]byte, int) {
	t.Helper()
	idJSON, _ := json.Marshal(l.id)
	env := cmdEnv(t, append(append(append(actionsEnv(prEventFile(t, ghRepo), summary, emptyFile(t, "outputs")), l.env...), extra...),
		"INPUT_PROVIDER=aws", "INPUT_AWS-ENDPOINT="+l.srv.URL, "INPUT_REGION=us-east-1",
		"INPUT_OUT="+filepath.Join(t.TempDir(), "leg"),
		"STATE_provider=aws", "STATE_identity="+string(idJSON))...)
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = env
	out, err := post.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out, ee.ExitCode()
	case err != nil:
		t.Fatalf("post step: %v\n%s", err, out)
	}
	return out, 0
}

// keepGroups makes every delete of a security group answer success and
// delete nothing: only the leak check can tell.
func (l awsLeg) keepGroups() {
	l.srv.Inject(fakecloud.Fault{Op: "DeleteSecurityGroup", Pretend: true})
}

// failLeakCheck refuses the listing of network interfaces the leak check
// makes (the teardown's own lists only detached ones, by status), so the
// teardown succeeds and the leak check cannot tell what is left.
func (l awsLeg) failLeakCheck() {
	l.srv.Inject(fakecloud.Fault{Op: "DescribeNetworkInterfaces", Status: 403, Code: "UnauthorizedOperation",
		Message: "You are not authorized to perform this operation.",
		When: func(c fakecloud.Call) bool {
			for k, v := range c.Params {
				if strings.HasPrefix(k, "Filter.") && strings.HasSuffix(k, ".Name") && v == "status" {
					return false
				}
			}
			return true
		}})
}

// leakCases are the two ways a teardown cannot show it left nothing.
var leakCases = []struct {
	name   string
	fault  func(awsLeg)
	want   func(awsLeg) string // in the summary
	remain bool                // the group outlives the teardown
}{
	{"leaked group", awsLeg.keepGroups, func(l awsLeg) string {
		return "**LEAKED**: resources still present after teardown: security-group " + l.group
	}, true},
	{"leak check failed", awsLeg.failLeakCheck, func(awsLeg) string { return "leak check failed: leak check on aws:" }, false},
}

// TestPostFailsOnALeak: a post step whose teardown leaves a resource
// behind, or cannot check that it left none, fails (exit 1) with an error
// annotation and the summary saying what: a green post step would hide a
// resource still billed.
func TestPostFailsOnALeak(t *testing.T) {
	for _, tc := range leakCases {
		t.Run(tc.name, func(t *testing.T) {
			l := newAWSLeg(t)
			tc.fault(l)
			summary := emptyFile(t, "summary")
			out, code := l.post(t, summary)
			if code != 1 {
				t.Errorf("post: exit %d, want 1\n%s", code, out)
			}
			if sum := readFile(t, summary); !strings.Contains(sum, tc.want(l)) {
				t.Errorf("post's summary lacks %q:\n%s\noutput:\n%s", tc.want(l), sum, out)
			}
			if !strings.Contains(string(out), "::error title=mvm-verify leak check::") {
				t.Errorf("post did not annotate the leak check's error:\n%s", out)
			}
			if kept := len(l.srv.Groups()) == 1; kept != tc.remain {
				t.Errorf("groups left on the fake: %+v; the fault did not act as the test expects", l.srv.Groups())
			}
		})
	}
}

// TestDownFailsOnALeak: down, as the post step, fails when its teardown
// leaves a resource behind or its leak check fails, says so in the leg's
// result and keeps the state for another try.
func TestDownFailsOnALeak(t *testing.T) {
	for _, tc := range leakCases {
		t.Run(tc.name, func(t *testing.T) {
			l := newAWSLeg(t)
			tc.fault(l)
			out := filepath.Join(t.TempDir(), "out")
			st := map[string]any{"provider": "aws", "identity": l.id,
				"inputs": map[string]string{"aws-endpoint": l.srv.URL, "region": "us-east-1"}}
			data, _ := json.Marshal(st)
			if err := os.MkdirAll(filepath.Join(out, "host"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(out, "host", "host.json"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			summary := emptyFile(t, "summary")
			env := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), summary, emptyFile(t, "outputs")), l.env...)...)
			r := runBin(t, env, "down", "--out", out)
			if r.code != 1 {
				t.Errorf("down: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			want := tc.want(l)
			want = strings.TrimPrefix(strings.ReplaceAll(want, "**", ""), "leak check failed: ")
			if md := r.file(t, "summary.md"); !strings.Contains(md, want) {
				t.Errorf("down's summary.md lacks %q:\n%s\nstdout:\n%s", want, md, r.stdout)
			}
			if !strings.Contains(r.stdout, "::error title=mvm-verify leak check::") {
				t.Errorf("down did not annotate the leak check's error:\n%s", r.stdout)
			}
			if _, err := os.Stat(filepath.Join(out, "host", "host.json")); err != nil {
				t.Errorf("down removed the state a later down needs: %v", err)
			}
			if kept := len(l.srv.Groups()) == 1; kept != tc.remain {
				t.Errorf("groups left on the fake: %+v; the fault did not act as the test expects", l.srv.Groups())
			}
		})
	}
}
