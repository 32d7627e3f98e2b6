package fake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

const ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

// Instance is a fake EC2 instance.
type Instance struct {
	ID, Region, Zone, Type, ImageID, SubnetID, VpcID string
	ReservationID                                    string
	State                                            string
	// PublicIP is the instance's front (reach.go): a loopback address
	// that leads to its test host's sshd only while a security group of
	// the instance allows tcp/22 from the client's address.
	PublicIP, PrivateIP string
	// SSHPort is the port the instance's test host, and its front, listen
	// on (the fake cannot give every host port 22); 0 until it runs.
	SSHPort          int
	Tags             map[string]string
	Groups           []string
	ClientToken      string
	UserData         []byte
	Spot             bool
	ShutdownBehavior string
	Nested           string
	VolumeID         string
	InterfaceID      string
	// SpotRequestID is the one-time spot request a spot launch made.
	SpotRequestID string
	LaunchTime    time.Time
	// StateReason says why an instance ended, when EC2 ended it (EndLaunches).
	StateReason StateReason
	// halted is set once a shutting-down instance's host has stopped; it
	// then reads as terminated after the kit's termination delay.
	halted bool
	// Request is the RunInstances form, for tests to inspect.
	Request map[string]string
	// Console is what GetConsoleOutput returns: lines the fake writes as
	// the instance launches, boots and ends, and any a test adds.
	Console []string
}

// StateReason is EC2's reason for an instance's state change.
type StateReason struct {
	Code, Message string
}

// Group is a fake security group.
type Group struct {
	ID, Region, Name, Description, VpcID string
	Tags                                 map[string]string
	Ingress                              []Rule
}

// Rule is one ingress permission.
type Rule struct {
	Protocol string
	From, To int
	CIDR     string
}

// NetworkInterface is a fake ENI: RunInstances creates the instance's
// primary one, tagged from the network-interface tag specification, and
// it goes with the instance unless DeleteOnTermination was false.
type NetworkInterface struct {
	ID, Region, Zone, SubnetID, VpcID string
	Tags                              map[string]string
	InstanceID                        string
	Status                            string // in-use, available
	DeleteOnTermination               bool
	// Groups are its security groups: a group an interface still holds
	// cannot be deleted.
	Groups []string
}

// SpotRequest is the one-time spot instance request EC2 makes for a
// RunInstances on the spot market, tagged from the spot-instances-request
// tag specification. It is active while its instance lives and closed
// once the instance terminates.
type SpotRequest struct {
	ID, Region, InstanceID string
	Tags                   map[string]string
	State                  string // active, closed
}

// Volume is a fake EBS volume.
type Volume struct {
	ID, Region, Zone, Type string
	SizeGB                 int
	Tags                   map[string]string
	InstanceID             string
	State                  string // in-use, available, deleting
	DeleteOnTermination    bool
}

func stateCode(state string) int {
	return map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}[state]
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:17]
}

func vpcID(region string) string { return "vpc-" + shortHash("vpc/"+region) }

// defaultGroupID names the VPC's default security group, which every VPC
// has and no run creates or deletes: the fake names it (on an instance
// launched without a group) but does not list it.
func defaultGroupID(vpc string) string { return "sg-" + shortHash("default/"+vpc) }
func subnetID(zone string) string      { return "subnet-" + shortHash("subnet/"+zone) }

// ec2Handler is one action: its parameters and their kinds, the ones it
// requires, the filters and tag resource types it knows, and the work.
type ec2Handler struct {
	params   spec
	required []string
	// either are two parameters of which the action needs one.
	either [2]string
	// filters are the filter names the action knows; "tag:" admits the
	// tag:<key> and tag-key filters.
	filters []string
	// unmodelled are filter names EC2 knows for the action that the fake
	// does not apply (filters.go): answered with an error of the fake's.
	unmodelled []string
	// tagTypes are the resource types its TagSpecifications may name.
	tagTypes []string
	// validate checks what one parameter's kind cannot: parameters that
	// depend on each other. Like the kinds it runs before a dry run is
	// answered, as EC2 checks a request before it says it would succeed.
	validate func(p params) *apiError
	do       func(s *Server, c caller, p params) (*xmlDoc, *apiError)
}

// page is the paging parameters of a describe whose MaxResults may be
// from 5 to max.
func page(max int) spec {
	return spec{"Filter.N.Name": nil, "Filter.N.Value.N": nil, "MaxResults": integer(5, max), "NextToken": nil}
}

var tagSpec = spec{"TagSpecification.N.ResourceType": nil, "TagSpecification.N.Tag.N.Key": nil, "TagSpecification.N.Tag.N.Value": nil}

// runInstancesParams are the RunInstances parameters the fake knows.
var runInstancesParams = spec{
	"ImageId":                    imageID,
	"InstanceType":               nil,
	"MinCount":                   integer(1, 1<<31-1),
	"MaxCount":                   integer(1, 1<<31-1),
	"ClientToken":                maxLen(64),
	"UserData":                   nil,
	"KeyName":                    nil,
	"SecurityGroupId.N":          groupID,
	"SubnetId":                   subnetIDArg,
	"Placement.AvailabilityZone": nil,

	"InstanceInitiatedShutdownBehavior": enum("stop", "terminate"),
	"CpuOptions.NestedVirtualization":   enum("enabled", "disabled"),
	"CpuOptions.CoreCount":              integer(1, 1<<31-1),
	"CpuOptions.ThreadsPerCore":         integer(1, 2),

	"MetadataOptions.HttpTokens":              enum("optional", "required"),
	"MetadataOptions.HttpEndpoint":            enum("disabled", "enabled"),
	"MetadataOptions.HttpPutResponseHopLimit": integer(1, 64),

	"BlockDeviceMapping.N.DeviceName":              nil,
	"BlockDeviceMapping.N.Ebs.VolumeSize":          integer(1, 65536),
	"BlockDeviceMapping.N.Ebs.VolumeType":          enum("standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"),
	"BlockDeviceMapping.N.Ebs.DeleteOnTermination": boolean,
	"BlockDeviceMapping.N.Ebs.Encrypted":           boolean,

	"InstanceMarketOptions.MarketType":                               enum("spot", "capacity-block", "interruptible-capacity-reservation"),
	"InstanceMarketOptions.SpotOptions.SpotInstanceType":             enum("one-time", "persistent"),
	"InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior": enum("hibernate", "stop", "terminate"),
	"InstanceMarketOptions.SpotOptions.MaxPrice":                     nil,

	"NetworkInterface.N.DeviceIndex":              integer(0, 1<<31-1),
	"NetworkInterface.N.SubnetId":                 subnetIDArg,
	"NetworkInterface.N.SecurityGroupId.N":        groupID,
	"NetworkInterface.N.AssociatePublicIpAddress": boolean,
	"NetworkInterface.N.DeleteOnTermination":      boolean,
}

func ec2Handlers() map[string]ec2Handler {
	tags := "tag:"
	return map[string]ec2Handler{
		"DescribeRegions": {params: spec{"AllRegions": boolean, "RegionName.N": nil, "Filter.N.Name": nil, "Filter.N.Value.N": nil},
			filters: []string{"endpoint", "region-name", "opt-in-status"}, do: (*Server).describeRegions},
		"DescribeInstanceTypeOfferings": {params: page(1000).with(spec{"LocationType": enum("region", "availability-zone", "availability-zone-id", "outpost")}),
			filters: []string{"instance-type", "location"}, do: (*Server).describeOfferings},
		"DescribeInstanceTypes": {params: page(100).with(spec{"InstanceType.N": nil}),
			filters: []string{"instance-type", "processor-info.supported-architecture", "bare-metal"}, do: (*Server).describeInstanceTypes},
		"DescribeImages": {params: page(1000).with(spec{"ImageId.N": imageID, "Owner.N": nil, "ExecutableBy.N": nil,
			"IncludeDeprecated": boolean, "IncludeDisabled": boolean}), filters: imageFilters, do: (*Server).describeImages},
		"DescribeVpcs": {params: page(1000).with(spec{"VpcId.N": vpcIDArg}), filters: []string{"is-default", "isDefault", "vpc-id", tags},
			do: (*Server).describeVpcs},
		"DescribeSubnets": {params: page(1000).with(spec{"SubnetId.N": subnetIDArg}),
			filters: []string{"vpc-id", "vpcId", "availability-zone", "availabilityZone", "default-for-az", "defaultForAz", "subnet-id", "subnetId", tags},
			do:      (*Server).describeSubnets},
		"CreateSecurityGroup": {params: tagSpec.with(spec{"GroupName": maxLen(255), "GroupDescription": maxLen(255), "VpcId": vpcIDArg}),
			required: []string{"GroupName", "GroupDescription"}, tagTypes: []string{"security-group"}, do: (*Server).createSecurityGroup},
		"AuthorizeSecurityGroupIngress": {params: tagSpec.with(spec{"GroupId": groupID, "GroupName": nil,
			"IpPermissions.N.IpProtocol": nil, "IpPermissions.N.FromPort": integer(-1, 65535), "IpPermissions.N.ToPort": integer(-1, 65535),
			"IpPermissions.N.IpRanges.N.CidrIp": cidr(false), "IpPermissions.N.IpRanges.N.Description": maxLen(255),
			"IpPermissions.N.Ipv6Ranges.N.CidrIpv6": cidr(true), "IpPermissions.N.Ipv6Ranges.N.Description": maxLen(255)}),
			either: [2]string{"GroupId", "GroupName"}, tagTypes: []string{"security-group-rule"}, validate: checkPermissions,
			do: (*Server).authorizeIngress},
		"DescribeSecurityGroups": {params: page(1000).with(spec{"GroupId.N": groupID, "GroupName.N": nil}),
			filters: []string{"group-name", "group-id", "vpc-id", tags}, do: (*Server).describeGroups},
		"DeleteSecurityGroup": {params: spec{"GroupId": groupID, "GroupName": nil}, either: [2]string{"GroupId", "GroupName"},
			do: (*Server).deleteGroup},
		"RunInstances": {params: tagSpec.with(runInstancesParams),
			required: []string{"MinCount", "MaxCount"}, tagTypes: []string{"instance", "volume", "network-interface", "spot-instances-request"},
			do: (*Server).runInstances},
		"DescribeInstances": {params: page(1000).with(spec{"InstanceId.N": instanceID}),
			filters: instanceFilters, unmodelled: instanceFiltersUnmodelled, do: (*Server).describeInstances},
		"TerminateInstances": {params: spec{"InstanceId.N": instanceID}, required: []string{"InstanceId.1"}, do: (*Server).terminateInstances},
		"DescribeVolumes": {params: page(1<<31 - 1).with(spec{"VolumeId.N": volumeID}),
			filters: volumeFilters, unmodelled: volumeFiltersUnmodelled, do: (*Server).describeVolumes},
		"DescribeNetworkInterfaces": {params: page(1000).with(spec{"NetworkInterfaceId.N": interfaceID}),
			filters: interfaceFilters, unmodelled: interfaceFiltersUnmodelled, do: (*Server).describeInterfaces},
		"DeleteVolume": {params: spec{"VolumeId": volumeID}, required: []string{"VolumeId"}, do: (*Server).deleteVolume},
		"DeleteNetworkInterface": {params: spec{"NetworkInterfaceId": interfaceID}, required: []string{"NetworkInterfaceId"},
			do: (*Server).deleteInterface},
		"GetConsoleOutput": {params: spec{"InstanceId": instanceID, "Latest": boolean}, required: []string{"InstanceId"},
			do: (*Server).consoleOutput},
	}
}

