package local

import (
	"errors"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/sshd"
	"github.com/tinylabscom/mvm-verify/providers"
)

// WithoutCgroup makes p find no cgroup v2, as in a container with a
// read-only cgroupfs, so only the environment marker finds a leg's processes.
func WithoutCgroup(p providers.Provider) {
	p.(*Provider).cgroupMount = func() (string, error) {
		return "", errors.New("the test took cgroups away")
	}
}

// WithSSHDLookup replaces how p finds sshd.
func WithSSHDLookup(p providers.Provider, find func() (string, error)) {
	p.(*Provider).findSSHD = find
}

// MarkerVar is the environment variable that marks a leg's sessions.
const MarkerVar = markerVar

// Cgroup2Mount is where this machine mounts cgroup v2, if anywhere.
var Cgroup2Mount = cgroup2Mount

// WithKVM makes p see this machine's KVM as usable or not.
func WithKVM(p providers.Provider, usable bool) {
	why := ""
	if !usable {
		why = "the test took KVM away"
	}
	p.(*Provider).kvmUsable = func() (bool, string) { return usable, why }
}

// WithTermGrace sets how long Destroy waits after SIGTERM.
func WithTermGrace(p providers.Provider, d time.Duration) { p.(*Provider).termGrace = d }

// WithSSHDStarted calls started once sshd runs, before Create records it.
func WithSSHDStarted(p providers.Provider, started func(*sshd.Server)) {
	p.(*Provider).sshdStarted = started
}
