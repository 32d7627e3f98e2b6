package fake

import "slices"

// Test controls: the exported methods tests use to shape the fake's
// behaviour and to read back what it holds.

// IgnoreDryRun makes the endpoint ignore DryRun for action, as a broken
// or partial implementation of the API might: the call is really made.
func (s *Server) IgnoreDryRun(action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ignoreDryRun == nil {
		s.ignoreDryRun = map[string]bool{}
	}
	s.ignoreDryRun[action] = true
}

func (s *Server) ignoresDryRun(action string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ignoreDryRun[action]
}

// DryLaunches returns the forms of the RunInstances dry runs whose
// parameters passed, oldest first, for tests to compare with the launch
// (Instance.Request).
func (s *Server) DryLaunches() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dryLaunches)
}

// EndLaunches makes the next n launches end before they run: RunInstances
// answers pending, as EC2 does, and from then on the instance reads as
// terminated with the state reason code and message given, as a launch
// EC2 accepted but then could not place does
// (Server.InsufficientInstanceCapacity). Its volume and interface go with it.
func (s *Server) EndLaunches(n int, code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.endLaunches = append(s.endLaunches, StateReason{Code: code, Message: message})
	}
}

func (s *Server) nextEnd() (StateReason, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.endLaunches) == 0 {
		return StateReason{}, false
	}
	r := s.endLaunches[0]
	s.endLaunches = s.endLaunches[1:]
	return r, true
}

// HideVolumesWhilePending keeps the root volume of a pending instance out
// of DescribeVolumes until the instance runs: EC2 creates it as the
// instance starts, and it may not be listed (or name its instance) before
// then. Teardown must then find a pending instance by its own tags.
func (s *Server) HideVolumesWhilePending() {
	s.mu.Lock()
	s.hidePendingVolumes = true
	s.mu.Unlock()
}

// AddConsole appends a line to an instance's console output, as its
// kernel or cloud-init would print one.
func (s *Server) AddConsole(id, line string) {
	s.instances.Update(id, func(in *Instance) { in.Console = append(in.Console, line) })
}

// KeepInterfaces makes the network interfaces of later launches stay,
// detached, when their instance terminates, as one whose
// DeleteOnTermination was turned off would.
func (s *Server) KeepInterfaces() {
	s.mu.Lock()
	s.keepENIs = true
	s.mu.Unlock()
}

// Interfaces returns every network interface.
func (s *Server) Interfaces() []NetworkInterface { return s.ifaces.List(nil) }

// Instances returns every instance the fake knows, terminated ones included.
func (s *Server) Instances() []Instance { return s.instances.List(nil) }

// Groups returns every security group.
func (s *Server) Groups() []Group { return s.groups.List(nil) }

// Volumes returns every volume.
func (s *Server) Volumes() []Volume { return s.volumes.List(nil) }

// SpotRequests returns every spot instance request, closed ones included.
func (s *Server) SpotRequests() []SpotRequest { return s.spots.List(nil) }

// Resource is one resource the fake still holds, for tests to name what
// a teardown left.
type Resource struct {
	Kind, ID, Region string
	Tags             map[string]string
}

func (r Resource) String() string { return r.Kind + " " + r.ID + " in " + r.Region }

// Tagged lists every resource that still exists and carries all the tags
// in want: instances not terminated, security groups, volumes, network
// interfaces and spot requests not closed. Empty after a clean teardown of
// the run whose tags want holds.
func (s *Server) Tagged(want map[string]string) []Resource {
	has := func(tags map[string]string) bool {
		for k, v := range want {
			if tags[k] != v {
				return false
			}
		}
		return true
	}
	var out []Resource
	for _, in := range s.instances.List(nil) {
		if in.State != "terminated" && has(in.Tags) {
			out = append(out, Resource{"instance", in.ID, in.Region, in.Tags})
		}
	}
	for _, g := range s.groups.List(nil) {
		if has(g.Tags) {
			out = append(out, Resource{"security-group", g.ID, g.Region, g.Tags})
		}
	}
	for _, v := range s.volumes.List(nil) {
		if has(v.Tags) {
			out = append(out, Resource{"volume", v.ID, v.Region, v.Tags})
		}
	}
	for _, n := range s.ifaces.List(nil) {
		if has(n.Tags) {
			out = append(out, Resource{"network-interface", n.ID, n.Region, n.Tags})
		}
	}
	for _, r := range s.spots.List(nil) {
		if r.State != "closed" && has(r.Tags) {
			out = append(out, Resource{"spot-instances-request", r.ID, r.Region, r.Tags})
		}
	}
	return out
}

// Live counts what still exists (or costs money): instances not
// terminated, groups and volumes. Zero after a clean teardown.
func (s *Server) Live() (instances, groups, volumes int) {
	instances = len(s.instances.List(func(_ string, in Instance) bool { return in.State != "terminated" }))
	return instances, len(s.groups.List(nil)), len(s.volumes.List(nil))
}

// Instance returns one instance by id.
func (s *Server) Instance(id string) (Instance, bool) { return s.instances.Get(id) }

// LimitPages makes a paginated describe (DescribeInstances,
// DescribeSecurityGroups, DescribeVolumes, DescribeNetworkInterfaces) read
// at most n items a page however large its MaxResults, as EC2 may return
// fewer items than asked for with a NextToken. So a test needs only a few
// resources to make an adapter follow NextToken. 0 lifts the limit.
func (s *Server) LimitPages(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageLimit = n
}
