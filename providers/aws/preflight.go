package aws

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/tinylabscom/mvm-verify/providers"
)

// candidate fills req's candidate from the inputs and checks it.
func (p *Provider) candidate(req providers.Request) (providers.Candidate, error) {
	c := req.Candidate.Defaults(p.DefaultCandidate())
	// Refusals are InputErrors, so the caller can name the entry of the
	// candidates input a value came from.
	for _, f := range []struct{ field, value string }{
		{"region", c.Region}, {"type", c.Type}, {"zone", c.Zone}, {"market", c.Market},
	} {
		if f.field == "zone" && f.value == "" {
			continue // the zone is EC2's choice
		}
		if err := fieldError(f.field, f.value, c.Region); err != nil {
			return c, providers.Classified(providers.ClassInvalid, "", err)
		}
	}
	p.mu.Lock()
	if !contains(p.regions, c.Region) {
		p.regions = append(p.regions, c.Region)
	}
	p.mu.Unlock()
	return c, nil
}

// Preflight checks, without creating anything: the KVM catalog, the
// credentials (STS GetCallerIdentity), that the region is enabled, that the
// type is offered there (in the zone, when one is given), the image, the
// subnet, and, with EC2's DryRun, the permissions to create the security
// group and launch the instance.
func (p *Provider) Preflight(ctx context.Context, req providers.Request) error {
	c, err := p.candidate(req)
	if err != nil {
		return err
	}
	if err := providers.CheckKVM(Name, c.Type, req.Lane, ""); err != nil {
		return err
	}
	// The runner's address may be learned after the preflight (the cycle
	// looks it up once the provider's checks pass); Create requires it.
	if req.SSHSourceCIDR != "" {
		if err := checkSource(req.SSHSourceCIDR); err != nil {
			return err
		}
	}
	cl, err := p.clientsFor(ctx, c.Region)
	if err != nil {
		return err
	}
	// Both calls go to a region known to exist, not to c.Region: until
	// DescribeRegions has vouched for it, a misspelt region's endpoint
	// (sts.us-eest-1.amazonaws.com) does not resolve, and the DNS error
	// would read as transient and be retried instead of naming the region.
	if _, err := cl.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.Options) {
		o.Region = DefaultRegion
	}); err != nil {
		return classify("check AWS credentials (sts GetCallerIdentity)", err)
	}
	if err := p.checkRegionOffered(ctx, cl, c.Region); err != nil {
		return err
	}
	zones, err := p.zonesOffering(ctx, cl, c.Type)
	if err != nil {
		return err
	}
	if len(zones) == 0 {
		return invalidInput("type", c.Type, "a type EC2 offers in region "+c.Region, nil)
	}
	if c.Zone != "" && !contains(zones, c.Zone) {
		return invalidInput("zone", c.Zone, fmt.Sprintf("a zone that offers instance type %s: %s", c.Type, strings.Join(zones, ", ")), nil)
	}
	arch, err := p.hostArch()
	if err != nil {
		return err
	}
	if err := p.checkTypeArch(ctx, cl, c.Type, arch); err != nil {
		return err
	}
	image, err := p.lookupImage(ctx, cl, c.Region, req.Image)
	if err != nil {
		return err
	}
	if err := checkDiskFitsImage(req, image); err != nil {
		return err
	}
	// The placements Create would try: the subnet-id input's subnet, or the
	// default subnets of the zones offering the type. The dry runs name the
	// first, as the launch does, so EC2 does not pick a default subnet of
	// its own (perhaps in a zone without the type), and a region without a
	// default VPC is refused here with what to set.
	places, err := p.placements(ctx, cl, c)
	if err != nil {
		return err
	}
	return p.checkPermissions(ctx, cl, req, c, image, places[0])
}

