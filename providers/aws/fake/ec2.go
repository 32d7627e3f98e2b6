package fake

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
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
	// VolumeID is the root volume, attached as RootDevice (the image's
	// root device name); ExtraVolumeIDs are the volumes the launch's
	// other block-device mappings made, in the order it named them.
	VolumeID       string
	RootDevice     string
	ExtraVolumeIDs []string
	InterfaceID    string
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
	// Device is the device name it is attached under while InstanceID is set.
	Device              string
	State               string // in-use, available, deleting
	DeleteOnTermination bool
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:17]
}

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
		if f.Acted != nil {
			f.Acted(fakecloud.Call{Op: op, Params: p.flat()})
		}
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

// dryRunOK is EC2's answer to a DryRun call that would have succeeded.
func dryRunOK() *apiError {
	return errf(http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
}