// checkRequest is what EC2 checks of any request before the action runs:
// the parameters, their values, the filters and the tag specifications.
func (h ec2Handler) checkRequest(p params) *apiError {
	if e := p.checkTyped(h.params, h.required); e != nil {
		return e
	}
	if a, b := h.either[0], h.either[1]; a != "" && p.get(a) == "" && p.get(b) == "" {
		return errf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter %s or %s", member(b), member(a))
	}
	if h.filters != nil {
		if e := checkFilterNames(p.filters(), h.filters, h.unmodelled); e != nil {
			return e
		}
	}
	if h.tagTypes != nil {
		if e := p.checkTagSpecs(h.tagTypes); e != nil {
			return e
		}
	}
	if h.validate != nil {
		return h.validate(p)
	}
	return nil
}

func (s *Server) serveEC2(w http.ResponseWriter, r *http.Request, p params) {
	action := p.get("Action")
	h, ok := ec2Handlers()[action]
	if !ok {
		writeEC2Error(w, errf(http.StatusBadRequest, "InvalidAction", "The action %s is not valid for this web service.", action))
		return
	}
	op := action
	if p.get("DryRun") == "true" {
		// To the kit a dry run is an operation of its own: a fault meant
		// for the real call (no capacity, a lost answer) does not apply to
		// the permission check, and a test can refuse just the check
		// (Deny("dryrun:RunInstances")).
		op = "dryrun:" + action
	}
	f := s.Begin(op, p.flat())
	if f != nil && !f.Applied {
		if d := pretend(action, p); f.Pretend && d != nil {
			writeXML(w, d)
			return
		}
		writeEC2Error(w, faultError(f))
		return
	}
	// EC2 authenticates a request before it looks at its parameters: an
	// unsigned or wrongly signed request is answered AuthFailure (or
	// SignatureDoesNotMatch) whatever it asks.
	c, e := s.authenticate(r)
	if e != nil && e.Code == "ExpiredToken" {
		// EC2 answers a request signed with expired temporary credentials
		// as it answers one signed too long ago.
		e = errf(http.StatusBadRequest, "RequestExpired", "Request has expired.")
	}
	if e != nil {
		writeEC2Error(w, e)
		return
	}
	if !s.offersRegion(c.region) && action != "DescribeRegions" {
		writeEC2Error(w, errf(http.StatusUnauthorized, "AuthFailure", "region %s is not enabled for this account", c.region))
		return
	}
	if e := h.checkRequest(p); e != nil {
		writeEC2Error(w, e)
		return
	}
	if action == "RunInstances" && p.get("KeyName") != "" {
		// EC2 accepts a key pair; this fake refuses one as a tripwire,
		// since the adapter's hosts take keys only through user data.
		writeEC2Error(w, errf(http.StatusBadRequest, "FakePolicy.KeyName",
			"the fake refuses KeyName by its own policy (EC2 would accept it): the adapter must never send a key pair, keys go only through user data"))
		return
	}
	dry := p.get("DryRun") == "true"
	if dry && s.ignoresDryRun(action) {
		// A broken endpoint (IgnoreDryRun): the call is really done.
		dry = false
	}
	if dry && action == "CreateSecurityGroup" {
		// EC2 checks the parameters before it answers a dry run.
		if _, _, _, e := s.checkCreateGroup(c, p, true); e != nil {
			writeEC2Error(w, e)
			return
		}
	}
	if dry && action != "RunInstances" {
		// As EC2 does: the permission check passed, nothing is done.
		writeEC2Error(w, dryRunOK())
		return
	}
	// RunInstances checks its parameters before answering a dry run, as
	// EC2 does (runInstances answers DryRunOperation once they pass).
	d, e := h.do(s, c, p)
	if e != nil {
		writeEC2Error(w, e)
		return
	}
	if f != nil {
		// An Applied fault: the operation is done, its answer is lost.
		writeEC2Error(w, faultError(f))
		return
	}
	writeXML(w, d)
}

// pretend is the success answer of a delete that is not done (a Pretend
// fault); nil for actions that cannot pretend.
func pretend(action string, p params) *xmlDoc {
	switch action {
	case "DeleteSecurityGroup":
		return response(action).el("return", "true").el("groupId", p.get("GroupId"))
	case "DeleteVolume", "DeleteNetworkInterface":
		return response(action).el("return", "true")
	case "TerminateInstances":
		d := response(action).open("instancesSet")
		for _, id := range p.list("InstanceId") {
			d.open("item").el("instanceId", id).
				open("currentState").el("code", strconv.Itoa(stateCode("shutting-down"))).el("name", "shutting-down").close().
				open("previousState").el("code", strconv.Itoa(stateCode("running"))).el("name", "running").close().close()
		}
		return d
	}
	return nil
}

func response(action string) *xmlDoc {
	return newXML(action+"Response", ec2NS).el("requestId", requestID())
}

func unknownFilter(f filter) *apiError {
	return invalidValue("The filter '%s' is invalid", f.name)
}

func (s *Server) describeRegions(_ caller, p params) (*xmlDoc, *apiError) {
	want := p.list("RegionName")
	for _, r := range want {
		if !s.offersRegion(r) && !slices.Contains(s.cfg.NotOptedIn, r) {
			return nil, invalidValue("Invalid region names: %s", r)
		}
	}
	all := p.get("AllRegions")
	fs := p.filters()
	d := response("DescribeRegions").open("regionInfo")
	item := func(r, status string) {
		endpoint := "ec2." + r + ".amazonaws.com"
		if matches(fs, nil, map[string]string{"region-name": r, "endpoint": endpoint, "opt-in-status": status}, nil) {
			d.open("item").el("regionName", r).el("regionEndpoint", endpoint).el("optInStatus", status).close()
		}
	}
	for _, r := range s.cfg.Regions {
		if len(want) > 0 && !slices.Contains(want, r) {
			continue
		}
		item(r, "opt-in-not-required")
	}
	// As EC2 does, a region the account has not opted in to is listed
	// only when all regions are asked for (or it is named).
	for _, r := range s.cfg.NotOptedIn {
		if (len(want) > 0 && !slices.Contains(want, r)) || (len(want) == 0 && all != "true") {
			continue
		}
		item(r, "not-opted-in")
	}
	return d, nil
}

func (s *Server) describeOfferings(c caller, p params) (*xmlDoc, *apiError) {
	lt := p.get("LocationType")
	if lt == "" {
		lt = "region"
	}
	var locs []string
	switch lt {
	case "region":
		locs = []string{c.region}
	case "availability-zone", "availability-zone-id":
		locs = s.zones(c.region)
	case "outpost":
		// The account has no outposts: nothing is offered on one.
	default:
		return nil, invalidValue("Invalid value '%s' for LocationType", lt)
	}
	fs := p.filters()
	d := response("DescribeInstanceTypeOfferings").open("instanceTypeOfferingSet")
	for _, loc := range locs {
		for _, t := range s.cfg.Types {
			keep := s.offers(c.region, loc, t)
			for _, f := range fs {
				switch f.name {
				case "instance-type":
					keep = keep && matchValues(f.values, t)
				case "location":
					keep = keep && matchValues(f.values, locName(lt, loc))
				default:
					return nil, unknownFilter(f)
				}
			}
			if keep {
				d.open("item").el("instanceType", t).el("locationType", lt).el("location", locName(lt, loc)).close()
			}
		}
	}
	return d, nil
}

