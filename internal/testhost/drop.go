package testhost

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/tinylabscom/mvm-verify/internal/proc"
)

// DropConnections kills the host's per-connection sshd processes (every
// sshd under the listener) with SIGKILL, as a crashed connection handler
// or an OOM kill would: clients see their connections end without a
// goodbye, while the listener stays up and takes new ones. What the
// sessions ran is left running, as it would be on a real host. It returns
// the killed processes' ids, and an error when there were none.
func (h *Host) DropConnections() ([]int, error) {
	var killed []int
	for _, pid := range proc.Descendants(h.Pid()) {
		if proc.Comm(pid) != "sshd" {
			continue // gone meanwhile, or a session's own process
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return killed, fmt.Errorf("kill sshd process %d of the host at %s: %w", pid, h.Addr(), err)
		}
		killed = append(killed, pid)
	}
	if len(killed) == 0 {
		return nil, fmt.Errorf("no per-connection sshd process under the listener %d of the host at %s", h.Pid(), h.Addr())
	}
	return killed, nil
}
