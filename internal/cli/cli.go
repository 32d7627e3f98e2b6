// Package cli is the program's faces: the CLI subcommands, the Docker
// action's main step (configured from INPUT_*) and its post step (the same
// binary under the name mvm-verify-post). It turns inputs into a validated
// configuration, runs the cycle and maps the outcome to an exit status:
// 0 verified (for up: the host is up), 1 not verified (failed, error,
// incomplete, cancelled, timed out), 2 bad input or could not start.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/probe"
)

// Exit statuses.
const (
	ExitOK       = 0
	ExitFailed   = 1
	ExitBadInput = 2
)

// PostName is the binary's second name: the action's post-entrypoint.
const PostName = "mvm-verify-post"

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3".
// Left "dev", `version` reports the commit the Go toolchain recorded.
var Version = "dev"

// Env is the process's world, injectable for tests.
type Env struct {
	Args   []string
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Executable is this program's path (uploaded to hosts as the probe).
	Executable string
	// signals is Main's signal handler, told what a forced quit would
	// leave behind; nil when Run is called without Main.
	signals *signals
	// procStart stands in for proc.StartTime when set (tests make it fail).
	procStart func(pid int) (uint64, error)
}

// Main runs the program and returns its exit status.
func Main() (code int) {
	// A bug must not read as bad input (Go exits 2 on a panic, our status
	// for refused inputs) nor end without saying so.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "mvm-verify: internal error: %v\n%s", r, debug.Stack())
			code = ExitFailed
		}
	}()
	exe, _ := os.Executable()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Room for a burst (timeout's copy, the runner's follow-ups): a
	// signal that finds the channel full is dropped, which is what the
	// handler would do with it anyway.
	sigs := make(chan os.Signal, 4)
	// SIGHUP is a closed terminal or ssh session: stop and tear down as
	// for SIGTERM. A closed stdout (`| head`) must not kill the run before
	// its teardown either: with SIGPIPE caught (not ignored, which the
	// processes we start would inherit) writes fail with EPIPE instead.
	// None of them is ever reset to its default action: a repeat would
	// then kill the run mid-teardown.
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	sh := newSignals(cancel, os.Getenv("GITHUB_ACTIONS") == "true", os.Stderr)
	if d, err := time.ParseDuration(os.Getenv("MVM_VERIFY_REPEAT_WINDOW")); err == nil && d > 0 {
		sh.window = d // tests only (README, Development)
	}
	go func() {
		for sig := range sigs {
			sh.handle(sig)
		}
	}()
	return Run(ctx, Env{Args: os.Args, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Executable: exe, signals: sh})
}

// Run dispatches on the program name, then on the subcommand.
func Run(ctx context.Context, env Env) (code int) {
	if len(env.Args) > 1 && env.Args[1] == probe.SeccompChildArg {
		return probe.SeccompChildMain()
	}
	a := newApp(env)
	defer a.recoverPanic(&code)
	if filepath.Base(env.Args[0]) == PostName {
		return a.post(ctx)
	}
	args := env.Args[1:]
	if len(args) == 0 {
		if env.Getenv("GITHUB_ACTIONS") == "true" {
			return a.actionMain(ctx)
		}
		a.usage(a.stderr)
		if inputsInEnv(env.Getenv) {
			fmt.Fprintln(a.stderr, "\nmvm-verify: INPUT_* variables are set, but with no subcommand they are read only in the Docker action "+
				"(GITHUB_ACTIONS=true); at the command line give a subcommand, e.g. mvm-verify run, which reads them behind its flags")
		}
		return ExitBadInput
	}
	return a.command(ctx, args[0], args[1:])
}

// command runs the subcommand cmd with its arguments.
func (a *app) command(ctx context.Context, cmd string, args []string) int {
	switch cmd {
	case "run", "up", "down", "report":
		return a.fromFlags(ctx, cmd, args)
	case "probe":
		return a.probe(ctx, args)
	case "providers":
		return a.providers(args)
	case "version", "--version":
		cmd = "version"
		fs := flag.NewFlagSet("mvm-verify version", flag.ContinueOnError)
		if err := a.parseFlags(fs, cmd, args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return ExitOK
			}
			return a.badInput(err)
		}
		fmt.Fprintf(a.stdout, "mvm-verify %s\n", version())
		return ExitOK
	case "help", "-h", "--help":
		switch {
		case len(args) == 0:
			a.usage(a.stdout)
			return ExitOK
		case len(args) > 1:
			return a.badInput(fmt.Errorf("unexpected argument %q: help takes one command, as mvm-verify help run", args[1]))
		}
		if _, ok := findCommand(args[0]); !ok {
			return a.unknownCommand(args[0])
		}
		return a.command(ctx, args[0], []string{"--help"})
	}
	return a.unknownCommand(cmd)
}

func (a *app) unknownCommand(cmd string) int {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	msg := fmt.Sprintf("unknown command %q: expected one of %s", cmd, strings.Join(names, ", "))
	if s := suggest(cmd, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	} else if strings.HasPrefix(cmd, "-") {
		// Flags come after the command: mvm-verify --provider local.
		msg += fmt.Sprintf(" (the command comes first, flags after it: mvm-verify run %s …)", cmd)
	}
	fmt.Fprintf(a.stderr, "mvm-verify: %s\n", msg)
	return ExitBadInput
}

