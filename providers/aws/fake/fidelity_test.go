package fake

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// up is a booted instance without SSH: these tests are about the API.
type up struct{}

func (up) Addr() string               { return "127.0.0.1" }
func (up) Port() int                  { return 22 }
func (up) Stop(context.Context) error { return nil }

var upBooter = fakecloud.BooterFunc(func(context.Context, fakecloud.BootSpec) (fakecloud.Machine, error) { return up{}, nil })

// launch runs one c8i.large in zone with sg on its primary interface and
// returns its id.
func launch(t *testing.T, s *Server, sg, zone string, kv ...string) string {
	t.Helper()
	form := ec2Form("RunInstances", append([]string{"MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
		"InstanceType", "c8i.large", "Placement.AvailabilityZone", zone,
		"NetworkInterface.1.DeviceIndex", "0", "NetworkInterface.1.SecurityGroupId.1", sg}, kv...)...)
	status, body := post(t, s, auth, form)
	if status != 200 {
		t.Fatalf("launch in %s: %d\n%s", zone, status, body)
	}
	for _, in := range s.Instances() {
		if strings.Contains(body, "<instanceId>"+in.ID+"</instanceId>") {
			return in.ID
		}
	}
	t.Fatalf("launch answered no instance the fake holds:\n%s", body)
	return ""
}

