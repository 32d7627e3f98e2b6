// Package providertest runs the scenarios every cloud provider must pass
// against its fake (providers/<name>/fake), through the built mvm-verify
// binary, as a user or GitHub's runner runs it: the whole cycle with a
// clean leak check, SIGTERM at each phase, the post step after a SIGKILL,
// and preflight refusals that create nothing. A provider's tests describe
// the provider and its fake as a Cloud and call Run; the building blocks
// (Binary, Start, ActionEnv, RunPostCleanly, …) are exported for the
// provider's own binary tests.
//
// It is test support: import it from _test.go files only. It runs the
// binary as a subprocess and never imports the cycle, the CLI or the
// reporting packages (DESIGN §3).
package providertest

import (
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// Fake is one running fake cloud, as the scenarios drive it. A provider's
// test wraps its fake server in a type implementing it.
type Fake interface {
	// Inputs are the action inputs, by name, that point the binary at
	// this fake: its endpoint, a region it offers.
	Inputs() map[string]string
	// Env is the environment the binary needs to use this fake: the
	// credentials it accepts, and whatever keeps the SDK off this
	// machine's own configuration. PATH, HOME and TMPDIR are added.
	Env() []string
	// Kit is the fakecloud kit the fake is built on: the scenarios hold
	// boots, add consistency lag and watch calls through it.
	Kit() *fakecloud.Kit
	// Held lists what the fake still holds (not deleted, not terminated)
	// that carries every tag in want; nil want lists everything, tagged
	// or not.
	Held(want map[string]string) []Resource
	// IsLaunch says whether a call creates an instance (EC2's
	// RunInstances). Used to signal a run in the middle of its create.
	IsLaunch(c fakecloud.Call) bool
	// IsPoll says whether a call reads an instance by its id, as the
	// adapter does once its create call has answered, waiting for the
	// instance to run (EC2's DescribeInstances with InstanceId.1).
	IsPoll(c fakecloud.Call) bool
	// PublicAddress is the address and port the fake's API reports for
	// instance id, which the run connects to. It must be the kit's public
	// address for it (fakecloud.Kit.PublicAddr), which the fake's
	// firewall guards (Kit.SetFirewall): the scenarios check both.
	PublicAddress(id string) (addr string, port int)
	// Deletes lists the instances a call deletes (EC2's
	// TerminateInstances: its InstanceId.N), none for other calls.
	Deletes(c fakecloud.Call) []string
	// Mutating says whether a call creates, changes or deletes something.
	// Reads, identity checks and dry runs do not; a run refused at
	// preflight makes no mutating call.
	Mutating(c fakecloud.Call) bool
}

// Resource is one thing a fake holds.
type Resource struct {
	Kind, ID string
	Tags     map[string]string
}

func (r Resource) String() string { return r.Kind + " " + r.ID }

// Cloud describes a provider and its fake to the scenarios.
type Cloud struct {
	// Provider is the registry name, given as --provider / INPUT_PROVIDER.
	Provider string
	// Display is the Provider text of the provider's row in the matrix:
	// its display name for the provider's key (internal/matrix), e.g. "AWS".
	Display string
	// InstanceKind is the Resource.Kind of the host itself ("instance"),
	// as the fake's Held and the provider's Destroy report name it.
	InstanceKind string
	// Start starts a fresh fake whose instances boot with b, and closes
	// it when t ends.
	Start func(t *testing.T, b fakecloud.Booter) Fake
	// Secrets names environment variables (in Fake.Env or CycleEnv)
	// whose values must never reach the host: the cycle checks the user
	// data for them.
	Secrets []string
	// CycleEnv is added to the whole cycle's environment: secrets the
	// run holds beyond the credentials, such as a session token.
	CycleEnv []string
	// ConsistencyLag is the describe-after-create lag, in reads, the
	// post step after a SIGKILL is also run with (Kit.SetConsistencyLag);
	// 0 when the fake does not model it.
	ConsistencyLag int
	// The preflight refusals every cloud must have: an unknown region, a
	// type the KVM catalog says has no KVM, no credentials.
	UnknownRegion, NoKVMType, NoCredentials Refusal
	// Refusals are the provider's other preflight refusals.
	Refusals []Refusal
	// AfterCycle, when set, checks what else the provider promises of a
	// whole cycle (its console output, say).
	AfterCycle func(t *testing.T, r CycleRun)
}

// Refusal is a run that preflight must refuse, with exit 2, before the
// fake is asked to create anything.
type Refusal struct {
	Name string
	// Args are added to the run's flags.
	Args []string
	// Env, when set, replaces Fake.Env (to take the credentials away).
	Env []string
	// Want is part of the output (the error naming the input, the value
	// and the expected form).
	Want string
	// Notes, when set, is the whole Notes cell of the row in summary.md;
	// NotesHas, a part of it.
	Notes, NotesHas string
	// Setup shapes the fake before the run.
	Setup func(Fake)
}

// marker selects everything tagged by mvm-verify: each scenario has a fake
// of its own, so all of it is the scenario's run.
func marker() map[string]string { return map[string]string{providers.TagMarker: "1"} }

// leftIn is what f still holds of any run.
func leftIn(f Fake) []Resource { return f.Held(marker()) }

// countCalls counts the calls the fake saw for which is holds.
func countCalls(f Fake, is func(fakecloud.Call) bool) int {
	n := 0
	for _, c := range f.Kit().Calls() {
		if is(c) {
			n++
		}
	}
	return n
}

// mutating lists the mutating calls the fake saw.
func mutating(f Fake) []string {
	var out []string
	for _, c := range f.Kit().Calls() {
		if f.Mutating(c) {
			out = append(out, c.Op)
		}
	}
	return out
}

// ofKind keeps the resources of kind.
func ofKind(rs []Resource, kind string) []Resource {
	var out []Resource
	for _, r := range rs {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// inputFlag is the flag of an input: every input foo-bar is --foo-bar.
func inputFlag(name string) string { return "--" + name }

// inputEnv is the runner's variable of an input: INPUT_FOO-BAR.
func inputEnv(name, value string) string { return "INPUT_" + strings.ToUpper(name) + "=" + value }
