package aws_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

func TestPreflight(t *testing.T) {
	tests := []struct {
		name      string
		inputs    map[string]string
		env       map[string]string
		lane      string
		image     string
		wantClass providers.Class
		wantErr   string
		wantCalls bool // whether any API call may happen
		// notOptedIn are regions of the fake the account has not enabled.
		notOptedIn []string
		// setup shapes the fake before the preflight.
		setup func(*fake.Server)
		// arch is the probe binary's Go architecture (aws.Config.Arch);
		// empty: this test's own.
		arch string
		// source replaces the request's SSHSourceCIDR when set.
		source string
	}{
		{name: "ok", wantCalls: true},
		{name: "metal", inputs: map[string]string{"instance-type": "c5.metal"}, wantCalls: true},
		{name: "unknown region", inputs: map[string]string{"region": "xx-nowhere-1"}, wantClass: providers.ClassInvalid,
			wantErr: `input "region": got "xx-nowhere-1", expected an AWS region: one of eu-west-1, us-east-1, us-west-2`, wantCalls: true},
		{name: "type without KVM", inputs: map[string]string{"instance-type": "t3.large"}, wantClass: providers.ClassInvalid,
			wantErr: `input "instance-type": got "t3.large", expected a type with nested virtualization such as c8i.large, or a *.metal type; or set lane: no-kvm (no KVM on this type: virtualized without nested virtualization; on AWS only *.metal types and C8i/M8i/R8i (and their -flex variants) with CpuOptions.NestedVirtualization expose KVM)`},
		{name: "storage family without KVM", inputs: map[string]string{"instance-type": "m5d.large"}, wantClass: providers.ClassInvalid,
			wantErr: `input "instance-type": got "m5d.large", expected a type with nested virtualization such as c8i.large, or a *.metal type; or set lane: no-kvm (no KVM on this type`},
		{name: "type without KVM on the no-kvm lane", inputs: map[string]string{"instance-type": "t3.large"}, lane: providers.LaneNoKVM, wantCalls: true},
		{name: "type not offered", inputs: map[string]string{"instance-type": "c8i.48xlarge"}, wantClass: providers.ClassInvalid,
			wantErr: `input "instance-type": got "c8i.48xlarge", expected a type EC2 offers in region us-east-1`, wantCalls: true},
		{name: "no credentials", env: map[string]string{}, wantClass: providers.ClassAuth,
			wantErr: "Needs AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (e.g. with aws-actions/configure-aws-credentials) or aws-role-to-assume"},
		{name: "wrong credentials", env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIDWRONG", "AWS_SECRET_ACCESS_KEY": "x"},
			wantClass: providers.ClassAuth, wantErr: "InvalidClientTokenId", wantCalls: true},
		// A refused image names the input, the value and the form expected,
		// with the service's own words but not the SDK's request id.
		{name: "missing image", image: "ami-0000000000000dead", wantClass: providers.ClassInvalid, wantCalls: true,
			wantErr: `invalid (InvalidAMIID.NotFound): input "image": got "ami-0000000000000dead", expected an AMI id (ami-…) that exists in us-east-1, ` +
				`or an SSM parameter path such as ` + aws.UbuntuParameter + ` (does not exist in us-east-1 (EC2: The image id '[ami-0000000000000dead]' does not exist))`},
		// An image id of no EC2 form is the user's mistake as an unknown
		// one is: EC2 says InvalidAMIID.Malformed, and the run stops as
		// invalid.
		{name: "malformed image", image: "ami-12345", wantClass: providers.ClassInvalid, wantCalls: true,
			wantErr: `invalid (InvalidAMIID.Malformed): input "image": got "ami-12345", expected an AMI id (ami-…) that exists in us-east-1, or an SSM parameter path such as ` + aws.UbuntuParameter + ` (EC2 refuses it in us-east-1 (EC2: `},
		{name: "missing image parameter", image: "/aws/service/nope", wantClass: providers.ClassInvalid, wantCalls: true,
			wantErr: `invalid (ParameterNotFound): input "image": got "/aws/service/nope", expected an AMI id (ami-…) that exists in us-east-1, ` +
				`or an SSM parameter path such as ` + aws.UbuntuParameter + ` (no such SSM parameter in us-east-1 (SSM: Parameter /aws/service/nope not found.))`},
		{name: "image parameter of no AMI", image: "/custom/not-an-ami", wantClass: providers.ClassInvalid, wantCalls: true,
			setup:   func(s *fake.Server) { s.SetParameter("/custom/not-an-ami", "hello") },
			wantErr: `input "image": got "/custom/not-an-ami", expected an AMI id (ami-…) that exists in us-east-1, or an SSM parameter path such as ` + aws.UbuntuParameter + ` (resolves to hello, which is not an AMI id)`},
		{name: "image parameter of a missing AMI", image: "/custom/gone", wantClass: providers.ClassInvalid, wantCalls: true,
			setup:   func(s *fake.Server) { s.SetParameter("/custom/gone", "ami-0000000000000dead") },
			wantErr: `invalid (InvalidAMIID.NotFound): input "image": got "/custom/gone", expected an AMI id (ami-…) that exists in us-east-1, or an SSM parameter path such as ` + aws.UbuntuParameter + ` (resolves to ami-0000000000000dead, which does not exist in us-east-1 (EC2: `},
		{name: "role without OIDC env", inputs: map[string]string{"aws-role-to-assume": "arn:aws:iam::123456789012:role/x"},
			wantClass: providers.ClassAuth, wantErr: "id-token: write"},
		// An opt-in region the account has not enabled exists (so it is not
		// "not an AWS region"), but nothing can be made there.
		{name: "region not opted in", inputs: map[string]string{"region": "af-south-1"}, notOptedIn: []string{"af-south-1"},
			wantClass: providers.ClassAuth, wantCalls: true,
			wantErr: `input "region": got "af-south-1", expected a region enabled in the AWS console, or enable this one (not enabled for this account)`},
		{name: "zone without the type", inputs: map[string]string{"zone": "us-east-1b"}, wantClass: providers.ClassInvalid, wantCalls: true,
			setup:   func(s *fake.Server) { s.Unoffer("us-east-1b", "c8i.large") },
			wantErr: `input "zone": got "us-east-1b", expected a zone that offers instance type c8i.large: us-east-1a, us-east-1c`},
		// A Graviton *.metal type has KVM, but the host runs the probe the
		// cycle uploads: its architecture must be the binary's. Refused
		// before anything exists, naming the type and what would do.
		{name: "graviton metal for an amd64 probe", inputs: map[string]string{"instance-type": "c6g.metal"}, arch: "amd64",
			wantClass: providers.ClassInvalid, wantCalls: true,
			wantErr: `input "instance-type": got "c6g.metal", expected an x86_64 type such as c8i.large or c5.metal; or a probe-binary built for linux/arm64 (an arm64 type, but the host runs the probe, this mvm-verify, built for amd64)`},
		{name: "graviton metal for an arm64 probe", inputs: map[string]string{"instance-type": "c6g.metal"}, arch: "arm64", wantCalls: true},
		{name: "x86 metal for an arm64 probe", inputs: map[string]string{"instance-type": "c5.metal"}, arch: "arm64",
			wantClass: providers.ClassInvalid, wantCalls: true,
			wantErr: `input "instance-type": got "c5.metal", expected an arm64 type such as c6g.metal or c7g.metal; or a probe-binary built for linux/amd64 (an x86_64 type, but the host runs the probe, this mvm-verify, built for arm64)`},
		{name: "nested type for an arm64 probe", arch: "arm64", wantClass: providers.ClassInvalid, wantCalls: true,
			wantErr: `input "instance-type": got "c8i.large", expected an arm64 type such as c6g.metal or c7g.metal; or a probe-binary built for linux/amd64 (an x86_64 type`},
		{name: "x86 image on a graviton type", inputs: map[string]string{"instance-type": "c6g.metal"}, arch: "arm64",
			image: fake.UbuntuAMI, wantClass: providers.ClassInvalid, wantCalls: true,
			wantErr: `input "image": got "` + fake.UbuntuAMI + `", expected an arm64 AMI, or its SSM parameter (` + fake.UbuntuAMI + ` is an x86_64 image, but the host runs the probe, this mvm-verify, built for arm64)`},
		{name: "arm64 image for an amd64 probe", image: fake.UbuntuARMParameter, arch: "amd64", wantClass: providers.ClassInvalid, wantCalls: true,
			wantErr: `input "image": got "` + fake.UbuntuARMParameter + `", expected an x86_64 AMI, or its SSM parameter (` + fake.UbuntuARMAMI + ` is an arm64 image`},
		{name: "probe built for no EC2 architecture", arch: "riscv64", wantClass: providers.ClassInvalid, wantCalls: true,
			wantErr: `this mvm-verify is built for riscv64, and EC2 hosts are x86_64 or arm64: expected a linux/amd64 or linux/arm64 build of mvm-verify as probe-binary`},
		{name: "subnet that does not exist", inputs: map[string]string{"subnet-id": "subnet-0123456789abcdef0"}, wantClass: providers.ClassInvalid,
			wantCalls: true, wantErr: `invalid (InvalidSubnetID.NotFound): input "subnet-id": got "subnet-0123456789abcdef0", expected the id of a subnet in the region, in the account's VPCs (EC2 refuses it (EC2: `},
		// The credentials are good but the policy does not allow what
		// Create does: EC2's DryRun says so now, not a failed launch later.
		{name: "launch not allowed", wantClass: providers.ClassAuth, wantCalls: true,
			setup: func(s *fake.Server) { s.Deny("dryrun:RunInstances") },
			wantErr: `check that the AWS credentials may launch c8i.large on-demand instances in us-east-1 (ec2:RunInstances, with DryRun): ` +
				`operation error EC2: RunInstances, https response error StatusCode: 403`},
		// The instance gets no IPv6 address and is reached at its public
		// IPv4 one: an IPv6 source would let nothing in, and the run would
		// fail at the ready timeout after billing. Refused before any call.
		{name: "IPv6 ssh source", source: "2001:db8::7/128", wantClass: providers.ClassInvalid,
			wantErr: `input "ssh-source-cidr": got "2001:db8::7/128", expected an IPv4 CIDR such as 203.0.113.7/32 (EC2 hosts are reached over IPv4)`},
		{name: "IPv6 ssh range", source: "2001:db8:1:2::/64", wantClass: providers.ClassInvalid,
			wantErr: `input "ssh-source-cidr": got "2001:db8:1:2::/64", expected an IPv4 CIDR`},
		{name: "security group not allowed", wantClass: providers.ClassAuth, wantCalls: true,
			setup:   func(s *fake.Server) { s.Deny("dryrun:CreateSecurityGroup") },
			wantErr: `api error UnauthorizedOperation: You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ec2:CreateSecurityGroup`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			if tt.notOptedIn != nil {
				srv = fake.New(fake.Config{Booter: idleBooter, NotOptedIn: tt.notOptedIn})
				t.Cleanup(srv.Close)
			}
			if tt.setup != nil {
				tt.setup(srv)
			}
			e := env
			if tt.env != nil {
				e = tt.env
			}
			p, err := aws.New(options(srv, tt.inputs, e), aws.Config{Arch: tt.arch})
			if err != nil {
				t.Fatal(err)
			}
			req := request(identity("aws"))
			req.Image = tt.image
			if tt.source != "" {
				req.SSHSourceCIDR = tt.source
			}
			if tt.lane != "" {
				req.Lane = tt.lane
			}
			err = p.Preflight(context.Background(), req)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("preflight: %v", err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("preflight error = %v, want containing %q", err, tt.wantErr)
				}
				if providers.ClassOf(err) != tt.wantClass {
					t.Errorf("class = %v, want %v", providers.ClassOf(err), tt.wantClass)
				}
			}
			if c := creating(srv); len(c) > 0 {
				t.Errorf("preflight made changing calls: %v", c)
			}
			if !tt.wantCalls && len(srv.Ops()) > 0 {
				t.Errorf("refusal should not reach the API, saw %v", srv.Ops())
			}
			if i, g, v := srv.Live(); i+g+v != 0 {
				t.Errorf("preflight created resources")
			}
		})
	}
}

