package aws

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/waits"
	"github.com/tinylabscom/mvm-verify/providers"
)

// maxUserData is EC2's limit on user data before base64.
const maxUserData = 16 * 1024

// placement is one subnet (and so one zone) an instance may launch in.
type placement struct {
	subnet, zone, vpc string
}

// Create launches the leg's instance: a per-run security group, then, per
// placement until one has capacity, a RunInstances and a wait until the
// instance runs with a public IP. Every resource is recorded as soon as its
// id exists.
func (p *Provider) Create(ctx context.Context, req providers.Request, j providers.Journal) (*providers.Host, error) {
	j = providers.OrDiscard(j)
	c, err := p.candidate(req)
	if err != nil {
		return nil, err
	}
	if err := providers.CheckKVM(Name, c.Type, req.Lane, ""); err != nil {
		return nil, err
	}
	hk, err := hostKey(req)
	if err != nil {
		return nil, err
	}
	if len(req.UserData) > maxUserData {
		return nil, providers.Classified(providers.ClassInvalid, "", fmt.Errorf("user data is %d bytes: EC2 allows at most %d", len(req.UserData), maxUserData))
	}
	if err := checkSource(req.SSHSourceCIDR); err != nil {
		return nil, err
	}
	cl, err := p.clientsFor(ctx, c.Region)
	if err != nil {
		return nil, err
	}
	image, err := p.lookupImage(ctx, cl, c.Region, req.Image)
	if err != nil {
		return nil, err
	}
	if err := checkDiskFitsImage(req, image); err != nil {
		return nil, err
	}
	places, err := p.placements(ctx, cl, c)
	if err != nil {
		return nil, err
	}
	sg, err := p.ensureGroup(ctx, cl, req, places[0].vpc, c.Region, j)
	if err != nil {
		return nil, err
	}

	var inst ec2types.Instance
	var placed providers.Candidate
	for i, pl := range places {
		placed = c
		placed.Zone = pl.zone
		start := time.Now()
		inst, err = p.launch(ctx, cl, req, c, pl, image, sg, j)
		if err == nil {
			break
		}
		// Only a lack of capacity moves on to the next zone of the same
		// candidate, whether RunInstances said so or the instance ended
		// for it before it ran (and was terminated: see endedNotCleared);
		// anything else is the candidate loop's business.
		if providers.ClassOf(err) != providers.ClassCapacity || c.Zone != "" || i == len(places)-1 {
			return nil, providers.At(placed, err)
		}
		p.opts.Log().Info("no capacity in zone, trying the next", "zone", pl.zone, "type", c.Type)
		if req.Tried != nil {
			req.Tried(providers.FailedAttempt(placed, err, time.Since(start)))
		}
	}
	id := sdk.ToString(inst.InstanceId)
	kvm, _ := providers.KVMSupport(Name, c.Type)
	return &providers.Host{
		Address:      sdk.ToString(inst.PublicIpAddress),
		Port:         22,
		User:         req.User,
		HostKey:      hk,
		ID:           id,
		Type:         c.Type,
		Region:       c.Region,
		Zone:         zoneOf(inst),
		PricePerHour: kvm.PricePerHour,
		ReadyMarker:  req.ReadyMarker,
		CloudInit:    true,
	}, nil
}