// checkPermissions asks EC2, with DryRun, whether the credentials may make
// what Create makes: the security group and the instance. The launch's
// dry run is the very request Create sends (launchInput) but for the
// ClientToken, the user data and the run's group, which does not exist
// yet: a policy may allow or deny on any parameter (tags, IMDSv2, the
// subnet). EC2 answers DryRunOperation when the call would have
// succeeded and UnauthorizedOperation when the policy refuses it; nothing
// is created either way, so a missing permission is refused here, before
// anything costs money, instead of failing the launch.
func (p *Provider) checkPermissions(ctx context.Context, cl *clients, req providers.Request, c providers.Candidate,
	image ec2types.Image, pl placement) error {
	group := &ec2.CreateSecurityGroupInput{
		DryRun:            sdk.Bool(true),
		GroupName:         sdk.String(req.Identity.Name()),
		Description:       sdk.String("mvm-verify run " + req.Identity.Run() + ": ssh from the runner only"),
		VpcId:             sdk.String(pl.vpc),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: tags(req.Identity)}},
	}
	out, err := cl.ec2.CreateSecurityGroup(ctx, group)
	if err == nil && out != nil && sdk.ToString(out.GroupId) != "" {
		// The endpoint ignored DryRun and made the group: remove it, so a
		// preflight leaves nothing behind whatever it is answered.
		id := sdk.ToString(out.GroupId)
		if _, derr := cl.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: out.GroupId}); derr != nil {
			return providers.Classified(providers.ClassInvalid, "", fmt.Errorf(
				"check permission ec2:CreateSecurityGroup with DryRun in %s: the endpoint ignored DryRun and created security group %s, "+
					"and deleting it failed (delete it by hand): %w", c.Region, id, derr))
		}
		p.opts.Log().Warn("the endpoint ignored DryRun and created a security group; deleted it", "group", id, "region", c.Region)
	}
	if err := p.dryRun("ec2:CreateSecurityGroup", "create the run's security group", c.Region, err); err != nil {
		return err
	}
	launch := launchInput(req, c, pl, image, "")
	launch.DryRun = sdk.Bool(true)
	ran, err := cl.ec2.RunInstances(ctx, launch)
	if err == nil && ran != nil && len(ran.Instances) > 0 {
		// The endpoint ignored DryRun and launched: terminate what it
		// launched, by the ids in its answer, so a preflight leaves
		// nothing running (and billing) whatever it is answered.
		return p.endDryLaunch(ctx, cl, c.Region, ran.Instances)
	}
	return p.dryRun("ec2:RunInstances", fmt.Sprintf("launch %s %s instances", c.Type, c.Market), c.Region, err)
}

// endDryLaunch terminates the instances a RunInstances with DryRun really
// launched, waits until they are gone (their volume and interface go with
// them), and returns the preflight's error naming them.
func (p *Provider) endDryLaunch(ctx context.Context, cl *clients, region string, insts []ec2types.Instance) error {
	ids := make([]string, 0, len(insts))
	for _, in := range insts {
		if id := sdk.ToString(in.InstanceId); id != "" {
			ids = append(ids, id)
		}
	}
	what := fmt.Sprintf("check permission ec2:RunInstances with DryRun in %s: the endpoint ignored DryRun and launched instance %s",
		region, strings.Join(ids, ", "))
	unknown, err := p.terminate(ctx, cl, ids)
	if err == nil && len(unknown) > 0 {
		err = fmt.Errorf("EC2 does not know %s yet", strings.Join(unknown, ", "))
	}
	if err == nil {
		err = p.waitTerminated(ctx, cl, ids)
	}
	if err != nil {
		return providers.Classified(providers.ClassInvalid, "", fmt.Errorf("%s, and terminating it failed (terminate it by hand): %w", what, err))
	}
	p.opts.Log().Warn("the endpoint ignored DryRun and launched an instance; terminated it", "instances", ids, "region", region)
	return providers.Classified(providers.ClassInvalid, "", errors.New(what+"; terminated it"))
}

// dryRun reads EC2's answer to a DryRun call: DryRunOperation means the
// call is allowed. A refusal keeps EC2's own message, which names the
// user and the action (its encoded authorization message is opaque: only
// sts DecodeAuthorizationMessage, with its own permission, reads it).
// Only a refusal of the credentials (auth) or of the request (invalid)
// fails the preflight: an answer of capacity, quota or a transient
// failure says nothing about the permission and is the candidate loop's
// to handle at launch (another zone, type or market), not a reason to
// give up the whole leg before it starts.
func (p *Provider) dryRun(permission, what, region string, err error) error {
	switch {
	case codeOf(err) == "DryRunOperation":
		return nil
	case err == nil:
		// An endpoint that ignored DryRun may have done the call.
		return providers.Classified(providers.ClassInvalid, "", fmt.Errorf(
			"check permission %s with DryRun in %s: the endpoint answered with success instead of DryRunOperation, so it may have made what it was asked to check", permission, region))
	}
	err = classify(fmt.Sprintf("check that the AWS credentials may %s in %s (%s, with DryRun)", what, region, permission), err)
	switch providers.ClassOf(err) {
	case providers.ClassCapacity, providers.ClassQuota, providers.ClassTransient:
		p.opts.Log().Info("permission check answered other than allowed or refused; the launch will tell", "permission", permission, "region", region, "error", err)
		return nil
	}
	return err
}

