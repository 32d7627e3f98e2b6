package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/tinylabscom/mvm-verify/internal/config"
)

// command is one subcommand as the help describes it.
type command struct {
	name     string
	synopsis string // the usage line after "mvm-verify "
	short    string // one line, for the overview
	long     string // what it does, for its own help
}

var commands = []command{
	{"run", "run --provider NAME [flags]", "provision, verify, tear down, report",
		"Provisions a host, runs the suite on it, tears it down and reports. Exit status: 0 verified,\n" +
			"1 not verified, 2 bad input or could not start."},
	{"up", "up --provider NAME [flags]", "provision and keep the host (prints how to ssh in)",
		"Provisions a host and keeps it: prints the ssh command and where its state is kept, in --out.\n" +
			"`mvm-verify down --out DIR` tears it down."},
	{"down", "down [--out DIR] [flags]", "tear down what 'up' kept, or what a killed run left",
		"Tears down the host that `up` kept, or what a killed run left, from the state in --out. The state\n" +
			"keeps no secret: an ssh leg given its key as ssh-private-key needs it again (--ssh-private-key-file)."},
	{"report", "report [flags]", "the aggregated matrix (from GitHub) into matrix.md / matrix.json",
		"Merges the legs' rows from GitHub into the matrix: matrix.md and matrix.json in --out, the\n" +
			"pull request's comment, and the table in --matrix-file."},
	{"probe", "probe [--json]", "this machine's KVM / seccomp / cgroup capabilities",
		"Reports this machine's KVM, seccomp, cgroup, vsock and tun capabilities, as a table or JSON."},
	{"providers", "providers [--json]", "the providers and what they support",
		"Lists the providers this build supports, what they create and what they need."},
	{"version", "version", "print the version", "Prints the version."},
}

func findCommand(name string) (command, bool) {
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == name })
	if i < 0 {
		return command{}, false
	}
	return commands[i], true
}

// inputFlag is one action input as a command-line flag. Inputs whose default
// is a boolean also work as bare switches (--insecure-host-key).
type inputFlag struct {
	value  string
	set    bool
	isBool bool
	// given is every value the flag was given, in order. repeated, shared
	// by the command's flags, lists those given more than once, in the
	// order their second value came: flagSource refuses them
	// (repeatedFlag) rather than let the last value win.
	given    []string
	name     string
	repeated *[]*inputFlag
}

func (f *inputFlag) String() string { return f.value }
func (f *inputFlag) Set(v string) error {
	// No error here: the flag package would quote the value in it, and a
	// secret flag's value must not reach the terminal.
	f.given = append(f.given, v)
	if len(f.given) == 2 {
		*f.repeated = append(*f.repeated, f)
	}
	f.value, f.set = v, true
	return nil
}
func (f *inputFlag) IsBoolFlag() bool { return f.isBool }

func isBoolInput(in config.Input) bool { return in.Default == "true" || in.Default == "false" }

// flagSource parses the flags of run, up, down or report into a
// config.Source: every input foo-bar is the flag --foo-bar. Every input is
// accepted whatever the subcommand, so one that does not apply is warned
// about (warnNotApplying), not refused; the help lists only those that
// apply. --help prints it and returns flag.ErrHelp.
func (a *app) flagSource(cmd string, args []string) (config.Source, error) {
	fs := flag.NewFlagSet("mvm-verify "+cmd, flag.ContinueOnError)
	flags := map[string]*inputFlag{}
	var repeated []*inputFlag
	for _, in := range config.Inputs() {
		f := &inputFlag{isBool: isBoolInput(in), name: in.Name, repeated: &repeated}
		flags[in.Name] = f
		fs.Var(f, in.Name, in.Description)
	}
	if err := a.parseFlags(fs, cmd, args); err != nil {
		return nil, err
	}
	if len(repeated) > 0 {
		return nil, repeatedFlag(repeated[0], flags)
	}
	// The subcommand is the mode; a different --mode would be silently
	// overruled, so it is refused.
	if f := flags["mode"]; f.set && f.value != cmd {
		value := f.value
		if quoteFlagValue(value, false, flagSecrets(flags)) == "***" {
			// A token or key pasted into --mode.
			value = "***"
		}
		return nil, &config.InputError{Input: "mode", Value: value,
			Expected: fmt.Sprintf("%s or nothing, since the subcommand already says %s (drop --mode)", cmd, cmd)}
	}
	a.flagsGiven = nil
	for _, in := range config.Inputs() {
		if flags[in.Name].set {
			a.flagsGiven = append(a.flagsGiven, in.Name)
		}
	}
	// Behind the flags, INPUT_FOO-BAR as the runner would pass it (DESIGN
	// §2: every input is both), so a workflow's env can configure a `run:`
	// step too. The subcommand stays the mode whatever INPUT_MODE says.
	env := actionSource(a.files.gha)
	return func(name string) (string, bool) {
		if f, ok := flags[name]; ok && f.set {
			return f.value, true
		}
		if name == "mode" {
			return "", false
		}
		return env(name)
	}, nil
}