// launch runs the instance in one placement and waits until it runs. An
// instance EC2 accepted and then ended for capacity is terminated (EC2
// ends it, but not always at once) before the capacity error is returned,
// so the next zone's launch is the only one left.
func (p *Provider) launch(ctx context.Context, cl *clients, req providers.Request, c providers.Candidate, pl placement,
	image ec2types.Image, sg string, j providers.Journal) (ec2types.Instance, error) {
	inst, err := p.run(ctx, cl, req, c, pl, image, sg, j)
	if err != nil {
		return inst, err
	}
	id := sdk.ToString(inst.InstanceId)
	// EC2 names no block device for a pending instance (RunInstances'
	// answer included): the root volume is journaled from the first
	// describe that shows it, and teardown finds it by tag meanwhile.
	volumeRecorded := p.recordVolume(inst, c.Region, req.Identity, j)
	p.opts.Log().Info("launched instance", "id", id, "type", c.Type, "market", c.Market, "zone", zoneOf(inst))
	inst, err = p.waitRunning(ctx, cl, id, req.Identity, c, j, volumeRecorded)
	// waitRunning's only capacity error is an instance that ended.
	if providers.ClassOf(err) != providers.ClassCapacity {
		return inst, err
	}
	if unknown, terr := p.terminate(ctx, cl, []string{id}); terr != nil {
		return inst, endedNotCleared(err, "terminate it", terr)
	} else if len(unknown) > 0 {
		return inst, endedNotCleared(err, "terminate it", providers.Classified(providers.ClassTransient, instanceNotFound,
			fmt.Errorf("EC2 does not know instance %s yet, %d polls after launching it", id, inUseTries)))
	}
	if terr := p.waitTerminated(ctx, cl, []string{id}); terr != nil {
		return inst, endedNotCleared(err, "confirm it terminated", terr)
	}
	return inst, err
}

// endedNotCleared is the error of a launch that ended for capacity but
// could not be terminated (or its termination confirmed). It takes the
// class and code of the cleanup's failure, not of the capacity: the zone
// and candidate loops move on only for capacity, and launching elsewhere
// while EC2 refuses to end this instance (UnauthorizedOperation, say)
// would pile up instances the run cannot remove. A cleanup failure that
// itself reads as capacity or quota is unknown, so the loops stop too.
func endedNotCleared(ended error, what string, cerr error) error {
	class, code := providers.ClassUnknown, ""
	var pe *providers.Error
	if errors.As(cerr, &pe) && pe.Class != providers.ClassCapacity && pe.Class != providers.ClassQuota {
		class, code = pe.Class, pe.Code
	}
	return providers.Classified(class, code, fmt.Errorf("%w; %s: %w", ended, what, cerr))
}

func zoneOf(inst ec2types.Instance) string {
	if inst.Placement == nil {
		return ""
	}
	return sdk.ToString(inst.Placement.AvailabilityZone)
}

// hostKey is the public host key the instance must present: the request's,
// or derived from the private key the user data carries. Never empty when
// the cycle generated a host key, since an empty one means insecure.
func hostKey(req providers.Request) (string, error) {
	if req.HostKey != "" || len(req.HostKeyPEM) == 0 {
		return req.HostKey, nil
	}
	signer, err := ssh.ParsePrivateKey(req.HostKeyPEM)
	if err != nil {
		// The parse error could quote key material; say only what failed.
		return "", providers.Classified(providers.ClassInvalid, "", errors.New("the run's host key (HostKeyPEM) does not parse as an OpenSSH private key"))
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), nil
}