// TestPreflightDryRuns: preflight asks EC2, with DryRun, whether the
// credentials may make what Create makes — the security group and the
// instance, of the candidate's type, from the resolved image, in the
// subnet-id input's subnet (and its VPC), tagged as Create tags them —
// and a passing preflight has made nothing.
func TestPreflightDryRuns(t *testing.T) {
	srv := newFake(t, idleBooter)
	sn := srv.AddSubnet("us-east-1b")
	p := newProvider(t, srv, map[string]string{"subnet-id": sn.ID, "instance-type": "m8i.large"})
	id := identity("aws")
	if err := p.Preflight(context.Background(), request(id)); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	var launch, group map[string]string
	for _, c := range srv.Calls() {
		switch c.Op {
		case "dryrun:RunInstances":
			launch = c.Params
		case "dryrun:CreateSecurityGroup":
			group = c.Params
		}
	}
	if launch == nil || group == nil {
		t.Fatalf("preflight made no DryRun RunInstances or CreateSecurityGroup: %v", srv.Ops())
	}
	for k, want := range map[string]string{"DryRun": "true", "InstanceType": "m8i.large", "ImageId": fake.UbuntuAMI, "NetworkInterface.1.SubnetId": sn.ID,
		"TagSpecification.1.ResourceType": "instance"} {
		if launch[k] != want {
			t.Errorf("RunInstances dry run %s = %q, want %q (%v)", k, launch[k], want, launch)
		}
	}
	for k, want := range map[string]string{"DryRun": "true", "GroupName": id.Name(), "VpcId": sn.VpcID, "TagSpecification.1.ResourceType": "security-group"} {
		if group[k] != want {
			t.Errorf("CreateSecurityGroup dry run %s = %q, want %q (%v)", k, group[k], want, group)
		}
	}
	if i, g, v := srv.Live(); i+g+v != 0 || len(srv.Interfaces()) != 0 {
		t.Errorf("preflight created %d instances, %d groups, %d volumes", i, g, v)
	}
}