// waitState waits until instance id is in state.
func waitState(t *testing.T, s *Server, id, state string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for in, _ := s.Instance(id); in.State != state; in, _ = s.Instance(id) {
		if time.Now().After(deadline) {
			t.Fatalf("instance %s is %s, never %s", id, in.State, state)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDeleteGroupHeldByInstanceOrInterface: with no fault injected, EC2
// refuses to delete a security group a running instance uses, and one a
// network interface left behind by its terminated instance still holds,
// with DependencyViolation; once the interface is gone the group goes.
func TestDeleteGroupHeldByInstanceOrInterface(t *testing.T) {
	s := New(Config{Booter: upBooter})
	defer s.Close()
	s.KeepInterfaces()
	sg := group(t, s)
	id := launch(t, s, sg, "us-east-1a")
	waitState(t, s, id, "running")
	del := func() (int, string) { return post(t, s, auth, ec2Form("DeleteSecurityGroup", "GroupId", sg)) }
	if st, b := del(); st != 400 || errorCode(t, b) != "DependencyViolation" {
		t.Fatalf("delete the group of a running instance: %d\n%s", st, b)
	}
	if st, b := post(t, s, auth, ec2Form("TerminateInstances", "InstanceId.1", id)); st != 200 {
		t.Fatal(b)
	}
	waitState(t, s, id, "terminated")
	enis := s.Interfaces()
	if len(enis) != 1 || enis[0].Status != "available" {
		t.Fatalf("interfaces = %+v, want the instance's, kept and detached", enis)
	}
	if st, b := del(); st != 400 || errorCode(t, b) != "DependencyViolation" {
		t.Fatalf("delete the group a detached interface holds: %d\n%s", st, b)
	}
	if st, b := post(t, s, auth, ec2Form("DeleteNetworkInterface", "NetworkInterfaceId", enis[0].ID)); st != 200 {
		t.Fatal(b)
	}
	if st, b := del(); st != 200 || len(s.Groups()) != 0 {
		t.Fatalf("delete the group nothing holds: %d, groups %+v\n%s", st, s.Groups(), b)
	}
}

// TestUnofferedTypeInZone: a type EC2 does not offer in a zone is left out
// of that zone's offerings, and a launch there answers Unsupported naming
// the zones that do offer it; another zone launches it.
func TestUnofferedTypeInZone(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	s.Unoffer("us-east-1a", "c8i.large")
	sg := group(t, s)
	status, body := post(t, s, auth, ec2Form("DescribeInstanceTypeOfferings", "LocationType", "availability-zone",
		"Filter.1.Name", "instance-type", "Filter.1.Value.1", "c8i.large"))
	if status != 200 || strings.Contains(body, "<location>us-east-1a</location>") ||
		!strings.Contains(body, "<location>us-east-1b</location>") || !strings.Contains(body, "<location>us-east-1c</location>") {
		t.Fatalf("zone offerings of c8i.large: %d, want us-east-1b and us-east-1c only\n%s", status, body)
	}
	status, body = post(t, s, auth, ec2Form("DescribeInstanceTypeOfferings", "Filter.1.Name", "instance-type", "Filter.1.Value.1", "c8i.large"))
	if status != 200 || !strings.Contains(body, "<location>us-east-1</location>") {
		t.Fatalf("region offerings of c8i.large: %d, want us-east-1 (other zones offer it)\n%s", status, body)
	}
	status, body = post(t, s, auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
		"InstanceType", "c8i.large", "Placement.AvailabilityZone", "us-east-1a", "SecurityGroupId.1", sg))
	if status != 400 || errorCode(t, body) != "Unsupported" || !strings.Contains(body, "choosing us-east-1b, us-east-1c") {
		t.Fatalf("launch in the zone without the type: %d\n%s", status, body)
	}
	if n := len(s.Instances()); n != 0 {
		t.Fatalf("the refused launch made %d instances", n)
	}
	launch(t, s, sg, "us-east-1b")
}

// TestRegionNotOptedIn: a region the account has not enabled is listed by
// DescribeRegions only with AllRegions, as not-opted-in, and calls signed
// for it are refused.
func TestRegionNotOptedIn(t *testing.T) {
	s := New(Config{NotOptedIn: []string{"af-south-1"}})
	defer s.Close()
	status, body := post(t, s, auth, ec2Form("DescribeRegions"))
	if status != 200 || strings.Contains(body, "af-south-1") || !strings.Contains(body, "<regionName>us-east-1</regionName>") {
		t.Fatalf("enabled regions: %d, want us-east-1 and not af-south-1\n%s", status, body)
	}
	status, body = post(t, s, auth, ec2Form("DescribeRegions", "AllRegions", "true"))
	if status != 200 || !strings.Contains(body, "<regionName>af-south-1</regionName><regionEndpoint>ec2.af-south-1.amazonaws.com</regionEndpoint><optInStatus>not-opted-in</optInStatus>") {
		t.Fatalf("all regions: %d, want af-south-1 not opted in\n%s", status, body)
	}
	status, body = post(t, s, strings.Replace(auth, "us-east-1", "af-south-1", 1), ec2Form("DescribeVpcs"))
	if status != 401 || errorCode(t, body) != "AuthFailure" {
		t.Fatalf("a call to af-south-1: %d\n%s", status, body)
	}
}

// TestEndLaunches: a launch EC2 accepts and then cannot place answers
// pending, then reads as terminated with EC2's state reason; its volume
// and interface go with it, and the next launch is not affected.
func TestEndLaunches(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	s.EndLaunches(1, "Server.InsufficientInstanceCapacity", "Server.InsufficientInstanceCapacity: Insufficient capacity to satisfy the request")
	sg := group(t, s)
	status, body := post(t, s, auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
		"InstanceType", "c8i.large", "SecurityGroupId.1", sg))
	if status != 200 || !strings.Contains(body, "<name>pending</name>") || strings.Contains(body, "<stateReason>") {
		t.Fatalf("the launch's answer: %d, want pending without a reason\n%s", status, body)
	}
	id := s.Instances()[0].ID
	b := describe(t, s, id)
	if !strings.Contains(b, "<name>terminated</name>") ||
		!strings.Contains(b, "<stateReason><code>Server.InsufficientInstanceCapacity</code><message>Server.InsufficientInstanceCapacity: Insufficient capacity to satisfy the request</message></stateReason>") {
		t.Fatalf("the ended instance: want terminated with the state reason\n%s", b)
	}
	if i, _, v := s.Live(); i != 0 || v != 0 || len(s.Interfaces()) != 0 {
		t.Errorf("the ended launch left %d instances, %d volumes, interfaces %+v", i, v, s.Interfaces())
	}
	status, body = post(t, s, auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-0fa1ce00000002404",
		"InstanceType", "c8i.large", "SecurityGroupId.1", sg))
	if status != 200 {
		t.Fatal(body)
	}
	if in := s.Instances(); len(in) != 2 || in[1].State != "pending" || in[1].StateReason.Code != "" {
		t.Errorf("instances = %+v, want the second launch pending and booting", in)
	}
}

