package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/probe"
	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws"
	"github.com/tinylabscom/mvm-verify/providers/local"
	sshprovider "github.com/tinylabscom/mvm-verify/providers/ssh"
)

// registry lists every provider this binary can drive.
func registry() *providers.Registry {
	var r providers.Registry
	r.Register(aws.Entry())
	r.Register(local.Entry())
	r.Register(sshprovider.Entry())
	return &r
}

// probe reports this machine's capabilities: a table, or JSON for the cycle.
func (a *app) probe(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("mvm-verify probe", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := a.parseFlags(fs, "probe", args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return a.badInput(err)
	}
	rep := probe.Collect(ctx, probe.Options{})
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return ExitFailed
		}
		return ExitOK
	}
	fmt.Fprint(a.stdout, rep.Text())
	return ExitOK
}

// providers lists the registered providers and what they support: a table
// short enough to read in a terminal, the full details with --json.
func (a *app) providers(args []string) int {
	fs := flag.NewFlagSet("mvm-verify providers", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print as JSON, with the inputs each provider reads")
	if err := a.parseFlags(fs, "providers", args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return a.badInput(err)
	}
	infos := registry().Infos()
	for i := range infos {
		infos[i].Inputs = providerInputs(infos[i].Name)
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(infos); err != nil {
			return ExitFailed
		}
		return ExitOK
	}
	// One line per provider, its description and needs wrapped below it:
	// as table columns they made lines of 400 characters.
	rows := [][3]string{{"PROVIDER", "CREATES", "LANES"}}
	for _, in := range infos {
		creates := "no (existing host)"
		if in.Creates {
			creates = "yes"
		}
		rows = append(rows, [3]string{in.Name, creates, strings.Join(in.Lanes, ", ")})
	}
	var w [2]int
	for _, r := range rows {
		w[0], w[1] = max(w[0], len(r[0])), max(w[1], len(r[1]))
	}
	for i, r := range rows {
		fmt.Fprintf(a.stdout, "%-*s  %-*s  %s\n", w[0], r[0], w[1], r[1], r[2])
		if i == 0 {
			continue
		}
		in := infos[i-1]
		for _, l := range wrap(in.Description, 76) {
			fmt.Fprintf(a.stdout, "    %s\n", l)
		}
		for j, l := range wrap("needs: "+cmp.Or(in.Credentials, "nothing"), 76) {
			if j > 0 {
				l = "  " + l
			}
			fmt.Fprintf(a.stdout, "    %s\n", l)
		}
	}
	fmt.Fprintln(a.stdout, "\nmvm-verify providers --json adds the inputs each reads; mvm-verify help run describes them.")
	return ExitOK
}

// providerInputs are the inputs that only some providers read, those that
// name applies: its own (ssh-host for ssh) and, for a provider that creates a
// cloud host, the cloud inputs (region, max-cost, ssh-source-cidr…). They
// come from the input table itself, as the help and the warnings about
// inputs that do not apply do, so the list cannot drift from what is read.
func providerInputs(name string) []string {
	var out []string
	for _, in := range config.Inputs() {
		switch {
		case slices.Contains(in.Providers, name):
		case len(in.NotProviders) > 0 && !slices.Contains(in.NotProviders, name):
		default:
			continue
		}
		out = append(out, in.Name)
	}
	return out
}