// placements lists the subnets to try: the subnet-id input, or the default
// VPC's default subnet in the candidate's zone, or in every zone offering
// the type (EC2 names capacity per zone, so a zone-less candidate falls back
// across zones).
func (p *Provider) placements(ctx context.Context, cl *clients, c providers.Candidate) ([]placement, error) {
	if p.subnet != "" {
		if c.Region != p.region {
			return nil, providers.Classified(providers.ClassInvalid, "", &providers.InputError{Input: "subnet-id", Value: p.subnet,
				Expected: "a subnet in candidate region " + c.Region, Err: fmt.Errorf("it is in region %s", p.region)})
		}
		s, err := p.describeSubnet(ctx, cl, p.subnet)
		if err != nil {
			return nil, err
		}
		z := sdk.ToString(s.AvailabilityZone)
		if c.Zone != "" && c.Zone != z {
			return nil, providers.Classified(providers.ClassInvalid, "", &providers.InputError{Input: "subnet-id", Value: p.subnet,
				Expected: "a subnet in candidate zone " + c.Zone, Err: fmt.Errorf("it is in zone %s", z)})
		}
		return []placement{{subnet: p.subnet, zone: z, vpc: sdk.ToString(s.VpcId)}}, nil
	}
	vpcs, err := cl.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: sdk.String("is-default"), Values: []string{"true"}}}})
	if err != nil {
		return nil, classify("find the default VPC in "+c.Region, err)
	}
	if len(vpcs.Vpcs) == 0 {
		return nil, providers.Classified(providers.ClassInvalid, "", fmt.Errorf("region %s has no default VPC: set subnet-id", c.Region))
	}
	vpc := sdk.ToString(vpcs.Vpcs[0].VpcId)
	zones := []string{c.Zone}
	if c.Zone == "" {
		if zones, err = p.zonesOffering(ctx, cl, c.Type); err != nil {
			return nil, err
		}
	}
	subnets, err := cl.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
		{Name: sdk.String("vpc-id"), Values: []string{vpc}},
		{Name: sdk.String("default-for-az"), Values: []string{"true"}},
	}})
	if err != nil {
		return nil, classify("list the default subnets of "+vpc, err)
	}
	byZone := map[string]string{}
	for _, s := range subnets.Subnets {
		byZone[sdk.ToString(s.AvailabilityZone)] = sdk.ToString(s.SubnetId)
	}
	var out []placement
	for _, z := range zones {
		if s, ok := byZone[z]; ok {
			out = append(out, placement{subnet: s, zone: z, vpc: vpc})
		}
	}
	if len(out) == 0 {
		return nil, providers.Classified(providers.ClassInvalid, "", fmt.Errorf("no default subnet of %s in a zone offering %s (%s): set subnet-id", vpc, c.Type, strings.Join(zones, ", ")))
	}
	return out, nil
}

// tags is the identity's tag set plus Name, as EC2 tags.
func tags(id providers.Identity) []ec2types.Tag {
	m := id.Tags()
	m["Name"] = id.Name()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]ec2types.Tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, ec2types.Tag{Key: sdk.String(k), Value: sdk.String(m[k])})
	}
	return out
}

func tagMap(ts []ec2types.Tag) map[string]string {
	m := make(map[string]string, len(ts))
	for _, t := range ts {
		m[sdk.ToString(t.Key)] = sdk.ToString(t.Value)
	}
	return m
}

func (p *Provider) resource(kind, id, region string, ident providers.Identity) providers.Resource {
	return providers.Resource{Provider: Name, Kind: kind, ID: id, Name: ident.Name(), Region: region,
		Tags: ident.Tags(), CreatedAt: ident.CreatedAt, ExpiresAt: ident.ExpiresAt}
}

