package providertest

import (
	"strings"
	"testing"
)

// stubFake answers the two questions RunArgs and ActionEnv ask of a fake.
type stubFake struct{ Fake }

func (stubFake) Inputs() map[string]string { return map[string]string{"region": "us-east-1"} }
func (stubFake) Env() []string             { return []string{"AWS_ACCESS_KEY_ID=AKIDSTUB"} }

// TestRunsOnTheLaneThisMachineCan: the binary's runs and the action's
// steps both ask for the lane this machine can run, by the scenarios' own
// KVM check — kvm with usable KVM, so KVM machines exercise the kvm lane,
// else no-kvm, where the kvm lane fails at the host probe by design.
// Without a lane the binary would take its default, kvm, everywhere.
func TestRunsOnTheLaneThisMachineCan(t *testing.T) {
	usable, why := KVMUsable()
	want := laneNoKVM
	if usable {
		want = laneKVM
	}
	if lane, laneWhy := Lane(); lane != want || laneWhy != why {
		t.Errorf("Lane() = %q, %q; KVMUsable says %v, %q, so want %q", lane, laneWhy, usable, why, want)
	}
	c := Cloud{Provider: "aws", Display: "AWS"}
	args := RunArgs(t, c, stubFake{}, "suite.yml")
	if got := LaneArg(args); got != want {
		t.Errorf("RunArgs' lane %q, want %q (%s): %q", got, want, why, args)
	}
	if n := strings.Count(strings.Join(args, " "), "--lane"); n != 1 {
		t.Errorf("RunArgs gives --lane %d times, want once (the binary refuses a flag given twice): %q", n, args)
	}
	got := ""
	for _, e := range ActionEnv(t, c, stubFake{}, t.TempDir()) {
		if v, ok := strings.CutPrefix(e, "INPUT_LANE="); ok {
			got = v // the last one wins, as in the process's environment
		}
	}
	if got != want {
		t.Errorf("ActionEnv's lane input %q, want %q (%s)", got, want, why)
	}
}

// TestLaneArg: the lane of a run's arguments, in either form; the last
// given, as WithArgs leaves it; none without one.
func TestLaneArg(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--provider", "aws", "--lane", "no-kvm", "--out", "o"}, "no-kvm"},
		{[]string{"run", "--lane=kvm"}, "kvm"},
		{WithArgs([]string{"run", "--lane", "no-kvm", "--out", "o"}, "--lane", "kvm"), "kvm"},
		{[]string{"run", "--provider", "aws", "--out", "lane"}, ""},
	} {
		if got := LaneArg(tc.args); got != tc.want {
			t.Errorf("LaneArg(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestRowDisplay: the row of the no-kvm lane is the provider's with the
// lane in parentheses, as the matrix shows the key aws-no-kvm.
func TestRowDisplay(t *testing.T) {
	c := Cloud{Display: "AWS"}
	if got := c.RowDisplay(laneKVM); got != "AWS" {
		t.Errorf("kvm lane row %q, want AWS", got)
	}
	if got := c.RowDisplay(laneNoKVM); got != "AWS (no-kvm)" {
		t.Errorf("no-kvm lane row %q, want AWS (no-kvm)", got)
	}
}
