package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/tinylabscom/mvm-verify/providers"
)

// liveStates are the instance states that still exist (and may bill).
func liveStates() []string {
	return []string{"pending", "running", "stopping", "stopped", "shutting-down"}
}

// tagFilters selects our resources server-side; Filter.Match refines.
func tagFilters(f providers.Filter) []ec2types.Filter {
	fs := []ec2types.Filter{{Name: sdk.String("tag:" + providers.TagMarker), Values: []string{"1"}}}
	if f.Run != "" {
		fs = append(fs, ec2types.Filter{Name: sdk.String("tag:" + providers.TagRun), Values: []string{f.Run}})
	}
	if f.Key != "" {
		fs = append(fs, ec2types.Filter{Name: sdk.String("tag:" + providers.TagKey), Values: []string{providers.Label(f.Key)}})
	}
	if f.Leg != "" {
		fs = append(fs, ec2types.Filter{Name: sdk.String("tag:" + providers.TagLeg), Values: []string{providers.Label(f.Leg)}})
	}
	return fs
}

// Destroy terminates the identity's instances in every region the leg may
// use, waits until they are terminated, then deletes its security groups
// (retrying DependencyViolation, which EC2 returns while a terminated
// instance still holds the group) and any volume left behind. Everything is
// found by tag, so it works from a fresh process with only the identity.
//
// EC2's listings are eventually consistent: a resource created a moment ago
// may be missing from a listing for a while. So each region is swept again,
// one poll apart, until a sweep finds nothing — quietSweeps sweeps in a row
// when the run began less than lagWindow ago — and at most maxSweeps times:
// a resource that keeps coming back (a delete that did not take) is the
// leak check's to report. One EC2 still refuses to delete after the last
// sweep (a group or volume still in use) is an error naming it: the
// candidate loop must not count the attempt as cleaned up. A wait that
// cannot end before ctx's deadline is not begun: the deletes issued so far
// stand, and the report is Deferred (a later sweep must finish: the
// caller says whose) rather than an error.
//
// Destroy also starts a new launch attempt for the identity (see
// clientToken): whatever it could delete, the next Create is another
// launch, not a retry of the one before.
func (p *Provider) Destroy(ctx context.Context, id providers.Identity) (providers.Report, error) {
	p.nextAttempt(id)
	var rep providers.Report
	var errs []error
	f := id.Filter()
	regions, skipped, err := p.sweepRegions(ctx)
	if err != nil {
		return rep, err
	}
	rep.Notes = append(rep.Notes, skipped...)
	deleted := map[string]bool{}
	need := 1
	if id.CreatedAt.IsZero() || time.Since(id.CreatedAt) < lagWindow {
		need = quietSweeps
	}
	deferred := func(region string) {
		rep.Deferred = true
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s: deletes issued but not all confirmed before the deadline", region))
	}
	for _, region := range regions {
		quiet := 0
		for sweep := 1; ; sweep++ {
			seen, inUse, err := p.sweep(ctx, region, f, &rep, deleted)
			if errors.Is(err, errOutOfTime) {
				deferred(region)
				break
			}
			// A 5xx or throttling that outlasted the SDK's own retries
			// within one call is still passing: the next sweep tries
			// again, as the post step would, rather than leave what it
			// could delete. Anything else (denied, invalid) will not pass.
			transient := err != nil && providers.ClassOf(err) == providers.ClassTransient && ctx.Err() == nil
			if err != nil && !transient {
				errs = append(errs, fmt.Errorf("%s: %w", region, err))
				break
			}
			switch {
			case transient:
				quiet = 0
				p.opts.Log().Info("teardown sweep failed for now; sweeping again", "region", region, "sweep", sweep, "error", err)
			case seen == 0:
				quiet++
			default:
				quiet = 0
			}
			if quiet >= need {
				break
			}
			if sweep >= maxSweeps {
				if transient {
					errs = append(errs, fmt.Errorf("%s: %w", region, err))
				} else if len(inUse) > 0 {
					errs = append(errs, fmt.Errorf("%s: still in use after %d sweeps, not deleted: %s", region, maxSweeps, describeAll(inUse)))
				} else {
					rep.Notes = append(rep.Notes, fmt.Sprintf("%s: resources still listed after %d sweeps", region, maxSweeps))
				}
				break
			}
			if err := p.pause(ctx, p.poll); errors.Is(err, errOutOfTime) {
				deferred(region)
				break
			} else if err != nil {
				errs = append(errs, fmt.Errorf("%s: sweep again: %w", region, err))
				break
			}
		}
	}
	return rep, errors.Join(errs...)
}