// ensureGroup finds or creates the run's security group (named after the
// identity, so a retried Create reuses it) and opens tcp/22 to the source.
func (p *Provider) ensureGroup(ctx context.Context, cl *clients, req providers.Request, vpc, region string, j providers.Journal) (string, error) {
	name := req.Identity.Name()
	sg, err := p.findGroup(ctx, cl, name, vpc)
	if err != nil {
		return "", err
	}
	if sg == "" {
		out, err := cl.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName:         sdk.String(name),
			Description:       sdk.String("mvm-verify run " + req.Identity.Run() + ": ssh from the runner only"),
			VpcId:             sdk.String(vpc),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: tags(req.Identity)}},
		})
		switch {
		case codeOf(err) == "InvalidGroup.Duplicate":
			// An earlier attempt created it and the lookup above did not see
			// it yet (describe-after-create lag): look again until it shows.
			if sg, err = p.awaitGroup(ctx, cl, name, vpc); err != nil {
				return "", err
			}
		case err != nil:
			return "", classify("create security group "+name, err)
		default:
			sg = sdk.ToString(out.GroupId)
		}
	}
	j.Record(p.resource("security-group", sg, region, req.Identity))

	perm := ec2types.IpPermission{IpProtocol: sdk.String("tcp"), FromPort: sdk.Int32(22), ToPort: sdk.Int32(22)}
	// An IPv4 range: checkSource refused any other before anything was
	// created, as the host is reached at its public IPv4 address only.
	perm.IpRanges = []ec2types.IpRange{{CidrIp: sdk.String(req.SSHSourceCIDR), Description: sdk.String("ssh from the runner")}}
	// The group may be a moment old: EC2 may not know it yet (untilKnown).
	err = p.untilKnown(ctx, groupNotFound, func() error {
		// The rule carries the run's tags too (expires-at included), as
		// everything the run makes does: an account's tag policies and
		// inventories see whose it is and until when.
		_, err := cl.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
			GroupId: sdk.String(sg), IpPermissions: []ec2types.IpPermission{perm},
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroupRule, Tags: tags(req.Identity)}},
		})
		return err
	})
	if err != nil && codeOf(err) != "InvalidPermission.Duplicate" {
		return "", classify("allow ssh from "+req.SSHSourceCIDR+" in "+sg, err)
	}
	return sg, nil
}

// findGroup returns the id of the group named name in vpc, "" when the
// listing does not show it. (The group-name filter, not GroupNames, since
// GroupNames only reaches the default VPC.)
func (p *Provider) findGroup(ctx context.Context, cl *clients, name, vpc string) (string, error) {
	found, err := cl.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: sdk.String("group-name"), Values: []string{name}},
		{Name: sdk.String("vpc-id"), Values: []string{vpc}},
	}})
	if err != nil {
		return "", classify("look up security group "+name, err)
	}
	if len(found.SecurityGroups) == 0 {
		return "", nil
	}
	return sdk.ToString(found.SecurityGroups[0].GroupId), nil
}

// awaitGroup looks up a group EC2 says exists until the listing shows it.
// If it never does within inUseTries polls, the failure is transient: the
// candidate loop backs off and tries the same candidate again.
func (p *Provider) awaitGroup(ctx context.Context, cl *clients, name, vpc string) (string, error) {
	for try := 1; try <= inUseTries; try++ {
		if err := p.sleep(ctx, p.poll); err != nil {
			return "", fmt.Errorf("look up security group %s: %w", name, err)
		}
		sg, err := p.findGroup(ctx, cl, name, vpc)
		if err != nil || sg != "" {
			return sg, err
		}
	}
	return "", providers.Classified(providers.ClassTransient, "InvalidGroup.Duplicate",
		fmt.Errorf("security group %s exists in %s but does not show in a listing yet", name, vpc))
}

// clientToken makes RunInstances idempotent per attempt and placement: a
// retry after a lost answer (the SDK's own, or the candidate loop calling
// Create again after a transient failure) returns the same instance,
// while another zone, type or market is a different launch. EC2 keeps a
// token at least a day after its instance ended, so a later attempt on the
// same placement must not send the same token again
// (IdempotentParameterMismatch, or the ended instance back). attempt is
// the Provider's count of Destroy calls for the identity: the candidate
// loop destroys a failed attempt before the next candidate, and the count
// moves on even when EC2 would not delete the security group, so a group
// left behind (and found again by name) does not bring the token back.
// The group's id is hashed in too, so a new process, whose count starts
// again at 0, still gets a token of its own once the group was replaced.
func clientToken(id providers.Identity, c providers.Candidate, pl placement, sg string, attempt uint64) string {
	h := sha256.Sum256([]byte(strings.Join([]string{c.Region, pl.subnet, c.Type, c.Market, sg, strconv.FormatUint(attempt, 10)}, "\x00")))
	return id.Name() + "-" + hex.EncodeToString(h[:])[:12]
}

