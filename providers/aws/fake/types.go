package fake

import (
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// kind is the type of one EC2 request parameter: it checks a value the
// way EC2 does and answers EC2's error for a value it refuses. EC2 reads
// every parameter as its API model types it (an integer, a boolean, an
// enum, an id of a given form) before the action looks at it, so a value
// of the wrong type is refused whatever else the request says. name is
// the parameter as sent ("IpPermissions.1.FromPort"). A nil kind takes any
// string.
type kind func(name, v string) *apiError

// member is the last part of a parameter's name, lower camel case, as
// EC2's messages name it ("FromPort" → "fromPort").
func member(name string) string {
	i := strings.LastIndexByte(name, '.')
	m := name[i+1:]
	if m == "" {
		return name
	}
	return strings.ToLower(m[:1]) + m[1:]
}

// integer is an integer from min to max.
func integer(min, max int) kind {
	return func(name, v string) *apiError {
		n, err := strconv.Atoi(v)
		if err != nil {
			return invalidValue("Value (%s) for parameter %s is invalid. Expected an integer.", v, member(name))
		}
		if n < min || n > max {
			return invalidValue("Value ( %s ) for parameter %s is invalid. Expecting a value between %d and %d.", v, member(name), min, max)
		}
		return nil
	}
}

// boolean is true or false. The SDKs send them lowercase; any other
// word is refused rather than read as false, so DryRun=maybe does not
// launch.
func boolean(name, v string) *apiError {
	if v != "true" && v != "false" {
		return invalidValue("Value (%s) for parameter %s is invalid. Expected: 'true' or 'false'.", v, member(name))
	}
	return nil
}

// enum is one of values.
func enum(values ...string) kind {
	return func(name, v string) *apiError {
		if !slices.Contains(values, v) {
			return invalidValue("Invalid value '%s' for %s. Valid values: %s", v, member(name), strings.Join(values, ", "))
		}
		return nil
	}
}

// maxLen is a string of at most n characters.
func maxLen(n int) kind {
	return func(name, v string) *apiError {
		if utf8.RuneCountInString(v) > n {
			return invalidValue("Value (%s) for parameter %s is invalid. Length exceeds maximum of %d characters.", v, member(name), n)
		}
		return nil
	}
}

// cidr is a CIDR block of the family EC2 expects there; EC2 calls one it
// cannot read malformed.
func cidr(v6 bool) kind {
	return func(_, v string) *apiError {
		p, err := netip.ParsePrefix(v)
		if err != nil || p.Addr().Is4() == v6 || p.Addr().Is4In6() {
			return invalidValue("CIDR block %s is malformed", v)
		}
		return nil
	}
}

// idForm is what every EC2 resource id looks like: its prefix, then 8
// hex digits (the old form) or 17 (the long form).
var idForm = regexp.MustCompile(`^[0-9a-fA-F]{8}([0-9a-fA-F]{9})?$`)

// id is the id of a resource whose ids start with prefix; EC2 answers an
// id not of that form with the resource's Malformed code, before looking
// anything up (so not NotFound).
func id(prefix, code string) kind {
	return func(_, v string) *apiError {
		rest, ok := strings.CutPrefix(v, prefix)
		if !ok || !idForm.MatchString(rest) {
			return errf(http.StatusBadRequest, code, `Invalid id: "%s" (expecting "%s...")`, v, prefix)
		}
		return nil
	}
}

var (
	instanceID  = id("i-", "InvalidInstanceID.Malformed")
	groupID     = id("sg-", "InvalidGroupId.Malformed")
	imageID     = id("ami-", "InvalidAMIID.Malformed")
	subnetIDArg = id("subnet-", "InvalidSubnetID.Malformed")
	volumeID    = id("vol-", "InvalidVolumeID.Malformed")
	vpcIDArg    = id("vpc-", "InvalidVpcID.Malformed")
	interfaceID = id("eni-", "InvalidNetworkInterfaceID.Malformed")
)

// spec is one action's parameters by shape ("Filter.N.Name") and kind.
type spec map[string]kind

// with returns s plus more.
func (s spec) with(more spec) spec {
	out := make(spec, len(s)+len(more))
	for k, v := range s {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// checkTyped is check for a typed spec: unknown parameters and missing
// required ones are refused, then every value is checked against its
// kind, in the order of the parameters' names so the answer is stable.
func (p params) checkTyped(s spec, required []string) *apiError {
	allowed := make([]string, 0, len(s)+1)
	allowed = append(allowed, "DryRun") // every EC2 action takes it
	for k := range s {
		allowed = append(allowed, k)
	}
	if e := p.check(allowed, required); e != nil {
		return e
	}
	for _, k := range sortedKeys(p.v) {
		kd := s[shape(k)]
		if shape(k) == "DryRun" {
			kd = boolean
		}
		if kd == nil {
			continue
		}
		for _, v := range p.v[k] {
			if e := kd(k, v); e != nil {
				return e
			}
		}
	}
	return nil
}

// checkFilterNames refuses a filter name the action does not know, as
// EC2 does whether or not anything would be filtered, and one EC2 knows
// that the fake does not apply (unmodelled) with an error of the fake's. known may hold
// "tag:" for the tag:<key> filters (and tag-key) of taggable resources.
func checkFilterNames(fs []filter, known, unmodelled []string) *apiError {
	for _, f := range fs {
		if slices.Contains(known, f.name) {
			continue
		}
		if k, ok := strings.CutPrefix(f.name, "tag:"); ok && k != "" && slices.Contains(known, "tag:") {
			continue
		}
		if (f.name == "tag-key" || f.name == "tag-value") && slices.Contains(known, "tag:") {
			continue
		}
		if slices.Contains(unmodelled, f.name) {
			return unmodelledFilter(f)
		}
		return unknownFilter(f)
	}
	return nil
}

// Tag rules EC2 applies to every tag a request carries.
const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// checkTagSpecs checks the request's tag specifications as EC2 does:
// resource types the action can tag (types), each at most once, and each
// type's tags within EC2's tag rules.
func (p params) checkTagSpecs(types []string) *apiError {
	seen := map[string]bool{}
	for i := 1; ; i++ {
		pre := "TagSpecification." + strconv.Itoa(i)
		rt := p.get(pre + ".ResourceType")
		if rt == "" {
			if p.get(pre+".Tag.1.Key") != "" {
				return errf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter %s.ResourceType", pre)
			}
			return nil
		}
		if !slices.Contains(types, rt) {
			return invalidValue("'%s' is not a valid taggable resource type for this operation.", rt)
		}
		if seen[rt] {
			return invalidValue("The same resource type may not be specified more than once in tag specifications")
		}
		seen[rt] = true
		keys := map[string]bool{}
		for j := 1; ; j++ {
			tag := pre + ".Tag." + strconv.Itoa(j)
			k, ok := p.v[tag+".Key"]
			if !ok {
				break
			}
			key, value := k[0], p.get(tag+".Value")
			switch {
			case key == "":
				return invalidValue("Tag key cannot be empty (%s.Key)", tag)
			case strings.HasPrefix(key, "aws:"):
				return invalidValue("Value ( %s ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use", key)
			case utf8.RuneCountInString(key) > maxTagKeyLen:
				return invalidValue("Tag key exceeds the maximum length of %d characters", maxTagKeyLen)
			case utf8.RuneCountInString(value) > maxTagValueLen:
				return invalidValue("Tag value exceeds the maximum length of %d characters", maxTagValueLen)
			case keys[key]:
				return invalidValue("Duplicate tag key '%s' specified for resource type %s", key, rt)
			}
			keys[key] = true
			if len(keys) > maxTags {
				return errf(http.StatusBadRequest, "TagLimitExceeded",
					"The maximum number of tags (%d) for a resource has been exceeded: %s asks for more", maxTags, pre)
			}
		}
	}
}

// protocolNames are the protocols EC2 names rather than numbers.
var protocolNames = map[string]string{"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}

// protocol is an IpProtocol as EC2 keeps it: tcp, udp, icmp, icmpv6, -1
// (all) or another protocol's number; ok is false for anything else.
func protocol(v string) (string, bool) {
	v = strings.ToLower(v)
	if n, ok := protocolNames[v]; ok {
		return n, true
	}
	switch v {
	case "tcp", "udp", "icmp", "icmpv6", "-1":
		return v, true
	}
	n, err := strconv.Atoi(v)
	return v, err == nil && n >= 0 && n <= 255
}

var permissionIndex = regexp.MustCompile(`^IpPermissions\.(\d+)\.`)

// permissions are the IpPermissions.N prefixes a request names, in order.
func (p params) permissions() []string {
	var ns []int
	for k := range p.v {
		if m := permissionIndex.FindStringSubmatch(k); m != nil {
			n, _ := strconv.Atoi(m[1])
			if !slices.Contains(ns, n) {
				ns = append(ns, n)
			}
		}
	}
	slices.Sort(ns)
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = "IpPermissions." + strconv.Itoa(n)
	}
	return out
}

// checkPermissions checks each IpPermissions.N as EC2 does: a protocol
// it knows, and for tcp, udp and icmp both ports, in range.
func checkPermissions(p params) *apiError {
	for _, pre := range p.permissions() {
		raw := p.get(pre + ".IpProtocol")
		if raw == "" {
			return errf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter %s.IpProtocol", pre)
		}
		proto, ok := protocol(raw)
		if !ok {
			return invalidValue("Invalid value '%s' for IP protocol. Unknown protocol.", raw)
		}
		from, to := p.get(pre+".FromPort"), p.get(pre+".ToPort")
		switch proto {
		case "tcp", "udp":
			if from == "" || to == "" {
				return invalidValue("Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange.")
			}
			f, _ := strconv.Atoi(from)
			t, _ := strconv.Atoi(to)
			for _, port := range []int{f, t} {
				if port < 0 {
					return errf(http.StatusBadRequest, "InvalidPermission.Malformed", "TCP/UDP port (%d) out of range", port)
				}
			}
			if f > t {
				return invalidValue("Invalid TCP/UDP port range: from port %d is above to port %d", f, t)
			}
		case "icmp":
			if from == "" || to == "" {
				return invalidValue("Invalid value 'Must specify both from and to ports with ICMP.' for portRange.")
			}
			f, _ := strconv.Atoi(from)
			t, _ := strconv.Atoi(to)
			if f > 255 || t > 255 {
				return errf(http.StatusBadRequest, "InvalidPermission.Malformed", "ICMP type (%d) or code (%d) out of range", f, t)
			}
		}
	}
	return nil
}

// permissionPorts is one checked IpPermissions.N's protocol and ports.
func permissionPorts(p params, pre string) (proto string, from, to int) {
	proto, _ = protocol(p.get(pre + ".IpProtocol"))
	from, _ = strconv.Atoi(p.get(pre + ".FromPort"))
	to, _ = strconv.Atoi(p.get(pre + ".ToPort"))
	return proto, from, to
}
