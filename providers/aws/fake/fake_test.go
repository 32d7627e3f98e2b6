package fake

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

const auth = "AWS4-HMAC-SHA256 Credential=AKIDFAKE/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00"

// post sends a raw Query-protocol request, as the SDK would.
func post(t *testing.T, s *Server, authz string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sign(t, req, []byte(form.Encode()), authz)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// testSecrets are the secrets post signs with: the fake's default key's,
// and one for AKIDNOPE, which the fake does not know.
var testSecrets = map[string]string{"AKIDFAKE": "fake-secret", "AKIDNOPE": "whatever"}

var scope = regexp.MustCompile(`Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/`)

// sign signs req with SigV4 for the key, region and service authz names,
// as the SDK would; authz "" leaves it unsigned, and an authz ending in
// "Signature=bad" gets a signature made with the wrong secret.
func sign(t *testing.T, req *http.Request, body []byte, authz string) {
	t.Helper()
	if authz == "" {
		return
	}
	m := scope.FindStringSubmatch(authz)
	if m == nil {
		t.Fatalf("no credential scope in %q", authz)
	}
	secret := testSecrets[m[1]]
	if strings.HasSuffix(authz, "Signature=bad") {
		secret = "not-" + secret
	}
	sum := sha256.Sum256(body)
	creds := sdk.Credentials{AccessKeyID: m[1], SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), m[3], m[2], time.Now()); err != nil {
		t.Fatal(err)
	}
}

func errorCode(t *testing.T, body string) string {
	t.Helper()
	// EC2's error document is <Response><Errors><Error>, not the
	// <ErrorResponse> of STS: the root is checked too.
	var e struct {
		XMLName xml.Name `xml:"Response"`
		Code    string   `xml:"Errors>Error>Code"`
	}
	if err := xml.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not an EC2 error body: %v\n%s", err, body)
	}
	return e.Code
}

