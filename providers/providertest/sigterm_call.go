package providertest

import (
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// SIGTERMDuringCall is SIGTERM's "during create" at another call of the
// create phase than the launch (a provider's firewall or network calls,
// which only the provider can tell apart): `mvm-verify run` gets SIGTERM
// from inside the fake's handler of each call for which is holds (only
// the first signals), the call then goes on and does its work, and the
// run must end failed within the runner's grace with nothing tagged left
// in the fake, before any post step. observe, when set, gets the fake
// before the run starts, to watch later calls (Kit.Inject of a fault
// that answers nothing). It returns the fake, for the provider to check
// that what the call made was made and then deleted.
func SIGTERMDuringCall(t *testing.T, c Cloud, name string, is func(fakecloud.Call) bool, observe func(Fake)) Fake {
	t.Helper()
	return runSIGTERMPhase(t, c, Binary(t), sigtermPhase{name: name, ready: true, run: "true",
		arm: func(f Fake, signal func()) string {
			if observe != nil {
				observe(f)
			}
			signalAt(f, is, signal)
			return ""
		}})
}

// Outsider is a client address no scenario's ssh-source-cidr covers
// (TEST-NET-2), for a provider's own firewall checks.
const Outsider = outsider

// SSHBanner connects to addr:port and returns the first bytes that come
// within wait, "" when none do: what a client the firewall lets through
// gets (an SSH banner) and what one it drops gets (nothing).
func SSHBanner(t *testing.T, addr string, port int, wait time.Duration) string {
	t.Helper()
	return sshBanner(t, addr, port, wait)
}
