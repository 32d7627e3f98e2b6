package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

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

// providers lists the registered providers and what they support.
func (a *app) providers(args []string) int {
	fs := flag.NewFlagSet("mvm-verify providers", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := a.parseFlags(fs, "providers", args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return a.badInput(err)
	}
	infos := registry().Infos()
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(infos); err != nil {
			return ExitFailed
		}
		return ExitOK
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tCREATES\tLANES\tNEEDS\tDESCRIPTION")
	for _, in := range infos {
		creates := "no (existing host)"
		if in.Creates {
			creates = "yes"
		}
		needs := in.Credentials
		if needs == "" {
			needs = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", in.Name, creates, strings.Join(in.Lanes, ","), needs, in.Description)
	}
	tw.Flush()
	return ExitOK
}