func ec2Form(action string, kv ...string) url.Values {
	v := url.Values{"Action": {action}, "Version": {"2016-11-15"}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestEC2RejectsWhatEC2Rejects(t *testing.T) {
	// c7i-flex is offered so that its refusal comes from the nested
	// virtualization check, not from the type being unknown.
	s := New(Config{Types: []string{"c8i.large", "c8i-flex.large", "c7i-flex.large", "t3.large"}})
	defer s.Close()
	// Launches that must reach the check they test carry a security group:
	// the fake has no default one and would refuse them for that instead.
	sg := group(t, s)
	tests := []struct {
		name   string
		authz  string
		form   url.Values
		status int
		code   string
	}{
		{"unknown parameter", auth, ec2Form("DescribeInstances", "InstanceIds.1", "i-1"), 400, "UnknownParameter"},
		{"unknown nested parameter", auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "Placement.Colour", "red"), 400, "UnknownParameter"},
		{"key pair refused by the fake's policy", auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "KeyName", "ci"), 400, "FakePolicy.KeyName"},
		{"missing required", auth, ec2Form("RunInstances", "MinCount", "1"), 400, "MissingParameter"},
		{"missing group description", auth, ec2Form("CreateSecurityGroup", "GroupName", "x"), 400, "MissingParameter"},
		{"unsigned", "", ec2Form("DescribeVpcs"), 401, "AuthFailure"},
		// Authentication comes before the parameters are looked at.
		{"unsigned with an unknown parameter", "", ec2Form("DescribeInstances", "InstanceIds.1", "i-1"), 401, "AuthFailure"},
		{"unsigned without a required parameter", "", ec2Form("RunInstances", "MinCount", "1"), 401, "AuthFailure"},
		{"wrong signature with a bad value", strings.Replace(auth, "Signature=00", "Signature=bad", 1),
			ec2Form("DescribeInstances", "MaxResults", "4"), 403, "SignatureDoesNotMatch"},
		{"unknown key", strings.Replace(auth, "AKIDFAKE", "AKIDNOPE", 1), ec2Form("DescribeVpcs"), 401, "AuthFailure"},
		{"wrong signature", strings.Replace(auth, "Signature=00", "Signature=bad", 1), ec2Form("DescribeVpcs"), 403, "SignatureDoesNotMatch"},
		{"unknown action", auth, ec2Form("LaunchRocket"), 400, "InvalidAction"},
		{"unknown filter", auth, ec2Form("DescribeInstances", "Filter.1.Name", "colour", "Filter.1.Value.1", "red"), 400, "InvalidParameterValue"},
		{"unknown instance", auth, ec2Form("TerminateInstances", "InstanceId.1", unknownInstance), 400, "InvalidInstanceID.NotFound"},
		{"page below 5", auth, ec2Form("DescribeInstances", "MaxResults", "4"), 400, "InvalidParameterValue"},
		{"page above 1000", auth, ec2Form("DescribeSecurityGroups", "MaxResults", "1001"), 400, "InvalidParameterValue"},
		{"page with instance ids", auth, ec2Form("DescribeInstances", "MaxResults", "5", "InstanceId.1", unknownInstance), 400, "InvalidParameterCombination"},
		{"page with interface ids", auth, ec2Form("DescribeNetworkInterfaces", "MaxResults", "5", "NetworkInterfaceId.1", "eni-0123456789abcdef0"), 400, "InvalidParameterCombination"},
		{"made-up page token", auth, ec2Form("DescribeVolumes", "MaxResults", "5", "NextToken", "bm90IGEgdG9rZW4"), 400, "InvalidPaginationToken"},
		{"bad user data", auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
			"InstanceType", "c8i.large", "UserData", "%%%"), 400, "InvalidParameterValue"},
		{"nested virtualization on t3", auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
			"InstanceType", "t3.large", "CpuOptions.NestedVirtualization", "enabled", "SecurityGroupId.1", sg), 400, "InvalidParameterCombination"},
		// Only the 8th generation Intel families (C8i, M8i, R8i and their
		// flex variants) offer it: an older flex type does not.
		{"nested virtualization on c7i-flex", auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
			"InstanceType", "c7i-flex.large", "CpuOptions.NestedVirtualization", "enabled", "SecurityGroupId.1", sg), 400, "InvalidParameterCombination"},
		{"nested virtualization neither enabled nor disabled", auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
			"InstanceType", "c8i-flex.large", "CpuOptions.NestedVirtualization", "on", "SecurityGroupId.1", sg), 400, "InvalidParameterValue"},
		{"dry run", auth, ec2Form("DescribeVpcs", "DryRun", "true"), 412, "DryRunOperation"},
		// A one-time spot request (RunInstances' default) cannot start its
		// instance again, so it may only terminate on interruption.
		{"one-time spot that stops", auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
			"InstanceType", "c8i.large", "SecurityGroupId.1", sg, "InstanceMarketOptions.MarketType", "spot",
			"InstanceMarketOptions.SpotOptions.SpotInstanceType", "one-time",
			"InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior", "stop"), 400, "InvalidParameterCombination"},
		{"default spot type that hibernates", auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
			"InstanceType", "c8i.large", "SecurityGroupId.1", sg, "InstanceMarketOptions.MarketType", "spot",
			"InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior", "hibernate"), 400, "InvalidParameterCombination"},
		{"unknown interruption behavior", auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
			"InstanceType", "c8i.large", "SecurityGroupId.1", sg, "InstanceMarketOptions.MarketType", "spot",
			"InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior", "vanish"), 400, "InvalidParameterValue"},

		// Ids not of EC2's form (prefix, then 8 or 17 hex digits) are
		// malformed, not unknown.
		{"instance id too short", auth, ec2Form("TerminateInstances", "InstanceId.1", "i-404"), 400, "InvalidInstanceID.Malformed"},
		{"instance id of 16 digits", auth, ec2Form("DescribeInstances", "InstanceId.1", "i-0123456789abcdef"), 400, "InvalidInstanceID.Malformed"},
		{"instance id not hex", auth, ec2Form("GetConsoleOutput", "InstanceId", "i-0123456789abcdefg"), 400, "InvalidInstanceID.Malformed"},
		{"group id malformed", auth, ec2Form("DeleteSecurityGroup", "GroupId", "sg-nope"), 400, "InvalidGroupId.Malformed"},
		{"group id of another resource", auth, ec2Form("DescribeSecurityGroups", "GroupId.1", "vpc-0123456789abcdef0"), 400, "InvalidGroupId.Malformed"},
		{"launch group malformed", auth, launchWith("NetworkInterface.1.DeviceIndex", "0", "NetworkInterface.1.SecurityGroupId.1", "sg-1"), 400, "InvalidGroupId.Malformed"},
		{"image id malformed", auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-ubuntu", "InstanceType", "c8i.large"), 400, "InvalidAMIID.Malformed"},
		{"described image id malformed", auth, ec2Form("DescribeImages", "ImageId.1", "ami-12345"), 400, "InvalidAMIID.Malformed"},
		{"subnet id malformed", auth, launchWith("SubnetId", "subnet-x"), 400, "InvalidSubnetID.Malformed"},
		{"volume id malformed", auth, ec2Form("DeleteVolume", "VolumeId", "vol-1"), 400, "InvalidVolumeID.Malformed"},
		{"unknown image", auth, ec2Form("DescribeImages", "ImageId.1", "ami-0123456789abcdef0"), 400, "InvalidAMIID.NotFound"},
		{"unknown volume", auth, ec2Form("DeleteVolume", "VolumeId", "vol-0123456789abcdef0"), 400, "InvalidVolume.NotFound"},
		{"delete group naming none", auth, ec2Form("DeleteSecurityGroup"), 400, "MissingParameter"},
		{"authorize naming no group", auth, ec2Form("AuthorizeSecurityGroupIngress", "IpPermissions.1.IpProtocol", "tcp",
			"IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22", "IpPermissions.1.IpRanges.1.CidrIp", "203.0.113.7/32"), 400, "MissingParameter"},

		// Values are checked against their parameter's type.
		{"cidr out of range", auth, ingress(sg, "tcp", "22", "22", "999.1.1.1/40"), 400, "InvalidParameterValue"},
		{"cidr without a length", auth, ingress(sg, "tcp", "22", "22", "203.0.113.7"), 400, "InvalidParameterValue"},
		{"IPv6 range as CidrIp", auth, ingress(sg, "tcp", "22", "22", "2001:db8::/64"), 400, "InvalidParameterValue"},
		{"IPv4 range as CidrIpv6", auth, ec2Form("AuthorizeSecurityGroupIngress", "GroupId", sg, "IpPermissions.1.IpProtocol", "tcp",
			"IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22", "IpPermissions.1.Ipv6Ranges.1.CidrIpv6", "203.0.113.0/24"), 400, "InvalidParameterValue"},
		{"unknown protocol", auth, ingress(sg, "bogus", "22", "22", "203.0.113.7/32"), 400, "InvalidParameterValue"},
		{"protocol number above 255", auth, ingress(sg, "256", "22", "22", "203.0.113.7/32"), 400, "InvalidParameterValue"},
		{"port not a number", auth, ingress(sg, "tcp", "abc", "22", "203.0.113.7/32"), 400, "InvalidParameterValue"},
		{"port above 65535", auth, ingress(sg, "tcp", "22", "65536", "203.0.113.7/32"), 400, "InvalidParameterValue"},
		{"tcp without ports", auth, ingress(sg, "tcp", "", "", "203.0.113.7/32"), 400, "InvalidParameterValue"},
		{"tcp without to port", auth, ingress(sg, "tcp", "22", "", "203.0.113.7/32"), 400, "InvalidParameterValue"},
		{"tcp port -1", auth, ingress(sg, "tcp", "-1", "-1", "203.0.113.7/32"), 400, "InvalidPermission.Malformed"},
		{"tcp ports reversed", auth, ingress(sg, "tcp", "23", "22", "203.0.113.7/32"), 400, "InvalidParameterValue"},
		{"icmp without ports", auth, ingress(sg, "icmp", "", "", "203.0.113.7/32"), 400, "InvalidParameterValue"},
		{"permission without protocol", auth, ec2Form("AuthorizeSecurityGroupIngress", "GroupId", sg,
			"IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22", "IpPermissions.1.IpRanges.1.CidrIp", "203.0.113.7/32"), 400, "MissingParameter"},
		// AuthorizeSecurityGroupIngress tags only the rules it makes.
		{"rule tagged as an instance", auth, withTags(ingress(sg, "tcp", "22", "22", "203.0.113.7/32"), "instance", "k", "v"), 400, "InvalidParameterValue"},
		{"launch tagging a security group", auth, withTags(launchWith(), "security-group", "k", "v"), 400, "InvalidParameterValue"},
		{"group tagged twice", auth, withTags(withTags(ec2Form("CreateSecurityGroup", "GroupName", "t", "GroupDescription", "d"),
			"security-group", "a", "1"), "security-group", "b", "2"), 400, "InvalidParameterValue"},
		{"launch tagging the instance twice", auth, withTags(withTags(launchWith(), "instance", "a", "1"), "instance", "b", "2"), 400, "InvalidParameterValue"},
		{"tag key reserved for AWS", auth, withTags(launchWith(), "instance", "aws:cloudformation:stack-name", "x"), 400, "InvalidParameterValue"},
		{"tag key too long", auth, withTags(launchWith(), "instance", strings.Repeat("k", 129), "x"), 400, "InvalidParameterValue"},
		{"tag value too long", auth, withTags(launchWith(), "instance", "k", strings.Repeat("v", 257)), 400, "InvalidParameterValue"},
		{"tag key twice", auth, withTags(launchWith(), "volume", "k", "1", "k", "2"), 400, "InvalidParameterValue"},
		{"51 tags", auth, withTags(launchWith(), "instance", manyTags(51)...), 400, "TagLimitExceeded"},
		{"IMDS tokens neither optional nor required", auth, launchWith("MetadataOptions.HttpTokens", "bogus"), 400, "InvalidParameterValue"},
		{"IMDS hop limit above 64", auth, launchWith("MetadataOptions.HttpPutResponseHopLimit", "99"), 400, "InvalidParameterValue"},
		{"IMDS hop limit 0", auth, launchWith("MetadataOptions.HttpPutResponseHopLimit", "0"), 400, "InvalidParameterValue"},
		{"boolean that is not", auth, launchWith("NetworkInterface.1.DeviceIndex", "0", "NetworkInterface.1.SecurityGroupId.1", sg,
			"NetworkInterface.1.DeleteOnTermination", "yes"), 400, "InvalidParameterValue"},
		{"dry run maybe", auth, launchWith("DryRun", "maybe"), 400, "InvalidParameterValue"},
		{"client token over 64 characters", auth, launchWith("ClientToken", strings.Repeat("t", 65)), 400, "InvalidParameterValue"},
		{"count not a number", auth, ec2Form("RunInstances", "MinCount", "one", "MaxCount", "1"), 400, "InvalidParameterValue"},
		{"volume size not a number", auth, launchWith("BlockDeviceMapping.1.DeviceName", "/dev/sda1", "BlockDeviceMapping.1.Ebs.VolumeSize", "big"), 400, "InvalidParameterValue"},
		{"offerings page of 2", auth, ec2Form("DescribeInstanceTypeOfferings", "MaxResults", "2"), 400, "InvalidParameterValue"},
		{"instance types page above 100", auth, ec2Form("DescribeInstanceTypes", "MaxResults", "101"), 400, "InvalidParameterValue"},
		{"unknown region filter", auth, ec2Form("DescribeRegions", "Filter.1.Name", "colour", "Filter.1.Value.1", "red"), 400, "InvalidParameterValue"},
		{"tag filter on regions", auth, ec2Form("DescribeRegions", "Filter.1.Name", "tag:k", "Filter.1.Value.1", "v"), 400, "InvalidParameterValue"},
		{"unknown offering filter", auth, ec2Form("DescribeInstanceTypeOfferings", "Filter.1.Name", "colour", "Filter.1.Value.1", "red"), 400, "InvalidParameterValue"},
		{"AllRegions maybe", auth, ec2Form("DescribeRegions", "AllRegions", "maybe"), 400, "InvalidParameterValue"},
		// A region the account does not have is refused before the
		// parameters are looked at, as a failed authentication is.
		{"other region with an unknown parameter", strings.Replace(auth, "us-east-1", "ap-nowhere-1", 1),
			ec2Form("DescribeInstances", "InstanceIds.1", "i-1"), 401, "AuthFailure"},
		// Filters EC2 has but the fake does not apply are refused with an
		// error of the fake's, not EC2's InvalidParameterValue.
		{"instance filter valid in EC2, not modelled", auth, ec2Form("DescribeInstances", "Filter.1.Name", "key-name", "Filter.1.Value.1", "ci"), 400, "FakeUnmodelledFilter"},
		{"volume filter valid in EC2, not modelled", auth, ec2Form("DescribeVolumes", "Filter.1.Name", "encrypted", "Filter.1.Value.1", "true"), 400, "FakeUnmodelledFilter"},
		{"interface filter valid in EC2, not modelled", auth, ec2Form("DescribeNetworkInterfaces", "Filter.1.Name", "mac-address", "Filter.1.Value.1", "x"), 400, "FakeUnmodelledFilter"},
		{"unknown volume filter", auth, ec2Form("DescribeVolumes", "Filter.1.Name", "colour", "Filter.1.Value.1", "red"), 400, "InvalidParameterValue"},
		{"unknown offering location type", auth, ec2Form("DescribeInstanceTypeOfferings", "LocationType", "planet"), 400, "InvalidParameterValue"},
		// A VPC group's name and description take a-z, A-Z, 0-9, spaces
		// and ._-:/()#,@[]+=&;{}!$* only; a name may not start with sg-.
		{"group name starting sg-", auth, ec2Form("CreateSecurityGroup", "GroupName", "sg-run", "GroupDescription", "d"), 400, "InvalidParameterValue"},
		{"group name with a character EC2 refuses", auth, ec2Form("CreateSecurityGroup", "GroupName", "run|1", "GroupDescription", "d"), 400, "InvalidParameterValue"},
		{"group description beyond ASCII", auth, ec2Form("CreateSecurityGroup", "GroupName", "run-1", "GroupDescription", "ssh — runner"), 400, "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, s, tt.authz, tt.form)
			if status != tt.status || errorCode(t, body) != tt.code {
				t.Fatalf("got %d %s, want %d %s\n%s", status, errorCode(t, body), tt.status, tt.code, body)
			}
		})
	}
	if n := len(s.Instances()); n != 0 {
		t.Errorf("rejected requests created %d instances", n)
	}
	if g := s.Groups(); len(g) != 1 || len(g[0].Ingress) != 0 {
		t.Errorf("groups = %+v, want the test's one group, without rules", g)
	}
}

