package fake

import (
	"net/netip"

	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// An instance's public address is not its test host's: it is the kit's
// front (fakecloud.Kit.SetFirewall), which lets a connection through to
// the host's sshd only when one of the instance's security groups allows
// tcp/22 from the client's address (Kit.SetClientAddr), as EC2's network
// does; what the groups do not allow is dropped. The groups are read at
// each connection, so a rule added after launch lets the next connection
// in, as it does on EC2.

// DefaultClientAddr is the address the fake takes connections to its
// instances to come from, unless Config.ClientAddr or SetClientAddr says
// otherwise.
const DefaultClientAddr = fakecloud.DefaultClientAddr

// sshPort is the port the instance's sshd has in EC2's terms, whatever
// port its test host listens on.
const sshPort = 22

// sshAllowed reports whether the security groups of instance id let the
// client reach its sshd: a rule for tcp (or all traffic) covering port 22
// from a range holding the client's address. The VPC's default group,
// which EC2 gives a launch naming none, lets in only its own members, so
// never the client.
func (s *Server) sshAllowed(id string, from netip.Addr) bool {
	in, ok := s.instances.Get(id)
	if !ok || in.State != "running" {
		return false
	}
	groups := in.Groups
	if n, ok := s.ifaces.Get(in.InterfaceID); ok {
		groups = n.Groups
	}
	for _, gid := range groups {
		g, ok := s.groups.Get(gid)
		if !ok {
			continue
		}
		for _, r := range g.Ingress {
			if r.Protocol != "-1" && (r.Protocol != "tcp" || r.From > sshPort || r.To < sshPort) {
				continue
			}
			if p, err := netip.ParsePrefix(r.CIDR); err == nil && p.Contains(from) {
				return true
			}
		}
	}
	return false
}
