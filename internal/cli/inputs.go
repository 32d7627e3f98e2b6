package cli

import (
	"flag"
	"fmt"
	"io"

	"github.com/sethvargo/go-githubactions"

	"github.com/tinylabscom/mvm-verify/internal/config"
)

// inputFlag is one action input as a command-line flag. Inputs whose default
// is a boolean also work as bare switches (--insecure-host-key).
type inputFlag struct {
	value  string
	set    bool
	isBool bool
}

func (f *inputFlag) String() string { return f.value }
func (f *inputFlag) Set(v string) error {
	f.value, f.set = v, true
	return nil
}
func (f *inputFlag) IsBoolFlag() bool { return f.isBool }

// flagSource parses args into a config.Source: every input foo-bar is the
// flag --foo-bar.
func flagSource(cmd string, args []string, stderr io.Writer) (config.Source, error) {
	fs := flag.NewFlagSet("mvm-verify "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := map[string]*inputFlag{}
	for _, in := range config.Inputs() {
		f := &inputFlag{isBool: in.Default == "true" || in.Default == "false"}
		flags[in.Name] = f
		desc := in.Description
		if in.Default != "" {
			desc += fmt.Sprintf(" (default %q)", in.Default)
		}
		fs.Var(f, in.Name, desc)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: every setting is a flag, e.g. --provider local", fs.Arg(0))
	}
	return func(name string) (string, bool) {
		if f, ok := flags[name]; ok && f.set {
			return f.value, true
		}
		return "", false
	}, nil
}

// actionSource reads inputs the way the runner passes them to a Docker
// action (INPUT_FOO-BAR), through go-githubactions so we read them exactly as
// other actions do (surrounding whitespace trimmed). An empty variable counts
// as not given, since the runner sets every declared input, empty or not.
func actionSource(gha *githubactions.Action) config.Source {
	return func(name string) (string, bool) {
		v := gha.GetInput(name)
		return v, v != ""
	}
}