// TestPreflightUnknownRegionByHostname runs preflight the way production
// resolves endpoints — per region, from the host name, without
// BaseEndpoint — through a transport that serves only the fake's regions
// (ec2/sts/ssm.<region>.amazonaws.com) and refuses any other host as DNS
// would. A misspelt region must be named by DescribeRegions, not tried.
func TestPreflightUnknownRegionByHostname(t *testing.T) {
	srv := newFake(t, idleBooter)
	var mu sync.Mutex
	var refused []string
	o := options(srv, map[string]string{"region": "us-eest-1"}, env)
	o.Input = func(k string) string { return map[string]string{"region": "us-eest-1"}[k] } // no aws-endpoint
	o.HTTPClient = &http.Client{Transport: regionRouter{to: srv.URL, regions: []string{"us-east-1", "us-west-2", "eu-west-1"},
		refused: func(h string) { mu.Lock(); refused = append(refused, h); mu.Unlock() }}}
	p, err := aws.New(o, aws.Config{RetryBackoff: func(int) time.Duration { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Preflight(context.Background(), request(identity("aws")))
	want := `input "region": got "us-eest-1", expected an AWS region: one of eu-west-1, us-east-1, us-west-2`
	if err == nil || !strings.Contains(err.Error(), want) || providers.ClassOf(err) != providers.ClassInvalid {
		t.Fatalf("preflight = %v (class %v), want invalid: %s", err, providers.ClassOf(err), want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refused) > 0 {
		t.Errorf("preflight called the misspelt region's endpoints: %v", refused)
	}
	if len(srv.Ops()) == 0 {
		t.Errorf("the fake saw no call: the router did not reach it")
	}
}

// regionRouter sends requests for <service>.<region>.amazonaws.com of a
// known region to the fake (keeping the Host the request was signed for)
// and fails any other host the way an unresolvable name does.
type regionRouter struct {
	to      string
	regions []string
	refused func(host string)
}

func (r regionRouter) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	parts := strings.Split(host, ".")
	if len(parts) != 4 || parts[2] != "amazonaws" || parts[3] != "com" || !slices.Contains(r.regions, parts[1]) {
		r.refused(host)
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	to, err := url.Parse(r.to)
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.Host = req.URL.Host
	out.URL.Scheme, out.URL.Host = to.Scheme, to.Host
	return loopbackOnly.Transport.RoundTrip(out)
}

func TestNewRefusesBadInputs(t *testing.T) {
	srv := newFake(t, nil)
	for name, tc := range map[string]struct{ in map[string]string }{
		`input "region": got "Mars"`:              {map[string]string{"region": "Mars"}},
		`input "zone": got "eu-west-1a"`:          {map[string]string{"zone": "eu-west-1a"}},
		`input "market": got "cheap"`:             {map[string]string{"market": "cheap"}},
		`input "instance-type": got "C8I LARGE"`:  {map[string]string{"instance-type": "C8I LARGE"}},
		`input "subnet-id": got "my-subnet"`:      {map[string]string{"subnet-id": "my-subnet"}},
		`input "aws-role-to-assume": got "admin"`: {map[string]string{"aws-role-to-assume": "admin"}},
	} {
		_, err := aws.New(options(srv, tc.in, env), aws.Config{})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("New(%v) = %v, want an error naming %s", tc.in, err, name)
		}
	}
	// A bad entry of the candidates input is named as such, not blamed on
	// the single region/zone/instance-type/market inputs.
	for want, cands := range map[string][]providers.Candidate{
		`input "candidates[0].region": got "Mars", expected an AWS region such as us-east-1`:                                 {{Region: "Mars"}},
		`input "candidates[1].zone": got "us-east-1a", expected an availability zone of region eu-west-1 such as eu-west-1a`: {{}, {Region: "eu-west-1", Zone: "us-east-1a"}},
		`input "candidates[0].zone": got "eu-west-1b", expected an availability zone of region us-east-1`:                    {{Zone: "eu-west-1b"}},
		`input "candidates[0].type": got "C8I LARGE"`:                                                                        {{Type: "C8I LARGE"}},
		`input "candidates[0].market": got "cheap", expected on-demand or spot`:                                              {{Market: "cheap"}},
	} {
		o := options(srv, nil, env)
		o.Candidates = cands
		_, err := aws.New(o, aws.Config{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(candidates %+v) = %v, want %s", cands, err, want)
		}
	}
}

func TestCreateRequestShape(t *testing.T) {
	srv := newFake(t, idleBooter)
	p := newProvider(t, srv, nil)
	id := identity("aws")
	var j providers.MemJournal
	req := request(id)
	req.HostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTest"
	h, err := p.Create(context.Background(), req, &j)
	if err != nil {
		t.Fatal(err)
	}
	insts := srv.Instances()
	if len(insts) != 1 {
		t.Fatalf("instances = %d", len(insts))
	}
	in := insts[0]
	if h.Port != 22 || h.Address == "" || h.Address != in.PublicIP || h.Type != "c8i.large" || h.Region != "us-east-1" || !h.CloudInit ||
		h.ReadyMarker != req.ReadyMarker || h.HostKey != req.HostKey || h.PricePerHour == 0 {
		t.Errorf("host = %+v, instance's public IP %s", h, in.PublicIP)
	}
	r := in.Request
	checks := map[string]string{
		"CpuOptions.NestedVirtualization":              "enabled",
		"InstanceInitiatedShutdownBehavior":            "terminate",
		"BlockDeviceMapping.1.Ebs.VolumeSize":          "50",
		"BlockDeviceMapping.1.Ebs.VolumeType":          "gp3",
		"BlockDeviceMapping.1.Ebs.DeleteOnTermination": "true",
		// The interface goes with the instance, so it cannot hold the
		// group (or bill) after teardown.
		"NetworkInterface.1.DeleteOnTermination": "true",
		"ClientToken":                            "",
		"KeyName":                                "",
		"MetadataOptions.HttpTokens":             "required",
		// One hop: the microVM guests behind NAT on the host cannot
		// get an IMDSv2 token, so cannot read the user data's host key.
		"MetadataOptions.HttpPutResponseHopLimit": "1",
	}
	for k, want := range checks {
		if k == "ClientToken" {
			if !strings.HasPrefix(r[k], id.Name()+"-") {
				t.Errorf("ClientToken = %q, want derived from %s", r[k], id.Name())
			}
			continue
		}
		if r[k] != want {
			t.Errorf("RunInstances %s = %q, want %q", k, r[k], want)
		}
	}
	if got, _ := base64.StdEncoding.DecodeString(r["UserData"]); string(got) != string(req.UserData) {
		t.Errorf("user data = %q", got)
	}
	checkRunTags(t, "instance", in.Tags, id, req.TTL)
	if got := taggedTypes(r); strings.Join(got, ",") != "instance,network-interface,volume" {
		t.Errorf("RunInstances tags %v, want the instance, its volume and its network interface", got)
	}
	vols := srv.Volumes()
	if len(vols) != 1 || vols[0].SizeGB != 50 || vols[0].Type != "gp3" {
		t.Fatalf("volumes = %+v", vols)
	}
	checkRunTags(t, "volume", vols[0].Tags, id, req.TTL)
	groups := srv.Groups()
	if len(groups) != 1 || groups[0].Name != id.Name() {
		t.Fatalf("groups = %+v", groups)
	}
	checkRunTags(t, "security group", groups[0].Tags, id, req.TTL)
	if rules := groups[0].Ingress; len(rules) != 1 || rules[0] != (fake.Rule{Protocol: "tcp", From: 22, To: 22, CIDR: "203.0.113.7/32"}) {
		t.Errorf("ingress = %+v, want tcp/22 from the runner only", rules)
	}
	// The ingress rule is tagged with the run as it is made.
	var authorize []map[string]string
	for _, c := range srv.Calls() {
		if c.Op == "AuthorizeSecurityGroupIngress" {
			authorize = append(authorize, c.Params)
		}
	}
	if len(authorize) != 1 {
		t.Fatalf("AuthorizeSecurityGroupIngress calls = %d, want 1", len(authorize))
	}
	if got := taggedTypes(authorize[0]); !slices.Equal(got, []string{"security-group-rule"}) {
		t.Errorf("AuthorizeSecurityGroupIngress tags %v, want the security-group-rule", got)
	}
	checkRunTags(t, "ingress rule", specTags(authorize[0], "security-group-rule"), id, req.TTL)
	kinds := map[string]string{}
	for _, r := range j.Records() {
		if kinds[r.Kind] != "" {
			t.Errorf("%s recorded twice: %+v", r.Kind, j.Records())
		}
		kinds[r.Kind] = r.ID
	}
	enis := srv.Interfaces()
	if len(enis) != 1 || enis[0].InstanceID != in.ID {
		t.Fatalf("network interfaces = %+v", enis)
	}
	checkRunTags(t, "network interface", enis[0].Tags, id, req.TTL)
	// The instance is in the run's group and only that one: without it
	// EC2 would put it in the VPC's default group, which lets no SSH in.
	if run := []string{groups[0].ID}; !slices.Equal(in.Groups, run) || !slices.Equal(enis[0].Groups, run) {
		t.Errorf("instance groups %v, network interface groups %v, want exactly the run's group %v", in.Groups, enis[0].Groups, run)
	}
	if r["NetworkInterface.1.SecurityGroupId.1"] != groups[0].ID || r["NetworkInterface.1.SecurityGroupId.2"] != "" || r["SecurityGroupId.1"] != "" {
		t.Errorf("RunInstances names groups %q, %q and %q, want the run's group %s on the network interface only",
			r["NetworkInterface.1.SecurityGroupId.1"], r["NetworkInterface.1.SecurityGroupId.2"], r["SecurityGroupId.1"], groups[0].ID)
	}
	if kinds["instance"] != in.ID || kinds["security-group"] != groups[0].ID || kinds["volume"] != vols[0].ID ||
		kinds["network-interface"] != enis[0].ID {
		t.Errorf("journal = %+v, want the instance, group, volume and network interface", j.Records())
	}

	rep, err := p.Destroy(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Deleted) < 2 {
		t.Errorf("report = %+v", rep)
	}
	assertNothingLeft(t, srv, p, id)
	// Idempotent: a second teardown finds nothing and succeeds.
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Errorf("second destroy: %v", err)
	}
}

func TestZoneFallback(t *testing.T) {
	t.Run("candidates name zones", func(t *testing.T) {
		srv := newFake(t, idleBooter)
		srv.NoCapacity("us-east-1a", "c8i.large", "on-demand")
		p := newProvider(t, srv, nil)
		id := identity("aws")
		cands := []providers.Candidate{{Region: "us-east-1", Zone: "us-east-1a"}, {Region: "us-east-1", Zone: "us-east-1b"}}
		h, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), cands, nil, providers.FallbackOptions{Sleep: noSleep})
		if err != nil {
			t.Fatal(err)
		}
		if h.Zone != "us-east-1b" {
			t.Errorf("zone = %s", h.Zone)
		}
		if len(attempts) != 2 || attempts[0].Class != providers.ClassCapacity || attempts[0].Code != "InsufficientInstanceCapacity" ||
			!attempts[0].CleanedUp || !attempts[1].OK {
			t.Errorf("attempts = %+v", attempts)
		}
		// The first attempt's group was deleted; the second made its own.
		if len(srv.Groups()) != 1 || count(srv.Ops(), "CreateSecurityGroup") != 2 || count(srv.Ops(), "DeleteSecurityGroup") != 1 {
			t.Errorf("groups = %+v, ops = %v", srv.Groups(), srv.Ops())
		}
		if _, err := p.Destroy(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		assertNothingLeft(t, srv, p, id)
	})
	t.Run("zone-less candidate tries the next zone itself", func(t *testing.T) {
		srv := newFake(t, idleBooter)
		srv.NoCapacity("us-east-1a", "", "")
		p := newProvider(t, srv, nil)
		id := identity("aws")
		h, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), []providers.Candidate{{}}, nil,
			providers.FallbackOptions{Sleep: noSleep})
		if err != nil {
			t.Fatal(err)
		}
		if h.Zone != "us-east-1b" || count(srv.Ops(), "RunInstances") != 2 {
			t.Errorf("zone = %s, ops = %v", h.Zone, srv.Ops())
		}
		// Every zone tried is a row of the summary's "Candidates tried",
		// with the default type and the zone filled in.
		want := []providers.Attempt{
			{Candidate: providers.Candidate{Region: "us-east-1", Zone: "us-east-1a", Type: "c8i.large", Market: "on-demand"},
				Class: providers.ClassCapacity, Code: "InsufficientInstanceCapacity"},
			{Candidate: providers.Candidate{Region: "us-east-1", Zone: "us-east-1b", Type: "c8i.large", Market: "on-demand"}, OK: true},
		}
		if len(attempts) != len(want) {
			t.Fatalf("attempts = %+v, want a row per zone: %+v", attempts, want)
		}
		for i, a := range attempts {
			if a.Candidate != want[i].Candidate || a.OK != want[i].OK || a.Class != want[i].Class || a.Code != want[i].Code ||
				(a.OK != (a.Error == "")) {
				t.Errorf("attempt %d = %+v, want %+v", i+1, a, want[i])
			}
		}
		if _, err := p.Destroy(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		assertNothingLeft(t, srv, p, id)
	})
}

func TestSpotFailover(t *testing.T) {
	for _, failover := range []bool{true, false} {
		t.Run(map[bool]string{true: "on", false: "off"}[failover], func(t *testing.T) {
			srv := newFake(t, idleBooter)
			srv.NoCapacity("", "c8i.large", "spot")
			var mu sync.Mutex
			var launches []map[string]string
			srv.Inject(fakecloud.Fault{Op: "RunInstances", When: func(c fakecloud.Call) bool {
				mu.Lock()
				launches = append(launches, c.Params)
				mu.Unlock()
				return false
			}})
			p := newProvider(t, srv, map[string]string{"market": "spot"})
			id := identity("aws")
			cands := []providers.Candidate{p.DefaultCandidate()}
			if failover {
				// What the spot-failover input makes of it (internal/config).
				od := cands[0]
				od.Market = providers.MarketOnDemand
				cands = append(cands, od)
			}
			h, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), cands, nil, providers.FallbackOptions{Sleep: noSleep})
			if failover {
				if err != nil {
					t.Fatal(err)
				}
				// A row per spot zone tried, then the on-demand launch.
				if len(attempts) != 4 || !attempts[3].OK || attempts[3].Candidate.Market != "on-demand" || attempts[3].Candidate.Zone != "us-east-1a" {
					t.Fatalf("attempts = %+v", attempts)
				}
				for i, z := range []string{"us-east-1a", "us-east-1b", "us-east-1c"} {
					if a := attempts[i]; a.Candidate.Market != "spot" || a.Candidate.Zone != z || a.Class != providers.ClassCapacity {
						t.Errorf("attempt %d = %+v, want spot capacity in %s", i+1, a, z)
					}
				}
				if in, _ := srv.Instance(h.ID); in.Spot {
					t.Errorf("failover instance is spot")
				}
			} else if providers.ClassOf(err) != providers.ClassCapacity {
				t.Fatalf("err = %v, want capacity", err)
			}
			mu.Lock()
			for _, l := range launches {
				want := "instance,network-interface,volume"
				if l["InstanceMarketOptions.MarketType"] == "spot" {
					want = "instance,network-interface,spot-instances-request,volume"
				}
				if got := strings.Join(taggedTypes(l), ","); got != want {
					t.Errorf("%s launch tags %s, want %s", l["InstanceMarketOptions.MarketType"], got, want)
				}
			}
			mu.Unlock()
			if _, err := p.Destroy(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			assertNothingLeft(t, srv, p, id)
		})
	}
}