// group creates a security group and returns its id.
func group(t *testing.T, s *Server) string {
	t.Helper()
	status, body := post(t, s, auth, ec2Form("CreateSecurityGroup", "GroupName", "g", "GroupDescription", "d"))
	if status != 200 {
		t.Fatal(body)
	}
	return s.Groups()[0].ID
}

// unknownInstance is a well-formed instance id the fake never gives.
const unknownInstance = "i-0123456789abcdef0"

// launchWith is a RunInstances of one c8i.large plus kv.
func launchWith(kv ...string) url.Values {
	return ec2Form("RunInstances", append([]string{"MinCount", "1", "MaxCount", "1", "ImageId", UbuntuAMI, "InstanceType", "c8i.large"}, kv...)...)
}

// ingress is an AuthorizeSecurityGroupIngress of one permission; empty
// ports are left out.
func ingress(sg, proto, from, to, cidr string) url.Values {
	form := ec2Form("AuthorizeSecurityGroupIngress", "GroupId", sg, "IpPermissions.1.IpProtocol", proto, "IpPermissions.1.IpRanges.1.CidrIp", cidr)
	if from != "" {
		form.Set("IpPermissions.1.FromPort", from)
	}
	if to != "" {
		form.Set("IpPermissions.1.ToPort", to)
	}
	return form
}

