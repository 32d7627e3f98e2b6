package fake

import (
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Volumes and network interfaces: what a launch makes alongside its
// instance, described and deleted on their own.

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
		device := map[bool]string{true: v.Device}[v.InstanceID != ""]
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
			d.open("item").el("volumeId", v.ID).el("instanceId", v.InstanceID).el("device", v.Device).el("status", "attached").
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