// checkRootDevice refuses an image that names no root device. The launch
// sizes the root volume (disk-gb, gp3) by a block-device mapping under the
// image's RootDeviceName, as EC2 resizes the root only under that name: a
// mapping under another name (/dev/sda1 on an image rooted at /dev/xvda)
// adds an empty volume and leaves the root at its snapshot's size, 8 GiB
// on Ubuntu and Amazon Linux. Every EBS-backed AMI names its root device;
// one that does not is refused as the image input's rather than guessed.
func checkRootDevice(image string, img ec2types.Image) error {
	if sdk.ToString(img.RootDeviceName) != "" {
		return nil
	}
	return providers.Classified(providers.ClassInvalid, "", &providers.InputError{Input: "image", Value: image,
		Expected: "an EBS-backed AMI, which names its root device (/dev/sda1, /dev/xvda), or its SSM parameter",
		Err:      fmt.Errorf("EC2 describes %s with no root device name, so its root volume cannot be sized to disk-gb", sdk.ToString(img.ImageId))})
}

// diskGB is the root volume's size the launch asks for: disk-gb, or DefaultDiskGB.
func diskGB(req providers.Request) int {
	if req.DiskGB > 0 {
		return req.DiskGB
	}
	return DefaultDiskGB
}

// checkDiskFitsImage refuses a disk-gb below the size of the image's root
// snapshot, which EC2 refuses at launch (InvalidBlockDeviceMapping "Volume
// of size …GB is smaller than snapshot"): refused here as the disk-gb
// input's, before anything is made, rather than as the launch's (or the
// preflight's dry run, which reads like a missing permission).
func checkDiskFitsImage(req providers.Request, img ec2types.Image) error {
	root := sdk.ToString(img.RootDeviceName)
	for _, m := range img.BlockDeviceMappings {
		if sdk.ToString(m.DeviceName) != root || m.Ebs == nil {
			continue
		}
		least := int(sdk.ToInt32(m.Ebs.VolumeSize))
		if disk := diskGB(req); disk < least {
			value := strconv.Itoa(disk)
			if req.DiskGB == 0 {
				value += " (the default)"
			}
			return providers.Classified(providers.ClassInvalid, "", &providers.InputError{Input: "disk-gb", Value: value,
				Expected: fmt.Sprintf("a whole number of GB of at least %d, the size of image %s's root snapshot", least, sdk.ToString(img.ImageId)),
				Err:      errors.New("EC2 does not make a root volume smaller than its image's snapshot")})
		}
	}
	return nil
}

