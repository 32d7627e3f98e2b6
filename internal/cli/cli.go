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
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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
var Version = "dev"

// Env is the process's world, injectable for tests.
type Env struct {
	Args   []string
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Executable is this program's path (uploaded to hosts as the probe).
	Executable string
}

// Main runs the program and returns its exit status.
func Main() int {
	exe, _ := os.Executable()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	// SIGHUP is a closed terminal or ssh session: stop and tear down as
	// for SIGTERM. A closed stdout (`| head`) must not kill the run before
	// its teardown either: with SIGPIPE caught (not ignored, which the
	// processes we start would inherit) writes fail with EPIPE instead.
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	inActions := os.Getenv("GITHUB_ACTIONS") == "true"
	go func() {
		<-sigs
		cancel()
		if inActions {
			// The runner follows up with more signals; they must not cut
			// the teardown short, so they are taken and ignored.
			for range sigs {
			}
		}
		// At a terminal a second Ctrl-C quits at once.
		signal.Reset(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		fmt.Fprintln(os.Stderr, "mvm-verify: tearing down; Ctrl-C again quits at once and may leave resources behind")
	}()
	return Run(ctx, Env{Args: os.Args, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Executable: exe})
}

// Run dispatches on the program name, then on the subcommand.
func Run(ctx context.Context, env Env) int {
	if len(env.Args) > 1 && env.Args[1] == probe.SeccompChildArg {
		return probe.SeccompChildMain()
	}
	a := newApp(env)
	if filepath.Base(env.Args[0]) == PostName {
		return a.post(ctx)
	}
	args := env.Args[1:]
	if len(args) == 0 {
		if env.Getenv("GITHUB_ACTIONS") == "true" {
			return a.actionMain(ctx)
		}
		a.usage()
		return ExitBadInput
	}
	switch args[0] {
	case "run", "up", "down", "report":
		return a.fromFlags(ctx, args[0], args[1:])
	case "probe":
		return a.probe(ctx, args[1:])
	case "providers":
		return a.providers(args[1:])
	case "version", "--version":
		fmt.Fprintf(env.Stdout, "mvm-verify %s\n", Version)
		return ExitOK
	case "help", "-h", "--help":
		a.usage()
		return ExitOK
	}
	fmt.Fprintf(env.Stderr, "mvm-verify: unknown command %q: expected one of run, up, down, report, probe, providers, version\n", args[0])
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

	mu      sync.Mutex
	noticed map[string]bool // reporting notices already shown
	offTold bool            // why GitHub reporting is off was shown
}

func newApp(env Env) *app {
	level := slog.LevelInfo
	if env.Getenv("RUNNER_DEBUG") == "1" || env.Getenv("MVM_VERIFY_DEBUG") == "1" {
		level = slog.LevelDebug
	}
	a := &app{
		env:    env,
		log:    slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level})),
		inGHA:  env.Getenv("GITHUB_ACTIONS") == "true",
		stdout: env.Stdout,
		stderr: env.Stderr,
		start:  time.Now(),
	}
	a.files = &ghaFiles{
		gha:    githubactions.New(githubactions.WithGetenv(env.Getenv), githubactions.WithWriter(env.Stdout)),
		getenv: env.Getenv,
		errOut: func(err error) { fmt.Fprintf(env.Stderr, "mvm-verify: %v\n", err) },
	}
	return a
}

func (a *app) usage() {
	fmt.Fprint(a.stdout, `mvm-verify proves the mvm microVM stack works on a real KVM-capable host.

Usage:
  mvm-verify run --provider NAME [flags]   provision, verify, tear down, report
  mvm-verify up --provider NAME [flags]    provision and keep the host (prints how to ssh in)
  mvm-verify down [--out DIR]              tear down what 'up' kept, or what a killed run left
  mvm-verify report [flags]                write the aggregated matrix (GitHub)
  mvm-verify probe [--json]                this machine's KVM / seccomp / cgroup capabilities
  mvm-verify providers [--json]            the providers and what they support
  mvm-verify version

Every action input foo-bar is the flag --foo-bar; 'mvm-verify run --help' lists them.
`)
}

// badInput prints an input error and returns exit status 2.
func (a *app) badInput(err error) int {
	var ie *config.InputError
	if errors.As(err, &ie) {
		fmt.Fprintf(a.stderr, "mvm-verify: bad input: %v\n", err)
	} else {
		fmt.Fprintf(a.stderr, "mvm-verify: %v\n", err)
	}
	if a.inGHA {
		a.annotate("error", "mvm-verify: bad input", err.Error())
		// The step's outputs and summary say so too: a workflow reading
		// status sees error, not an empty string.
		a.files.setOutput("status", "error")
		fence := "```"
		for strings.Contains(err.Error(), fence) {
			fence += "`"
		}
		a.files.addSummary(fmt.Sprintf("### mvm-verify: bad input\n\nNothing was started.\n\n%s\n%s\n%s\n", fence, err, fence))
	}
	return ExitBadInput
}

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
