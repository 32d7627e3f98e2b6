package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// The teardown post and down share: destroying by tag with the leak
// check, and the provider a leg names.

// destroy deletes the identity's resources (unless already done) and runs
// the leak check. It returns the exit status, a summary section and, when
// it failed, what went wrong in one line. again, when set, says how to try
// again (down's command): it ends the message of a leak check that could
// not be confirmed.
func (a *app) destroy(ctx context.Context, p providers.Provider, id providers.Identity, doDestroy bool, again string) (int, string, string) {
	var b strings.Builder
	b.WriteString("### mvm-verify teardown\n\n")
	code := ExitOK
	var problems []string
	if doDestroy {
		fmt.Fprintf(a.stdout, "==> teardown %s run %s key %s\n", p.Name(), id.Run(), id.Key)
		// The leak check after the destroy keeps its share of the time, as
		// in the cycle: a destroy that uses all it is given (a young run's
		// quiet sweeps, a slow delete) must not leave the check too little
		// to confirm, which would fail a clean teardown.
		dctx, cancel := providers.ReserveLeakCheck(ctx, p, id)
		rep, err := p.Destroy(dctx, id)
		cancel()
		for _, d := range rep.Deleted {
			fmt.Fprintf(a.stdout, "   deleted %s %s\n", d.Kind, d.ID)
			fmt.Fprintf(&b, "- deleted %s `%s`\n", d.Kind, d.ID)
		}
		if err != nil {
			code = ExitFailed
			msg := providers.Message(err) // without the class (transient:, auth:)
			problems = append(problems, "teardown: "+msg)
			a.annotate("error", "mvm-verify teardown", msg)
			fmt.Fprintf(&b, "- ❌ teardown error: %s\n", msg)
		}
	} else {
		b.WriteString("- the main step already tore everything down\n")
	}
	leaks, err := providers.LeakCheck(ctx, p, id)
	switch {
	case errors.Is(err, providers.ErrLeakCheckUnconfirmed):
		// Nothing listed, but too briefly to trust for a run this young,
		// and no later sweep comes after this one: not a clean teardown.
		code = ExitFailed
		msg := providers.Message(err) + "; resources created moments ago may not be listed yet: " + verify.SweepHint(id)
		if again != "" {
			msg += "; " + again
		}
		problems = append(problems, msg)
		a.annotate("error", "mvm-verify leak check", msg)
		fmt.Fprintf(&b, "- ⏳ %s\n", msg)
	case err != nil:
		code = ExitFailed
		msg := providers.Message(err)
		problems = append(problems, "leak check: "+msg)
		a.annotate("error", "mvm-verify leak check", msg)
		fmt.Fprintf(&b, "- ❌ leak check failed: %s\n", msg)
	case len(leaks) > 0:
		code = ExitFailed
		var ids []string
		for _, l := range leaks {
			ids = append(ids, l.Kind+" "+l.ID)
		}
		msg := "resources still present after teardown: " + strings.Join(ids, ", ")
		problems = append(problems, "LEAKED: "+msg)
		a.annotate("error", "mvm-verify leak check", msg)
		fmt.Fprintf(&b, "- ❌ **LEAKED**: %s\n", msg)
	default:
		fmt.Fprintln(a.stdout, "✓ leak check: nothing tagged with this run is left")
		b.WriteString("- ✅ leak check: nothing tagged with this run is left\n")
	}
	return code, b.String() + "\n", strings.Join(problems, "; ")
}

func (a *app) provider(run *config.Run, name string) (providers.Provider, error) {
	reg := registry()
	entry, err := reg.Get(name)
	if err != nil {
		return nil, &config.InputError{Input: "provider", Value: name, Expected: "one of " + strings.Join(reg.Names(), ", ")}
	}
	return entry.New(a.providerOptions(run))
}
