package fake

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// Instances: launch (RunInstances), describe, terminate and console output.

func stateCode(state string) int {
	return map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}[state]
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
	root, extras, e := blockDevices(p, img)
	if e != nil {
		return nil, e
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
	vols := make([]Volume, 0, 1+len(extras))
	for _, d := range append([]disk{root}, extras...) {
		vols = append(vols, Volume{ID: s.NewID("vol-"), Region: c.region, Zone: zone, Type: d.volType, SizeGB: d.sizeGB,
			Tags: maps.Clone(specs["volume"]), InstanceID: in.ID, Device: d.device, State: "in-use", DeleteOnTermination: d.deleteOnTerm})
	}
	in.VolumeID, in.RootDevice = vols[0].ID, img.RootDevice
	for _, v := range vols[1:] {
		in.ExtraVolumeIDs = append(in.ExtraVolumeIDs, v.ID)
	}
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
	for _, v := range vols {
		s.volumes.Put(v.ID, v)
	}
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

// disk is one volume a launch makes: the root, or one more.
type disk struct {
	device, volType string
	sizeGB          int
	deleteOnTerm    bool
}

// blockDevices reads a launch's block-device mappings as EC2 does: the
// root volume is made from the image's snapshot, at its size and volume
// type, unless a mapping names the image's root device, which may change
// both (but not shrink it below the snapshot). A mapping under any other
// device name is an empty volume more, attached under that name, which
// needs a size. A volume goes with the instance unless its mapping says
// DeleteOnTermination=false.
func blockDevices(p params, img Image) (root disk, extras []disk, e *apiError) {
	root = disk{device: img.RootDevice, volType: img.VolumeType, sizeGB: img.SnapshotGB, deleteOnTerm: true}
	var sizeless []string
	for i := 1; p.get("BlockDeviceMapping."+strconv.Itoa(i)+".DeviceName") != ""; i++ {
		pre := "BlockDeviceMapping." + strconv.Itoa(i) + "."
		device := p.get(pre + "DeviceName")
		isRoot := img.RootDevice != "" && device == img.RootDevice
		d := disk{device: device, volType: "gp2", deleteOnTerm: true}
		if isRoot {
			d = root
		}
		if v := p.get(pre + "Ebs.VolumeType"); v != "" {
			d.volType = v
		}
		if v := p.get(pre + "Ebs.VolumeSize"); v != "" {
			// Checked an integer by its kind (types.go).
			d.sizeGB, _ = strconv.Atoi(v)
			// gp2 and gp3 volumes hold up to 16 TiB (io2 Block Express
			// more, which the kind allows).
			if d.sizeGB > 16384 && (d.volType == "gp2" || d.volType == "gp3") {
				return disk{}, nil, invalidValue("Volume of size %s is invalid for volume type %s", v, d.volType)
			}
		}
		if p.get(pre+"Ebs.DeleteOnTermination") == "false" {
			d.deleteOnTerm = false
		}
		switch {
		case isRoot && d.sizeGB < img.SnapshotGB:
			return disk{}, nil, errf(http.StatusBadRequest, "InvalidBlockDeviceMapping",
				"Volume of size %dGB is smaller than snapshot '%s', expect size >= %dGB", d.sizeGB, img.SnapshotID, img.SnapshotGB)
		case isRoot:
			root = d
		case d.sizeGB == 0:
			sizeless = append(sizeless, device)
		default:
			extras = append(extras, d)
		}
	}
	if len(sizeless) > 0 {
		return disk{}, nil, errf(http.StatusBadRequest, "InvalidBlockDeviceMapping",
			"Either snapshot ID or volume size must be provided for: %s", strings.Join(sizeless, ", "))
	}
	return root, extras, nil
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
	d.el("clientToken", in.ClientToken).el("architecture", img.Arch).el("rootDeviceType", "ebs").el("rootDeviceName", in.RootDevice)
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
	// names no block device yet: its volumes show once it runs, each
	// under the device name it is attached as.
	d.open("blockDeviceMapping")
	if in.State != "pending" {
		for _, id := range append([]string{in.VolumeID}, in.ExtraVolumeIDs...) {
			if v, ok := s.volumes.Get(id); ok && v.InstanceID == in.ID {
				d.open("item").el("deviceName", v.Device).open("ebs").el("volumeId", v.ID).
					el("status", "attached").el("deleteOnTermination", strconv.FormatBool(v.DeleteOnTermination)).close().close()
			}
		}
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
	eni, spot := in.InterfaceID, in.SpotRequestID
	// A one-time request is done once its instance is: EC2 closes it.
	s.spots.Update(spot, func(r *SpotRequest) { r.State = "closed" })
	if n, ok := s.ifaces.Get(eni); ok && n.DeleteOnTermination {
		s.ifaces.Delete(eni)
	} else if ok {
		s.ifaces.Update(eni, func(n *NetworkInterface) { n.Status, n.InstanceID = "available", "" })
	}
	for _, vol := range append([]string{in.VolumeID}, in.ExtraVolumeIDs...) {
		if v, ok := s.volumes.Get(vol); ok && v.DeleteOnTermination {
			s.volumes.Delete(vol)
		} else if ok {
			s.volumes.Update(vol, func(v *Volume) { v.State, v.InstanceID, v.Device = "available", "", "" })
		}
	}
	s.CloseFront(id)
	s.instances.Update(id, func(in *Instance) { in.State, in.PublicIP = "terminated", "" })
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