// errOutOfTime is what a wait that cannot end before the context's
// deadline returns instead of starting: after a signal the teardown has
// seconds, and a poll that outlasts them would only turn issued deletes
// into a failure. Destroy reports it as Deferred.
var errOutOfTime = errors.New("out of time before the next poll")

// pause waits d like sleep, unless ctx's deadline comes first: then it
// returns errOutOfTime at once.
func (p *Provider) pause(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return errOutOfTime
	}
	return p.sleep(ctx, d)
}

const (
	// quietSweeps is how many sweeps in a row must find nothing before a
	// region counts as empty, when its resources may be new: a poll apart,
	// they outwait EC2's describe-after-create lag.
	quietSweeps = 3
	// lagWindow is how long after the run began its resources may still be
	// missing from listings. A teardown later than that (the usual one, after
	// the suite) stops at the first empty sweep.
	lagWindow = 10 * time.Minute
	// maxSweeps bounds the sweeps of one region.
	maxSweeps = 12
	// inUseTries bounds the retries of a group or volume still in use
	// within one sweep; the next sweep tries again.
	inUseTries = 12
)

// describeAll names resources for an error: "security-group sg-1, volume vol-2".
func describeAll(rs []providers.Resource) string {
	names := make([]string, 0, len(rs))
	for _, r := range rs {
		names = append(names, r.Kind+" "+r.ID)
	}
	return strings.Join(names, ", ")
}

// sweep deletes what one round of listings finds in region and returns how
// many resources it saw, and those EC2 would not delete yet because they
// are still in use. deleted keeps the report free of repeats.
func (p *Provider) sweep(ctx context.Context, region string, f providers.Filter, rep *providers.Report, deleted map[string]bool) (seen int, inUse []providers.Resource, err error) {
	cl, err := p.clientsFor(ctx, region)
	if err != nil {
		return 0, nil, err
	}
	report := func(r providers.Resource) {
		if !deleted[r.Kind+" "+r.ID] {
			deleted[r.Kind+" "+r.ID] = true
			rep.Deleted = append(rep.Deleted, r)
		}
	}
	insts, err := p.instances(ctx, cl, f, region)
	if err != nil {
		return 0, nil, err
	}
	vols, err := p.volumes(ctx, cl, f, region)
	if err != nil {
		return 0, nil, err
	}
	seen = len(insts) + len(vols)
	// A volume of ours attached to an instance the instance listing does not
	// show yet (describe-after-create lag) names that instance: terminate it
	// rather than wait for the volume to come free.
	for _, v := range vols {
		if v.attachedTo != "" && !slices.ContainsFunc(insts, func(r providers.Resource) bool { return r.ID == v.attachedTo }) {
			r := v.Resource
			r.Kind, r.ID = "instance", v.attachedTo
			insts = append(insts, r)
		}
	}
	if len(insts) > 0 {
		ids := make([]string, 0, len(insts))
		for _, r := range insts {
			ids = append(ids, r.ID)
		}
		unknown, err := p.terminate(ctx, cl, ids)
		if err != nil {
			return seen, nil, err
		}
		// One EC2 would not terminate because it does not know it yet is
		// neither waited for (it is not shutting down) nor reported: the
		// next sweep lists it again.
		ids = slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(unknown, id) })
		if len(ids) > 0 {
			if err := p.waitTerminated(ctx, cl, ids); err != nil {
				return seen, nil, err
			}
		}
		var pending []providers.Resource
		for _, r := range insts {
			if !slices.Contains(unknown, r.ID) {
				report(r)
			} else {
				pending = append(pending, r)
			}
		}
		if len(pending) > 0 {
			// An instance EC2 does not know yet still holds the run's group
			// and its volume: deleting them now would only meet
			// DependencyViolation and VolumeInUse for inUseTries polls
			// each. The next sweep terminates it and deletes them then;
			// should it never, the instance is named as not deleted.
			return seen, pending, nil
		}
	}
	// An interface its instance left behind (DeleteOnTermination turned
	// off) would hold the group forever: delete it first.
	enis, err := p.detachedInterfaces(ctx, cl, f, region)
	if err != nil {
		return seen, nil, err
	}
	seen += len(enis)
	for _, n := range enis {
		done, err := p.deleteInterface(ctx, cl, n.ID)
		if err != nil {
			return seen, nil, err
		}
		if done {
			report(n)
		} else {
			inUse = append(inUse, n)
		}
	}
	groups, err := p.groups(ctx, cl, f, region)
	if err != nil {
		return seen, nil, err
	}
	seen += len(groups)
	for _, g := range groups {
		done, err := p.deleteGroup(ctx, cl, g.ID)
		if err != nil {
			return seen, nil, err
		}
		if done {
			report(g)
		} else {
			inUse = append(inUse, g)
		}
	}
	if len(insts) > 0 {
		// Root volumes go with their instance; list again for any that was
		// kept or detached.
		if vols, err = p.volumes(ctx, cl, f, region); err != nil {
			return seen, nil, err
		}
	}
	for _, v := range vols {
		done, err := p.deleteVolume(ctx, cl, v.ID)
		if err != nil {
			return seen, nil, err
		}
		if done {
			report(v.Resource)
		} else {
			inUse = append(inUse, v.Resource)
		}
	}
	return seen, inUse, nil
}