// checkRegionOffered asks EC2 for every region rather than calling the
// region's own endpoint, so a misspelt region is named instead of failing
// on DNS.
func (p *Provider) checkRegionOffered(ctx context.Context, cl *clients, region string) error {
	out, err := cl.ec2.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: sdk.Bool(true)}, func(o *ec2.Options) {
		o.Region = DefaultRegion
	})
	if err != nil {
		return classify("list AWS regions", err)
	}
	var names []string
	for _, r := range out.Regions {
		name := sdk.ToString(r.RegionName)
		if name == region {
			if sdk.ToString(r.OptInStatus) == "not-opted-in" {
				return providers.Classified(providers.ClassAuth, "OptInRequired", &providers.InputError{Field: "region", Value: region,
					Expected: "a region enabled in the AWS console, or enable this one", Err: errors.New("not enabled for this account")})
			}
			return nil
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return invalidInput("region", region, "an AWS region: one of "+strings.Join(names, ", "), nil)
}

// invalidInput refuses the value of a candidate field (region, zone,
// type, market): expected is the form wanted, cause (or nil) why value
// is not it.
func invalidInput(field, value, expected string, cause error) error {
	return providers.Classified(providers.ClassInvalid, "", &providers.InputError{Field: field, Value: value, Expected: expected, Err: cause})
}

// zonesOffering lists, sorted, the zones of the client's region that offer typ.
func (p *Provider) zonesOffering(ctx context.Context, cl *clients, typ string) ([]string, error) {
	in := &ec2.DescribeInstanceTypeOfferingsInput{
		LocationType: ec2types.LocationTypeAvailabilityZone,
		Filters:      []ec2types.Filter{{Name: sdk.String("instance-type"), Values: []string{typ}}},
	}
	var zones []string
	pg := ec2.NewDescribeInstanceTypeOfferingsPaginator(cl.ec2, in)
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			return nil, classify("list the zones offering "+typ, err)
		}
		for _, o := range out.InstanceTypeOfferings {
			if z := sdk.ToString(o.Location); !contains(zones, z) {
				zones = append(zones, z)
			}
		}
	}
	sort.Strings(zones)
	return zones, nil
}

// lookupImage resolves and describes the image in region: image may be
// an AMI id, an SSM parameter path (or "resolve:ssm:<path>"), or empty for
// Ubuntu 24.04 of the host's architecture. An image of another
// architecture than the host's is refused. EC2's or SSM's refusal of the
// value (it does not exist, it is malformed) is the image input's
// refusal, saying the form expected; other failures (credentials, a
// throttle) are wrapped with what was being looked up.
func (p *Provider) lookupImage(ctx context.Context, cl *clients, region, image string) (ec2types.Image, error) {
	arch, err := p.hostArch()
	if err != nil {
		return ec2types.Image{}, err
	}
	image = firstNonEmpty(image, p.image, ubuntuParameter(arch))
	image = strings.TrimPrefix(image, "resolve:ssm:")
	expected := fmt.Sprintf("an AMI id (ami-…) that exists in %s, or an SSM parameter path such as %s", region, ubuntuParameter(arch))
	ami := image
	if strings.HasPrefix(image, "/") {
		out, err := cl.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: sdk.String(image)})
		if err != nil {
			err = classify(fmt.Sprintf("resolve image parameter %s", image), err)
			if providers.ClassOf(err) != providers.ClassInvalid {
				return ec2types.Image{}, err
			}
			problem := "SSM refused the parameter in " + region
			if codeOf(err) == "ParameterNotFound" {
				problem = "no such SSM parameter in " + region
			}
			return ec2types.Image{}, imageRefusal(image, problem, "SSM", err, expected)
		}
		ami = sdk.ToString(out.Parameter.Value)
	}
	resolved := ""
	if ami != image {
		resolved = "resolves to " + ami + ", which "
	}
	if !strings.HasPrefix(ami, "ami-") {
		return ec2types.Image{}, imageRefusal(image, resolved+"is not an AMI id", "", nil, expected)
	}
	out, err := cl.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil {
		err = classify("look up image "+ami, err)
		if providers.ClassOf(err) != providers.ClassInvalid {
			return ec2types.Image{}, err
		}
		problem := resolved + "does not exist in " + region
		switch {
		case isNotFound(err):
		case resolved != "":
			problem = resolved + "EC2 refuses in " + region
		default:
			problem = "EC2 refuses it in " + region
		}
		return ec2types.Image{}, imageRefusal(image, problem, "EC2", err, expected)
	}
	if len(out.Images) == 0 {
		return ec2types.Image{}, imageRefusal(image, resolved+"does not exist in "+region, "", nil, expected)
	}
	if err := p.checkImageArch(image, out.Images[0], arch); err != nil {
		return ec2types.Image{}, err
	}
	if err := checkRootDevice(image, out.Images[0]); err != nil {
		return ec2types.Image{}, err
	}
	return out.Images[0], nil
}

