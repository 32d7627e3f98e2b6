package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/providers"
)

func TestCleanupsUnwindInReverseAndKeepGoing(t *testing.T) {
	var c cleanups
	var order []string
	for _, name := range []string{"a", "b", "c"} {
		c.push(name, func(context.Context) error {
			order = append(order, name)
			if name == "b" {
				return errors.New("b broke")
			}
			return nil
		})
	}
	err := c.unwind(context.Background(), slog.New(slog.DiscardHandler), 0, hostEach).err
	if want := []string{"c", "b", "a"}; !reflect.DeepEqual(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if err == nil || !strings.Contains(err.Error(), "b: b broke") {
		t.Errorf("error %v, want b's error named", err)
	}
	order = nil
	if err := c.unwind(context.Background(), slog.New(slog.DiscardHandler), 0, hostEach).err; err != nil || len(order) != 0 {
		t.Errorf("a second unwind ran cleanups again: %v %v", order, err)
	}
}

// After a signal the provider's cleanups (destroy) run first with all of
// the budget, then the host-side ones, each in a short budget of its own,
// their errors kept apart.
func TestCleanupsCancelledDestroyFirst(t *testing.T) {
	var c cleanups
	var order []string
	liveDestroy := false
	c.pushHost("close ssh", func(context.Context) error { order = append(order, "close ssh"); return nil })
	c.push("destroy", func(ctx context.Context) error {
		order = append(order, "destroy")
		liveDestroy = ctx.Err() == nil
		return nil
	})
	c.pushHost("remove probe binary", func(ctx context.Context) error {
		order = append(order, "remove probe binary")
		<-ctx.Done() // a host that does not answer
		return ctx.Err()
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u := c.unwind(ctx, slog.New(slog.DiscardHandler), time.Millisecond, hostEach)
	err, hostErr := u.err, u.hostErr
	if want := []string{"destroy", "remove probe binary", "close ssh"}; !reflect.DeepEqual(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if !liveDestroy {
		t.Error("destroy ran with an ended context")
	}
	if err != nil || hostErr == nil || !strings.Contains(hostErr.Error(), "remove probe binary") {
		t.Errorf("err %v, host err %v; want only the host-side cleanup's error, apart", err, hostErr)
	}
	if ctx.Err() != nil {
		t.Error("a host-side cleanup spent the whole budget")
	}
}

// After a signal on a host the provider created, the host-side cleanups
// are skipped once the destroy ran (they could only wait on a host that is
// gone); closing the connection still runs.
func TestCleanupsCancelledSkipHostSide(t *testing.T) {
	var c cleanups
	var order []string
	c.push("destroy", func(context.Context) error { order = append(order, "destroy"); return nil })
	c.pushConn("close ssh", func(context.Context) error { order = append(order, "close ssh"); return nil })
	c.pushHost("remove probe binary", func(ctx context.Context) error {
		order = append(order, "remove probe binary")
		return nil
	})
	u := c.unwind(context.Background(), slog.New(slog.DiscardHandler), time.Second, hostSkip)
	err, hostErr, skipped := u.err, u.hostErr, u.skipped
	if want := []string{"destroy", "close ssh"}; !reflect.DeepEqual(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if want := []string{"remove probe binary"}; !reflect.DeepEqual(skipped, want) {
		t.Errorf("skipped %v, want %v", skipped, want)
	}
	if err != nil || hostErr != nil {
		t.Errorf("err %v, host err %v", err, hostErr)
	}
}

// After a signal on a host the run did not create (ssh), the host-side
// cleanups are the whole teardown: each gets its even share of what is
// left of the budget, not just hostBudget, and the last one all of it but
// the grace a kill of its command may take (see cleanup_test.go).
func TestCleanupsCancelledShareHostSide(t *testing.T) {
	var c cleanups
	deadlines := map[string]time.Time{}
	record := func(name string) func(context.Context) error {
		return func(ctx context.Context) error {
			deadlines[name], _ = ctx.Deadline()
			return nil
		}
	}
	c.pushConn("close ssh", record("close ssh"))
	c.pushHost("remove suite user", record("remove suite user"))
	c.pushHost("stop the suite's processes", record("stop the suite's processes"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	budget, _ := ctx.Deadline()
	if u := c.unwind(ctx, slog.New(slog.DiscardHandler), time.Millisecond, hostShare); u.err != nil || u.hostErr != nil {
		t.Fatalf("err %v, host err %v", u.err, u.hostErr)
	}
	// Half the minute for the first of two, the rest for the second.
	if first := deadlines["stop the suite's processes"]; first.Before(budget.Add(-40*time.Second)) || !first.Before(budget.Add(-20*time.Second)) {
		t.Errorf("first host cleanup's deadline %v before the budget's end, want about half of it", budget.Sub(first))
	}
	if last, want := deadlines["remove suite user"], budget.Add(-remote.DefaultCancelGrace); !last.Equal(want) {
		t.Errorf("last host cleanup's deadline %v before the budget's end, want all that is left but the kill grace (%s)", budget.Sub(last), remote.DefaultCancelGrace)
	}
}

func passPhases(names ...string) []PhaseResult {
	var out []PhaseResult
	for _, n := range names {
		out = append(out, PhaseResult{Name: n, Status: matrix.Pass})
	}
	return out
}

// failIn is names passed but failed, which failed with the error msg:
// a verdict.
func failIn(failed, msg string, names ...string) []PhaseResult {
	out := passPhases(names...)
	for i := range out {
		if out[i].Name == failed {
			out[i].Status, out[i].Error = matrix.Fail, msg
		}
	}
	return out
}

// stopIn is names passed but stopped, which the run's end (a signal, the
// overall limit) cut short with the error msg: no verdict.
func stopIn(stopped, msg string, names ...string) []PhaseResult {
	out := failIn(stopped, msg, names...)
	for i := range out {
		if out[i].Name == stopped {
			out[i].Stopped = true
		}
	}
	return out
}

var allPhases = []string{PhasePreflight, PhaseProvision, PhaseReady, PhaseProbe, PhaseSuite, PhaseTeardown}

func TestRowCells(t *testing.T) {
	day := time.Date(2026, 5, 6, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name                    string
		res                     Result
		preflight, live, seccmp matrix.Status
		notes                   string // the exact notes
	}{
		{
			name: "all green",
			res: Result{Outcome: Verified, Lane: "kvm", Phases: passPhases(allPhases...), Steps: []StepResult{
				{Name: "seccomp", Column: matrix.SeccompProbe, Status: matrix.Pass},
				{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.Pass},
			}},
			preflight: matrix.Pass, live: matrix.Pass, seccmp: matrix.Pass, notes: "0 s",
		},
		{
			// The notes: cost, duration, instance type.
			name: "all green with cost, duration and type",
			res: Result{Outcome: Verified, Lane: "kvm", CostUSD: 2.5, Duration: 35 * time.Minute,
				Host: &HostInfo{Type: "c8i.large"}, Phases: passPhases(allPhases...), Steps: []StepResult{
					{Name: "seccomp", Column: matrix.SeccompProbe, Status: matrix.Pass},
					{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.Pass},
				}},
			preflight: matrix.Pass, live: matrix.Pass, seccmp: matrix.Pass, notes: "$2.50 / 35 min, c8i.large",
		},
		{
			// ... and the first failure after them.
			name: "failing with cost, duration and type",
			res: Result{Outcome: Failed, Lane: "kvm", CostUSD: 2.5, Duration: 35 * time.Minute,
				Host: &HostInfo{Type: "c8i.large"}, FirstFailure: "smoke: exit status 3", Phases: passPhases(allPhases...),
				Steps: []StepResult{
					{Name: "seccomp", Column: matrix.SeccompProbe, Status: matrix.Pass},
					{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.Fail, Reason: "exit status 3"},
				}},
			preflight: matrix.Pass, live: matrix.Fail, seccmp: matrix.Pass, notes: "$2.50 / 35 min, c8i.large, smoke: exit status 3",
		},
		{
			name: "free provider: duration only",
			res: Result{Outcome: Verified, Lane: "kvm", Duration: 42 * time.Second, Phases: passPhases(allPhases...),
				Steps: []StepResult{{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.Pass}}},
			// No step feeds the seccomp column: the leg had no such check
			// (n/a), never "?" (a leg that never reported), nor "—",
			// which would make a verified leg's status a failure.
			preflight: matrix.Pass, live: matrix.Pass, seccmp: matrix.NA, notes: "42 s",
		},
		{
			name: "no-kvm lane",
			res: Result{Outcome: Verified, Lane: "no-kvm", Phases: passPhases(allPhases...), Steps: []StepResult{
				{Name: "seccomp", Column: matrix.SeccompProbe, Status: matrix.Pass},
				{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.NA},
			}},
			preflight: matrix.Pass, live: matrix.NA, seccmp: matrix.Pass, notes: "0 s, no-KVM lane",
		},
		{
			name: "zero tests is not run, never a pass",
			res: Result{Outcome: Incomplete, Lane: "kvm", Phases: passPhases(allPhases...), Steps: []StepResult{
				{Name: "seccomp", Column: matrix.SeccompProbe, Status: matrix.NotRun},
			}},
			// Not verified, so no "verified" under Live cycle; but its
			// parts are all green: a bare ✅ (MVM-SUITE's columns).
			preflight: matrix.Pass, live: matrix.Pass, seccmp: matrix.NotRun, notes: "0 s",
		},
		{
			name: "live step not run",
			res: Result{Outcome: Incomplete, Lane: "kvm", Phases: passPhases(allPhases...), Steps: []StepResult{
				{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.NotRun},
				{Name: "seccomp", Column: matrix.SeccompProbe, Status: matrix.Pass},
			}},
			preflight: matrix.Pass, live: matrix.NotRun, seccmp: matrix.Pass, notes: "0 s",
		},
		{
			// A column fed by two steps: the later step's not run is not
			// covered by the earlier pass.
			name: "pass then not run in one column",
			res: Result{Outcome: Incomplete, Lane: "kvm", Phases: passPhases(allPhases...), Steps: []StepResult{
				{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.Pass},
				{Name: "seccomp unit", Column: matrix.SeccompProbe, Status: matrix.Pass},
				{Name: "seccomp integration", Column: matrix.SeccompProbe, Status: matrix.NotRun},
			}},
			preflight: matrix.Pass, live: matrix.Pass, seccmp: matrix.NotRun, notes: "0 s",
		},
		{
			name: "pass then n/a in one column",
			res: Result{Outcome: Verified, Lane: "no-kvm", Phases: passPhases(allPhases...), Steps: []StepResult{
				{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.Pass},
				{Name: "seccomp unit", Column: matrix.SeccompProbe, Status: matrix.Pass},
				{Name: "seccomp in a VM", Column: matrix.SeccompProbe, Status: matrix.NA},
			}},
			preflight: matrix.Pass, live: matrix.NA, seccmp: matrix.NA, notes: "0 s, no-KVM lane",
		},
		{
			name:      "kept host (up)",
			res:       Result{Outcome: Up, Kept: true, Lane: "kvm", Phases: passPhases(PhasePreflight, PhaseProvision, PhaseReady, PhaseProbe)},
			preflight: matrix.Pass, live: matrix.Pending, seccmp: matrix.NotRun, notes: "0 s, host is up; suite not run",
		},
		{
			name:      "timed out",
			res:       Result{Outcome: TimedOut, FirstFailure: "suite: stopped at the timeout-minutes limit", Phases: passPhases(PhasePreflight, PhaseProvision)},
			preflight: matrix.Pass, live: matrix.Fail, seccmp: matrix.NotRun, notes: "0 s, suite: stopped at the timeout-minutes limit",
		},
		{
			name: "failing smoke",
			res: Result{Outcome: Failed, Lane: "kvm", FirstFailure: "smoke: exit status 3", Phases: passPhases(allPhases...), Steps: []StepResult{
				{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.Fail, Reason: "exit status 3"},
			}},
			preflight: matrix.Pass, live: matrix.Fail, seccmp: matrix.NotRun, notes: "0 s, smoke: exit status 3",
		},
		{
			name: "preflight refused",
			res: Result{Outcome: Errored, FirstFailure: "preflight: Needs AWS credentials", Phases: []PhaseResult{
				{Name: PhasePreflight, Status: matrix.Fail},
			}},
			preflight: matrix.Fail, live: matrix.NotRun, seccmp: matrix.NotRun, notes: "0 s, preflight: Needs AWS credentials",
		},
		{
			name: "credentials refused",
			res: Result{Outcome: Errored, FirstFailure: "preflight: auth: Needs AWS credentials: set AWS_ACCESS_KEY_ID", Refusal: "Needs AWS credentials: set AWS_ACCESS_KEY_ID",
				Phases: []PhaseResult{{Name: PhasePreflight, Status: matrix.Fail}}},
			preflight: matrix.Fail, live: matrix.NotRun, seccmp: matrix.NotRun, notes: "Needs AWS credentials: set AWS_ACCESS_KEY_ID",
		},
		{
			name:      "cancelled",
			res:       Result{Outcome: Cancelled, FirstFailure: "cancelled", Phases: passPhases(PhasePreflight, PhaseProvision)},
			preflight: matrix.Pass, live: matrix.Fail, seccmp: matrix.NotRun, notes: "0 s, cancelled",
		},
		{
			// A probe the signal cut short checked nothing on the host: the
			// cell keeps the preflight's verdict, as for a cancel before the
			// probe; the live cycle says the leg was cancelled.
			name: "cancelled during the probe",
			res: Result{Outcome: Cancelled, Lane: "kvm", FirstFailure: "probe: cancelled", Phases: stopIn(PhaseProbe, "cancelled",
				PhasePreflight, PhaseProvision, PhaseReady, PhaseProbe, PhaseTeardown)},
			preflight: matrix.Pass, live: matrix.Fail, seccmp: matrix.NotRun, notes: "0 s, probe: cancelled",
		},
		{
			name: "timed out during the probe",
			res: Result{Outcome: TimedOut, Lane: "kvm", FirstFailure: "probe: stopped at the timeout-minutes limit (1m)",
				Phases: stopIn(PhaseProbe, "stopped at the timeout-minutes limit (1m)",
					PhasePreflight, PhaseProvision, PhaseReady, PhaseProbe, PhaseTeardown)},
			preflight: matrix.Pass, live: matrix.Fail, seccmp: matrix.NotRun, notes: "0 s, probe: stopped at the timeout-minutes limit (1m)",
		},
		{
			// The probe ran to its verdict: the host failed the KVM check.
			name: "probe failed the KVM check",
			res: Result{Outcome: Errored, Lane: "kvm", FirstFailure: "probe: KVM check: no /dev/kvm", Phases: failIn(PhaseProbe, "KVM check: no /dev/kvm",
				PhasePreflight, PhaseProvision, PhaseReady, PhaseProbe, PhaseTeardown)},
			preflight: matrix.Fail, live: matrix.Fail, seccmp: matrix.NotRun, notes: "0 s, probe: KVM check: no /dev/kvm",
		},
		{
			// ... and a signal during the teardown after it does not undo
			// that verdict.
			name: "probe failed, then cancelled",
			res: Result{Outcome: Cancelled, Lane: "kvm", FirstFailure: "probe: KVM check: no /dev/kvm", Phases: failIn(PhaseProbe, "KVM check: no /dev/kvm",
				PhasePreflight, PhaseProvision, PhaseReady, PhaseProbe, PhaseTeardown)},
			preflight: matrix.Fail, live: matrix.Fail, seccmp: matrix.NotRun, notes: "0 s, probe: KVM check: no /dev/kvm",
		},
		{
			name: "probe binary failed, then timed out",
			res: Result{Outcome: TimedOut, Lane: "kvm", FirstFailure: "probe: run probe: exit status 2", Phases: failIn(PhaseProbe, "run probe: exit status 2",
				PhasePreflight, PhaseProvision, PhaseReady, PhaseProbe, PhaseCollect, PhaseTeardown)},
			preflight: matrix.Fail, live: matrix.Fail, seccmp: matrix.NotRun, notes: "0 s, probe: run probe: exit status 2",
		},
		{
			// A preflight the signal cut short reached no verdict: not run,
			// never a failed preflight.
			name:      "cancelled during the preflight",
			res:       Result{Outcome: Cancelled, FirstFailure: "preflight: cancelled", Phases: stopIn(PhasePreflight, "cancelled", PhasePreflight)},
			preflight: matrix.NotRun, live: matrix.Fail, seccmp: matrix.NotRun, notes: "0 s, preflight: cancelled",
		},
		{
			name: "timed out during the preflight",
			res: Result{Outcome: TimedOut, FirstFailure: "preflight: stopped at the timeout-minutes limit (1m)",
				Phases: stopIn(PhasePreflight, "stopped at the timeout-minutes limit (1m)", PhasePreflight)},
			preflight: matrix.NotRun, live: matrix.Fail, seccmp: matrix.NotRun, notes: "0 s, preflight: stopped at the timeout-minutes limit (1m)",
		},
		{
			// The killed run's last progress had the probe cut short.
			name: "killed during a cancelled probe, torn down by down",
			res: ended(Result{Lane: "kvm", Phases: stopIn(PhaseProbe, "cancelled", PhasePreflight, PhaseProvision, PhaseReady, PhaseProbe)},
				func(r *Result) { r.Abandon("the run ended without a result; torn down by down", time.Time{}) }),
			preflight: matrix.Pass, live: matrix.Fail, seccmp: matrix.Unknown, notes: "the run ended without a result; torn down by down",
		},
		{
			// down ended up's leg: the row its commit status gets.
			name: "kept host torn down by down",
			res: ended(Result{Outcome: Up, Kept: true, Lane: "kvm", Phases: passPhases(PhasePreflight, PhaseProvision, PhaseReady, PhaseProbe)},
				func(r *Result) { r.EndKept("host kept by up, torn down by down; the suite was not run", time.Time{}) }),
			preflight: matrix.Pass, live: matrix.NotRun, seccmp: matrix.NotRun, notes: "host kept by up, torn down by down; the suite was not run",
		},
		{
			// down tore down what a killed run left, with no result of its own.
			name:      "killed run torn down by down",
			res:       ended(Result{}, func(r *Result) { r.Abandon("the run ended without a result; torn down by down", time.Time{}) }),
			preflight: matrix.Unknown, live: matrix.Fail, seccmp: matrix.Unknown, notes: "the run ended without a result; torn down by down",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.res.Started = day
			row := tc.res.Row()
			if got := row.Cell(matrix.Preflight).Status; got != tc.preflight {
				t.Errorf("Preflight %s, want %s", got, tc.preflight)
			}
			if got := row.Cell(matrix.LiveCycle).Status; got != tc.live {
				t.Errorf("Live cycle %s, want %s", got, tc.live)
			}
			if got := row.Cell(matrix.SeccompProbe).Status; got != tc.seccmp {
				t.Errorf("Seccomp probe %s, want %s", got, tc.seccmp)
			}
			if row.Notes != tc.notes {
				t.Errorf("notes %q, want %q", row.Notes, tc.notes)
			}
		})
	}
}

// ended is res after end.
func ended(res Result, end func(*Result)) Result {
	end(&res)
	return res
}

func TestBudget(t *testing.T) {
	aws := providers.Info{Name: "aws", Billed: true, DefaultType: "c8i.large"}
	cases := []struct {
		name    string
		info    providers.Info
		max     float64
		cands   []providers.Candidate
		timeout time.Duration
		want    string // "" = accepted, else a substring of the error
	}{
		{"no limit", aws, 0, []providers.Candidate{{Type: "c5.metal"}}, 90 * time.Minute, ""},
		{"default type fits", aws, 1, []providers.Candidate{{}}, 90 * time.Minute, ""},
		{"metal over budget", aws, 5, []providers.Candidate{{Type: "c8i.large"}, {Type: "c5.metal"}}, 90 * time.Minute,
			"expected at least $6.12, or a cheaper type or a shorter timeout-minutes (c5.metal at $4.0800/h for up to 1h30m0s could cost $6.12, over the budget of $5.00)"},
		{"cents", aws, 2.5, []providers.Candidate{{Type: "c5.metal"}}, time.Hour, "over the budget of $2.50"},
		{"unknown price", aws, 5, []providers.Candidate{{Type: "x9.huge"}}, time.Hour, `no list price known for aws type "x9.huge"`},
		{"free provider", providers.Info{Name: "local"}, 0.01, []providers.Candidate{{}}, time.Hour, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &cycle{plan: &Plan{Info: tc.info, MaxCostUSD: tc.max, Candidates: tc.cands, Timeout: tc.timeout}}
			err := c.checkBudget()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "":
				// Typed, so it is told from a failure by its type, and
				// reads as every refused input: name, value, form.
				var in *providers.InputError
				prefix := fmt.Sprintf(`input "max-cost": got %q, expected `, strconv.FormatFloat(tc.max, 'f', -1, 64))
				if !errors.As(err, &in) || in.Input != "max-cost" || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err = %v, want a *providers.InputError starting %q and containing %q", err, prefix, tc.want)
				}
			}
		})
	}
}

// TestPreflightNamesTheCandidate: a refused field value of a candidate is
// blamed on the input it came from — candidates[i].type, not the single
// instance-type the provider knows the field by — keeping the error's
// class; another refusal of one of several candidates names the entry;
// credentials are no candidate's.
func TestPreflightNamesTheCandidate(t *testing.T) {
	typeErr := func() error {
		return providers.Classified(providers.ClassInvalid, "", &providers.InputError{Field: "type", Value: "t3.large", Expected: "a type with KVM", Err: errors.New("no KVM on this type")})
	}
	fromList := func(i int, field string) string {
		if field == "" {
			return fmt.Sprintf("candidates[%d]", i)
		}
		return fmt.Sprintf("candidates[%d].%s", i, field)
	}
	two := []providers.Candidate{{Region: "us-east-1", Type: "c8i.large"}, {Region: "eu-west-1", Type: "t3.large"}}
	cases := []struct {
		name  string
		input func(int, string) string
		cands []providers.Candidate
		err   error
		want  string
		class providers.Class
	}{
		{"single inputs", nil, two[:1], typeErr(), `input "instance-type": got "t3.large", expected a type with KVM (no KVM on this type)`, providers.ClassInvalid},
		{"candidates entry", fromList, two, typeErr(), `input "candidates[1].type": got "t3.large", expected a type with KVM (no KVM on this type)`, providers.ClassInvalid},
		{"other refusal names the entry", fromList, two, providers.Classified(providers.ClassInvalid, "", errors.New("image ami-1 does not exist in this region")),
			"candidates[1] (eu-west-1 t3.large): invalid: image ami-1 does not exist in this region", providers.ClassInvalid},
		{"credentials are no candidate's", fromList, two, providers.Classified(providers.ClassAuth, "", errors.New("Needs AWS credentials")),
			"auth: Needs AWS credentials", providers.ClassAuth},
		// An input error of no candidate field names its own input.
		{"input of no candidate field", fromList, two[:1], providers.Classified(providers.ClassInvalid, "",
			&providers.InputError{Input: "ssh-source-cidr", Value: "2001:db8::7/128", Expected: "an IPv4 CIDR"}),
			`input "ssh-source-cidr": got "2001:db8::7/128", expected an IPv4 CIDR`, providers.ClassInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &cycle{plan: &Plan{Candidates: tc.cands, CandidateInput: tc.input}}
			err := c.nameCandidate(len(tc.cands)-1, tc.err)
			if err == nil || !strings.HasSuffix(err.Error(), tc.want) || providers.ClassOf(err) != tc.class {
				t.Errorf("err = %v (%s), want ending %q (%s)", err, providers.ClassOf(err), tc.want, tc.class)
			}
			if tc.class == providers.ClassAuth && strings.Contains(err.Error(), "candidates[") {
				t.Errorf("credentials blamed on a candidate: %v", err)
			}
		})
	}
}

// refusingProvider refuses every leg at preflight with err.
type refusingProvider struct {
	hostProvider
	err error
}

func (p *refusingProvider) Preflight(context.Context, providers.Request) error { return p.err }

// TestAuthRefusalNotes: a leg refused at preflight for credentials has the
// provider's message alone as its Notes ("Needs AWS credentials: set …",
// as the hand-kept matrix read), not "0 s, preflight: auth: …"; any other
// refusal keeps the phase that says where it stopped, without the class
// (invalid:), which steers the cycle and means nothing to the reader.
func TestAuthRefusalNotes(t *testing.T) {
	const msg = "Needs AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or aws-role-to-assume"
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"auth", providers.Classified(providers.ClassAuth, "", errors.New(msg)), msg},
		{"invalid", providers.Classified(providers.ClassInvalid, "", errors.New("bad image")), " s, preflight: bad image"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &refusingProvider{err: tc.err}
			plan := testPlan(p)
			plan.Out = io.Discard
			res := Run(context.Background(), plan)
			if res.Phase(PhaseProvision) != nil {
				t.Fatalf("a refused leg provisioned: %+v", res.Phases)
			}
			// The auth refusal is the whole note; another follows the
			// leg's duration ("0 s, ").
			if got := res.Row().Notes; got != tc.want && (tc.name == "auth" || !strings.HasSuffix(got, tc.want)) {
				t.Errorf("notes %q, want %q", got, tc.want)
			}
		})
	}
}