// locName is how an offering of LocationType lt names location loc (a
// region or a zone): a zone by its id for availability-zone-id.
func locName(lt, loc string) string {
	if lt == "availability-zone-id" {
		return zoneID(loc)
	}
	return loc
}

// zoneID is a zone's id as EC2 gives one ("use1-az1" for us-east-1a): the
// region's short name, then the zone's number. (EC2 maps letters to ids
// per account; the fake maps them in order.)
func zoneID(zone string) string {
	region, letter := zone[:len(zone)-1], zone[len(zone)-1]
	parts := strings.Split(region, "-")
	short := parts[0]
	for _, p := range parts[1 : len(parts)-1] {
		short += p[:1]
	}
	return fmt.Sprintf("%s%s-az%d", short, parts[len(parts)-1], letter-'a'+1)
}

// describeInstanceTypes answers the types the account may use (Config.Types),
// each with its architecture. As EC2 does, naming a type it does not
// have is an error, not an empty answer.
func (s *Server) describeInstanceTypes(_ caller, p params) (*xmlDoc, *apiError) {
	want := p.list("InstanceType")
	var unknown []string
	for _, t := range want {
		if !slices.Contains(s.cfg.Types, t) {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) > 0 {
		return nil, errf(http.StatusBadRequest, "InvalidInstanceType", "The following supplied instance types do not exist: [%s]", strings.Join(unknown, ", "))
	}
	fs := p.filters()
	d := response("DescribeInstanceTypes").open("instanceTypeSet")
	for _, t := range s.cfg.Types {
		if len(want) > 0 && !slices.Contains(want, t) {
			continue
		}
		keep := true
		for _, f := range fs {
			switch f.name {
			case "instance-type":
				keep = keep && matchValues(f.values, t)
			case "processor-info.supported-architecture":
				keep = keep && matchValues(f.values, TypeArch(t))
			case "bare-metal":
				keep = keep && matchValues(f.values, strconv.FormatBool(isMetal(t)))
			default:
				return nil, unknownFilter(f)
			}
		}
		if !keep {
			continue
		}
		d.open("item").el("instanceType", t).el("currentGeneration", "true").el("bareMetal", strconv.FormatBool(isMetal(t)))
		if !isMetal(t) {
			d.el("hypervisor", "nitro")
		}
		d.open("processorInfo").open("supportedArchitectures").el("item", TypeArch(t)).close().close()
		d.close()
	}
	return d, nil
}

// TypeArch is the architecture EC2 gives an instance type: arm64 for the
// Graviton families (a1, and those with a g after the generation: c6g,
// m8gd, c7gn, t4g, im4gn, is4gen…), x86_64 for the rest.
func TypeArch(typ string) string {
	family, _, _ := strings.Cut(typ, ".")
	family = strings.TrimSuffix(family, "-flex")
	if family == "a1" || gravitonFamily.MatchString(family) {
		return "arm64"
	}
	return "x86_64"
}

var gravitonFamily = regexp.MustCompile(`^[a-z]+\d+g[a-z]*$`)

func isMetal(typ string) bool {
	return strings.HasSuffix(typ, ".metal") || strings.Contains(typ, ".metal-")
}

// Unoffer makes EC2 not offer typ in zone (e.g. "us-east-1b"), as
// happens with new or large types: DescribeInstanceTypeOfferings leaves
// the pair out and RunInstances there answers Unsupported.
func (s *Server) Unoffer(zone, typ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unoffered[[2]string{zone, typ}] = true
}

// offers says whether typ is offered at loc, a zone or (then offered in
// any of its zones) the region.
func (s *Server) offers(region, loc, typ string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if loc != region {
		return !s.unoffered[[2]string{loc, typ}]
	}
	for _, z := range s.zones(region) {
		if !s.unoffered[[2]string{z, typ}] {
			return true
		}
	}
	return false
}

// imageFilters are DescribeImages' filter names. The fake's images have
// only some of the fields they name; a filter on another field matches an
// empty value.
var imageFilters = []string{"architecture", "block-device-mapping.delete-on-termination", "block-device-mapping.device-name",
	"block-device-mapping.snapshot-id", "block-device-mapping.volume-size", "block-device-mapping.volume-type",
	"block-device-mapping.encrypted", "creation-date", "description", "ena-support", "free-tier-eligible", "hypervisor",
	"image-allowed", "image-id", "image-type", "is-public", "kernel-id", "manifest-location", "name", "owner-alias", "owner-id",
	"platform", "platform-details", "product-code", "product-code.type", "ramdisk-id", "root-device-name", "root-device-type",
	"source-image-id", "source-image-region", "source-instance-id", "state", "state-reason-code", "state-reason-message",
	"sriov-net-support", "usage-operation", "virtualization-type", "tag:"}

func (s *Server) describeImages(_ caller, p params) (*xmlDoc, *apiError) {
	ids := p.list("ImageId")
	for _, id := range ids {
		if _, ok := s.images.Get(id); !ok {
			return nil, errf(http.StatusBadRequest, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
		}
	}
	d := response("DescribeImages").open("imagesSet")
	for _, id := range sortedKeys(s.imageMap()) {
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		img, _ := s.images.Get(id)
		if !matches(p.filters(), nil, map[string]string{"architecture": img.Arch, "image-id": id, "name": img.Name, "state": "available",
			"owner-id": "099720109477", "is-public": "true", "root-device-name": "/dev/sda1", "root-device-type": "ebs",
			"image-type": "machine", "virtualization-type": "hvm", "hypervisor": "xen", "platform-details": "Linux/UNIX"}, nil) {
			continue
		}
		d.open("item").el("imageId", id).el("name", img.Name).el("imageState", "available").el("architecture", img.Arch).
			el("rootDeviceName", "/dev/sda1").el("rootDeviceType", "ebs").el("imageOwnerId", "099720109477").el("isPublic", "true").close()
	}
	return d, nil
}

func (s *Server) imageMap() map[string]Image {
	m := map[string]Image{}
	s.images.List(func(id string, img Image) bool { m[id] = img; return false })
	return m
}

// Subnet is a fake subnet: the default VPC's one per zone, or one added
// with AddSubnet in a VPC of its own.
type Subnet struct {
	ID, VpcID, Zone, Region, CIDR string
	Default                       bool
}

// AddSubnet adds a subnet in zone (e.g. "us-east-1b") inside a new,
// non-default VPC, as a user's own network would be, and returns it.
func (s *Server) AddSubnet(zone string) Subnet {
	n := len(s.extraSubnets.List(nil)) + 1
	sn := Subnet{ID: s.NewID("subnet-"), VpcID: s.NewID("vpc-"), Zone: zone, Region: zone[:len(zone)-1],
		CIDR: fmt.Sprintf("10.%d.0.0/24", n)}
	s.extraSubnets.Put(sn.ID, sn)
	return sn
}

// subnets lists the region's subnets, the default VPC's first.
func (s *Server) subnets(region string) []Subnet {
	var out []Subnet
	for i, z := range s.zones(region) {
		out = append(out, Subnet{ID: subnetID(z), VpcID: vpcID(region), Zone: z, Region: region,
			CIDR: fmt.Sprintf("172.31.%d.0/20", i*16), Default: true})
	}
	return append(out, s.extraSubnets.List(func(_ string, sn Subnet) bool { return sn.Region == region })...)
}

// vpcs lists the region's VPC ids, the default one first.
func (s *Server) vpcs(region string) []string {
	var out []string
	for _, sn := range s.subnets(region) {
		if !slices.Contains(out, sn.VpcID) {
			out = append(out, sn.VpcID)
		}
	}
	return out
}

func (s *Server) describeVpcs(c caller, p params) (*xmlDoc, *apiError) {
	ids := p.list("VpcId")
	vpcs := s.vpcs(c.region)
	for _, id := range ids {
		if !slices.Contains(vpcs, id) {
			return nil, errf(http.StatusBadRequest, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
		}
	}
	fs := p.filters()
	d := response("DescribeVpcs").open("vpcSet")
	for i, vpc := range vpcs {
		isDefault := strconv.FormatBool(i == 0)
		if len(ids) > 0 && !slices.Contains(ids, vpc) {
			continue
		}
		keep := matches(fs, nil, map[string]string{"is-default": isDefault, "isDefault": isDefault, "vpc-id": vpc}, nil)
		if keep {
			cidr := "172.31.0.0/16"
			if i > 0 {
				cidr = fmt.Sprintf("10.%d.0.0/16", i)
			}
			d.open("item").el("vpcId", vpc).el("state", "available").el("cidrBlock", cidr).el("isDefault", isDefault).el("ownerId", s.cfg.Account).close()
		}
	}
	return d, nil
}

func (s *Server) describeSubnets(c caller, p params) (*xmlDoc, *apiError) {
	ids := p.list("SubnetId")
	all := s.subnets(c.region)
	for _, id := range ids {
		if !slices.ContainsFunc(all, func(sn Subnet) bool { return sn.ID == id }) {
			return nil, errf(http.StatusBadRequest, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
	}
	fs := p.filters()
	d := response("DescribeSubnets").open("subnetSet")
	for _, sn := range all {
		if len(ids) > 0 && !slices.Contains(ids, sn.ID) {
			continue
		}
		def := strconv.FormatBool(sn.Default)
		keep := matches(fs, nil, map[string]string{"vpc-id": sn.VpcID, "vpcId": sn.VpcID, "availability-zone": sn.Zone,
			"availabilityZone": sn.Zone, "default-for-az": def, "defaultForAz": def, "subnet-id": sn.ID, "subnetId": sn.ID}, nil)
		if keep {
			d.open("item").el("subnetId", sn.ID).el("vpcId", sn.VpcID).el("availabilityZone", sn.Zone).el("state", "available").
				el("cidrBlock", sn.CIDR).el("defaultForAz", strconv.FormatBool(sn.Default)).el("mapPublicIpOnLaunch", strconv.FormatBool(sn.Default)).close()
		}
	}
	return d, nil
}

func (s *Server) createSecurityGroup(c caller, p params) (*xmlDoc, *apiError) {
	name, vpc, specs, e := s.checkCreateGroup(c, p, false)
	if e != nil {
		return nil, e
	}
	g := Group{ID: s.NewID("sg-"), Region: c.region, Name: name, Description: p.get("GroupDescription"), VpcID: vpc, Tags: specs["security-group"]}
	s.groups.Put(g.ID, g)
	d := response("CreateSecurityGroup").el("return", "true").el("groupId", g.ID)
	return d.tags(g.Tags), nil
}

// checkCreateGroup checks a CreateSecurityGroup's parameters, for the
// call and for its dry run alike: EC2 answers a dry run DryRunOperation
// only for a request that would have succeeded. A dry run is not refused
// for a group of the name that already exists: that is the state of the
// account, which this fake does not claim EC2's dry run checks, and a
// preflight after an earlier attempt would otherwise fail on it.
func (s *Server) checkCreateGroup(c caller, p params, dry bool) (name, vpc string, specs map[string]map[string]string, e *apiError) {
	name, vpc = p.get("GroupName"), p.get("VpcId")
	if vpc == "" {
		vpc = vpcID(c.region)
	}
	if !slices.Contains(s.vpcs(c.region), vpc) {
		return "", "", nil, errf(http.StatusBadRequest, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpc)
	}
	if strings.HasPrefix(name, "sg-") || len(name) > 255 {
		return "", "", nil, invalidValue("Invalid security group name %s", name)
	}
	// A VPC's group name and description take a-z, A-Z, 0-9, spaces and
	// ._-:/()#,@[]+=&;{}!$* only.
	for param, v := range map[string]string{"GroupName": name, "GroupDescription": p.get("GroupDescription")} {
		if i := strings.IndexFunc(v, func(r rune) bool { return !groupTextRune(r) }); i >= 0 {
			return "", "", nil, invalidValue("Value (%s) for parameter %s is invalid. Character %q is not allowed: use a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*",
				v, member(param), []rune(v[i:])[0])
		}
	}
	if !dry && len(s.groups.List(func(_ string, g Group) bool { return g.VpcID == vpc && g.Name == name })) > 0 {
		return "", "", nil, errf(http.StatusBadRequest, "InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vpc)
	}
	// The tag specifications were checked with the request (checkRequest).
	specs, e = p.tagSpecs()
	return name, vpc, specs, e
}

// groupTextRune says whether r may be in a VPC security group's name or
// description.
func groupTextRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" ._-:/()#,@[]+=&;{}!$*", r)
}

func (s *Server) findGroup(c caller, id, name string) (Group, *apiError) {
	for _, g := range s.groups.List(nil) {
		if g.Region == c.region && ((id != "" && g.ID == id) || (id == "" && name != "" && g.Name == name && g.VpcID == vpcID(c.region))) {
			return g, nil
		}
	}
	if id != "" {
		return Group{}, errf(http.StatusBadRequest, "InvalidGroup.NotFound", "The security group '%s' does not exist", id)
	}
	return Group{}, errf(http.StatusBadRequest, "InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", name, vpcID(c.region))
}

// writeGroup finds the group a write operation names. As in EC2, whose
// API is eventually consistent, a group created a moment ago may not be
// known to the operation yet (Kit.Known under SetConsistencyLag): the
// answer is then InvalidGroup.NotFound, as for a group that does not exist.
func (s *Server) writeGroup(c caller, op, id, name string) (Group, *apiError) {
	g, e := s.findGroup(c, id, name)
	if e != nil {
		return g, e
	}
	if !s.Known(op, g.ID) {
		if id == "" {
			id = name
		}
		return Group{}, errf(http.StatusBadRequest, "InvalidGroup.NotFound", "The security group '%s' does not exist", id)
	}
	return g, nil
}

func (s *Server) authorizeIngress(c caller, p params) (*xmlDoc, *apiError) {
	g, e := s.writeGroup(c, "AuthorizeSecurityGroupIngress", p.get("GroupId"), p.get("GroupName"))
	if e != nil {
		return nil, e
	}
	var rules []Rule
	for _, pre := range p.permissions() {
		proto, from, to := permissionPorts(p, pre)
		var cidrs []string
		for j := 1; p.get(fmt.Sprintf("%s.IpRanges.%d.CidrIp", pre, j)) != ""; j++ {
			cidrs = append(cidrs, p.get(fmt.Sprintf("%s.IpRanges.%d.CidrIp", pre, j)))
		}
		for j := 1; p.get(fmt.Sprintf("%s.Ipv6Ranges.%d.CidrIpv6", pre, j)) != ""; j++ {
			cidrs = append(cidrs, p.get(fmt.Sprintf("%s.Ipv6Ranges.%d.CidrIpv6", pre, j)))
		}
		for _, cidr := range cidrs {
			rules = append(rules, Rule{Protocol: proto, From: from, To: to, CIDR: cidr})
		}
	}
	if len(rules) == 0 {
		return nil, errf(http.StatusBadRequest, "MissingParameter", "No permissions were specified")
	}
	for _, r := range rules {
		if slices.Contains(g.Ingress, r) {
			return nil, errf(http.StatusBadRequest, "InvalidPermission.Duplicate", "the specified rule \"peer: %s, %s, from port: %d, to port: %d, ALLOW\" already exists", r.CIDR, strings.ToUpper(r.Protocol), r.From, r.To)
		}
	}
	s.groups.Update(g.ID, func(g *Group) { g.Ingress = append(g.Ingress, rules...) })
	d := response("AuthorizeSecurityGroupIngress").el("return", "true").open("securityGroupRuleSet")
	for _, r := range rules {
		d.open("item").el("securityGroupRuleId", s.NewID("sgr-")).el("groupId", g.ID).el("isEgress", "false").
			el("ipProtocol", r.Protocol).el("fromPort", strconv.Itoa(r.From)).el("toPort", strconv.Itoa(r.To)).el("cidrIpv4", r.CIDR).close()
	}
	return d, nil
}

func (s *Server) describeGroups(c caller, p params) (*xmlDoc, *apiError) {
	ids, names := p.list("GroupId"), p.list("GroupName")
	for _, id := range ids {
		if _, e := s.findGroup(c, id, ""); e != nil {
			return nil, e
		}
		if !s.Visible(id) {
			return nil, errf(http.StatusBadRequest, "InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
	}
	for _, n := range names {
		if _, e := s.findGroup(c, "", n); e != nil {
			return nil, e
		}
	}
	fs := p.filters()
	window, next, e := pageOf(s, p, s.groups.List(func(_ string, g Group) bool { return g.Region == c.region }),
		func(g Group) string { return g.ID }, paging{max: 1000})
	if e != nil {
		return nil, e
	}
	var out []Group
	for _, g := range window {
		if (len(ids) > 0 && !slices.Contains(ids, g.ID)) || (len(names) > 0 && !slices.Contains(names, g.Name)) {
			continue
		}
		keep := matches(fs, g.Tags, map[string]string{"group-name": g.Name, "group-id": g.ID, "vpc-id": g.VpcID}, nil)
		if keep && (len(ids) > 0 || s.Visible(g.ID)) {
			out = append(out, g)
		}
	}
	d := response("DescribeSecurityGroups").open("securityGroupInfo")
	for _, g := range out {
		d.open("item").el("ownerId", s.cfg.Account).el("groupId", g.ID).el("groupName", g.Name).el("groupDescription", g.Description).el("vpcId", g.VpcID)
		d.open("ipPermissions")
		for _, r := range g.Ingress {
			d.open("item").el("ipProtocol", r.Protocol).el("fromPort", strconv.Itoa(r.From)).el("toPort", strconv.Itoa(r.To))
			if strings.Contains(r.CIDR, ":") {
				d.open("ipv6Ranges").open("item").el("cidrIpv6", r.CIDR).close().close()
			} else {
				d.open("ipRanges").open("item").el("cidrIp", r.CIDR).close().close()
			}
			d.close()
		}
		d.close().tags(g.Tags).close()
	}
	return withNextToken(d, next), nil
}

func (s *Server) deleteGroup(c caller, p params) (*xmlDoc, *apiError) {
	g, e := s.writeGroup(c, "DeleteSecurityGroup", p.get("GroupId"), p.get("GroupName"))
	if e != nil {
		return nil, e
	}
	users := s.instances.List(func(_ string, in Instance) bool {
		return in.State != "terminated" && slices.Contains(in.Groups, g.ID)
	})
	holders := s.ifaces.List(func(_ string, n NetworkInterface) bool { return slices.Contains(n.Groups, g.ID) })
	if len(users) > 0 || len(holders) > 0 {
		return nil, errf(http.StatusBadRequest, "DependencyViolation", "resource %s has a dependent object", g.ID)
	}
	s.groups.Delete(g.ID)
	return response("DeleteSecurityGroup").el("return", "true").el("groupId", g.ID), nil
}

func (s *Server) runInstances(c caller, p params) (*xmlDoc, *apiError) {
	if p.get("MinCount") != "1" || p.get("MaxCount") != "1" {
		return nil, invalidValue("the fake launches exactly one instance (MinCount=MaxCount=1)")
	}
	typ := p.get("InstanceType")
	if typ == "" {
		typ = "m1.small"
	}
	if !slices.Contains(s.cfg.Types, typ) {
		return nil, invalidValue("Invalid value '%s' for InstanceType.", typ)
	}
	image := p.get("ImageId")
	if image == "" {
		return nil, errf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter ImageId")
	}
	img, ok := s.images.Get(image)
	if !ok {
		return nil, errf(http.StatusBadRequest, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", image)
	}
	if arch := TypeArch(typ); arch != img.Arch {
		// As EC2 refuses it, after the security group already exists.
		return nil, invalidValue("The architecture '%s' of the specified instance type does not match the architecture '%s' of the specified AMI. "+
			"Specify an instance type and an AMI that have matching architectures, and try again. "+
			"You can use 'describe-instance-types' or 'describe-images' to discover the architecture of the instance type or AMI.", arch, img.Arch)
	}
	zone := p.get("Placement.AvailabilityZone")
	subnet := p.get("SubnetId")
	groups := p.list("SecurityGroupId")
	if p.get("NetworkInterface.1.DeviceIndex") != "" || p.get("NetworkInterface.1.SubnetId") != "" {
		if subnet != "" || len(groups) > 0 {
			return nil, errf(http.StatusBadRequest, "InvalidParameterCombination", "Network interfaces and an instance-level subnet ID or security groups may not be specified on the same request")
		}
		if p.get("NetworkInterface.1.DeviceIndex") != "0" {
			return nil, invalidValue("The primary network interface must have DeviceIndex 0")
		}
		subnet, groups = p.get("NetworkInterface.1.SubnetId"), p.list("NetworkInterface.1.SecurityGroupId")
	}
	vpc := vpcID(c.region)
	if subnet != "" {
		i := slices.IndexFunc(s.subnets(c.region), func(sn Subnet) bool { return sn.ID == subnet })
		if i < 0 {
			return nil, errf(http.StatusBadRequest, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", subnet)
		}
		sn := s.subnets(c.region)[i]
		if zone != "" && zone != sn.Zone {
			return nil, invalidValue("Value (%s) for parameter availabilityZone is invalid. Subnet '%s' is in the availability zone %s", zone, subnet, sn.Zone)
		}
		zone, vpc = sn.Zone, sn.VpcID
	}
	if zone == "" {
		zone = s.zones(c.region)[0]
	}
	if !slices.Contains(s.zones(c.region), zone) {
		return nil, invalidValue("Invalid availability zone: [%s]", zone)
	}
	if subnet == "" {
		subnet = subnetID(zone)
	}
	nested := p.get("CpuOptions.NestedVirtualization")
	if nested == "enabled" && !nestedCapable(typ) {
		return nil, errf(http.StatusBadRequest, "InvalidParameterCombination", "Nested virtualization is not supported for instance type %s", typ)
	}
	shutdown := p.get("InstanceInitiatedShutdownBehavior")
	var userData []byte
	if ud := p.get("UserData"); ud != "" {
		b, err := base64.StdEncoding.DecodeString(ud)
		if err != nil {
			return nil, invalidValue("Invalid BASE64 encoding of user data.")
		}
		// EC2 limits the user data itself, not its base64 (4/3 larger).
		if len(b) > 16*1024 {
			return nil, invalidValue("User data is limited to 16384 bytes")
		}
		userData = b
	}
	for _, g := range groups {
		grp, e := s.writeGroup(c, "RunInstances", g, "")
		if e != nil {
			return nil, e
		}
		if grp.VpcID != vpc {
			return nil, invalidValue("Security group %s and subnet %s belong to different networks.", g, subnet)
		}
	}
	dry := p.get("DryRun") == "true" && !s.ignoresDryRun("RunInstances")
	if len(groups) == 0 {
		// As EC2 does, a launch that names no group gets the VPC's
		// default group (and a dry run is checked against it).
		groups = []string{defaultGroupID(vpc)}
	}
	market := p.get("InstanceMarketOptions.MarketType")
	if e := checkSpotOptions(p); e != nil {
		return nil, e
	}
	size, volType, deleteOnTerm := 8, "gp2", true
	for i := 1; p.get("BlockDeviceMapping."+strconv.Itoa(i)+".DeviceName") != ""; i++ {
		pre := "BlockDeviceMapping." + strconv.Itoa(i) + ".Ebs."
		if v := p.get(pre + "VolumeType"); v != "" {
			volType = v
		}
		if v := p.get(pre + "VolumeSize"); v != "" {
			// gp2 and gp3 volumes hold up to 16 TiB (io2 Block Express
			// more, which the kind allows).
			size, _ = strconv.Atoi(v)
			if size > 16384 && (volType == "gp2" || volType == "gp3") {
				return nil, invalidValue("Volume of size %s is invalid for volume type %s", v, volType)
			}
		}
		if p.get(pre+"DeleteOnTermination") == "false" {
			deleteOnTerm = false
		}
	}
	specs, e := p.tagSpecs()
	if e != nil {
		return nil, e
	}

	if dry {
		// EC2 checks a dry run's parameters and the zone's offering, not
		// capacity or the client token.
		if !s.offers(c.region, zone, typ) {
			return nil, unsupported(s, c.region, zone, typ)
		}
		s.mu.Lock()
		s.dryLaunches = append(s.dryLaunches, p.flat())
		s.mu.Unlock()
		return nil, dryRunOK()
	}
	token := p.get("ClientToken")
	if token != "" {
		s.mu.Lock()
		prev, seen := s.tokens[token]
		s.mu.Unlock()
		if seen {
			in, _ := s.instances.Get(prev)
			if !sameLaunch(in.Request, p.flat()) {
				return nil, errf(http.StatusBadRequest, "IdempotentParameterMismatch", "The client token you have provided is associated with a resource that is already deleted or has different parameters")
			}
			return s.reservation(in), nil
		}
	}
	if !s.offers(c.region, zone, typ) {
		return nil, unsupported(s, c.region, zone, typ)
	}
	if !s.HasCapacity(zone, typ, marketName(market)) {
		if market == "spot" {
			return nil, errf(http.StatusServiceUnavailable, "InsufficientInstanceCapacity", "There is no Spot capacity available that matches your request.")
		}
		return nil, errf(http.StatusServiceUnavailable, "InsufficientInstanceCapacity",
			"We currently do not have sufficient %s capacity in the Availability Zone you requested (%s). Our system will be working on provisioning additional capacity.", typ, zone)
	}

	in := Instance{
		ID: s.NewID("i-"), Region: c.region, Zone: zone, Type: typ, ImageID: image, SubnetID: subnet, VpcID: vpc,
		ReservationID: s.NewID("r-"), State: "pending", PrivateIP: fmt.Sprintf("172.31.%d.%d", len(s.instances.List(nil))/250, 10+len(s.instances.List(nil))%240),
		Tags: maps.Clone(specs["instance"]), Groups: groups, ClientToken: token, UserData: userData, Spot: market == "spot",
		ShutdownBehavior: shutdown, Nested: nested, LaunchTime: time.Now().UTC(), Request: p.flat(),
		Console: []string{fmt.Sprintf("fake-ec2: launching %s in %s from %s", typ, zone, image)},
	}
	if in.Tags == nil {
		in.Tags = map[string]string{}
	}
	vol := Volume{ID: s.NewID("vol-"), Region: c.region, Zone: zone, Type: volType, SizeGB: size, Tags: maps.Clone(specs["volume"]),
		InstanceID: in.ID, State: "in-use", DeleteOnTermination: deleteOnTerm}
	in.VolumeID = vol.ID
	s.mu.Lock()
	keep := s.keepENIs
	s.mu.Unlock()
	eni := NetworkInterface{ID: s.NewID("eni-"), Region: c.region, Zone: zone, SubnetID: subnet, VpcID: vpc,
		Tags: maps.Clone(specs["network-interface"]), InstanceID: in.ID, Status: "in-use", Groups: slices.Clone(in.Groups),
		DeleteOnTermination: p.get("NetworkInterface.1.DeleteOnTermination") != "false" && !keep}
	in.InterfaceID = eni.ID
	var spot SpotRequest
	if in.Spot {
		spot = SpotRequest{ID: s.NewID("sir-"), Region: c.region, InstanceID: in.ID, Tags: maps.Clone(specs["spot-instances-request"]), State: "active"}
		in.SpotRequestID = spot.ID
	}
	s.instances.Put(in.ID, in)
	s.volumes.Put(vol.ID, vol)
	s.ifaces.Put(eni.ID, eni)
	if in.Spot {
		s.spots.Put(spot.ID, spot)
	}
	if token != "" {
		s.mu.Lock()
		s.tokens[token] = in.ID
		s.mu.Unlock()
	}
	if reason, ok := s.nextEnd(); ok {
		// Answered pending, as EC2 does, then ended before it ran.
		d := s.reservation(in)
		s.instances.Update(in.ID, func(x *Instance) {
			x.StateReason = reason
			x.Console = append(x.Console, "fake-ec2: launch ended before running: "+reason.Code)
		})
		s.terminated(in.ID)
		return d, nil
	}
	s.Boot(in.ID, userData, func(m fakecloud.Machine) {
		// m is behind the kit's front: its address is the instance's
		// public one, which lets through only what its security groups
		// allow (reach.go). Were the instance terminated meanwhile, its
		// termination's Halt closes the front.
		s.instances.Update(in.ID, func(x *Instance) {
			if x.State == "pending" {
				x.State, x.PublicIP, x.SSHPort = "running", m.Addr(), m.Port()
				x.Console = append(x.Console, fmt.Sprintf("fake-ec2: booted; sshd listening on %s:%d, the public address", m.Addr(), m.Port()))
			}
		})
	}, func(err error) {
		s.launchFailed(in.ID, "fake-ec2: boot failed: "+err.Error())
	})
	return s.reservation(in), nil
}

// launchFailed ends a pending instance whose boot failed as EC2 ends one
// it could not start: shutting down with Server.InternalError, then
// terminated with its volume, interface and spot request gone the way a
// termination takes them, and its host (if one booted) stopped. It runs
// in the kit's running or failed callback, under the kit's lock, which
// Halt takes: so the termination goes on in a goroutine of its own.
func (s *Server) launchFailed(id, console string) {
	ended := false
	s.instances.Update(id, func(x *Instance) {
		if x.State == "pending" {
			ended = true
			x.State = "shutting-down"
			x.StateReason = StateReason{Code: "Server.InternalError", Message: "Server.InternalError: Internal error on launch"}
			x.Console = append(x.Console, console)
		}
	})
	if ended {
		go s.finishTermination(id)
	}
}

// unsupported is EC2's answer to a launch in a zone that does not offer the type.
func unsupported(s *Server, region, zone, typ string) *apiError {
	var others []string
	for _, z := range s.zones(region) {
		if z != zone && s.offers(region, z, typ) {
			others = append(others, z)
		}
	}
	return errf(http.StatusBadRequest, "Unsupported", "Your requested instance type (%s) is not supported in your requested Availability Zone (%s). "+
		"Please retry your request by not specifying an Availability Zone or choosing %s.", typ, zone, strings.Join(others, ", "))
}

// dryRunOK is EC2's answer to a DryRun call that would have succeeded.
func dryRunOK() *apiError {
	return errf(http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
}

// IgnoreDryRun makes the endpoint ignore DryRun for action, as a broken
// or partial implementation of the API might: the call is really made.
func (s *Server) IgnoreDryRun(action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ignoreDryRun == nil {
		s.ignoreDryRun = map[string]bool{}
	}
	s.ignoreDryRun[action] = true
}

func (s *Server) ignoresDryRun(action string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ignoreDryRun[action]
}

// DryLaunches returns the forms of the RunInstances dry runs whose
// parameters passed, oldest first, for tests to compare with the launch
// (Instance.Request).
func (s *Server) DryLaunches() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dryLaunches)
}

// checkSpotOptions refuses the spot options EC2 refuses together (each
// value was checked with the request): a one-time request (RunInstances'
// default) that would stop or hibernate on interruption, since a one-time
// request cannot start it again.
func checkSpotOptions(p params) *apiError {
	typ := p.get("InstanceMarketOptions.SpotOptions.SpotInstanceType")
	behavior := p.get("InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior")
	if typ != "persistent" && (behavior == "stop" || behavior == "hibernate") {
		return errf(http.StatusBadRequest, "InvalidParameterCombination",
			"The instance interruption behavior %s is not supported for a one-time Spot Instance request: use terminate, or a persistent request", behavior)
	}
	return nil
}

// EndLaunches makes the next n launches end before they run: RunInstances
// answers pending, as EC2 does, and from then on the instance reads as
// terminated with the state reason code and message given, as a launch
// EC2 accepted but then could not place does
// (Server.InsufficientInstanceCapacity). Its volume and interface go with it.
func (s *Server) EndLaunches(n int, code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.endLaunches = append(s.endLaunches, StateReason{Code: code, Message: message})
	}
}

func (s *Server) nextEnd() (StateReason, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.endLaunches) == 0 {
		return StateReason{}, false
	}
	r := s.endLaunches[0]
	s.endLaunches = s.endLaunches[1:]
	return r, true
}

// nestedCapable reports whether EC2 offers nested virtualization on typ:
// the C8i, M8i and R8i families, their flex variants (c8i-flex.large…)
// included.
func nestedCapable(typ string) bool {
	family, _, _ := strings.Cut(typ, ".")
	family = strings.TrimSuffix(family, "-flex")
	return family == "c8i" || family == "m8i" || family == "r8i"
}

func marketName(m string) string {
	if m == "" {
		return "on-demand"
	}
	return m
}

// sameLaunch compares two RunInstances requests the way ClientToken
// idempotency does: same parameters, ignoring the signature noise.
func sameLaunch(a, b map[string]string) bool {
	return maps.Equal(a, b)
}

func (s *Server) reservation(in Instance) *xmlDoc {
	d := response("RunInstances").el("reservationId", in.ReservationID).el("ownerId", s.cfg.Account).open("groupSet").close()
	d.open("instancesSet")
	s.writeInstance(d, in)
	return d.close()
}

func (s *Server) writeInstance(d *xmlDoc, in Instance) {
	d.open("item").el("instanceId", in.ID).el("imageId", in.ImageID)
	d.open("instanceState").el("code", strconv.Itoa(stateCode(in.State))).el("name", in.State).close()
	if in.StateReason.Code != "" {
		d.open("stateReason").el("code", in.StateReason.Code).el("message", in.StateReason.Message).close()
	}
	d.el("privateDnsName", "ip-"+strings.ReplaceAll(in.PrivateIP, ".", "-")+".ec2.internal").el("dnsName", "")
	d.el("instanceType", in.Type).el("launchTime", in.LaunchTime.Format(time.RFC3339))
	d.open("placement").el("availabilityZone", in.Zone).el("tenancy", "default").close()
	d.el("subnetId", in.SubnetID).el("vpcId", in.VpcID).el("privateIpAddress", in.PrivateIP)
	if in.PublicIP != "" {
		d.el("ipAddress", in.PublicIP)
	}
	img, _ := s.images.Get(in.ImageID)
	d.el("clientToken", in.ClientToken).el("architecture", img.Arch).el("rootDeviceType", "ebs").el("rootDeviceName", "/dev/sda1")
	if in.Spot {
		d.el("instanceLifecycle", "spot").el("spotInstanceRequestId", in.SpotRequestID)
	}
	d.open("groupSet")
	for _, g := range in.Groups {
		d.open("item").el("groupId", g).close()
	}
	d.close()
	// As EC2 does, the instance names its primary network interface from
	// RunInstances' answer on, while it is attached.
	d.open("networkInterfaceSet")
	if n, ok := s.ifaces.Get(in.InterfaceID); ok && n.InstanceID == in.ID {
		d.open("item").el("networkInterfaceId", n.ID).el("subnetId", n.SubnetID).el("vpcId", n.VpcID).
			el("ownerId", s.cfg.Account).el("status", n.Status).el("privateIpAddress", in.PrivateIP).el("interfaceType", "interface")
		d.open("attachment").el("attachmentId", "eni-attach-"+strings.TrimPrefix(n.ID, "eni-")).el("deviceIndex", "0").
			el("status", "attached").el("deleteOnTermination", strconv.FormatBool(n.DeleteOnTermination)).close()
		d.open("groupSet")
		for _, g := range n.Groups {
			d.open("item").el("groupId", g).close()
		}
		d.close().close()
	}
	d.close()
	// As EC2 does, a pending instance (RunInstances' answer included)
	// names no block device yet: the root volume shows once it runs.
	d.open("blockDeviceMapping")
	if in.State != "pending" && in.VolumeID != "" {
		d.open("item").el("deviceName", "/dev/sda1").open("ebs").el("volumeId", in.VolumeID).
			el("status", "attached").el("deleteOnTermination", "true").close().close()
	}
	d.close()
	if in.Nested != "" {
		d.open("cpuOptions").el("nestedVirtualization", in.Nested).close()
	}
	d.tags(in.Tags).close()
}

func (s *Server) describeInstances(c caller, p params) (*xmlDoc, *apiError) {
	ids := p.list("InstanceId")
	rules := paging{max: 1000, notWithIDs: len(ids) > 0}
	if _, e := maxResults(p, rules); e != nil {
		return nil, e
	}
	for _, id := range ids {
		in, ok := s.instances.Get(id)
		if !ok || in.Region != c.region || !s.Visible(id) {
			return nil, errf(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
	}
	fs := p.filters()
	window, next, e := pageOf(s, p, s.instances.List(func(_ string, in Instance) bool { return in.Region == c.region }),
		func(in Instance) string { return in.ID }, rules)
	if e != nil {
		return nil, e
	}
	var out []Instance
	for _, in := range window {
		if len(ids) > 0 && !slices.Contains(ids, in.ID) {
			continue
		}
		if in.State == "shutting-down" && in.halted && s.TerminationDone(in.ID) {
			s.terminated(in.ID)
			in, _ = s.instances.Get(in.ID)
		}
		keep := matches(fs, in.Tags, map[string]string{
			"instance-state-name": in.State, "instance-state-code": strconv.Itoa(stateCode(in.State)), "instance-id": in.ID,
			"client-token": in.ClientToken, "availability-zone": in.Zone, "image-id": in.ImageID, "instance-type": in.Type,
			"instance-lifecycle": map[bool]string{true: "spot"}[in.Spot], "ip-address": in.PublicIP, "private-ip-address": in.PrivateIP,
			"reservation-id": in.ReservationID, "spot-instance-request-id": in.SpotRequestID, "state-reason-code": in.StateReason.Code,
			"state-reason-message": in.StateReason.Message, "subnet-id": in.SubnetID, "vpc-id": in.VpcID,
		}, map[string][]string{"instance.group-id": in.Groups})
		if keep && (len(ids) > 0 || s.Visible(in.ID)) {
			if in.State == "running" && !s.AddressShown(in.ID) {
				in.PublicIP = "" // assigned, but not shown yet
			}
			out = append(out, in)
		}
	}
	d := response("DescribeInstances").open("reservationSet")
	for _, in := range out {
		d.open("item").el("reservationId", in.ReservationID).el("ownerId", s.cfg.Account).open("groupSet").close().open("instancesSet")
		s.writeInstance(d, in)
		d.close().close()
	}
	return withNextToken(d, next), nil
}

func (s *Server) terminateInstances(c caller, p params) (*xmlDoc, *apiError) {
	ids := p.list("InstanceId")
	// One id EC2 does not know fails the whole call. That includes an
	// instance launched a moment ago that this call does not know yet
	// (Kit.Known under SetConsistencyLag), as EC2's eventually consistent
	// API may answer right after RunInstances. Every id named is counted.
	var unknown []string
	for _, id := range ids {
		if in, ok := s.instances.Get(id); !ok || in.Region != c.region || !s.Known("TerminateInstances", id) {
			unknown = append(unknown, id)
		}
	}
	switch {
	case len(unknown) == 1:
		return nil, errf(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", unknown[0])
	case len(unknown) > 1:
		return nil, errf(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(unknown, ", "))
	}
	d := response("TerminateInstances").open("instancesSet")
	for _, id := range ids {
		var prev, cur string
		s.instances.Update(id, func(in *Instance) {
			prev = in.State
			if in.State != "terminated" {
				in.State = "shutting-down"
			}
			cur = in.State
		})
		if prev != "terminated" && prev != "shutting-down" {
			go s.finishTermination(id)
		}
		d.open("item").el("instanceId", id).
			open("currentState").el("code", strconv.Itoa(stateCode(cur))).el("name", cur).close().
			open("previousState").el("code", strconv.Itoa(stateCode(prev))).el("name", prev).close().close()
	}
	return d, nil
}

// finishTermination stops the instance's host, then marks it terminated
// and deletes its root volume, as EC2 does a little after TerminateInstances.
// With a termination delay, describes see it shutting down a while longer.
func (s *Server) finishTermination(id string) {
	ctx, cancel := contextWithTimeout(30 * time.Second)
	defer cancel()
	if err := s.Halt(ctx, id); err != nil {
		s.cfg.Logger.Warn("fake: halt instance", "id", id, "err", err)
	}
	s.instances.Update(id, func(in *Instance) { in.halted = true })
	if s.TerminationDone(id) {
		s.terminated(id)
	}
}

// terminated is the end of an instance: its network interface and root
// volume deleted (or detached when kept), its address closed, then state
// terminated with no address. In that order: a caller that sees the
// instance terminated may delete its group at once, and must meet neither
// the interface still there nor its address still answering.
func (s *Server) terminated(id string) {
	in, ok := s.instances.Get(id)
	if !ok {
		return
	}
	vol, eni, spot := in.VolumeID, in.InterfaceID, in.SpotRequestID
	// A one-time request is done once its instance is: EC2 closes it.
	s.spots.Update(spot, func(r *SpotRequest) { r.State = "closed" })
	if n, ok := s.ifaces.Get(eni); ok && n.DeleteOnTermination {
		s.ifaces.Delete(eni)
	} else if ok {
		s.ifaces.Update(eni, func(n *NetworkInterface) { n.Status, n.InstanceID = "available", "" })
	}
	if v, ok := s.volumes.Get(vol); ok && v.DeleteOnTermination {
		s.volumes.Delete(vol)
	} else if ok {
		s.volumes.Update(vol, func(v *Volume) { v.State, v.InstanceID = "available", "" })
	}
	s.CloseFront(id)
	s.instances.Update(id, func(in *Instance) { in.State, in.PublicIP = "terminated", "" })
}

// HideVolumesWhilePending keeps the root volume of a pending instance out
// of DescribeVolumes until the instance runs: EC2 creates it as the
// instance starts, and it may not be listed (or name its instance) before
// then. Teardown must then find a pending instance by its own tags.
func (s *Server) HideVolumesWhilePending() {
	s.mu.Lock()
	s.hidePendingVolumes = true
	s.mu.Unlock()
}

// volumeShown says whether DescribeVolumes may show v yet.
func (s *Server) volumeShown(v Volume) bool {
	s.mu.Lock()
	hide := s.hidePendingVolumes
	s.mu.Unlock()
	if !hide || v.InstanceID == "" {
		return true
	}
	in, ok := s.instances.Get(v.InstanceID)
	return !ok || in.State != "pending"
}

func (s *Server) describeVolumes(c caller, p params) (*xmlDoc, *apiError) {
	ids := p.list("VolumeId")
	for _, id := range ids {
		if v, ok := s.volumes.Get(id); !ok || v.Region != c.region || !s.volumeShown(v) || !s.Visible(id) {
			return nil, errf(http.StatusBadRequest, "InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
		}
	}
	fs := p.filters()
	// EC2 returns at most 500 volumes a page, whatever MaxResults says.
	window, next, e := pageOf(s, p, s.volumes.List(func(_ string, v Volume) bool { return v.Region == c.region }),
		func(v Volume) string { return v.ID }, paging{max: 500, clamp: true})
	if e != nil {
		return nil, e
	}
	d := response("DescribeVolumes").open("volumeSet")
	for _, v := range window {
		if len(ids) > 0 && !slices.Contains(ids, v.ID) {
			continue
		}
		attached := map[bool]string{true: "attached"}[v.InstanceID != ""]
		device := map[bool]string{true: "/dev/sda1"}[v.InstanceID != ""]
		if !matches(fs, v.Tags, map[string]string{"status": v.State, "attachment.instance-id": v.InstanceID,
			"attachment.status": attached, "attachment.device": device, "attachment.delete-on-termination": strconv.FormatBool(v.DeleteOnTermination),
			"availability-zone": v.Zone, "size": strconv.Itoa(v.SizeGB), "volume-id": v.ID, "volume-type": v.Type}, nil) || !s.volumeShown(v) {
			continue
		}
		if len(ids) == 0 && !s.Visible(v.ID) {
			continue
		}
		d.open("item").el("volumeId", v.ID).el("size", strconv.Itoa(v.SizeGB)).el("availabilityZone", v.Zone).
			el("status", v.State).el("createTime", time.Now().UTC().Format(time.RFC3339)).el("volumeType", v.Type)
		d.open("attachmentSet")
		if v.InstanceID != "" {
			d.open("item").el("volumeId", v.ID).el("instanceId", v.InstanceID).el("device", "/dev/sda1").el("status", "attached").
				el("deleteOnTermination", strconv.FormatBool(v.DeleteOnTermination)).close()
		}
		d.close().tags(v.Tags).close()
	}
	return withNextToken(d, next), nil
}

func (s *Server) deleteVolume(c caller, p params) (*xmlDoc, *apiError) {
	id := p.get("VolumeId")
	v, ok := s.volumes.Get(id)
	if !ok || v.Region != c.region {
		return nil, errf(http.StatusBadRequest, "InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
	}
	if v.State == "in-use" {
		return nil, errf(http.StatusBadRequest, "VolumeInUse", "Volume %s is currently attached to %s", id, v.InstanceID)
	}
	s.volumes.Delete(id)
	return response("DeleteVolume").el("return", "true"), nil
}

func (s *Server) deleteInterface(c caller, p params) (*xmlDoc, *apiError) {
	id := p.get("NetworkInterfaceId")
	n, ok := s.ifaces.Get(id)
	if !ok || n.Region != c.region {
		return nil, errf(http.StatusBadRequest, "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
	}
	if n.Status == "in-use" {
		return nil, errf(http.StatusBadRequest, "InvalidNetworkInterface.InUse", "The network interface %s is currently in use.", id)
	}
	s.ifaces.Delete(id)
	return response("DeleteNetworkInterface").el("return", "true"), nil
}

func (s *Server) describeInterfaces(c caller, p params) (*xmlDoc, *apiError) {
	ids := p.list("NetworkInterfaceId")
	rules := paging{max: 1000, notWithIDs: len(ids) > 0}
	if _, e := maxResults(p, rules); e != nil {
		return nil, e
	}
	for _, id := range ids {
		if n, ok := s.ifaces.Get(id); !ok || n.Region != c.region || !s.Visible(id) {
			return nil, errf(http.StatusBadRequest, "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
		}
	}
	fs := p.filters()
	window, next, e := pageOf(s, p, s.ifaces.List(func(_ string, n NetworkInterface) bool { return n.Region == c.region }),
		func(n NetworkInterface) string { return n.ID }, rules)
	if e != nil {
		return nil, e
	}
	d := response("DescribeNetworkInterfaces").open("networkInterfaceSet")
	for _, n := range window {
		if len(ids) > 0 && !slices.Contains(ids, n.ID) {
			continue
		}
		attached := map[bool]string{true: "attached"}[n.InstanceID != ""]
		index := map[bool]string{true: "0"}[n.InstanceID != ""]
		if !matches(fs, n.Tags, map[string]string{"status": n.Status, "attachment.instance-id": n.InstanceID,
			"attachment.status": attached, "attachment.device-index": index, "attachment.delete-on-termination": strconv.FormatBool(n.DeleteOnTermination),
			"availability-zone": n.Zone, "interface-type": "interface", "network-interface-id": n.ID, "owner-id": s.cfg.Account,
			"subnet-id": n.SubnetID, "vpc-id": n.VpcID}, map[string][]string{"group-id": n.Groups}) {
			continue
		}
		if len(ids) == 0 && !s.Visible(n.ID) {
			continue
		}
		d.open("item").el("networkInterfaceId", n.ID).el("subnetId", n.SubnetID).el("vpcId", n.VpcID).
			el("availabilityZone", n.Zone).el("status", n.Status).el("interfaceType", "interface")
		if n.InstanceID != "" {
			d.open("attachment").el("instanceId", n.InstanceID).el("deviceIndex", "0").el("status", "attached").
				el("deleteOnTermination", strconv.FormatBool(n.DeleteOnTermination)).close()
		}
		d.tags(n.Tags).close()
	}
	return withNextToken(d, next), nil
}

// AddConsole appends a line to an instance's console output, as its
// kernel or cloud-init would print one.
func (s *Server) AddConsole(id, line string) {
	s.instances.Update(id, func(in *Instance) { in.Console = append(in.Console, line) })
}

func (s *Server) consoleOutput(c caller, p params) (*xmlDoc, *apiError) {
	id := p.get("InstanceId")
	in, ok := s.instances.Get(id)
	if !ok || in.Region != c.region || !s.Visible(id) {
		return nil, errf(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}
	if l := p.get("Latest"); l != "" && l != "true" && l != "false" {
		return nil, invalidValue("Invalid value '%s' for Latest", l)
	}
	text := ""
	if len(in.Console) > 0 {
		text = strings.Join(in.Console, "\n") + "\n"
	}
	return response("GetConsoleOutput").el("instanceId", id).el("timestamp", time.Now().UTC().Format(time.RFC3339)).
		el("output", base64.StdEncoding.EncodeToString([]byte(text))), nil
}

// KeepInterfaces makes the network interfaces of later launches stay,
// detached, when their instance terminates, as one whose
// DeleteOnTermination was turned off would.
func (s *Server) KeepInterfaces() {
	s.mu.Lock()
	s.keepENIs = true
	s.mu.Unlock()
}

// Interfaces returns every network interface.
func (s *Server) Interfaces() []NetworkInterface { return s.ifaces.List(nil) }

// Instances returns every instance the fake knows, terminated ones included.
func (s *Server) Instances() []Instance { return s.instances.List(nil) }

// Groups returns every security group.
func (s *Server) Groups() []Group { return s.groups.List(nil) }

// Volumes returns every volume.
func (s *Server) Volumes() []Volume { return s.volumes.List(nil) }

// SpotRequests returns every spot instance request, closed ones included.
func (s *Server) SpotRequests() []SpotRequest { return s.spots.List(nil) }

// Resource is one resource the fake still holds, for tests to name what
// a teardown left.
type Resource struct {
	Kind, ID, Region string
	Tags             map[string]string
}

func (r Resource) String() string { return r.Kind + " " + r.ID + " in " + r.Region }

// Tagged lists every resource that still exists and carries all the tags
// in want: instances not terminated, security groups, volumes, network
// interfaces and spot requests not closed. Empty after a clean teardown of
// the run whose tags want holds.
func (s *Server) Tagged(want map[string]string) []Resource {
	has := func(tags map[string]string) bool {
		for k, v := range want {
			if tags[k] != v {
				return false
			}
		}
		return true
	}
	var out []Resource
	for _, in := range s.instances.List(nil) {
		if in.State != "terminated" && has(in.Tags) {
			out = append(out, Resource{"instance", in.ID, in.Region, in.Tags})
		}
	}
	for _, g := range s.groups.List(nil) {
		if has(g.Tags) {
			out = append(out, Resource{"security-group", g.ID, g.Region, g.Tags})
		}
	}
	for _, v := range s.volumes.List(nil) {
		if has(v.Tags) {
			out = append(out, Resource{"volume", v.ID, v.Region, v.Tags})
		}
	}
	for _, n := range s.ifaces.List(nil) {
		if has(n.Tags) {
			out = append(out, Resource{"network-interface", n.ID, n.Region, n.Tags})
		}
	}
	for _, r := range s.spots.List(nil) {
		if r.State != "closed" && has(r.Tags) {
			out = append(out, Resource{"spot-instances-request", r.ID, r.Region, r.Tags})
		}
	}
	return out
}

// Live counts what still exists (or costs money): instances not
// terminated, groups and volumes. Zero after a clean teardown.
func (s *Server) Live() (instances, groups, volumes int) {
	instances = len(s.instances.List(func(_ string, in Instance) bool { return in.State != "terminated" }))
	return instances, len(s.groups.List(nil)), len(s.volumes.List(nil))
}

// Instance returns one instance by id.
func (s *Server) Instance(id string) (Instance, bool) { return s.instances.Get(id) }

// LimitPages makes a paginated describe (DescribeInstances,
// DescribeSecurityGroups, DescribeVolumes, DescribeNetworkInterfaces) read
// at most n items a page however large its MaxResults, as EC2 may return
// fewer items than asked for with a NextToken. So a test needs only a few
// resources to make an adapter follow NextToken. 0 lifts the limit.
func (s *Server) LimitPages(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageLimit = n
}

// paging is one describe's MaxResults rules.
type paging struct {
	// max is the largest MaxResults (the smallest is 5 everywhere).
	max int
	// clamp reads a larger MaxResults as max instead of refusing it.
	clamp bool
	// notWithIDs: the request named ids, which MaxResults cannot go with.
	notWithIDs bool
}

// pageOf returns one page of items (all of one kind in the caller's
// region) and the NextToken of the next page, "" after the last. As EC2
// does, a page reads up to MaxResults items in a fixed order from where
// NextToken says, and the caller filters only those: a page may hold fewer
// matches than MaxResults, or none, and still not be the last, so a caller
// must follow NextToken to the end. Without MaxResults the rest is one
// page, as EC2 answers an unpaginated request.
func pageOf[T any](s *Server, p params, items []T, idOf func(T) string, rules paging) ([]T, string, *apiError) {
	// Ids from NewID grow with creation, so id order is creation order
	// and a token stays good when items before it go.
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(idOf(a), idOf(b)) })
	if tok := p.get("NextToken"); tok != "" {
		after, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !strings.HasPrefix(string(after), pageTokenPrefix) {
			return nil, "", errf(http.StatusBadRequest, "InvalidPaginationToken", "The specified pagination token is not valid or is expired.")
		}
		last := strings.TrimPrefix(string(after), pageTokenPrefix)
		items = slices.DeleteFunc(items, func(v T) bool { return idOf(v) <= last })
	}
	n, e := maxResults(p, rules)
	if e != nil {
		return nil, "", e
	}
	if n == 0 {
		return items, "", nil
	}
	s.mu.Lock()
	if s.pageLimit > 0 {
		n = min(n, s.pageLimit)
	}
	s.mu.Unlock()
	if len(items) <= n {
		return items, "", nil
	}
	return items[:n], base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + idOf(items[n-1]))), nil
}

// maxResults checks the request's MaxResults against rules and returns
// the page size it asks for, 0 when it asks for none. The describes call it
// before they look up ids, as EC2 checks parameters first.
func maxResults(p params, rules paging) (int, *apiError) {
	raw := p.get("MaxResults")
	if raw == "" {
		return 0, nil
	}
	if rules.notWithIDs {
		return 0, errf(http.StatusBadRequest, "InvalidParameterCombination", "The parameter MaxResults cannot be used with the ids parameter in the same request")
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 5 || (n > rules.max && !rules.clamp) {
		return 0, invalidValue("Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and %d.", raw, rules.max)
	}
	return min(n, rules.max), nil
}

// pageTokenPrefix marks the fake's page tokens; the rest is the last id read.
const pageTokenPrefix = "fake-ec2-page/"

// withNextToken closes the item set open in d and adds the token of the
// next page, if there is one.
func withNextToken(d *xmlDoc, next string) *xmlDoc {
	d.close()
	if next != "" {
		d.el("nextToken", next)
	}
	return d
}