// withTags adds a tag specification for resource type rt with the tags
// kv (key, value, key, value…) to form.
func withTags(form url.Values, rt string, kv ...string) url.Values {
	n := 1
	for form.Get(fmt.Sprintf("TagSpecification.%d.ResourceType", n)) != "" {
		n++
	}
	pre := fmt.Sprintf("TagSpecification.%d", n)
	form.Set(pre+".ResourceType", rt)
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(fmt.Sprintf("%s.Tag.%d.Key", pre, i/2+1), kv[i])
		form.Set(fmt.Sprintf("%s.Tag.%d.Value", pre, i/2+1), kv[i+1])
	}
	return form
}

// manyTags is n distinct tags as withTags takes them.
func manyTags(n int) []string {
	var kv []string
	for i := range n {
		kv = append(kv, fmt.Sprintf("k%d", i), "v")
	}
	return kv
}

// TestNestedVirtualizationOnFlex: EC2 documents nested virtualization on
// the 8th generation Intel types "c8i, m8i, r8i, and their flex variants"
// (CpuOptionsRequest.NestedVirtualization), so a c8i-flex launch asking
// for it succeeds and runs with it.
func TestNestedVirtualizationOnFlex(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	sg := group(t, s)
	status, body := post(t, s, auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
		"InstanceType", "c8i-flex.large", "CpuOptions.NestedVirtualization", "enabled", "SecurityGroupId.1", sg))
	if status != 200 {
		t.Fatalf("c8i-flex with nested virtualization: %d\n%s", status, body)
	}
	if in := s.Instances(); len(in) != 1 || in[0].Nested != "enabled" || !strings.Contains(body, "<nestedVirtualization>enabled</nestedVirtualization>") {
		t.Errorf("instances = %+v\n%s", in, body)
	}
}

