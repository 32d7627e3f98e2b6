package fake

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The catalog: regions, zones, instance types and their offerings, and images.

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
			"owner-id": img.Owner, "is-public": "true", "root-device-name": img.RootDevice, "root-device-type": "ebs",
			"image-type": "machine", "virtualization-type": "hvm", "hypervisor": "xen", "platform-details": "Linux/UNIX",
			"block-device-mapping.device-name": img.RootDevice, "block-device-mapping.snapshot-id": img.SnapshotID,
			"block-device-mapping.volume-size": strconv.Itoa(img.SnapshotGB), "block-device-mapping.volume-type": img.VolumeType,
			"block-device-mapping.delete-on-termination": "true", "block-device-mapping.encrypted": "false"}, nil) {
			continue
		}
		d.open("item").el("imageId", id).el("name", img.Name).el("imageState", "available").el("architecture", img.Arch)
		if img.RootDevice != "" {
			d.el("rootDeviceName", img.RootDevice)
		}
		d.el("rootDeviceType", "ebs").el("imageOwnerId", img.Owner).el("isPublic", "true")
		// The root snapshot, as EC2 lists an EBS-backed image's mappings.
		d.open("blockDeviceMapping")
		if img.RootDevice != "" {
			d.open("item").el("deviceName", img.RootDevice).open("ebs").el("snapshotId", img.SnapshotID).
				el("volumeSize", strconv.Itoa(img.SnapshotGB)).el("deleteOnTermination", "true").el("volumeType", img.VolumeType).
				el("encrypted", "false").close().close()
		}
		d.close().close()
	}
	return d, nil
}

func (s *Server) imageMap() map[string]Image {
	m := map[string]Image{}
	s.images.List(func(id string, img Image) bool { m[id] = img; return false })
	return m
}

// nestedCapable reports whether EC2 offers nested virtualization on typ:
// the C8i, M8i and R8i families, their flex variants (c8i-flex.large…)
// included.
func nestedCapable(typ string) bool {
	family, _, _ := strings.Cut(typ, ".")
	family = strings.TrimSuffix(family, "-flex")
	return family == "c8i" || family == "m8i" || family == "r8i"
}
