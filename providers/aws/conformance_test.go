package aws_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers/aws"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// awsFake is the fake EC2 as the conformance scenarios drive it.
type awsFake struct{ srv *fake.Server }

func (f awsFake) Inputs() map[string]string {
	return map[string]string{"aws-endpoint": f.srv.URL, "region": "us-east-1"}
}

// Env is what aws-actions/configure-aws-credentials exports, and shared
// files that do not exist so the SDK stays off this machine's own.
func (f awsFake) Env() []string {
	return append([]string{"AWS_ACCESS_KEY_ID=AKIDFAKE", "AWS_SECRET_ACCESS_KEY=fake-secret"}, isolatedAWS(awsConfigDir)...)
}

func (f awsFake) Kit() *fakecloud.Kit { return f.srv.Kit }

func (f awsFake) Held(want map[string]string) []providertest.Resource {
	var out []providertest.Resource
	for _, r := range f.srv.Tagged(want) {
		out = append(out, providertest.Resource{Kind: r.Kind, ID: r.ID, Tags: r.Tags})
	}
	return out
}

func (f awsFake) IsLaunch(c fakecloud.Call) bool { return c.Op == "RunInstances" }

func (f awsFake) IsPoll(c fakecloud.Call) bool {
	return c.Op == "DescribeInstances" && c.Params["InstanceId.1"] != ""
}

func (f awsFake) PublicAddress(id string) (string, int) {
	in, _ := f.srv.Instance(id)
	return in.PublicIP, in.SSHPort
}

func (f awsFake) Deletes(c fakecloud.Call) []string {
	if c.Op != "TerminateInstances" {
		return nil
	}
	var ids []string
	for i := 1; c.Params["InstanceId."+strconv.Itoa(i)] != ""; i++ {
		ids = append(ids, c.Params["InstanceId."+strconv.Itoa(i)])
	}
	return ids
}

// Mutating: a DryRun call (the fake's "dryrun:" ops) creates nothing; the
// fake's TestDryRun holds it to that.
func (f awsFake) Mutating(c fakecloud.Call) bool {
	for _, read := range []string{"Describe", "sts:", "ssm:", "dryrun:"} {
		if strings.HasPrefix(c.Op, read) {
			return false
		}
	}
	return true
}

// asFake is srv as a conformance Fake.
func asFake(srv *fake.Server) providertest.Fake { return awsFake{srv} }