// TestNestedCapableMatchesTheCatalog: the fake's idea of which types take
// CpuOptions.NestedVirtualization is the adapter's KVM catalog's, so a type
// the catalog sends it for is one the fake launches.
func TestNestedCapableMatchesTheCatalog(t *testing.T) {
	for _, typ := range []string{"c8i.large", "c8i-flex.large", "m8i.xlarge", "m8i-flex.large", "r8i.large", "r8i-flex.2xlarge",
		"c7i-flex.large", "m7i.large", "t3.large", "c5.metal", "m8g.large", "c8a.large"} {
		k, _ := providers.KVMSupport("aws", typ)
		if got, want := nestedCapable(typ), k.Kind == providers.KVMNested; got != want {
			t.Errorf("%s: fake nested-capable %v, catalog %s", typ, got, k.Kind)
		}
	}
}

// TestInstanceNamesItsInterfaceAndSpotRequest: as EC2 does, RunInstances'
// answer and DescribeInstances name the instance's primary network
// interface (networkInterfaceSet) and, for a spot launch, its spot
// request, which the fake keeps, tagged, until the instance terminates.
func TestInstanceNamesItsInterfaceAndSpotRequest(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	sg := group(t, s)
	status, body := post(t, s, auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
		"InstanceType", "c8i.large", "NetworkInterface.1.DeviceIndex", "0", "NetworkInterface.1.SecurityGroupId.1", sg,
		"NetworkInterface.1.DeleteOnTermination", "true", "InstanceMarketOptions.MarketType", "spot",
		"TagSpecification.1.ResourceType", "spot-instances-request", "TagSpecification.1.Tag.1.Key", "run", "TagSpecification.1.Tag.1.Value", "7"))
	if status != 200 {
		t.Fatal(body)
	}
	in := s.Instances()[0]
	enis, spots := s.Interfaces(), s.SpotRequests()
	if len(enis) != 1 || len(spots) != 1 || spots[0].InstanceID != in.ID || spots[0].State != "active" {
		t.Fatalf("interfaces = %+v, spot requests = %+v", enis, spots)
	}
	for what, b := range map[string]string{"RunInstances": body, "DescribeInstances": describe(t, s, in.ID)} {
		if !strings.Contains(b, "<networkInterfaceId>"+enis[0].ID+"</networkInterfaceId>") ||
			!strings.Contains(b, "<spotInstanceRequestId>"+spots[0].ID+"</spotInstanceRequestId>") {
			t.Errorf("%s does not name interface %s and spot request %s:\n%s", what, enis[0].ID, spots[0].ID, b)
		}
	}
	tagged := s.Tagged(map[string]string{"run": "7"})
	if len(tagged) != 1 || tagged[0].Kind != "spot-instances-request" || tagged[0].ID != spots[0].ID {
		t.Errorf("Tagged(run=7) = %v, want the spot request", tagged)
	}
	if status, body := post(t, s, auth, ec2Form("TerminateInstances", "InstanceId.1", in.ID)); status != 200 {
		t.Fatal(body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for in, _ := s.Instance(in.ID); in.State != "terminated"; in, _ = s.Instance(in.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("instance %s never terminated: %s", in.ID, in.State)
		}
		time.Sleep(time.Millisecond)
	}
	if spots := s.SpotRequests(); spots[0].State != "closed" {
		t.Errorf("spot request after its instance terminated: %+v, want closed", spots[0])
	}
	if left := s.Tagged(nil); len(left) != 1 || left[0].Kind != "security-group" {
		t.Errorf("left = %v, want only the group (the interface went with its instance, the spot request is closed)", left)
	}
	if b := describe(t, s, in.ID); strings.Contains(b, "<networkInterfaceId>") {
		t.Errorf("a terminated instance still names its deleted interface:\n%s", b)
	}
}

func describe(t *testing.T, s *Server, id string) string {
	t.Helper()
	status, body := post(t, s, auth, ec2Form("DescribeInstances", "InstanceId.1", id))
	if status != 200 {
		t.Fatal(body)
	}
	return body
}

func TestClientTokenIdempotency(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	status, body := post(t, s, auth, ec2Form("CreateSecurityGroup", "GroupName", "g", "GroupDescription", "d"))
	if status != 200 {
		t.Fatal(body)
	}
	sg := s.Groups()[0].ID
	run := func(typ string) (int, string) {
		return post(t, s, auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
			"InstanceType", typ, "ClientToken", "tok-1", "SecurityGroupId.1", sg))
	}
	if st, b := run("c8i.large"); st != 200 {
		t.Fatal(b)
	} else if strings.Contains(b, "<volumeId>") {
		t.Errorf("RunInstances' answer names the root volume of a pending instance; EC2 does not:\n%s", b)
	}
	if st, b := run("c8i.large"); st != 200 || len(s.Instances()) != 1 {
		t.Fatalf("repeat: %d %d instances\n%s", st, len(s.Instances()), b)
	}
	if st, b := run("m8i.large"); st != 400 || errorCode(t, b) != "IdempotentParameterMismatch" {
		t.Fatalf("changed parameters: %d %s", st, b)
	}
	// The group is in use until the instance is terminated.
	if st, b := post(t, s, auth, ec2Form("DeleteSecurityGroup", "GroupId", sg)); st != 400 || errorCode(t, b) != "DependencyViolation" {
		t.Fatalf("delete used group: %d %s", st, b)
	}
}