// terminate ends the instances and returns those EC2 still does not know.
// The ids come from a listing or from this process's launch, so EC2 gave
// them out: a NotFound is its eventual consistency (a call right after the
// create may not find the instance), and one such id fails the whole call.
// So then each is terminated on its own, a poll apart until EC2 knows it
// (untilKnown); one still unknown after that is left to the next sweep.
func (p *Provider) terminate(ctx context.Context, cl *clients, ids []string) (unknown []string, err error) {
	_, err = cl.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	switch {
	case err == nil:
		return nil, nil
	case codeOf(err) != instanceNotFound:
		return nil, classify(fmt.Sprintf("terminate instances %v", ids), err)
	}
	for _, id := range ids {
		err := p.untilKnown(ctx, instanceNotFound, func() error {
			_, err := cl.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
			return err
		})
		switch {
		case err == nil:
		case codeOf(err) == instanceNotFound:
			unknown = append(unknown, id)
		default:
			return unknown, classify("terminate instance "+id, err)
		}
	}
	return unknown, nil
}

// waitTerminated polls until every instance is terminated. An instance
// that stays unknown for inUseTries polls in a row is taken as gone.
func (p *Provider) waitTerminated(ctx context.Context, cl *clients, ids []string) error {
	unknown := 0
	for {
		out, err := cl.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		if err != nil && !isNotFound(err) {
			return classify("wait for termination", err)
		}
		done := err == nil
		if err != nil {
			if unknown++; unknown >= inUseTries {
				return nil
			}
		} else {
			unknown = 0
		}
		if out != nil {
			for _, r := range out.Reservations {
				for _, in := range r.Instances {
					if in.State == nil || in.State.Name != ec2types.InstanceStateNameTerminated {
						done = false
					}
				}
			}
		}
		if done {
			return nil
		}
		if err := p.pause(ctx, p.poll); err != nil {
			return fmt.Errorf("wait for termination of %v: %w", ids, err)
		}
	}
}

// deleteGroup retries DependencyViolation: EC2 keeps a group referenced for
// a while after its instance terminated. It reports false when the group
// is still in use after inUseTries polls; the next sweep tries again.
func (p *Provider) deleteGroup(ctx context.Context, cl *clients, id string) (bool, error) {
	for try := 1; ; try++ {
		_, err := cl.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: sdk.String(id)})
		switch {
		case err == nil, isNotFound(err):
			return true, nil
		case codeOf(err) != "DependencyViolation":
			return false, classify("delete security group "+id, err)
		case try >= inUseTries:
			return false, nil
		}
		if err := p.pause(ctx, p.poll); err != nil {
			return false, fmt.Errorf("delete security group %s (still in use): %w", id, err)
		}
	}
}