// warnNotApplying warns once about each flag given that the mode or the
// provider does not read. Only the command line does this: in the action a
// matrix passes every leg the same inputs.
func (a *app) warnNotApplying(run *config.Run) {
	for _, in := range config.Inputs() {
		if !slices.Contains(a.flagsGiven, in.Name) {
			continue
		}
		if why := in.NotApplying(run.Mode, run.Provider); why != "" {
			a.warn(fmt.Sprintf("--%s %s; ignored", in.Name, why))
		}
	}
}

// joinBoolValues turns "--comment false" into "--comment=false". The flag
// package reads a bool flag's value only when joined with "=", so "false"
// would be left over as an argument; no subcommand takes arguments, so any
// word after a bool flag can only be meant as its value. Joined, a word
// that is not true or false ("--comment maybe") is refused as the value
// it is, the same as "--comment=maybe".
func joinBoolValues(args []string, bools map[string]bool) []string {
	out := slices.Clone(args)
	for i := 0; i < len(out); i++ {
		name, hasValue, ok := flagName(out[i])
		if !ok {
			break // the flag package stops here too
		}
		if hasValue {
			continue
		}
		if !bools[name] {
			i++ // the next argument is this flag's value
			continue
		}
		if i+1 < len(out) {
			if _, _, isFlag := flagName(out[i+1]); !isFlag && out[i+1] != "--" {
				out[i] += "=" + out[i+1]
				out = slices.Delete(out, i+1, i+2)
			}
		}
	}
	return out
}

// flagName parses "-name", "--name" or "--name=value" as the flag package
// does; ok is false for an argument that is not a flag, and for "--".
func flagName(arg string) (name string, hasValue, ok bool) {
	if len(arg) < 2 || arg[0] != '-' || arg == "--" {
		return "", false, false
	}
	name = strings.TrimPrefix(arg[1:], "-")
	name, _, hasValue = strings.Cut(name, "=")
	return name, hasValue, true
}

// parseFlags parses args with fs and turns the flag package's terse errors
// into ones that say what to do, without the full usage that would scroll
// the error away. --help prints the command's help to stdout and returns
// flag.ErrHelp.
func (a *app) parseFlags(fs *flag.FlagSet, cmd string, args []string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	bools := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		b, ok := f.Value.(interface{ IsBoolFlag() bool })
		bools[f.Name] = ok && b.IsBoolFlag()
	})
	args = joinBoolValues(args, bools)
	hint := fmt.Sprintf("run `mvm-verify %s --help` for the flags", cmd)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		a.commandHelp(cmd, fs)
		return err
	case err != nil:
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
			var names []string
			fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
			msg = "unknown flag --" + name
			if s := suggest(name, names); s != "" {
				msg += fmt.Sprintf(" (did you mean --%s?)", s)
			}
		} else if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
			msg = fmt.Sprintf("flag --%s needs a value, as --%s VALUE", name, name)
		} else if value, name, ok := boolValueError(msg); ok {
			// Worded as a bad input's: --json=maybe reads like --comment=maybe.
			msg = fmt.Sprintf("flag --%s: got %q, expected true or false", name, value)
		}
		return fmt.Errorf("%s; %s", msg, hint)
	}
	if fs.NArg() == 0 {
		return nil
	}
	extra := fs.Arg(0)
	nflags := 0
	fs.VisitAll(func(*flag.Flag) { nflags++ })
	if nflags == 0 {
		return fmt.Errorf("unexpected argument %q: %s takes no arguments", extra, cmd)
	}
	return fmt.Errorf("unexpected argument %q: %s takes no arguments, only flags; %s", extra, cmd, hint)
}

// boolValueError reads the flag package's error for a bool flag given a
// value that is not one: `invalid boolean value "maybe" for -json: …`.
func boolValueError(msg string) (value, name string, ok bool) {
	rest, ok := strings.CutPrefix(msg, "invalid boolean value ")
	if !ok {
		return "", "", false
	}
	quoted, rest, ok := strings.Cut(rest, " for -")
	if !ok {
		return "", "", false
	}
	value, err := strconv.Unquote(quoted)
	if err != nil {
		return "", "", false
	}
	name, _, _ = strings.Cut(rest, ":")
	return value, name, true
}