// TestAppliedFaultLosesTheAnswer: an Applied fault launches and then
// answers the error, as EC2 does when its answer is lost after it acted;
// the same ClientToken then keeps naming that one instance.
func TestAppliedFaultLosesTheAnswer(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	sg := group(t, s)
	s.Inject(fakecloud.Fault{Op: "RunInstances", Applied: true, Times: 2, Status: 500, Code: "InternalError"})
	run := func() (int, string) {
		return post(t, s, auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
			"InstanceType", "c8i.large", "ClientToken", "tok-1", "SecurityGroupId.1", sg))
	}
	for i := range 2 {
		if st, b := run(); st != 500 || errorCode(t, b) != "InternalError" {
			t.Fatalf("launch %d under the fault: %d %s", i+1, st, b)
		}
		if n := len(s.Instances()); n != 1 {
			t.Fatalf("after launch %d with a lost answer the fake holds %d instances, want the 1 it launched", i+1, n)
		}
	}
	st, b := run()
	if id := s.Instances()[0].ID; st != 200 || !strings.Contains(b, "<instanceId>"+id+"</instanceId>") || len(s.Instances()) != 1 {
		t.Fatalf("the launch after the fault: %d, %d instances, want %s again:\n%s", st, len(s.Instances()), id, b)
	}
}

func TestSTSAndSSMErrors(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	stsAuth := strings.Replace(auth, "/ec2/", "/sts/", 1)
	status, body := post(t, s, strings.Replace(stsAuth, "AKIDFAKE", "AKIDNOPE", 1), url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}})
	if status != 403 || !strings.Contains(body, "<ErrorResponse") || !strings.Contains(body, "InvalidClientTokenId") {
		t.Errorf("sts bad key: %d %s", status, body)
	}
	status, body = post(t, s, stsAuth, url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}})
	if status != 200 || !strings.Contains(body, "<Account>123456789012</Account>") {
		t.Errorf("sts ok: %d %s", status, body)
	}

	req, _ := http.NewRequest(http.MethodPost, s.URL, strings.NewReader(`{"Name":"`+UbuntuParameter+`","Bogus":1}`))
	req.Header.Set("X-Amz-Target", "AmazonSSM.GetParameter")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sign(t, req, []byte(`{"Name":"`+UbuntuParameter+`","Bogus":1}`), strings.Replace(auth, "/ec2/", "/ssm/", 1))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "SerializationException") {
		t.Errorf("ssm unknown field: %d %s", resp.StatusCode, b)
	}
}

// TestUserDataLimitIsOnTheRawBytes: EC2 limits user data to 16 KB before
// base64, so 13 KB (about 17.3 KB encoded) launches, and 17 KB is refused
// with EC2's InvalidParameterValue.
func TestUserDataLimitIsOnTheRawBytes(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	sg := group(t, s)
	launch := func(raw int) (int, string) {
		ud := "#cloud-config\n#" + strings.Repeat("x", raw-len("#cloud-config\n#\n")) + "\n"
		if len(ud) != raw {
			t.Fatalf("user data is %d bytes, want %d", len(ud), raw)
		}
		return post(t, s, auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
			"InstanceType", "c8i.large", "SecurityGroupId.1", sg, "UserData", base64.StdEncoding.EncodeToString([]byte(ud))))
	}
	if status, body := launch(13 * 1024); status != 200 {
		t.Fatalf("13 KB of user data (over 16 KB in base64): %d\n%s", status, body)
	}
	status, body := launch(17 * 1024)
	if status != http.StatusBadRequest || errorCode(t, body) != "InvalidParameterValue" || !strings.Contains(body, "User data is limited to 16384 bytes") {
		t.Errorf("17 KB of user data: %d\n%s", status, body)
	}
	if n := len(s.Instances()); n != 1 {
		t.Errorf("%d instances, want the 13 KB one only", n)
	}
}

// TestDryRun: a dry run checks the permission and does nothing. It
// answers DryRunOperation when the call would have succeeded, and
// UnauthorizedOperation when the policy refuses it (Deny); faults meant
// for the real call (no capacity) do not reach it.
func TestDryRun(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	s.NoCapacity("", "", "")
	s.Inject(fakecloud.Fault{Op: "RunInstances", Status: 500, Code: "InsufficientInstanceCapacity"})
	launch := ec2Form("RunInstances", "DryRun", "true", "MinCount", "1", "MaxCount", "1", "ImageId", UbuntuAMI, "InstanceType", "c8i.large")
	createGroup := ec2Form("CreateSecurityGroup", "DryRun", "true", "GroupName", "g", "GroupDescription", "d")
	for _, form := range []url.Values{launch, createGroup} {
		if status, body := post(t, s, auth, form); status != 412 || errorCode(t, body) != "DryRunOperation" {
			t.Errorf("%s dry run: %d %s, want 412 DryRunOperation\n%s", form.Get("Action"), status, errorCode(t, body), body)
		}
	}
	s.Deny("dryrun:RunInstances")
	s.Deny("dryrun:CreateSecurityGroup")
	for _, form := range []url.Values{launch, createGroup} {
		status, body := post(t, s, auth, form)
		if status != 403 || errorCode(t, body) != "UnauthorizedOperation" || !strings.Contains(body, "Encoded authorization failure message: ") ||
			!strings.Contains(body, "ec2:"+form.Get("Action")) {
			t.Errorf("denied %s dry run: %d %s, want 403 UnauthorizedOperation naming ec2:%s\n%s",
				form.Get("Action"), status, errorCode(t, body), form.Get("Action"), body)
		}
	}
	if i, g, v := s.Live(); i+g+v != 0 || len(s.Interfaces()) != 0 {
		t.Errorf("dry runs created %d instances, %d groups, %d volumes, interfaces %v", i, g, v, s.Interfaces())
	}
	want := []string{"dryrun:RunInstances", "dryrun:CreateSecurityGroup", "dryrun:RunInstances", "dryrun:CreateSecurityGroup"}
	if got := s.Ops(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ops = %v, want %v", got, want)
	}
}