// launchInput is the RunInstances request of one placement, the same for
// the launch (run) and preflight's DryRun of it (checkPermissions): a
// policy or SCP can allow or deny on any of its parameters (IMDSv2's
// MetadataHttpTokens, the tags of each resource type, the subnet), so a
// dry run of a different request could be refused where the launch would
// be allowed, or the other way round. sg is "" for the dry run, when the
// run's group does not exist yet; the network interface then takes the
// VPC's default group, which the policy checks the same way. The caller
// adds what only the real launch sends: ClientToken and UserData.
func launchInput(req providers.Request, c providers.Candidate, pl placement, image ec2types.Image, sg string) *ec2.RunInstancesInput {
	disk := diskGB(req)
	// The image's own root device name (checkRootDevice): EC2 sizes the
	// root volume only by a mapping under that name.
	rootDevice := sdk.ToString(image.RootDeviceName)
	nic := ec2types.InstanceNetworkInterfaceSpecification{
		DeviceIndex: sdk.Int32(0), SubnetId: sdk.String(pl.subnet),
		AssociatePublicIpAddress: sdk.Bool(true), DeleteOnTermination: sdk.Bool(true),
	}
	if sg != "" {
		nic.Groups = []string{sg}
	}
	in := &ec2.RunInstancesInput{
		ImageId:           image.ImageId,
		InstanceType:      ec2types.InstanceType(c.Type),
		MinCount:          sdk.Int32(1),
		MaxCount:          sdk.Int32(1),
		NetworkInterfaces: []ec2types.InstanceNetworkInterfaceSpecification{nic},
		// The host powers itself off at its TTL (cloud-init); terminate
		// rather than stop makes that the end of the bill too.
		InstanceInitiatedShutdownBehavior: ec2types.ShutdownBehaviorTerminate,
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{
			DeviceName: sdk.String(rootDevice),
			Ebs: &ec2types.EbsBlockDevice{
				VolumeSize: sdk.Int32(int32(disk)), VolumeType: ec2types.VolumeTypeGp3, DeleteOnTermination: sdk.Bool(true),
			},
		}},
		// IMDSv2 only, and its token answer dies after one hop: the user
		// data holds the run's host private key, and the microVM guests
		// the suite boots sit behind NAT on this host, one hop further,
		// so they cannot fetch a token and read it. Some AMIs default the
		// hop limit to 2 (for containers), so it is set, not assumed.
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{
			HttpTokens:              ec2types.HttpTokensStateRequired,
			HttpPutResponseHopLimit: sdk.Int32(1),
		},
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeInstance, Tags: tags(req.Identity)},
			{ResourceType: ec2types.ResourceTypeVolume, Tags: tags(req.Identity)},
			{ResourceType: ec2types.ResourceTypeNetworkInterface, Tags: tags(req.Identity)},
		},
	}
	if k, _ := providers.KVMSupport(Name, c.Type); k.Kind == providers.KVMNested {
		in.CpuOptions = &ec2types.CpuOptionsRequest{NestedVirtualization: ec2types.NestedVirtualizationSpecificationEnabled}
	}
	if c.Market == providers.MarketSpot {
		in.InstanceMarketOptions = &ec2types.InstanceMarketOptionsRequest{
			MarketType: ec2types.MarketTypeSpot,
			SpotOptions: &ec2types.SpotMarketOptions{
				SpotInstanceType:             ec2types.SpotInstanceTypeOneTime,
				InstanceInterruptionBehavior: ec2types.InstanceInterruptionBehaviorTerminate,
			},
		}
		// The spot request is a resource of its own: tagged, so it is
		// traceable to the run like everything else.
		in.TagSpecifications = append(in.TagSpecifications,
			ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeSpotInstancesRequest, Tags: tags(req.Identity)})
	}
	return in
}

func (p *Provider) run(ctx context.Context, cl *clients, req providers.Request, c providers.Candidate, pl placement,
	image ec2types.Image, sg string, j providers.Journal) (ec2types.Instance, error) {
	in := launchInput(req, c, pl, image, sg)
	in.ClientToken = sdk.String(clientToken(req.Identity, c, pl, sg, p.attempt(req.Identity)))
	if len(req.UserData) > 0 {
		in.UserData = sdk.String(base64.StdEncoding.EncodeToString(req.UserData))
	}
	// The only group named is the run's own, a moment old: a NotFound for it
	// is EC2 not knowing it yet (untilKnown). Nothing was launched, so the
	// same ClientToken is still the same launch. A NotFound for the subnet
	// or image, which the user gave, stays invalid.
	var out *ec2.RunInstancesOutput
	err := p.untilKnown(ctx, groupNotFound, func() (err error) {
		out, err = cl.ec2.RunInstances(ctx, in)
		return err
	})
	if err != nil {
		return ec2types.Instance{}, classify(fmt.Sprintf("run %s %s instance in %s", c.Market, c.Type, pl.zone), err)
	}
	if len(out.Instances) == 0 {
		return ec2types.Instance{}, providers.Classified(providers.ClassTransient, "", errors.New("RunInstances returned no instance"))
	}
	inst := out.Instances[0]
	j.Record(p.resource("instance", sdk.ToString(inst.InstanceId), c.Region, req.Identity))
	// The primary network interface exists from RunInstances' answer on
	// (networkInterfaceSet), and outlives the instance if its
	// DeleteOnTermination is ever off: record it now too. The root volume
	// is not named yet (see Create).
	for _, n := range inst.NetworkInterfaces {
		if eni := sdk.ToString(n.NetworkInterfaceId); eni != "" {
			j.Record(p.resource("network-interface", eni, c.Region, req.Identity))
		}
	}
	return inst, nil
}