// TestHideVolumesWhilePending: with HideVolumesWhilePending a pending
// instance's root volume is not listed, nor found by id; once the instance
// runs it is.
func TestHideVolumesWhilePending(t *testing.T) {
	s := New(Config{Booter: upBooter})
	defer s.Close()
	s.HideVolumesWhilePending()
	release := s.HoldBoots()
	defer release()
	sg := group(t, s)
	id := launch(t, s, sg, "us-east-1a")
	vol := s.Volumes()[0].ID
	listVolumes := func() string {
		t.Helper()
		status, body := post(t, s, auth, ec2Form("DescribeVolumes"))
		if status != 200 {
			t.Fatal(body)
		}
		return body
	}
	if b := listVolumes(); strings.Contains(b, vol) {
		t.Fatalf("the pending instance's volume %s is listed:\n%s", vol, b)
	}
	if st, b := post(t, s, auth, ec2Form("DescribeVolumes", "VolumeId.1", vol)); st != 400 || errorCode(t, b) != "InvalidVolume.NotFound" {
		t.Fatalf("the pending instance's volume by id: %d\n%s", st, b)
	}
	release()
	waitState(t, s, id, "running")
	if b := listVolumes(); !strings.Contains(b, "<volumeId>"+vol+"</volumeId>") || !strings.Contains(b, "<instanceId>"+id+"</instanceId>") {
		t.Fatalf("the running instance's volume %s is not listed attached to it:\n%s", vol, b)
	}
}