// TestDenyActionDeniesDryRun: IAM checks a dry run against the action
// itself, so denying RunInstances denies its dry run as well.
func TestDenyActionDeniesDryRun(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	s.Deny("RunInstances")
	launch := ec2Form("RunInstances", "DryRun", "true", "MinCount", "1", "MaxCount", "1", "ImageId", UbuntuAMI, "InstanceType", "c8i.large")
	if status, body := post(t, s, auth, launch); status != 403 || errorCode(t, body) != "UnauthorizedOperation" {
		t.Errorf("dry run of a denied RunInstances: %d %s, want 403 UnauthorizedOperation\n%s", status, errorCode(t, body), body)
	}
}

// TestDryRunChecksParameters: a CreateSecurityGroup dry run with a bad
// parameter is refused for it, as the call would be, not answered
// DryRunOperation.
func TestDryRunChecksParameters(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	for _, tt := range []struct {
		form url.Values
		code string
	}{
		{ec2Form("CreateSecurityGroup", "DryRun", "true", "GroupName", "g", "GroupDescription", "d", "VpcId", "vpc-0123456789abcdef0"), "InvalidVpcID.NotFound"},
		{ec2Form("CreateSecurityGroup", "DryRun", "true", "GroupName", "sg-bad", "GroupDescription", "d"), "InvalidParameterValue"},
		{ec2Form("CreateSecurityGroup", "DryRun", "true", "GroupName", "g", "GroupDescription", "d",
			"TagSpecification.1.ResourceType", "instance", "TagSpecification.1.Tag.1.Key", "k", "TagSpecification.1.Tag.1.Value", "v"), "InvalidParameterValue"},
	} {
		if status, body := post(t, s, auth, tt.form); status != 400 || errorCode(t, body) != tt.code {
			t.Errorf("dry run %v: %d %s, want 400 %s\n%s", tt.form, status, errorCode(t, body), tt.code, body)
		}
	}
	if g := s.Groups(); len(g) != 0 {
		t.Errorf("dry runs created groups: %+v", g)
	}
}

// TestLaunchWithoutGroup: a launch that names no security group gets the
// VPC's default group, as EC2 does; IgnoreDryRun then makes a dry run a
// real launch.
func TestLaunchWithoutGroup(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	s.IgnoreDryRun("RunInstances")
	launch := ec2Form("RunInstances", "DryRun", "true", "MinCount", "1", "MaxCount", "1", "ImageId", UbuntuAMI, "InstanceType", "c8i.large")
	if status, body := post(t, s, auth, launch); status != 200 {
		t.Fatalf("launch without a group: %d %s\n%s", status, errorCode(t, body), body)
	}
	insts := s.Instances()
	if len(insts) != 1 || len(insts[0].Groups) != 1 || insts[0].Groups[0] != defaultGroupID(insts[0].VpcID) {
		t.Errorf("instances = %+v, want one in the VPC's default group", insts)
	}
	if g := s.Groups(); len(g) != 0 {
		t.Errorf("the default group is listed as a group of the account's: %+v", g)
	}
}

// TestExpiredSession: a session AssumeRoleWithWebIdentity minted lasts
// SessionTTL; once it has expired, each service refuses requests signed
// with it as AWS does — EC2 400 RequestExpired, STS 403 ExpiredToken, SSM
// 400 ExpiredTokenException — and a session minted afterwards gets through.
func TestExpiredSession(t *testing.T) {
	s := New(Config{WebIdentityToken: "oidc", RoleARN: "arn:aws:iam::123456789012:role/r", SessionTTL: 90 * time.Minute})
	defer s.Close()
	mint := func() sdk.Credentials {
		t.Helper()
		status, body := post(t, s, "", url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"},
			"RoleArn": {"arn:aws:iam::123456789012:role/r"}, "RoleSessionName": {"t"}, "WebIdentityToken": {"oidc"}, "DurationSeconds": {"3600"}})
		var out struct {
			ID      string    `xml:"AssumeRoleWithWebIdentityResult>Credentials>AccessKeyId"`
			Token   string    `xml:"AssumeRoleWithWebIdentityResult>Credentials>SessionToken"`
			Expires time.Time `xml:"AssumeRoleWithWebIdentityResult>Credentials>Expiration"`
		}
		if err := xml.Unmarshal([]byte(body), &out); status != 200 || err != nil || out.Token == "" {
			t.Fatalf("AssumeRoleWithWebIdentity: %d %v\n%s", status, err, body)
		}
		// SessionTTL, not the DurationSeconds asked for.
		if life := time.Until(out.Expires); life < 85*time.Minute || life > 91*time.Minute {
			t.Errorf("Expiration %s is not SessionTTL from now", out.Expires)
		}
		return sdk.Credentials{AccessKeyID: out.ID, SecretAccessKey: "minted-secret", SessionToken: out.Token}
	}
	send := func(creds sdk.Credentials, service string, form url.Values, jsonTarget string) (int, string) {
		t.Helper()
		body := form.Encode()
		ctype := "application/x-www-form-urlencoded"
		if jsonTarget != "" {
			body, ctype = `{"Name":"`+UbuntuParameter+`"}`, "application/x-amz-json-1.1"
		}
		req, err := http.NewRequest(http.MethodPost, s.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ctype)
		if jsonTarget != "" {
			req.Header.Set("X-Amz-Target", jsonTarget)
		}
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ec2Call := func(c sdk.Credentials) (int, string) { return send(c, "ec2", ec2Form("DescribeVpcs"), "") }
	stsCall := func(c sdk.Credentials) (int, string) {
		return send(c, "sts", url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}, "")
	}
	ssmCall := func(c sdk.Credentials) (int, string) { return send(c, "ssm", nil, "AmazonSSM.GetParameter") }

	old := mint()
	for name, call := range map[string]func(sdk.Credentials) (int, string){"ec2": ec2Call, "sts": stsCall, "ssm": ssmCall} {
		if status, body := call(old); status != 200 {
			t.Fatalf("%s with a fresh session: %d\n%s", name, status, body)
		}
	}
	s.ExpireSessions()
	for name, tt := range map[string]struct {
		call   func(sdk.Credentials) (int, string)
		status int
		code   string
	}{
		"ec2": {ec2Call, 400, "<Code>RequestExpired</Code>"},
		"sts": {stsCall, 403, "<Code>ExpiredToken</Code>"},
		"ssm": {ssmCall, 400, `"__type":"ExpiredTokenException"`},
	} {
		if status, body := tt.call(old); status != tt.status || !strings.Contains(body, tt.code) {
			t.Errorf("%s with an expired session: %d, want %d %s\n%s", name, status, tt.status, tt.code, body)
		}
	}
	if status, body := ec2Call(mint()); status != 200 {
		t.Errorf("ec2 with a session minted after: %d\n%s", status, body)
	}
}

