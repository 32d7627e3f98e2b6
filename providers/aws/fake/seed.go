package fake

// AddGroup adds a security group named name in vpc ("" for region's
// default VPC), untagged, as something other than the run would have made
// it, and returns it: tests use it to put a group of the run's name where
// the run must not pick it up (another VPC).
func (s *Server) AddGroup(region, vpc, name string) Group {
	if vpc == "" {
		vpc = vpcID(region)
	}
	g := Group{ID: s.NewID("sg-"), Region: region, Name: name, Description: "added by the test", VpcID: vpc}
	s.groups.Put(g.ID, g)
	return g
}