// checkRunTags checks a resource's tags against DESIGN §4 by the literal
// key names, not through Identity.Tags or Matches (which would agree with
// a tag set missing a key): the run's marker, run, job, key and leg, the
// Name, and created-at/expires-at in unix seconds, ttl apart.
func checkRunTags(t *testing.T, what string, got map[string]string, id providers.Identity, ttl time.Duration) {
	t.Helper()
	want := map[string]string{
		"mvm-verify":     "1",
		"mvm-verify-run": "4242-1",
		"mvm-verify-job": "verify",
		"mvm-verify-key": "aws",
		"mvm-verify-leg": id.Leg,
		"created-at":     strconv.FormatInt(id.CreatedAt.Unix(), 10),
		"expires-at":     strconv.FormatInt(id.CreatedAt.Add(ttl).Unix(), 10),
		"Name":           id.Name(),
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s tags = %v\nwant %v", what, got, want)
	}
	created, err1 := strconv.ParseInt(got["created-at"], 10, 64)
	expires, err2 := strconv.ParseInt(got["expires-at"], 10, 64)
	if err1 != nil || err2 != nil || time.Duration(expires-created)*time.Second != ttl {
		t.Errorf("%s: created-at %q, expires-at %q: want unix seconds %s apart", what, got["created-at"], got["expires-at"], ttl)
	}
}

