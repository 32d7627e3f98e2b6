package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/providers"
)

// forgetfulProvider calls itself aws, so the KVM catalog knows its types,
// but, like an adapter that forgot the catalog, checks nothing at
// preflight. It counts its calls; Create makes nothing and fails, so a
// leg that gets that far stops there without a host.
type forgetfulProvider struct {
	hostProvider
	// defaultType is what DefaultCandidate fills in for a candidate
	// without a type (aws's instance-type input).
	defaultType string

	calls                  sync.Mutex
	preflights, createsRun int
}

func (p *forgetfulProvider) Name() string { return "aws" }

func (p *forgetfulProvider) DefaultCandidate() providers.Candidate {
	return providers.Candidate{Region: "us-east-1", Type: p.defaultType}
}

func (p *forgetfulProvider) Preflight(context.Context, providers.Request) error {
	p.calls.Lock()
	defer p.calls.Unlock()
	p.preflights++
	return nil
}

func (p *forgetfulProvider) Create(context.Context, providers.Request, providers.Journal) (*providers.Host, error) {
	p.calls.Lock()
	defer p.calls.Unlock()
	p.createsRun++
	return nil, providers.Classified(providers.ClassInvalid, "", errors.New("test provider creates nothing"))
}

// TestPreflightRefusesTypeWithoutKVM: the cycle itself refuses, at
// preflight and before the provider is asked anything, a candidate whose
// type the catalog knows lacks KVM: t3.large on aws, whether a candidate
// names it or the provider's default fills it in. The refusal reads as
// the adapter's own did (the input, the value, the types that have KVM),
// fails the preflight phase (exit 2: could not start) and creates
// nothing. The no-kvm lane lets the same type through to Create.
func TestPreflightRefusesTypeWithoutKVM(t *testing.T) {
	candidateInput := func(i int, field string) string {
		if field == "" {
			return fmt.Sprintf("candidates[%d]", i)
		}
		return fmt.Sprintf("candidates[%d].%s", i, field)
	}
	cases := []struct {
		name        string
		lane        string
		cands       []providers.Candidate
		defaultType string
		// want is in the preflight's error when refused; "" means the
		// leg must get past preflight to Create.
		want string
	}{
		{name: "candidate type", lane: "kvm", cands: []providers.Candidate{{Type: "c8i.large"}, {Region: "eu-west-1", Type: "t3.large"}},
			want: `input "candidates[1].type": got "t3.large", expected a type with nested virtualization such as c8i.large, or a *.metal type; ` +
				`or set lane: no-kvm (no KVM on this type: virtualized without nested virtualization; ` +
				`on AWS only *.metal types and C8i/M8i/R8i (and their -flex variants) with CpuOptions.NestedVirtualization expose KVM)`},
		{name: "provider's default type", lane: "kvm", cands: []providers.Candidate{{}}, defaultType: "t3.large",
			want: `input "candidates[0].type": got "t3.large", expected a type with nested virtualization`},
		{name: "lane auto on a provider offering kvm", lane: "auto", cands: []providers.Candidate{{Type: "m5.large"}},
			want: `got "m5.large", expected a type with nested virtualization such as c8i.large, or a *.metal type; or set lane: no-kvm (no KVM on this type`},
		{name: "no-kvm lane", lane: "no-kvm", cands: []providers.Candidate{{Type: "t3.large"}}},
		{name: "type with KVM", lane: "kvm", cands: []providers.Candidate{{Type: "c8i.large"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &forgetfulProvider{defaultType: tc.defaultType}
			plan := testPlan(p)
			plan.Out = io.Discard
			plan.Lane = tc.lane
			plan.Candidates = tc.cands
			plan.CandidateInput = candidateInput
			plan.Info = providers.Info{Name: "aws", Creates: true, Lanes: []string{providers.LaneKVM, providers.LaneNoKVM}}
			res := Run(context.Background(), plan)
			pre := res.Phase(PhasePreflight)
			if pre == nil {
				t.Fatalf("no preflight phase: %+v", res.Phases)
			}
			if tc.want == "" {
				if pre.Status != matrix.Pass || p.preflights != len(tc.cands) || p.createsRun != 1 {
					t.Errorf("preflight %s (%s), provider preflights %d, creates %d: want passed, every candidate asked, one create",
						pre.Status, pre.Error, p.preflights, p.createsRun)
				}
				return
			}
			// The refusal's class (invalid) steers the cycle; the reader
			// gets the message alone (providers.Message).
			if pre.Status != matrix.Fail || !strings.Contains(pre.Error, tc.want) || strings.Contains(pre.Error, "invalid:") {
				t.Errorf("preflight %s: %q, want failed with %q and no class prefix", pre.Status, pre.Error, tc.want)
			}
			// The phase the CLI maps to exit 2, and nothing after it.
			if res.Phase(PhaseProvision) != nil || res.Outcome != Errored {
				t.Errorf("outcome %s, phases %+v: want errored at preflight, no provision", res.Outcome, res.Phases)
			}
			if p.preflights != 0 || p.createsRun != 0 {
				t.Errorf("provider preflights %d, creates %d: want the catalog's refusal before any provider call", p.preflights, p.createsRun)
			}
		})
	}
}