// imageRefusal refuses the image input's value with problem and the form
// expected. cause, when set, is the service's answer: its class and code
// stay in the chain, but the message shows only the service's own words,
// not the SDK's operation and request id, which mean nothing to the
// reader of a Notes cell.
func imageRefusal(value, problem, service string, cause error, expected string) error {
	why, code := errors.New(problem), ""
	if cause != nil {
		why, code = fmt.Errorf("%s%w", problem, &apiAnswer{service: service, err: cause}), codeOf(cause)
	}
	return providers.Classified(providers.ClassInvalid, code, &providers.InputError{Input: "image", Value: value, Expected: expected, Err: why})
}

// apiAnswer shows an API error as " (SERVICE: its message)", or nothing
// when the service sent no message, keeping the whole error in the chain.
type apiAnswer struct {
	service string
	err     error
}

func (a *apiAnswer) Error() string {
	var api smithy.APIError
	if !errors.As(a.err, &api) || api.ErrorMessage() == "" {
		return ""
	}
	return fmt.Sprintf(" (%s: %s)", a.service, api.ErrorMessage())
}

func (a *apiAnswer) Unwrap() error { return a.err }

func (p *Provider) describeSubnet(ctx context.Context, cl *clients, id string) (ec2types.Subnet, error) {
	out, err := cl.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{id}})
	const expected = "the id of a subnet in the region, in the account's VPCs"
	if err != nil {
		// EC2 refusing the id is the input's refusal; anything else
		// (credentials, a throttle) is wrapped with what was looked up.
		if classified := classify("look up subnet "+id, err); providers.ClassOf(classified) != providers.ClassInvalid {
			return ec2types.Subnet{}, classified
		}
		return ec2types.Subnet{}, providers.Classified(providers.ClassInvalid, codeOf(err), &providers.InputError{Input: "subnet-id", Value: id,
			Expected: expected, Err: fmt.Errorf("EC2 refuses it%w", &apiAnswer{service: "EC2", err: err})})
	}
	if len(out.Subnets) == 0 {
		return ec2types.Subnet{}, providers.Classified(providers.ClassInvalid, "", &providers.InputError{Input: "subnet-id", Value: id,
			Expected: expected, Err: errors.New("does not exist")})
	}
	return out.Subnets[0], nil
}

// checkSource refuses a request without the one source allowed to reach
// tcp/22: the security group would otherwise have to guess. An IPv6 source
// is refused too: the instance gets no IPv6 address and is reached at its
// public IPv4 one, so a rule for an IPv6 range would let nothing in and
// the run would fail only at the ready timeout, after billing.
func checkSource(cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return providers.Classified(providers.ClassInvalid, "", fmt.Errorf("ssh source %q: expected a CIDR such as 203.0.113.7/32 (the runner's address, or input ssh-source-cidr)", cidr))
	}
	if !p.Addr().Is4() {
		return providers.Classified(providers.ClassInvalid, "", &providers.InputError{Input: "ssh-source-cidr", Value: cidr,
			Expected: "an IPv4 CIDR such as 203.0.113.7/32", Err: errors.New("EC2 hosts are reached over IPv4")})
	}
	return nil
}