// taggedTypes lists, sorted, the resource types a request's
// TagSpecifications tag with a run identity.
func taggedTypes(form map[string]string) []string {
	var out []string
	for i := 1; form[fmt.Sprintf("TagSpecification.%d.ResourceType", i)] != ""; i++ {
		pre := fmt.Sprintf("TagSpecification.%d.", i)
		for j := 1; form[fmt.Sprintf("%sTag.%d.Key", pre, j)] != ""; j++ {
			if form[fmt.Sprintf("%sTag.%d.Key", pre, j)] == providers.TagRun {
				out = append(out, form[pre+"ResourceType"])
			}
		}
	}
	sort.Strings(out)
	return out
}

// specTags are the tags a request's TagSpecifications give resourceType.
func specTags(form map[string]string, resourceType string) map[string]string {
	out := map[string]string{}
	for i := 1; form[fmt.Sprintf("TagSpecification.%d.ResourceType", i)] != ""; i++ {
		pre := fmt.Sprintf("TagSpecification.%d.", i)
		if form[pre+"ResourceType"] != resourceType {
			continue
		}
		for j := 1; form[fmt.Sprintf("%sTag.%d.Key", pre, j)] != ""; j++ {
			out[form[fmt.Sprintf("%sTag.%d.Key", pre, j)]] = form[fmt.Sprintf("%sTag.%d.Value", pre, j)]
		}
	}
	return out
}

