package cli_test

import (
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// hostLane is what a leg run on this machine expects of its lane, decided
// by the scenarios' own oracle (providertest.KVMUsable), not by the probe
// under test: with usable KVM a local leg on lane auto runs the kvm lane,
// keyed by its provider alone, and its Live cycle passes; without it, lane
// auto is no-kvm, the row's key and status context carry the lane
// ("local-no-kvm", "mvm-verify/local-no-kvm", "Local (no-kvm)") and Live
// cycle reads n/a. Every test that runs a whole leg and asserts its row,
// status or Live cycle takes its expectations from here, so the same test
// holds on both kinds of machine.
type hostLane struct {
	kvm bool
	// why is KVMUsable's reason, for failure messages.
	why string
	// lane is the lane a leg on lane auto runs here: kvm or no-kvm.
	lane string
	// suffix is what the lane adds to a provider's row key: "" or
	// "-no-kvm".
	suffix string
	// liveStatus is the Live cycle status a passing suite leaves in
	// result.json and the row output: pass, or n/a without KVM.
	liveStatus matrix.Status
	// liveCell is how the Live cycle cell of a verified leg's row begins
	// in summary.md and the PR comment: "✅ verified" (the date follows),
	// or "n/a (no KVM)".
	liveCell string
}

// thisHostLane asks the oracle what lane this machine gives a leg.
func thisHostLane() hostLane {
	ok, why := providertest.KVMUsable()
	if ok {
		return hostLane{kvm: true, why: why, lane: "kvm", liveStatus: matrix.Pass, liveCell: "✅ verified"}
	}
	return hostLane{why: why, lane: "no-kvm", suffix: "-no-kvm", liveStatus: matrix.NA, liveCell: "n/a (no KVM)"}
}

// key is provider's row key here ("local" or "local-no-kvm").
func (h hostLane) key(provider string) string { return provider + h.suffix }

// context is provider's commit status context here.
func (h hostLane) context(provider string) string { return "mvm-verify/" + h.key(provider) }

// display is provider's row name here ("Local" or "Local (no-kvm)").
func (h hostLane) display(provider string) string { return matrix.DisplayName(h.key(provider)) }

// rowPrefix is the start of provider's row in summary.md or at the
// terminal: "| Local |" or "| Local (no-kvm) |".
func (h hostLane) rowPrefix(provider string) string { return "| " + h.display(provider) + " |" }

// passRow is the start of a verified leg's summary.md row: "| Local | ✅ |
// ✅ verified" with KVM, "| Local (no-kvm) | ✅ | n/a (no KVM)" without.
func (h hostLane) passRow(provider string) string {
	return h.rowPrefix(provider) + " ✅ | " + h.liveCell
}

// linkedPassRow is passRow as the PR comment has it, the provider cell
// linking the job at url: "[Local](url) | ✅ | ✅ verified".
func (h hostLane) linkedPassRow(provider, url string) string {
	return "[" + h.display(provider) + "](" + url + ") | ✅ | " + h.liveCell
}

// laneArgs pins an aws-fake or ssh leg that is not about KVM to the lane
// this machine can run: none with KVM (lane auto, which is kvm for those
// providers, as before), --lane no-kvm without, where the kvm lane would
// stop at the probe before the suite. The fake cloud's hosts and the ssh
// tests' hosts are this machine, so they have its KVM. The leg's row key
// is then hostLane.key of the provider.
func (h hostLane) laneArgs() []string {
	if h.kvm {
		return nil
	}
	return []string{"--lane", h.lane}
}

// laneInputs is laneArgs as the action's INPUT_ environment.
func (h hostLane) laneInputs() []string {
	if h.kvm {
		return nil
	}
	return []string{"INPUT_LANE=" + h.lane}
}