// waitRunning polls until the instance runs with a public IP. A new
// instance may not be visible yet (NotFound) and gets its IP after it
// starts; both are waited out. The root volume is recorded once it shows.
// An instance that ends first is an error, of class capacity when its
// state reason says EC2 had no room for it (endedClass).
func (p *Provider) waitRunning(ctx context.Context, cl *clients, id string, ident providers.Identity, c providers.Candidate, j providers.Journal, volumeRecorded bool) (ec2types.Instance, error) {
	region := c.Region
	for {
		out, err := cl.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		switch {
		case err != nil && isNotFound(err):
		case err != nil:
			return ec2types.Instance{}, classify("wait for instance "+id, err)
		default:
			for _, r := range out.Reservations {
				for _, inst := range r.Instances {
					if !volumeRecorded {
						volumeRecorded = p.recordVolume(inst, region, ident, j)
					}
					state := ec2types.InstanceStateNamePending
					if inst.State != nil {
						state = inst.State.Name
					}
					switch state {
					case ec2types.InstanceStateNameRunning:
						if sdk.ToString(inst.PublicIpAddress) != "" {
							return inst, nil
						}
					case ec2types.InstanceStateNamePending:
					default:
						reason := ""
						if inst.StateReason != nil {
							reason = sdk.ToString(inst.StateReason.Message)
						}
						err := fmt.Errorf("instance %s is %s before it ran: %s", id, state, firstNonEmpty(reason, "no reason given"))
						code := ""
						if inst.StateReason != nil {
							code = sdk.ToString(inst.StateReason.Code)
						}
						class, code := endedClass(code, c.Market == providers.MarketSpot)
						return ec2types.Instance{}, providers.Classified(class, code, err)
					}
				}
			}
		}
		if err := p.sleep(ctx, p.poll); err != nil {
			return ec2types.Instance{}, fmt.Errorf("wait for instance %s to run: %w", id, err)
		}
	}
}

// endedClass classes the state reason code of an instance that ended
// before it ran. No room for it is capacity, and the candidate loop moves
// on; for a spot launch that includes EC2 reclaiming the instance for
// spot capacity or price (Server.SpotInstanceTermination, …Shutdown), so
// spot-failover reaches the on-demand twin. Anything else is unknown and
// stops the run.
func endedClass(code string, spot bool) (providers.Class, string) {
	switch {
	case strings.Contains(code, "InsufficientInstanceCapacity"):
		return providers.ClassCapacity, "InsufficientInstanceCapacity"
	case spot && (code == "Server.SpotInstanceTermination" || code == "Server.SpotInstanceShutdown"):
		return providers.ClassCapacity, code
	}
	return providers.ClassUnknown, ""
}

// recordVolume journals the instance's EBS volumes and reports whether it
// named any.
func (p *Provider) recordVolume(inst ec2types.Instance, region string, ident providers.Identity, j providers.Journal) bool {
	recorded := false
	for _, bd := range inst.BlockDeviceMappings {
		if bd.Ebs != nil && sdk.ToString(bd.Ebs.VolumeId) != "" {
			j.Record(p.resource("volume", *bd.Ebs.VolumeId, region, ident))
			recorded = true
		}
	}
	return recorded
}

func (p *Provider) sleep(ctx context.Context, d time.Duration) error {
	if p.cfg.Sleep != nil {
		return p.cfg.Sleep(ctx, d)
	}
	return waits.Sleep(ctx, d)
}