// app holds what every command shares.
type app struct {
	env    Env
	files  *ghaFiles
	log    *slog.Logger
	inGHA  bool
	stdout io.Writer
	stderr io.Writer
	// start is when the process started: timeout-minutes counts from it.
	start time.Time
	// now is the clock the final report's deadline is taken from; nil is
	// time.Now. Tests set it with start.
	now func() time.Time

	notices shownNotices // reporting notices already shown

	// subcommand is set when a subcommand runs (the CLI, also in a
	// workflow's run: step), not the Docker action's main step: no post
	// step follows it, so a run keeps its state in --out for down.
	subcommand bool
	// progressLog is the providers' logger (their info records are
	// progress lines), reportLog the GitHub reporting's (its warnings
	// repeat the notices shown): see logging.go.
	progressLog, reportLog *slog.Logger
	// flagsGiven are the inputs given as flags, for warnNotApplying;
	// none in the action.
	flagsGiven []string
	// ghSleep is how the GitHub reporting waits out rate limits and
	// retries; nil is a real timer. Tests inject one that does not wait.
	ghSleep func(context.Context, time.Duration) error

	// cmd is what is learned of the command as it starts, for a
	// refusal (refuse) or a panic (recoverPanic) to say what it refused.
	cmd cmdState
}

// cmdState is what a refusal needs of the command being run, set as it is
// learned. A refusal can come from any command's code (run, up, down, the
// post step), which is why it lives on app rather than in the leg that run
// passes between its steps.
type cmdState struct {
	// leg is set once the command is known to be a leg's (run, up, down,
	// or the action's main step in any mode but report): bad input then
	// sets the row output too. src is where its inputs are read, once
	// known, for the key and name of that row.
	leg bool
	src config.Source
	// mode is the command (run, up, down, report) or the action's mode
	// input as given, once known: only run and up report a bad input to
	// GitHub (reportBadInput).
	mode string
	// run is the configuration once loaded: its row key and lane (the
	// lane resolved from the provider, once it is) are the row of a bad
	// input refused after that.
	run *config.Run
}

// shownNotices remembers the GitHub reporting notices already shown, for
// notice to show each once; the leg's reports end on several goroutines.
type shownNotices struct {
	mu      sync.Mutex
	text    map[string]bool
	offTold bool // why GitHub reporting is off was shown
}

func (a *app) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

func newApp(env Env) *app {
	inGHA := env.Getenv("GITHUB_ACTIONS") == "true"
	logs := &logOutput{stdout: env.Stdout, stderr: env.Stderr, actions: inGHA, debug: debugOn(env.Getenv)}
	a := &app{
		env:         env,
		log:         newLogger(logs, false, false),
		progressLog: newLogger(logs, true, false),
		reportLog:   newLogger(logs, false, true),
		inGHA:       inGHA,
		stdout:      env.Stdout,
		stderr:      env.Stderr,
		start:       time.Now(),
	}
	a.files = &ghaFiles{
		gha:    githubactions.New(githubactions.WithGetenv(env.Getenv), githubactions.WithWriter(env.Stdout)),
		getenv: env.Getenv,
		errOut: func(err error) { fmt.Fprintf(env.Stderr, "mvm-verify: %v\n", err) },
	}
	return a
}

func (a *app) usage(w io.Writer) {
	fmt.Fprint(w, "mvm-verify proves the mvm microVM stack works on a real KVM-capable host.\n\nUsage:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  mvm-verify %s\t%s\n", c.synopsis, c.short)
	}
	tw.Flush()
	fmt.Fprint(w, "\nEvery action input foo-bar is the flag --foo-bar; 'mvm-verify help COMMAND' (or COMMAND --help)\n"+
		"lists those the command reads.\n")
}

// recoverPanic is the last resort for a bug: a panic that reached Run
// (on its goroutine) ends the program with exit status 1, a message that
// says it is a bug and, in Actions, an error annotation and status=error,
// rather than with a bare Go trace and an empty status. It does not try to
// tear down: state may be half-updated, and the locks it would take may be
// held. What the run recorded as created is torn down by the post step in
// Actions, by down at the command line.
func (a *app) recoverPanic(code *int) {
	r := recover()
	if r == nil {
		return
	}
	msg := fmt.Sprintf("internal error, a bug in mvm-verify %s: %v", version(), r)
	fmt.Fprintf(a.stderr, "mvm-verify: %s\n%s", msg, debug.Stack())
	var left string
	switch {
	case a.cmd.leg && a.subcommand:
		left = "anything the leg created may be left: `mvm-verify down` with the same --out tears down what it recorded"
	case a.cmd.leg:
		left = "anything the leg created may be left: the post step tears down what it recorded"
	}
	if left != "" {
		fmt.Fprintf(a.stderr, "mvm-verify: %s\n", left)
		msg += "; " + left
	}
	if a.inGHA {
		a.annotate("error", "mvm-verify: internal error", msg)
		a.files.setOutput("status", "error")
	}
	*code = ExitFailed
}

// badInput prints an input error and returns exit status 2.
func (a *app) badInput(err error) int { return a.refuse(refusedInput, err) }

// warn prints a warning, as a workflow annotation in Actions.
func (a *app) warn(msg string) {
	a.annotate("warning", "mvm-verify", msg)
}

// annotate issues an error, warning or notice annotation in Actions, and
// prints it to stderr at a terminal.
func (a *app) annotate(level, title, msg string) {
	if !a.inGHA {
		fmt.Fprintf(a.stderr, "%s: %s: %s\n", title, level, msg)
		return
	}
	gha := a.files.gha.WithFieldsMap(map[string]string{"title": title})
	switch level {
	case "error":
		gha.Errorf("%s", msg)
	case "warning":
		gha.Warningf("%s", msg)
	default:
		gha.Noticef("%s", msg)
	}
}
