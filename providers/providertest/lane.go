package providertest

import "strings"

// The lanes, as the binary's lane input spells them.
const (
	laneKVM   = "kvm"
	laneNoKVM = "no-kvm"
)

// Lane is the lane every scenario runs the binary on (RunArgs' --lane,
// ActionEnv's INPUT_LANE), decided in this one place by the scenarios' own
// KVM check (KVMUsable), not by the probe under test: kvm where this
// machine, the fakes' "instance", has usable KVM, so machines with KVM
// exercise the kvm lane; no-kvm where it has none, since there the kvm
// lane fails at the host probe by design. why is KVMUsable's reason.
func Lane() (lane, why string) {
	usable, why := KVMUsable()
	if usable {
		return laneKVM, why
	}
	return laneNoKVM, why
}

// LaneArg is the --lane (or --lane=) value of args, "" when there is none.
func LaneArg(args []string) string {
	lane := ""
	for i, a := range args {
		if name, ok := flagOf(a); ok && name == "lane" {
			if _, v, found := strings.Cut(a, "="); found {
				lane = v
			} else if i+1 < len(args) {
				lane = args[i+1]
			}
		}
	}
	return lane
}

// RowDisplay is the Provider text of c's row in the summary on lane: the
// provider's display name, with the lane in parentheses on the no-kvm lane
// (its row key is the provider's with -no-kvm appended, "aws-no-kvm",
// shown as "AWS (no-kvm)").
func (c Cloud) RowDisplay(lane string) string {
	if lane == laneNoKVM {
		return c.Display + " (" + laneNoKVM + ")"
	}
	return c.Display
}