// awsCloud describes the aws provider and its fake to the conformance
// scenarios, with its own refusals and what its whole cycle adds.
func awsCloud() providertest.Cloud {
	// A *.metal type (KVM yes) of the other architecture than this
	// binary's, which the cycle would upload to it.
	other, otherWant := "c6g.metal", `expected an x86_64 type such as c8i.large or c5.metal; or a probe-binary built for linux/arm64 (an arm64 type`
	if runtime.GOARCH == "arm64" {
		other, otherWant = "c5.metal", `expected an arm64 type such as c6g.metal or c7g.metal; or a probe-binary built for linux/amd64 (an x86_64 type`
	}
	deny := func(op string) func(providertest.Fake) {
		return func(f providertest.Fake) { f.(awsFake).srv.Deny(op) }
	}
	return providertest.Cloud{
		Provider: "aws", Display: "AWS", InstanceKind: "instance",
		Start: func(t *testing.T, b fakecloud.Booter) providertest.Fake {
			srv := fake.New(fake.Config{Booter: b})
			t.Cleanup(srv.Close)
			return awsFake{srv}
		},
		Secrets:        []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"},
		CycleEnv:       []string{"AWS_SESSION_TOKEN=session-token-not-for-hosts"},
		ConsistencyLag: 2,
		UnknownRegion: providertest.Refusal{Name: "unknown region", Args: []string{"--region", "xx-nowhere-1"},
			Want: `input "region": got "xx-nowhere-1", expected an AWS region: one of`},
		NoKVMType: providertest.Refusal{Name: "type without KVM", Args: []string{"--instance-type", "t3.large"},
			Want: `input "instance-type": got "t3.large", expected a type with nested virtualization such as c8i.large, or a *.metal type; or set lane: no-kvm (no KVM on this type`},
		NoCredentials: providertest.Refusal{Name: "no credentials", Env: isolatedAWS(awsConfigDir),
			Want: "Needs AWS credentials",
			// The row's Notes read as the hand-kept matrix's did.
			Notes: "Needs AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (e.g. with aws-actions/configure-aws-credentials) or aws-role-to-assume"},
		Refusals: []providertest.Refusal{
			// A family with local disks: no KVM either, only *.metal and
			// C8i/M8i/R8i have it; the refusal blames the candidates entry.
			{Name: "candidate type without KVM", Args: []string{"--candidates", "[{type: m5d.large}]"},
				Want: `input "candidates[0].type": got "m5d.large", expected a type with nested virtualization such as c8i.large, or a *.metal type; or set lane: no-kvm (no KVM on this type: virtualized without nested virtualization; on AWS only *.metal types and C8i/M8i/R8i`},
			{Name: "second candidate without KVM", Args: []string{"--candidates", "[{type: c8i.large}, {region: eu-west-1, type: t3.large}]"},
				Want: `input "candidates[1].type": got "t3.large", expected a type with nested virtualization`},
			{Name: "over budget", Args: []string{"--instance-type", "c5.metal", "--max-cost", "0.50"}, Want: `input "max-cost": got "0.5", expected at least $0.68, or a cheaper type or a shorter timeout-minutes (c5.metal at $4.0800/h for up to 10m0s could cost $0.68`},
			{Name: "disk too large", Args: []string{"--disk-gb", "16385"},
				Want: `input "disk-gb": got "16385", expected a whole number of GB from 8 to 16384`},
			{Name: "bad candidate region", Args: []string{"--candidates", "[{region: Mars}]"},
				Want: `input "candidates[0].region": got "Mars", expected an AWS region such as us-east-1`},
			// spot-failover adds an on-demand copy after the spot entry: the
			// bad region is still the second entry the user wrote.
			{Name: "bad region after a failover copy", Args: []string{"--spot-failover", "--candidates", "[{market: spot}, {region: Mars}]"},
				Want: `input "candidates[1].region": got "Mars", expected an AWS region such as us-east-1`},
			// Nothing to fail over from: refused before anything is called.
			{Name: "spot failover without spot", Args: []string{"--spot-failover"},
				Want: `input "spot-failover": got "true", expected false when market is on-demand`},
			{Name: "candidate zone outside its region", Args: []string{"--candidates", "[{region: eu-west-1, zone: us-east-1a}]"},
				Want: `input "candidates[0].zone": got "us-east-1a", expected an availability zone of region eu-west-1`},
			{Name: "metal type of another architecture", Args: []string{"--instance-type", other},
				Want: `input "instance-type": got "` + other + `", ` + otherWant + `, but the host runs the probe, this mvm-verify, built for ` + runtime.GOARCH},
			// A /8 is 16 million addresses, not the runner's: it takes the opt-in.
			{Name: "ssh source a /8", Args: []string{"--ssh-source-cidr", "10.0.0.0/8"},
				Want: `input "ssh-source-cidr": got "10.0.0.0/8", expected a range of /24 or narrower (such as the runner's address as a /32), or allow-ssh-from-anywhere: true`},
			// The whole internet, without the opt-in: refused before anything
			// is made (TestBinarySSHFromAnywhereOptIn runs it with the opt-in).
			{Name: "ssh source anywhere without the opt-in", Args: []string{"--ssh-source-cidr", "0.0.0.0/0"},
				Want: `input "ssh-source-cidr": got "0.0.0.0/0", expected a range of /24 or narrower (such as the runner's address as a /32), or allow-ssh-from-anywhere: true`},
			// EC2 hosts are reached over IPv4: an IPv6 source would admit no one.
			{Name: "ssh source IPv6", Args: []string{"--ssh-source-cidr", "2001:db8::7/128"},
				Want: `input "ssh-source-cidr": got "2001:db8::7/128", expected an IPv4 CIDR such as 203.0.113.7/32 (EC2 hosts are reached over IPv4)`},
			// An image EC2 or SSM does not know is the image input's
			// refusal, in the row's Notes too: the input, the value and the
			// form expected, with the service's words but not the SDK's.
			{Name: "image that does not exist", Args: []string{"--image", "ami-0000000000000dead"},
				Want: `input "image": got "ami-0000000000000dead", expected an AMI id (ami-…) that exists in us-east-1`,
				// The summary escapes Markdown's brackets; the cell ends with
				// the code, and no SDK text (operation, request id) comes between.
				NotesHas: `preflight: input "image": got "ami-0000000000000dead", expected an AMI id (ami-…) that exists in us-east-1, or an SSM parameter path such as ` +
					aws.UbuntuParameter + ` (does not exist in us-east-1 (EC2: The image id '\[ami-0000000000000dead\]' does not exist)) (InvalidAMIID.NotFound) |`},
			{Name: "image parameter that does not exist", Args: []string{"--image", "/aws/service/nope"},
				Want: `input "image": got "/aws/service/nope", expected an AMI id (ami-…) that exists in us-east-1`,
				NotesHas: `preflight: input "image": got "/aws/service/nope", expected an AMI id (ami-…) that exists in us-east-1, or an SSM parameter path such as ` +
					aws.UbuntuParameter + ` (no such SSM parameter in us-east-1 (SSM: Parameter /aws/service/nope not found.)) (ParameterNotFound) |`},
			// Good credentials whose policy may not launch instances: EC2's
			// DryRun refuses it at preflight, with EC2's own message in Notes.
			{Name: "launch not allowed", Setup: deny("dryrun:RunInstances"),
				Want:     "UnauthorizedOperation",
				NotesHas: "check that the AWS credentials may launch c8i.large on-demand instances in us-east-1 (ec2:RunInstances, with DryRun): "},
			{Name: "security group not allowed", Setup: deny("dryrun:CreateSecurityGroup"),
				Want:     "UnauthorizedOperation",
				NotesHas: "is not authorized to perform: ec2:CreateSecurityGroup on resource"},
		},
		AfterCycle: func(t *testing.T, r providertest.CycleRun) {
			// The collect phase kept the instance's console, read through
			// GetConsoleOutput, beside the host's own logs.
			srv := r.Fake.(awsFake).srv
			console, err := os.ReadFile(filepath.Join(providertest.OutDir(r.Args), "logs", "console.log"))
			if err != nil || !strings.Contains(string(console), "fake-ec2: booted; sshd listening on") {
				t.Errorf("console log: %v\n%s", err, console)
			}
			if n := count(srv.Ops(), "GetConsoleOutput"); n != 1 {
				t.Errorf("GetConsoleOutput calls = %d, want 1", n)
			}
			if n := count(srv.Ops(), "RunInstances"); n != 1 {
				t.Errorf("RunInstances calls = %d", n)
			}
		},
	}
}

// TestBinaryConformance runs the scenarios every provider must pass
// (providertest.Run) on aws: `mvm-verify run --provider aws` against the
// fake — real SSH into the booted host, the suite runs, teardown, a clean
// leak check and a ✅ row, user data that passes cloud-init's schema and
// holds no secret but the host key; SIGTERM at each phase leaves nothing;
// the post step after a SIGKILL right after RunInstances, with only
// STATE_*, finds the instance by tag and deletes it (also under
// describe-after-create lag); and preflight refusals create nothing.
func TestBinaryConformance(t *testing.T) {
	providertest.Run(t, awsCloud())
}