func TestThrottlingRiddenOut(t *testing.T) {
	srv := newFake(t, idleBooter)
	// More throttles than the SDK retries on its own, so the candidate loop
	// backs off on the same candidate too.
	srv.Inject(fakecloud.Fault{Op: "RunInstances", Times: 8, Status: 503, Code: "RequestLimitExceeded", Message: "Request limit exceeded."})
	srv.Inject(fakecloud.Fault{Op: "DescribeInstances", Times: 3, Status: 503, Code: "RequestLimitExceeded", Message: "Request limit exceeded."})
	p := newProvider(t, srv, nil)
	id := identity("aws")
	h, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), []providers.Candidate{p.DefaultCandidate()}, nil,
		providers.FallbackOptions{Sleep: noSleep})
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) < 2 || attempts[0].Class != providers.ClassTransient || attempts[0].Code != "RequestLimitExceeded" || !attempts[len(attempts)-1].OK {
		t.Errorf("attempts = %+v", attempts)
	}
	if n := count(srv.Ops(), "RunInstances"); n != 9 {
		t.Errorf("RunInstances calls = %d, want 9 (8 throttled)", n)
	}
	if len(srv.Instances()) != 1 || h.ID != srv.Instances()[0].ID {
		t.Errorf("instances = %+v", srv.Instances())
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestLostLaunchAnswer: EC2 launches the instance but its answer is lost
// (a 5xx after the fact), more times than the SDK retries on its own, so
// the candidate loop calls Create again. Every RunInstances carries the
// same ClientToken, so the retries name the instance already launched:
// exactly one exists, billed once, it is the host the cycle gets, and the
// teardown leaves nothing. (Within one Create the SDK resends the same
// token by itself; across Create calls only a deterministic token helps.)
func TestLostLaunchAnswer(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.Inject(fakecloud.Fault{Op: "RunInstances", Applied: true, Times: 8, Status: 500, Code: "InternalError",
		Message: "An internal error has occurred"})
	p := newProvider(t, srv, nil)
	id := identity("aws")
	var j providers.MemJournal
	h, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), []providers.Candidate{p.DefaultCandidate()}, &j,
		providers.FallbackOptions{Sleep: noSleep})
	if err != nil {
		t.Fatalf("create: %v (attempts %+v)", err, attempts)
	}
	if len(attempts) < 2 || attempts[0].Class != providers.ClassTransient || !attempts[len(attempts)-1].OK {
		t.Errorf("attempts = %+v, want a transient failure, then Create called again and succeeding", attempts)
	}
	var tokens []string
	for _, c := range srv.Calls() {
		if c.Op == "RunInstances" {
			tokens = append(tokens, c.Params["ClientToken"])
		}
	}
	if len(tokens) != 9 {
		t.Errorf("RunInstances calls = %d, want 9 (8 answers lost)", len(tokens))
	}
	for _, tok := range tokens {
		if tok == "" || tok != tokens[0] {
			t.Errorf("ClientTokens sent = %q, want one token on every retry", tokens)
			break
		}
	}
	insts := srv.Instances()
	if len(insts) != 1 {
		var launched []string
		for _, in := range insts {
			launched = append(launched, in.ID+" (token "+in.ClientToken+")")
		}
		t.Fatalf("instances %v, want the 1 launched before the answers were lost", launched)
	}
	if h.ID != insts[0].ID {
		t.Errorf("host %s, want the launched instance %s", h.ID, insts[0].ID)
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestClientTokenPerPlacement: two Create calls for the same identity and
// placement send the same ClientToken (so the second is the first launch
// again, as after a lost answer), while another zone is another launch
// with a token of its own.
func TestClientTokenPerPlacement(t *testing.T) {
	srv := newFake(t, idleBooter)
	p := newProvider(t, srv, nil)
	id := identity("aws")
	launch := func(zone string) (string, string) {
		t.Helper()
		req := request(id)
		req.Candidate = providers.Candidate{Zone: zone}
		before := len(srv.Calls())
		h, err := p.Create(context.Background(), req, nil)
		if err != nil {
			t.Fatalf("create in %s: %v", zone, err)
		}
		for _, c := range srv.Calls()[before:] {
			if c.Op == "RunInstances" {
				return c.Params["ClientToken"], h.ID
			}
		}
		t.Fatalf("create in %s made no RunInstances call", zone)
		return "", ""
	}
	tok1, host1 := launch("us-east-1a")
	tok2, host2 := launch("us-east-1a")
	if tok1 == "" || tok1 != tok2 {
		t.Errorf("ClientTokens for the same placement: %q then %q, want the same", tok1, tok2)
	}
	if host1 != host2 || len(srv.Instances()) != 1 {
		t.Errorf("hosts %s and %s, %d instances: want the one instance twice", host1, host2, len(srv.Instances()))
	}
	tok3, host3 := launch("us-east-1b")
	if tok3 == tok1 || host3 == host1 {
		t.Errorf("another zone reused token %q / host %s: want a launch of its own", tok3, host3)
	}
	if !strings.HasPrefix(tok1, id.Name()+"-") || len(tok1) > 64 {
		t.Errorf("ClientToken %q: want the run's name %s, a suffix, and at most EC2's 64 characters", tok1, id.Name())
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

func TestTeardownRetries5xx(t *testing.T) {
	srv, p, id, _ := createdRun(t)
	srv.Inject(fakecloud.Fault{Op: "TerminateInstances", Times: 2, Status: 500, Code: "InternalError", Message: "An internal error has occurred"})
	srv.Inject(fakecloud.Fault{Op: "DeleteSecurityGroup", Times: 1, Status: 503, Code: "Unavailable", Message: "The server is overloaded"})
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if n := count(srv.Ops(), "TerminateInstances"); n != 3 {
		t.Errorf("TerminateInstances calls = %d, want 3", n)
	}
	assertNothingLeft(t, srv, p, id)
}

func TestDeleteGroupRetriesDependencyViolation(t *testing.T) {
	srv, p, id, _ := createdRun(t)
	srv.Inject(fakecloud.Fault{Op: "DeleteSecurityGroup", Times: 2, Status: 400, Code: "DependencyViolation", Message: "resource has a dependent object"})
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

func TestCancellation(t *testing.T) {
	t.Run("during create", func(t *testing.T) {
		srv := newFake(t, idleBooter)
		p := newProvider(t, srv, nil)
		id := identity("aws")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Cancel while the fake is handling RunInstances: the instance
		// exists but the adapter may never see its id.
		cutOffAtLaunch(srv, 0, cancel)
		_, err := p.Create(ctx, request(id), nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("create = %v, want cancelled", err)
		}
		if _, err := newProvider(t, srv, nil).Destroy(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		assertNothingLeft(t, srv, p, id)
	})
	t.Run("waiting for running", func(t *testing.T) {
		srv := newFake(t, idleBooter)
		release := srv.HoldBoots()
		defer release()
		p := newProvider(t, srv, nil)
		id := identity("aws")
		ctx := cancelledWhenPolled(t, srv)
		var j providers.MemJournal
		_, err := p.Create(ctx, request(id), &j)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("create = %v, want cancelled", err)
		}
		// Cut off before any describe answered: EC2 names no root volume
		// in RunInstances' answer, so the journal holds the group, the
		// instance and its network interface (which the answer does name),
		// and the teardown finds the volume by its tags.
		kinds := map[string][]string{}
		for _, r := range j.Records() {
			kinds[r.Kind] = append(kinds[r.Kind], r.ID)
		}
		enis := srv.Interfaces()
		if len(enis) != 1 {
			t.Fatalf("fake interfaces = %+v, want the instance's primary one", enis)
		}
		if len(kinds["security-group"]) != 1 || len(kinds["instance"]) != 1 || len(kinds["volume"]) != 0 ||
			!slices.Equal(kinds["network-interface"], []string{enis[0].ID}) {
			t.Errorf("journal = %+v, want the group, the instance and interface %s (no volume named yet)", j.Records(), enis[0].ID)
		}
		if len(srv.Volumes()) != 1 {
			t.Fatalf("fake volumes = %+v, want the instance's root volume", srv.Volumes())
		}
		if _, err := p.Destroy(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		assertNothingLeft(t, srv, p, id)
	})
}

func TestFreshAdapterDestroysByTag(t *testing.T) {
	srv := newFake(t, idleBooter)
	release := srv.HoldBoots()
	defer release()
	cands := []providers.Candidate{{Region: "us-west-2"}, {Region: "us-east-1"}}
	main := newProviderWith(t, srv, cands)
	id := identity("aws")
	// The main step dies right after RunInstances answered.
	ctx := cancelledWhenPolled(t, srv)
	req := request(id)
	req.Candidate = providers.Candidate{Region: "us-west-2"}
	if _, err := main.Create(ctx, req, nil); err == nil {
		t.Fatal("create should have been cut off")
	}
	if i, g, _ := srv.Live(); i != 1 || g != 1 {
		t.Fatalf("setup: want 1 instance and 1 group left, got %d/%d", i, g)
	}
	post := newProviderWith(t, srv, cands) // nothing shared with main but the inputs and the fake
	rep, err := post.Destroy(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Deleted) < 2 {
		t.Errorf("report = %+v", rep)
	}
	assertNothingLeft(t, srv, post, id)
}

func TestOIDCRole(t *testing.T) { testOIDCRole(t) }

func TestEventualConsistency(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.SetConsistencyLag(1) // every new resource is missing from its first read
	p := newProvider(t, srv, nil)
	id := identity("aws")
	if _, err := p.Create(context.Background(), request(id), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// The adapter takes the regions of the candidates it is given, so a fresh
// post step sweeps the region a candidate launched in even when it is not
// the region input's.
func TestDestroySweepsCandidateRegions(t *testing.T) {
	srv := newFake(t, idleBooter)
	id := identity("aws")
	req := request(id)
	req.Candidate = providers.Candidate{Region: "eu-west-1"}
	if _, err := newProvider(t, srv, nil).Create(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	// Without the candidates, a post step looks in the region input only.
	if _, err := newProvider(t, srv, nil).Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if i, _, _ := srv.Live(); i != 1 {
		t.Fatalf("setup: a post step without candidates found the eu-west-1 host (%d instances left)", i)
	}
	post := newProviderWith(t, srv, []providers.Candidate{{Region: "us-east-1", Type: "c8i.large"}, {Region: "eu-west-1", Market: "spot"}})
	if _, err := post.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if i, g, v := srv.Live(); i+g+v != 0 {
		t.Errorf("the post step left %d instances, %d groups, %d volumes in eu-west-1", i, g, v)
	}
}

// The runner's address may be learned after the preflight (the cycle asks
// once the provider's checks pass), so only a malformed source is refused
// there; Create refuses to open SSH without one, before any call.
func TestCreateNeedsSourceCIDR(t *testing.T) {
	srv := newFake(t, nil)
	p := newProvider(t, srv, nil)
	req := request(identity("aws"))
	req.SSHSourceCIDR = "not-a-cidr"
	if err := p.Preflight(context.Background(), req); err == nil || !strings.Contains(err.Error(), "ssh-source-cidr") {
		t.Fatalf("preflight with a malformed source = %v", err)
	}
	if len(srv.Ops()) != 0 {
		t.Errorf("refusal reached the API: %v", srv.Ops())
	}
	req.SSHSourceCIDR = ""
	if err := p.Preflight(context.Background(), req); err != nil {
		t.Errorf("preflight without a source yet = %v, want it left to the lookup after preflight", err)
	}
	before := len(srv.Ops())
	if _, err := p.Create(context.Background(), req, nil); err == nil || !strings.Contains(err.Error(), "ssh-source-cidr") {
		t.Fatalf("create without a source = %v", err)
	}
	if ops := srv.Ops()[before:]; len(ops) != 0 {
		t.Errorf("refused create reached the API: %v", ops)
	}
}

// An IPv6 source reaching Create (a runner address learned after the
// preflight) is refused there too, before any call: the group would admit
// it, but the instance is reached over IPv4 only, so the run would wait out
// the ready timeout on a billed host nobody can reach.
func TestCreateRefusesIPv6Source(t *testing.T) {
	srv := newFake(t, idleBooter) // without the refusal the launch would run at once
	p := newProvider(t, srv, nil)
	req := request(identity("aws"))
	req.SSHSourceCIDR = "2001:db8::7/128"
	_, err := p.Create(context.Background(), req, nil)
	if err == nil || !strings.Contains(err.Error(), `input "ssh-source-cidr": got "2001:db8::7/128", expected an IPv4 CIDR`) ||
		providers.ClassOf(err) != providers.ClassInvalid {
		t.Fatalf("create with an IPv6 source = %v (%s), want refused as invalid", err, providers.ClassOf(err))
	}
	if ops := srv.Ops(); len(ops) != 0 {
		t.Errorf("refused create reached the API: %v", ops)
	}
}

// A region refused at preflight cannot hold anything: the post step's
// teardown and leak check skip it instead of failing.
func TestDestroySkipsRegionsEC2DoesNotOffer(t *testing.T) {
	srv := newFake(t, nil)
	p := newProvider(t, srv, map[string]string{"region": "xx-nowhere-1"})
	id := identity("aws")
	rep, err := p.Destroy(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "xx-nowhere-1") {
		t.Errorf("notes = %v", rep.Notes)
	}
	if leaked, err := providers.LeakCheck(context.Background(), p, id); err != nil || len(leaked) != 0 {
		t.Errorf("leak check = %v, %v", leaked, err)
	}
}

// TestDestroyUnderConsistencyLag: main is cut off while RunInstances is
// answered, with every new resource missing from its first listings; a
// fresh adapter's Destroy still finds and deletes everything, without
// spinning on the root volume that its instance holds.
func TestDestroyUnderConsistencyLag(t *testing.T) {
	for _, tc := range []struct {
		name string
		// volumeFirst makes the root volume visible before its instance,
		// so only the volume's attachment names the instance.
		volumeFirst bool
	}{{name: "everything lagging"}, {name: "volume seen before its instance", volumeFirst: true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			srv.SetConsistencyLag(2)
			main := newProvider(t, srv, nil)
			id := identity("aws")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cutOffAtLaunch(srv, 2, cancel)
			if _, err := main.Create(ctx, request(id), nil); !errors.Is(err, context.Canceled) {
				t.Fatalf("create = %v, want cancelled", err)
			}
			// The adapter stops waiting as soon as it is cancelled; the fake
			// may still be finishing the launch.
			waitForInstance(t, srv)
			if i, g, v := srv.Live(); i != 1 || g != 1 || v != 1 {
				t.Fatalf("setup: want 1 instance, group and volume, got %d/%d/%d", i, g, v)
			}
			if tc.volumeFirst {
				for range 2 {
					srv.Visible(srv.Volumes()[0].ID)
				}
			}
			post := newProvider(t, srv, nil)
			if _, err := post.Destroy(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			if n := count(srv.Ops(), "TerminateInstances"); n == 0 {
				t.Error("the instance was never terminated")
			}
			if n := count(srv.Ops(), "DeleteVolume"); n > 1 {
				t.Errorf("DeleteVolume called %d times: the volume's instance should have been terminated instead", n)
			}
			assertNothingLeft(t, srv, post, id)
		})
	}
}

// TestRetriedCreateUnderLag: throttled launches make the candidate loop call
// Create again while the group the first call created is not listed yet;
// the retry finds it instead of failing on InvalidGroup.Duplicate.
func TestRetriedCreateUnderLag(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.SetConsistencyLag(2)
	srv.Inject(fakecloud.Fault{Op: "RunInstances", Times: 8, Status: 503, Code: "RequestLimitExceeded", Message: "Request limit exceeded."})
	p := newProvider(t, srv, nil)
	id := identity("aws")
	_, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), []providers.Candidate{p.DefaultCandidate()}, nil,
		providers.FallbackOptions{Sleep: noSleep})
	if err != nil {
		t.Fatalf("create: %v (attempts %+v)", err, attempts)
	}
	if n := count(srv.Ops(), "CreateSecurityGroup"); n != 2 {
		t.Errorf("CreateSecurityGroup calls = %d, want 2 (the retry saw the group missing from the listing)", n)
	}
	if len(srv.Groups()) != 1 || len(srv.Instances()) != 1 {
		t.Errorf("groups = %+v, instances = %d", srv.Groups(), len(srv.Instances()))
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestLaunchIntoSubnet: with subnet-id the instance launches in that
// subnet, and the run's security group is made in the subnet's own VPC,
// not the default one.
func TestLaunchIntoSubnet(t *testing.T) {
	srv := newFake(t, idleBooter)
	sn := srv.AddSubnet("us-east-1b")
	p := newProvider(t, srv, map[string]string{"subnet-id": sn.ID})
	id := identity("aws")
	req := request(id)
	if err := p.Preflight(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	h, err := p.Create(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := srv.Instance(h.ID)
	if in.SubnetID != sn.ID || in.VpcID != sn.VpcID || h.Zone != "us-east-1b" {
		t.Errorf("instance in subnet %s of %s, zone %s; want %s of %s in us-east-1b", in.SubnetID, in.VpcID, h.Zone, sn.ID, sn.VpcID)
	}
	if g := srv.Groups(); len(g) != 1 || g[0].VpcID != sn.VpcID {
		t.Errorf("groups = %+v, want one in %s", g, sn.VpcID)
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestAddressAfterRunning: the instance runs a few describes before its
// public address shows; Create waits for the address rather than
// returning a host without one.
func TestAddressAfterRunning(t *testing.T) {
	srv := newFake(t, idleBooter)
	srv.SetAddressDelay(3)
	// The answers the adapter got, as it got them: the wait must have seen
	// the instance running without an address, or it tested nothing.
	rec := &answers{next: loopbackOnly.Transport}
	o := options(srv, nil, env)
	o.HTTPClient = &http.Client{Transport: rec}
	p, err := aws.New(o, aws.Config{RetryBackoff: func(int) time.Duration { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	id := identity("aws")
	h, err := p.Create(context.Background(), request(id), nil)
	if err != nil {
		t.Fatal(err)
	}
	if in := srv.Instances(); len(in) != 1 || h.Address == "" || h.Address != in[0].PublicIP {
		t.Errorf("host address = %q, want the public IP assigned after running (instances %+v)", h.Address, in)
	}
	withheld := 0
	for _, b := range rec.bodies("DescribeInstancesResponse") {
		if strings.Contains(b, "<name>running</name>") && !strings.Contains(b, "<ipAddress>") {
			withheld++
		}
	}
	if withheld == 0 {
		t.Errorf("no DescribeInstances answer showed the instance running without its public address yet")
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestDestroyWaitsForTermination: the instance stays shutting-down for a
// few describes; the group is deleted only once it is terminated, and
// DependencyViolation after that is retried.
func TestDestroyWaitsForTermination(t *testing.T) {
	srv, p, id, h := createdRun(t)
	srv.SetTerminationDelay(3)
	var states []string
	srv.Inject(fakecloud.Fault{Op: "DeleteSecurityGroup", Times: 2, Status: 400, Code: "DependencyViolation", Message: "resource has a dependent object",
		When: func(fakecloud.Call) bool {
			in, _ := srv.Instance(h.ID)
			states = append(states, in.State)
			return true
		}})
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if len(states) == 0 || states[0] != "terminated" {
		t.Errorf("instance states at DeleteSecurityGroup = %v, want terminated from the first call", states)
	}
	if n := count(srv.Ops(), "DeleteSecurityGroup"); n != 3 {
		t.Errorf("DeleteSecurityGroup calls = %d, want 3 (two DependencyViolation retried)", n)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestDestroyOfAnOldRun: resources of a run that began long ago are past
// the listings' lag, so teardown stops at the first sweep that finds
// nothing instead of waiting out more quiet sweeps.
func TestDestroyOfAnOldRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		age    time.Duration
		sweeps int
	}{{"old", time.Hour, 2}, {"new", 0, 4}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			p := newProvider(t, srv, nil)
			id := identity("aws")
			id.CreatedAt = id.CreatedAt.Add(-tc.age)
			if _, err := p.Create(context.Background(), request(id), nil); err != nil {
				t.Fatal(err)
			}
			before := len(srv.Ops())
			if _, err := p.Destroy(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			// One group listing per sweep: one that deletes, then the quiet ones.
			if n := count(srv.Ops()[before:], "DescribeSecurityGroups"); n != tc.sweeps {
				t.Errorf("sweeps = %d, want %d", n, tc.sweeps)
			}
			assertNothingLeft(t, srv, p, id)
		})
	}
}

// TestDestroyDefersWhenAPollWouldOutlastTheDeadline: after a signal the
// teardown has seconds and production polls are seconds apart. Destroy
// issues the deletes, and where the next poll would end after the deadline
// it stops and says so (Deferred, not an error); the next Destroy (the post
// step) finishes the job.
func TestDestroyDefersWhenAPollWouldOutlastTheDeadline(t *testing.T) {
	srv, p, id, _ := createdRun(t)
	o := options(srv, nil, env)
	o.PollInterval = time.Hour // a poll can never fit the deadline below
	slow, err := aws.New(o, aws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := slow.Destroy(ctx, id)
	if err != nil {
		t.Fatalf("destroy = %v, want no error: the deletes were issued", err)
	}
	// The note says what is unconfirmed, not who finishes it: a post
	// step follows only the action's main step, and the caller knows
	// which it is.
	if notes := strings.Join(rep.Notes, "\n"); !rep.Deferred || !strings.Contains(notes, "us-east-1: deletes issued but not all confirmed") ||
		strings.Contains(notes, "post step") {
		t.Errorf("report = %+v, want Deferred with a note saying what is unconfirmed (and promising no post step)", rep)
	}
	if count(srv.Ops(), "TerminateInstances") != 1 {
		t.Errorf("ops = %v, want the instance terminated before stopping", srv.Ops())
	}
	// The post step's Destroy, with its own time, completes it.
	if rep, err := newProvider(t, srv, nil).Destroy(context.Background(), id); err != nil || rep.Deferred {
		t.Fatalf("second destroy = %+v, %v", rep, err)
	}
	assertNothingLeft(t, srv, p, id)
}

// answers is a transport that keeps every response body it passes on.
type answers struct {
	next http.RoundTripper
	mu   sync.Mutex
	got  []string
}

func (a *answers) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	a.mu.Lock()
	a.got = append(a.got, string(b))
	a.mu.Unlock()
	return resp, nil
}

// bodies returns the kept bodies whose XML root is root.
func (a *answers) bodies(root string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, b := range a.got {
		if strings.Contains(b, "<"+root+" ") || strings.Contains(b, "<"+root+">") {
			out = append(out, b)
		}
	}
	return out
}