// deleteInterface deletes a detached network interface. One still in use
// (attached again, or its instance not yet gone) is left to the next sweep.
func (p *Provider) deleteInterface(ctx context.Context, cl *clients, id string) (bool, error) {
	_, err := cl.ec2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: sdk.String(id)})
	switch {
	case err == nil, isNotFound(err):
		return true, nil
	case codeOf(err) == "InvalidNetworkInterface.InUse":
		return false, nil
	}
	return false, classify("delete network interface "+id, err)
}

// sweepRegions is every region the leg may have used that EC2 offers this
// account. A misspelt or disabled region (refused at preflight, so nothing
// can be there) is skipped with a note rather than failing the teardown.
func (p *Provider) sweepRegions(ctx context.Context) (regions, skipped []string, err error) {
	p.mu.Lock()
	want := append([]string(nil), p.regions...)
	p.mu.Unlock()
	cl, err := p.clientsFor(ctx, DefaultRegion)
	if err != nil {
		return nil, nil, err
	}
	out, err := cl.ec2.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: sdk.Bool(true)})
	if err != nil {
		return nil, nil, classify("list AWS regions", err)
	}
	enabled := map[string]bool{}
	for _, r := range out.Regions {
		enabled[sdk.ToString(r.RegionName)] = sdk.ToString(r.OptInStatus) != "not-opted-in"
	}
	for _, r := range want {
		if enabled[r] {
			regions = append(regions, r)
		} else {
			skipped = append(skipped, fmt.Sprintf("region %s skipped: not an AWS region enabled for this account", r))
		}
	}
	return regions, skipped, nil
}

// deleteVolume retries VolumeInUse: a root volume stays attached for a
// moment after its instance terminated. It reports false when the volume
// is still in use after inUseTries polls; the next sweep terminates what it
// is attached to and tries again.
func (p *Provider) deleteVolume(ctx context.Context, cl *clients, id string) (bool, error) {
	for try := 1; ; try++ {
		_, err := cl.ec2.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: sdk.String(id)})
		switch {
		case err == nil, isNotFound(err):
			return true, nil
		case codeOf(err) != "VolumeInUse" && codeOf(err) != "IncorrectState":
			return false, classify("delete volume "+id, err)
		case try >= inUseTries:
			return false, nil
		}
		if err := p.pause(ctx, p.poll); err != nil {
			return false, fmt.Errorf("delete volume %s (still attached): %w", id, err)
		}
	}
}

// List returns our instances (not yet terminated), security groups,
// volumes and network interfaces matching f, in every region the leg may
// use.
func (p *Provider) List(ctx context.Context, f providers.Filter) ([]providers.Resource, error) {
	var out []providers.Resource
	regions, _, err := p.sweepRegions(ctx)
	if err != nil {
		return nil, err
	}
	for _, region := range regions {
		cl, err := p.clientsFor(ctx, region)
		if err != nil {
			return nil, err
		}
		insts, err := p.instances(ctx, cl, f, region)
		if err != nil {
			return nil, err
		}
		groups, err := p.groups(ctx, cl, f, region)
		if err != nil {
			return nil, err
		}
		vols, err := p.volumes(ctx, cl, f, region)
		if err != nil {
			return nil, err
		}
		enis, err := p.interfaces(ctx, cl, f, region)
		if err != nil {
			return nil, err
		}
		out = append(append(append(out, insts...), groups...), enis...)
		for _, v := range vols {
			out = append(out, v.Resource)
		}
	}
	return out, nil
}

func listed(kind, id, region string, ts []ec2types.Tag, f providers.Filter) (providers.Resource, bool) {
	tags := tagMap(ts)
	if !f.Match(tags) {
		return providers.Resource{}, false
	}
	r := providers.Resource{Provider: Name, Kind: kind, ID: id, Name: tags["Name"], Region: region, Tags: tags}
	if s, err := strconv.ParseInt(tags[providers.TagCreatedAt], 10, 64); err == nil {
		r.CreatedAt = time.Unix(s, 0).UTC()
	}
	if s, err := strconv.ParseInt(tags[providers.TagExpiresAt], 10, 64); err == nil {
		r.ExpiresAt = time.Unix(s, 0).UTC()
	}
	return r, true
}

