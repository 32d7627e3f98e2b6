package fake

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The network: VPCs, subnets and security groups.

func vpcID(region string) string { return "vpc-" + shortHash("vpc/"+region) }

// defaultGroupID names the VPC's default security group, which every VPC
// has and no run creates or deletes: the fake names it (on an instance
// launched without a group) but does not list it.
func defaultGroupID(vpc string) string { return "sg-" + shortHash("default/"+vpc) }
func subnetID(zone string) string      { return "subnet-" + shortHash("subnet/"+zone) }

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