// suggest returns the candidate closest to name when it is close enough to
// be a typo (an edit distance of at most a third of its length, and 2).
func suggest(name string, candidates []string) string {
	best, bestDist := "", min(2, max(1, len(name)/3))+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the number of single-letter insertions, deletions,
// substitutions and swaps of neighbours that turn a into b (the optimal
// string alignment distance): "rnu" is one from "run".
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// commandHelp prints a subcommand's help: what it does and its flags. For
// run, up, down and report the flags are the inputs that apply to the mode,
// those of one provider grouped under it.
func (a *app) commandHelp(cmd string, fs *flag.FlagSet) {
	c, _ := findCommand(cmd)
	w := a.stdout
	fmt.Fprintf(w, "Usage: mvm-verify %s\n\n%s\n", c.synopsis, c.long)
	if !slices.Contains(config.Modes(), cmd) {
		var lines []flagLine
		fs.VisitAll(func(f *flag.Flag) { lines = append(lines, flagLine{name: f.Name, desc: f.Usage}) })
		if len(lines) > 0 {
			fmt.Fprintln(w, "\nFlags:")
			printFlags(w, lines)
		}
		return
	}
	// Groups in the order the table first names them: flags for every
	// provider, those of the providers that create a cloud host, those of
	// one provider.
	type group struct {
		title string
		lines []flagLine
	}
	groups := []*group{{title: "Flags (each is also the action input of the same name; docs/inputs.md lists them all):"}}
	for _, in := range config.Inputs() {
		if in.Name == "mode" || !in.AppliesTo(cmd, "") {
			continue
		}
		title := groups[0].title
		switch {
		case len(in.Providers) > 0:
			title = "Flags for provider " + strings.Join(in.Providers, ", ") + ":"
		case len(in.NotProviders) > 0:
			title = "Flags for providers that create a cloud host (not " + strings.Join(in.NotProviders, " or ") + "):"
		}
		i := slices.IndexFunc(groups, func(g *group) bool { return g.title == title })
		if i < 0 {
			groups = append(groups, &group{title: title})
			i = len(groups) - 1
		}
		groups[i].lines = append(groups[i].lines, inputLine(in))
	}
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s\n", g.title)
		printFlags(w, g.lines)
	}
	// The example names this command's first value flags, so report's help
	// does not mention a --provider it does not take.
	var named []string
	for _, in := range config.Inputs() {
		if in.Name != "mode" && !isBoolInput(in) && in.AppliesTo(cmd, "") && len(named) < 2 {
			named = append(named, "--"+in.Name)
		}
	}
	fmt.Fprintln(w, "\nA true/false flag alone means true: --comment; --comment=false or --comment false turns it off.\n"+
		"Give each flag at most once: a second "+strings.Join(named, ", ")+" or other is refused, not taken over the first.")
}

// flagLine is one flag in the help.
type flagLine struct {
	name, arg, desc string
}

func inputLine(in config.Input) flagLine {
	l := flagLine{name: in.Name, arg: " " + argName(in), desc: in.Description}
	if isBoolInput(in) {
		l.arg = "[=true|false]"
	}
	if in.Default != "" {
		l.desc += fmt.Sprintf(" (default %s)", in.Default)
	}
	return l
}

// argName is the placeholder for an input's value in the help.
func argName(in config.Input) string {
	switch {
	case in.Name == "provider":
		return "NAME"
	case in.Name == "suite" || in.Name == "out" || strings.HasSuffix(in.Name, "-file") ||
		strings.HasSuffix(in.Name, "-dir") || strings.HasSuffix(in.Name, "-binary"):
		return "PATH"
	}
	if _, err := time.ParseDuration(in.Default); err == nil {
		return "DURATION"
	}
	if _, err := strconv.Atoi(in.Default); err == nil {
		return "N"
	}
	return "VALUE"
}

// printFlags prints each flag on its own line and its description wrapped
// and indented below it.
func printFlags(w io.Writer, lines []flagLine) {
	for _, l := range lines {
		fmt.Fprintf(w, "  --%s%s\n", l.name, l.arg)
		for _, s := range wrap(l.desc, 92) {
			fmt.Fprintf(w, "        %s\n", s)
		}
	}
}

// wrap breaks text into lines of at most width bytes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
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

// inputsInEnv reports whether any INPUT_* variable of an action input is
// set: someone trying the action's environment outside the runner.
func inputsInEnv(getenv func(string) string) bool {
	for _, in := range config.Inputs() {
		if getenv("INPUT_"+strings.ToUpper(in.Name)) != "" {
			return true
		}
	}
	return false
}