// The listings ask for pages, as EC2 recommends (an unpaginated describe
// of a large account can time out), and follow NextToken to the end: EC2
// filters after it pages, so any page, the first included, may hold fewer
// of ours than it could, or none, and not be the last.
const (
	pageSize       = 1000 // DescribeInstances, …SecurityGroups, …NetworkInterfaces: 5 to 1000
	volumePageSize = 500  // DescribeVolumes returns at most 500 a page
)

func (p *Provider) instances(ctx context.Context, cl *clients, f providers.Filter, region string) ([]providers.Resource, error) {
	in := &ec2.DescribeInstancesInput{MaxResults: sdk.Int32(pageSize), Filters: append(tagFilters(f),
		ec2types.Filter{Name: sdk.String("instance-state-name"), Values: liveStates()})}
	var out []providers.Resource
	pg := ec2.NewDescribeInstancesPaginator(cl.ec2, in)
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, classify("list tagged instances", err)
		}
		for _, r := range page.Reservations {
			for _, inst := range r.Instances {
				if res, ok := listed("instance", sdk.ToString(inst.InstanceId), region, inst.Tags, f); ok {
					out = append(out, res)
				}
			}
		}
	}
	return out, nil
}

func (p *Provider) groups(ctx context.Context, cl *clients, f providers.Filter, region string) ([]providers.Resource, error) {
	var out []providers.Resource
	pg := ec2.NewDescribeSecurityGroupsPaginator(cl.ec2, &ec2.DescribeSecurityGroupsInput{MaxResults: sdk.Int32(pageSize), Filters: tagFilters(f)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, classify("list tagged security groups", err)
		}
		for _, g := range page.SecurityGroups {
			if res, ok := listed("security-group", sdk.ToString(g.GroupId), region, g.Tags, f); ok {
				out = append(out, res)
			}
		}
	}
	return out, nil
}

// interfaces lists our network interfaces. The primary one goes with its
// instance; one that outlives it is deleted by Destroy, and named by the
// leak check if it stays.
func (p *Provider) interfaces(ctx context.Context, cl *clients, f providers.Filter, region string) ([]providers.Resource, error) {
	return p.listInterfaces(ctx, cl, f, region, tagFilters(f))
}

// detachedInterfaces lists our interfaces attached to nothing.
func (p *Provider) detachedInterfaces(ctx context.Context, cl *clients, f providers.Filter, region string) ([]providers.Resource, error) {
	return p.listInterfaces(ctx, cl, f, region, append(tagFilters(f),
		ec2types.Filter{Name: sdk.String("status"), Values: []string{"available"}}))
}

func (p *Provider) listInterfaces(ctx context.Context, cl *clients, f providers.Filter, region string, filters []ec2types.Filter) ([]providers.Resource, error) {
	var out []providers.Resource
	pg := ec2.NewDescribeNetworkInterfacesPaginator(cl.ec2, &ec2.DescribeNetworkInterfacesInput{MaxResults: sdk.Int32(pageSize), Filters: filters})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, classify("list tagged network interfaces", err)
		}
		for _, n := range page.NetworkInterfaces {
			if res, ok := listed("network-interface", sdk.ToString(n.NetworkInterfaceId), region, n.TagSet, f); ok {
				out = append(out, res)
			}
		}
	}
	return out, nil
}

// volume is a listed volume and the instance it is attached to, if any.
type volume struct {
	providers.Resource
	attachedTo string
}

func (p *Provider) volumes(ctx context.Context, cl *clients, f providers.Filter, region string) ([]volume, error) {
	var out []volume
	pg := ec2.NewDescribeVolumesPaginator(cl.ec2, &ec2.DescribeVolumesInput{MaxResults: sdk.Int32(volumePageSize), Filters: tagFilters(f)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, classify("list tagged volumes", err)
		}
		for _, v := range page.Volumes {
			if v.State == ec2types.VolumeStateDeleting || v.State == ec2types.VolumeStateDeleted {
				continue
			}
			res, ok := listed("volume", sdk.ToString(v.VolumeId), region, v.Tags, f)
			if !ok {
				continue
			}
			vol := volume{Resource: res}
			for _, a := range v.Attachments {
				if id := sdk.ToString(a.InstanceId); id != "" && a.State != ec2types.VolumeAttachmentStateDetached {
					vol.attachedTo = id
				}
			}
			out = append(out, vol)
		}
	}
	return out, nil
}