// TestArchitectures: as EC2 does, every type and image has an
// architecture — DescribeInstanceTypes and DescribeImages say which — and
// RunInstances refuses an AMI whose architecture is not the type's with
// InvalidParameterValue, launching nothing, while the matching AMI
// launches. A type the account does not have is InvalidInstanceType.
func TestArchitectures(t *testing.T) {
	s := New(Config{Types: []string{"c8i.large", "c5.metal", "c6g.metal", "m8g.metal-24xl", "a1.metal", "c7gn.large", "m8i.metal-48xl"}})
	defer s.Close()
	for typ, want := range map[string]string{"c8i.large": "x86_64", "c5.metal": "x86_64", "m8i.metal-48xl": "x86_64",
		"c6g.metal": "arm64", "m8g.metal-24xl": "arm64", "a1.metal": "arm64", "c7gn.large": "arm64"} {
		status, body := post(t, s, auth, ec2Form("DescribeInstanceTypes", "InstanceType.1", typ))
		if status != 200 || strings.Count(body, "<instanceType>") != 1 ||
			!strings.Contains(body, "<supportedArchitectures><item>"+want+"</item></supportedArchitectures>") {
			t.Errorf("DescribeInstanceTypes %s: %d, want one %s type\n%s", typ, status, want, body)
		}
	}
	if st, b := post(t, s, auth, ec2Form("DescribeInstanceTypes", "InstanceType.1", "c6g.large")); st != 400 || errorCode(t, b) != "InvalidInstanceType" {
		t.Errorf("DescribeInstanceTypes of a type not offered: %d\n%s", st, b)
	}
	for ami, want := range map[string]string{UbuntuAMI: "x86_64", UbuntuARMAMI: "arm64"} {
		if st, b := post(t, s, auth, ec2Form("DescribeImages", "ImageId.1", ami)); st != 200 || !strings.Contains(b, "<architecture>"+want+"</architecture>") {
			t.Errorf("DescribeImages %s: %d, want %s\n%s", ami, st, want, b)
		}
	}
	sg := group(t, s)
	run := func(ami, typ string) (int, string) {
		return post(t, s, auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", ami, "InstanceType", typ, "SecurityGroupId.1", sg))
	}
	for _, tt := range []struct{ ami, typ string }{{UbuntuAMI, "c6g.metal"}, {UbuntuARMAMI, "c5.metal"}, {UbuntuARMAMI, "c8i.large"}} {
		st, b := run(tt.ami, tt.typ)
		if st != 400 || errorCode(t, b) != "InvalidParameterValue" || !strings.Contains(b, "does not match the architecture") {
			t.Errorf("RunInstances %s on %s: %d, want InvalidParameterValue\n%s", tt.ami, tt.typ, st, b)
		}
	}
	if n := len(s.Instances()); n != 0 {
		t.Fatalf("refused launches left %d instances", n)
	}
	st, b := run(UbuntuARMAMI, "c6g.metal")
	if st != 200 || !strings.Contains(b, "<architecture>arm64</architecture>") {
		t.Errorf("RunInstances of the arm64 AMI on c6g.metal: %d\n%s", st, b)
	}
}

// TestEC2AcceptsWhatEC2Accepts: the checks on values refuse only what EC2
// refuses. Rules for all protocols, ICMPv6 and protocol numbers without
// ports, a rule tagged as a security-group-rule, 50 tags, an old-form id,
// an IPv6 range, and DescribeRegions' filters are all EC2's to take.
func TestEC2AcceptsWhatEC2Accepts(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	sg := group(t, s)
	for _, form := range []url.Values{
		ingress(sg, "-1", "", "", "198.51.100.0/24"),
		ingress(sg, "icmpv6", "", "", "198.51.100.1/32"),
		ingress(sg, "47", "", "", "198.51.100.2/32"),
		ingress(sg, "icmp", "-1", "-1", "198.51.100.3/32"),
		ingress(sg, "TCP", "0", "65535", "198.51.100.4/32"),
		withTags(ingress(sg, "tcp", "22", "22", "198.51.100.5/32"), "security-group-rule", "k", "v"),
		ec2Form("AuthorizeSecurityGroupIngress", "GroupName", "g", "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "22",
			"IpPermissions.1.ToPort", "22", "IpPermissions.1.Ipv6Ranges.1.CidrIpv6", "2001:db8::/64"),
		withTags(withTags(launchWith("MetadataOptions.HttpTokens", "required", "MetadataOptions.HttpPutResponseHopLimit", "64",
			"SecurityGroupId.1", sg, "ClientToken", strings.Repeat("t", 64)), "instance", manyTags(50)...), "volume", "k", strings.Repeat("v", 256)),
	} {
		if status, body := post(t, s, auth, form); status != 200 {
			t.Errorf("%s %v: %d %s\n%s", form.Get("Action"), form, status, errorCode(t, body), body)
		}
	}
	if in := s.Instances(); len(in) != 1 || len(in[0].Tags) != 50 {
		t.Fatalf("instances = %+v, want the one launched with 50 tags", in)
	}
	status, body := post(t, s, auth, ec2Form("DescribeRegions", "Filter.1.Name", "region-name", "Filter.1.Value.1", "us-west-*"))
	if status != 200 || strings.Count(body, "<regionName>") != 1 || !strings.Contains(body, "<regionName>us-west-2</regionName>") {
		t.Errorf("DescribeRegions region-name us-west-*: %d, want us-west-2 only\n%s", status, body)
	}
	if st, b := post(t, s, auth, ec2Form("TerminateInstances", "InstanceId.1", "i-0123abcd")); st != 400 || errorCode(t, b) != "InvalidInstanceID.NotFound" {
		t.Errorf("an unknown id of the old 8-digit form: %d, want 400 InvalidInstanceID.NotFound\n%s", st, b)
	}
}

// TestIDsAreWellFormed: every id the fake gives has EC2's form (prefix,
// then 8 or 17 hex digits), so the fake's own ids pass its Malformed
// checks wherever a client sends them back.
func TestIDsAreWellFormed(t *testing.T) {
	s := New(Config{Booter: upBooter})
	defer s.Close()
	sg := group(t, s)
	sn := s.AddSubnet("us-east-1b")
	id := launch(t, s, sg, "us-east-1a", "InstanceMarketOptions.MarketType", "spot")
	in, _ := s.Instance(id)
	ids := map[string]string{"instance": in.ID, "reservation": in.ReservationID, "volume": in.VolumeID, "interface": in.InterfaceID,
		"group": sg, "subnet": in.SubnetID, "vpc": in.VpcID, "default group": defaultGroupID(in.VpcID),
		"added subnet": sn.ID, "added vpc": sn.VpcID, "image": UbuntuAMI, "arm image": UbuntuARMAMI}
	for what, v := range ids {
		pre, rest, ok := strings.Cut(v, "-")
		if !ok || pre == "" || !idForm.MatchString(rest) {
			t.Errorf("%s id %q is not of EC2's form", what, v)
		}
	}
}

// TestDescribeImagesFilters: DescribeImages filters by the fields the
// fake's images have and refuses a filter name EC2 does not know.
func TestDescribeImagesFilters(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	status, body := post(t, s, auth, ec2Form("DescribeImages", "Filter.1.Name", "architecture", "Filter.1.Value.1", "arm64"))
	if status != 200 || !strings.Contains(body, "<imageId>"+UbuntuARMAMI+"</imageId>") || strings.Contains(body, UbuntuAMI) {
		t.Errorf("arm64 images: %d, want %s only\n%s", status, UbuntuARMAMI, body)
	}
	status, body = post(t, s, auth, ec2Form("DescribeImages", "Filter.1.Name", "colour", "Filter.1.Value.1", "red"))
	if status != 400 || errorCode(t, body) != "InvalidParameterValue" {
		t.Errorf("an unknown image filter: %d, want 400 InvalidParameterValue\n%s", status, body)
	}
}

// TestOfferingLocationTypes: offerings by zone id name each zone by its
// id (use1-az1 for us-east-1a), and an account without outposts has no
// offerings on one; EC2 takes both location types.
func TestOfferingLocationTypes(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	status, body := post(t, s, auth, ec2Form("DescribeInstanceTypeOfferings", "LocationType", "availability-zone-id",
		"Filter.1.Name", "location", "Filter.1.Value.1", "use1-az2", "Filter.2.Name", "instance-type", "Filter.2.Value.1", "c8i.large"))
	if status != 200 || strings.Count(body, "<item>") != 1 || !strings.Contains(body, "<locationType>availability-zone-id</locationType><location>use1-az2</location>") {
		t.Fatalf("offerings of c8i.large in zone id use1-az2: %d\n%s", status, body)
	}
	status, body = post(t, s, auth, ec2Form("DescribeInstanceTypeOfferings", "LocationType", "outpost"))
	if status != 200 || strings.Contains(body, "<item>") {
		t.Fatalf("offerings on an outpost: %d, want none\n%s", status, body)
	}
}

// TestModelledFilters: the describes apply EC2's filters the fake models,
// not just accept them: each selects the instance, volume or interface it
// names and leaves out what it does not.
func TestModelledFilters(t *testing.T) {
	s := New(Config{Booter: upBooter})
	defer s.Close()
	sg := group(t, s)
	id := launch(t, s, sg, "us-east-1b")
	waitState(t, s, id, "running")
	in, _ := s.Instance(id)
	other := launch(t, s, sg, "us-east-1c")
	tests := []struct {
		action, filter, value, want, not string
	}{
		{"DescribeInstances", "instance-type", "c8i.large", id, ""},
		{"DescribeInstances", "availability-zone", "us-east-1b", id, other},
		{"DescribeInstances", "instance.group-id", sg, id, ""},
		{"DescribeInstances", "instance.group-id", "sg-0123456789abcdef0", "", id},
		{"DescribeInstances", "instance-state-code", "16", id, ""},
		{"DescribeInstances", "ip-address", in.PublicIP, id, other},
		{"DescribeInstances", "subnet-id", in.SubnetID, id, other},
		{"DescribeVolumes", "volume-id", in.VolumeID, in.VolumeID, ""},
		{"DescribeVolumes", "availability-zone", "us-east-1a", "", in.VolumeID},
		{"DescribeVolumes", "attachment.status", "attached", in.VolumeID, ""},
		{"DescribeNetworkInterfaces", "network-interface-id", in.InterfaceID, in.InterfaceID, ""},
		{"DescribeNetworkInterfaces", "group-id", sg, in.InterfaceID, ""},
		{"DescribeNetworkInterfaces", "group-id", "sg-0123456789abcdef0", "", in.InterfaceID},
	}
	for _, tt := range tests {
		status, body := post(t, s, auth, ec2Form(tt.action, "Filter.1.Name", tt.filter, "Filter.1.Value.1", tt.value))
		if status != 200 || (tt.want != "" && !strings.Contains(body, tt.want)) || (tt.not != "" && strings.Contains(body, ">"+tt.not+"<")) {
			t.Errorf("%s %s=%s: %d, want %q listed and %q not\n%s", tt.action, tt.filter, tt.value, status, tt.want, tt.not, body)
		}
	}
}
