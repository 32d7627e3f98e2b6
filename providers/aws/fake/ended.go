package fake

// EndInstance makes EC2 end live instance id on its own, as it ends a
// launch it accepted and then could not place (code
// Server.InsufficientInstanceCapacity) or a spot instance it reclaims:
// the instance reads shutting-down with that state reason, then
// terminated once its host has halted and the kit's termination delay
// (SetTerminationDelay) has passed, its volume and interface going with
// it as after TerminateInstances. Unlike EndLaunches, whose instances read
// terminated at once, a caller sees the shutting-down in between. It
// reports whether id was pending or running.
func (s *Server) EndInstance(id, code, message string) bool {
	ended := false
	s.instances.Update(id, func(in *Instance) {
		if in.State != "pending" && in.State != "running" {
			return
		}
		in.State, in.StateReason = "shutting-down", StateReason{Code: code, Message: message}
		in.Console = append(in.Console, "fake-ec2: instance ended: "+code)
		ended = true
	})
	if ended {
		go s.finishTermination(id)
	}
	return ended
}

// KeepVolume makes volume id outlive its instance, detached (available),
// as a root volume whose DeleteOnTermination was turned off does. It
// reports whether the volume exists.
func (s *Server) KeepVolume(id string) bool {
	return s.volumes.Update(id, func(v *Volume) { v.DeleteOnTermination = false })
}