// TestWritesLagAfterCreate: under SetConsistencyLag, each write call that
// names a resource a moment old answers NotFound, with EC2's code for it,
// until the lag has passed for that call; then it acts.
func TestWritesLagAfterCreate(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	s.SetConsistencyLag(1)
	sg := group(t, s)
	launch := ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
		"InstanceType", "c8i.large", "SecurityGroupId.1", sg)
	steps := []struct {
		name string
		form url.Values
		code string // "" for success
	}{
		{"authorize, group unknown yet", ec2Form("AuthorizeSecurityGroupIngress", "GroupId", sg, "IpPermissions.1.IpProtocol", "tcp",
			"IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22", "IpPermissions.1.IpRanges.1.CidrIp", "203.0.113.7/32"), "InvalidGroup.NotFound"},
		{"authorize again", ec2Form("AuthorizeSecurityGroupIngress", "GroupId", sg, "IpPermissions.1.IpProtocol", "tcp",
			"IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22", "IpPermissions.1.IpRanges.1.CidrIp", "203.0.113.7/32"), ""},
		{"launch, group unknown yet", launch, "InvalidGroup.NotFound"},
		{"launch again", launch, ""},
	}
	for _, st := range steps {
		status, body := post(t, s, auth, st.form)
		if st.code == "" && status != 200 || st.code != "" && errorCode(t, body) != st.code {
			t.Fatalf("%s: got %d %s, want %q\n%s", st.name, status, errorCode(t, body), st.code, body)
		}
	}
	if len(s.Instances()) != 1 || len(s.Groups()[0].Ingress) != 1 {
		t.Fatalf("instances %+v, group %+v: want one of each, the group with its rule", s.Instances(), s.Groups())
	}
	id := s.Instances()[0].ID
	for i, want := range []string{"InvalidInstanceID.NotFound", ""} {
		status, body := post(t, s, auth, ec2Form("TerminateInstances", "InstanceId.1", id))
		if want == "" && status != 200 || want != "" && errorCode(t, body) != want {
			t.Fatalf("terminate #%d: got %d %s, want %q\n%s", i+1, status, errorCode(t, body), want, body)
		}
	}
}

// TestDescribePages: a page reads MaxResults items and only then filters
// them, so a page without a match still carries the next page's token.
func TestDescribePages(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	for i := range 6 {
		if status, body := post(t, s, auth, ec2Form("CreateSecurityGroup", "GroupName", fmt.Sprintf("g%d", i), "GroupDescription", "d")); status != 200 {
			t.Fatal(body)
		}
	}
	token := regexp.MustCompile(`<nextToken>([^<]+)</nextToken>`)
	form := ec2Form("DescribeSecurityGroups", "MaxResults", "5", "Filter.1.Name", "group-name", "Filter.1.Value.1", "g5")
	status, body := post(t, s, auth, form)
	m := token.FindStringSubmatch(body)
	if status != 200 || strings.Contains(body, "<groupName>") || m == nil {
		t.Fatalf("first page: want no match and a token, got %d\n%s", status, body)
	}
	form.Set("NextToken", m[1])
	status, body = post(t, s, auth, form)
	if status != 200 || !strings.Contains(body, "<groupName>g5</groupName>") || token.MatchString(body) {
		t.Fatalf("second page: want g5 and no token, got %d\n%s", status, body)
	}
	// Without MaxResults, one answer holds everything; LimitPages does not
	// apply, as EC2 answers an unpaginated request whole.
	s.LimitPages(1)
	status, body = post(t, s, auth, ec2Form("DescribeSecurityGroups"))
	if status != 200 || strings.Count(body, "<groupName>") != 6 || token.MatchString(body) {
		t.Fatalf("unpaginated: want all 6 groups and no token, got %d\n%s", status, body)
	}
	status, body = post(t, s, auth, ec2Form("DescribeSecurityGroups", "MaxResults", "1000"))
	if status != 200 || strings.Count(body, "<groupName>") != 1 || !token.MatchString(body) {
		t.Fatalf("limited page: want 1 group and a token, got %d\n%s", status, body)
	}
}
