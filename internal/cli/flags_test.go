package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// quickSuite is a valid suite, so a command gets past input validation.
const quickSuite = "user: root\nsteps:\n  - name: a\n    run: \"true\"\n"

// unwritableOut is an --out below a regular file: run and up stop there
// with exit 2, after the inputs were read and checked but before anything
// is started.
func unwritableOut(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(file, "out")
}

// The command line's mistakes: each gets exit 2 and a message that names
// the flag or argument and says what to do, in a few lines rather than the
// whole usage; help exits 0.
func TestCommandLineMistakes(t *testing.T) {
	suite := writeSuite(t, quickSuite)
	aFile := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(aFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A kept leg's state, as up leaves it, for down to read.
	kept := filepath.Join(t.TempDir(), "kept")
	if err := os.MkdirAll(filepath.Join(kept, "host"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(kept, "host", "host.json"),
		[]byte(`{"provider": "local", "identity": {"key": "local", "run_id": "cli-1"}, "inputs": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		env     []string
		args    []string
		code    int
		stderr  []string // all must appear in stderr
		stdout  []string // all must appear in stdout
		notOut  []string // none may appear in stdout or stderr
		maxErrs int      // stderr's most lines; 0: no limit
	}{
		{name: "mistyped flag", args: []string{"run", "--providr", "local"}, code: 2,
			stderr:  []string{"unknown flag --providr", "did you mean --provider?", "run `mvm-verify run --help` for the flags"},
			notOut:  []string{"--ssh-host", "Usage"},
			maxErrs: 2},
		{name: "flag without its value", args: []string{"up", "--provider"}, code: 2,
			stderr: []string{"--provider needs a value", "mvm-verify up --help"}, maxErrs: 2},
		{name: "mode other than the subcommand", args: []string{"run", "--provider", "local", "--mode", "report"}, code: 2,
			stderr: []string{`input "mode": got "report"`, "the subcommand already says run"}},
		{name: "argument to run", args: []string{"run", "--provider", "local", "extra"}, code: 2,
			stderr: []string{`unexpected argument "extra"`, "run takes no arguments"}},
		{name: "argument to probe", args: []string{"probe", "extra"}, code: 2,
			stderr: []string{`unexpected argument "extra"`, "probe takes no arguments"}, notOut: []string{"KVM"}},
		{name: "argument to providers", args: []string{"providers", "extra"}, code: 2,
			stderr: []string{`unexpected argument "extra"`}, notOut: []string{"PROVIDER"}},
		{name: "argument to version", args: []string{"version", "extra"}, code: 2,
			stderr: []string{`unexpected argument "extra"`}, notOut: []string{"mvm-verify dev"}},
		{name: "mistyped probe flag", args: []string{"probe", "--jsn"}, code: 2,
			stderr: []string{"unknown flag --jsn", "did you mean --json?", "mvm-verify probe --help"}, maxErrs: 2},
		{name: "mistyped command", args: []string{"rnu"}, code: 2,
			stderr: []string{`unknown command "rnu"`, "did you mean run?"}},
		{name: "flag before the command", args: []string{"--provider", "local"}, code: 2,
			stderr: []string{`unknown command "--provider"`, "the command comes first", "mvm-verify run --provider"}},
		{name: "help of an unknown command", args: []string{"help", "launch"}, code: 2,
			stderr: []string{`unknown command "launch"`}},
		// A word after a true/false flag is its value, refused as it would
		// be after = (it is not taken for a stray argument).
		{name: "bool flag with a word after it", args: []string{"run", "--provider", "local", "--comment", "maybe"}, code: 2,
			stderr: []string{`input "comment": got "maybe", expected true or false`}, notOut: []string{"unexpected argument"}},
		{name: "bool flag with a word after =", args: []string{"run", "--provider", "local", "--comment=maybe"}, code: 2,
			stderr: []string{`input "comment": got "maybe", expected true or false`}},
		{name: "other bool flags with a word after them",
			args: []string{"run", "--provider", "local", "--insecure-host-key", "no", "--spot-failover", "yes", "--allow-ssh-from-anywhere", "1"}, code: 2,
			stderr: []string{`input "insecure-host-key": got "no", expected true or false`, `input "spot-failover": got "yes", expected true or false`,
				`input "allow-ssh-from-anywhere": got "1", expected true or false`},
			notOut: []string{"unexpected argument"}},
		{name: "probe's bool flag with a word after it", args: []string{"probe", "--json", "maybe"}, code: 2,
			stderr: []string{`flag --json: got "maybe", expected true or false`, "mvm-verify probe --help"},
			notOut: []string{"unexpected argument", "KVM", "parse error"}, maxErrs: 1},
		{name: "providers' bool flag with a word after =", args: []string{"providers", "--json=maybe"}, code: 2,
			stderr: []string{`flag --json: got "maybe", expected true or false`}, notOut: []string{"PROVIDER", "parse error"}, maxErrs: 1},
		{name: "bool flag, then --, then an argument", args: []string{"probe", "--json", "--", "extra"}, code: 2,
			stderr: []string{`unexpected argument "extra": probe takes no arguments`}},
		{name: "probe help", args: []string{"probe", "--help"}, code: 0,
			stdout: []string{"Usage: mvm-verify probe", "--json"}},
		{name: "providers help", args: []string{"providers", "-h"}, code: 0,
			stdout: []string{"Usage: mvm-verify providers", "--json"}},
		{name: "help run", args: []string{"help", "run"}, code: 0,
			stdout: []string{"Usage: mvm-verify run", "--provider NAME"}},
		{name: "help", args: []string{"help"}, code: 0,
			stdout: []string{"mvm-verify run --provider NAME", "mvm-verify help COMMAND"}},
		{name: "version", args: []string{"version"}, code: 0, stdout: []string{"mvm-verify "}},
		{name: "version help", args: []string{"--version", "--help"}, code: 0, stdout: []string{"Usage: mvm-verify version"}},
		{name: "INPUT_* outside Actions", env: []string{"INPUT_PROVIDER=local"}, code: 2,
			stderr: []string{"Usage:", "INPUT_* variables are set, but with no subcommand they are read only in the Docker action (GITHUB_ACTIONS=true)"}},
		// A subcommand reads INPUT_* behind its flags: the bad timeout
		// comes from the environment, and the flag's provider wins over
		// the environment's.
		{name: "subcommand reads INPUT_* behind its flags", env: []string{"INPUT_PROVIDER=nowhere", "INPUT_TIMEOUT-MINUTES=soon"},
			args: []string{"run", "--provider", "local"}, code: 2,
			stderr: []string{`input "timeout-minutes"`, `"soon"`}, notOut: []string{"nowhere"}},
		// Values of the right form that break the rule: the message says
		// the rule (positive), not the form they already have.
		{name: "zero timeout", args: []string{"run", "--provider", "local", "--suite", suite, "--timeout-minutes", "0"}, code: 2,
			stderr: []string{`input "timeout-minutes": got "0", expected a positive whole number of minutes`}},
		{name: "zero duration", args: []string{"run", "--provider", "local", "--suite", suite, "--ready-timeout", "0s"}, code: 2,
			stderr: []string{`input "ready-timeout": got "0s", expected a positive duration like 90m`}},
		{name: "zero teardown budget", args: []string{"run", "--provider", "local", "--suite", suite, "--teardown-budget", "0s"}, code: 2,
			stderr: []string{`input "teardown-budget": got "0s", expected a duration of at least 1m`}},
		{name: "out is a file", args: []string{"run", "--provider", "local", "--suite", suite, "--out", aFile}, code: 2,
			stderr: []string{`input "out": got "` + aFile + `", expected a directory`}, notOut: []string{"mkdir", "==> "}},
		{name: "out below a file", args: []string{"run", "--provider", "local", "--suite", suite, "--out", filepath.Join(aFile, "out")}, code: 2,
			stderr: []string{`input "out": got "` + filepath.Join(aFile, "out") + `", expected a directory that can be created`},
			notOut: []string{"mkdir", "==> "}},
		// down reads the leg from its state: a key other than the state's
		// is refused, as another provider is, not silently ignored.
		{name: "down with another key", args: []string{"down", "--out", kept, "--key", "other"}, code: 2,
			stderr: []string{`input "key": got "other", expected nothing, or local: down reads the key from the state in ` + kept},
			notOut: []string{"==> "}},
		{name: "down with another provider", args: []string{"down", "--out", kept, "--provider", "ssh"}, code: 2,
			stderr: []string{`input "provider": got "ssh", expected nothing, or local`}, notOut: []string{"==> "}},
		{name: "bare binary", code: 2, stderr: []string{"Usage:"}, notOut: []string{"INPUT_"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runBin(t, cmdEnv(t, tc.env...), tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			for _, w := range tc.stdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tc.notOut {
				if strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("output holds %q:\nstdout:\n%s\nstderr:\n%s", w, r.stdout, r.stderr)
				}
			}
			if n := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; tc.maxErrs > 0 && n > tc.maxErrs {
				t.Errorf("stderr has %d lines, want at most %d: the error must not scroll away:\n%s", n, tc.maxErrs, r.stderr)
			}
		})
	}
}

// Each subcommand's help lists the flags it reads, written by us: the flag
// package would print `-provider mvm-verify providers` for a description
// with backquoted text.
func TestSubcommandHelpListsItsFlags(t *testing.T) {
	cases := []struct {
		args      []string
		want, not []string
	}{
		{[]string{"run", "--help"},
			[]string{"Usage: mvm-verify run", "--provider NAME", "--step-timeout DURATION", "--ssh-host VALUE",
				"--comment[=true|false]", "Flags for provider ssh:", "Flags for providers that create a cloud host"},
			[]string{"--matrix-file", "--expect", "--mode", "-provider mvm-verify providers", "Usage of"}},
		{[]string{"report", "--help"},
			[]string{"Usage: mvm-verify report", "--matrix-file PATH", "--expect VALUE", "--comment"},
			[]string{"--ssh-host", "--provider", "--step-timeout", "--region"}},
		{[]string{"up", "-h"},
			[]string{"Usage: mvm-verify up", "--provider NAME", "--ttl DURATION"},
			[]string{"--step-timeout", "--matrix-file"}},
		{[]string{"down", "--help"},
			[]string{"Usage: mvm-verify down", "--out PATH", "--ssh-host"},
			[]string{"--instance-type", "--suite", "--matrix-file"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runBin(t, cmdEnv(t), tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("help lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(r.stdout, w+" ") || strings.Contains(r.stdout, w+"\n") || strings.Contains(r.stdout, w+"[") {
					t.Errorf("help lists %q, which %s does not read:\n%s", w, tc.args[0], r.stdout)
				}
			}
		})
	}
}

// A flag the subcommand or the provider does not read is warned about once
// and ignored, before anything starts.
func TestFlagsThatDoNotApplyAreWarnedAbout(t *testing.T) {
	suite := writeSuite(t, quickSuite)
	cases := []struct {
		name string
		args []string
		code int
		want []string // warnings, each expected exactly once
		not  []string // no warning may name these
	}{
		{name: "ssh and cloud flags to local",
			args: []string{"run", "--provider", "local", "--ssh-host", "foo", "--instance-type", "c5.metal",
				"--region", "eu-west-1", "--suite", suite, "--out", unwritableOut(t)},
			code: 2,
			want: []string{
				"mvm-verify: warning: --ssh-host does not apply to provider local (it is for ssh); ignored",
				"mvm-verify: warning: --instance-type does not apply to provider local",
				"mvm-verify: warning: --region does not apply to provider local",
			},
			not: []string{"--suite", "--provider", "--out"}},
		{name: "step-timeout to up",
			args: []string{"up", "--provider", "local", "--step-timeout", "5m", "--suite", suite, "--out", unwritableOut(t)},
			code: 2,
			want: []string{"mvm-verify: warning: --step-timeout does not apply to up (it is for run); ignored"}},
		{name: "cloud flags to a cloud",
			args: []string{"run", "--provider", "aws", "--region", "us-east-1", "--instance-type", "c8i.large",
				"--suite", suite, "--out", unwritableOut(t)},
			code: 2,
			not:  []string{"--region", "--instance-type"}},
		{name: "ssh-host to report",
			args: []string{"report", "--ssh-host", "foo", "--comment", "false", "--expect", "local", "--out", t.TempDir()},
			code: 0,
			want: []string{"mvm-verify: warning: --ssh-host does not apply to report (it is for run, up, down); ignored"},
			not:  []string{"--comment", "--expect"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runBin(t, cmdEnv(t), tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if n := strings.Count(r.stderr, w); n != 1 {
					t.Errorf("stderr holds %q %d times, want once:\n%s", w, n, r.stderr)
				}
			}
			for _, line := range strings.Split(r.stderr, "\n") {
				for _, n := range tc.not {
					if strings.Contains(line, "warning: "+n+" ") {
						t.Errorf("warned about %s: %s", n, line)
					}
				}
			}
		})
	}
}

// In the action a matrix passes every leg the same inputs, so one that
// does not apply to this leg is not warned about.
func TestInputsThatDoNotApplyAreQuietInActions(t *testing.T) {
	r := runBin(t, cmdEnv(t, "GITHUB_ACTIONS=true", "GITHUB_OUTPUT="+emptyFile(t, "outputs"),
		"GITHUB_STEP_SUMMARY="+emptyFile(t, "summary"), "INPUT_PROVIDER=local", "INPUT_SSH-HOST=foo",
		"INPUT_REGION=eu-west-1", "INPUT_SUITE="+writeSuite(t, quickSuite), "INPUT_OUT="+unwritableOut(t)))
	if r.code != 2 || !strings.Contains(r.stderr, `input "out"`) {
		t.Fatalf("exit %d, want 2 for the out directory\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if out := r.stdout + r.stderr; strings.Contains(out, "does not apply") || strings.Contains(out, "ssh-host") {
		t.Errorf("warned about inputs this leg does not read:\n%s", out)
	}
}

// A true/false flag takes its value after a space as well as after =.
func TestBoolFlagWithSpacedValue(t *testing.T) {
	base := []string{"run", "--provider", "ssh", "--ssh-host", "192.0.2.1", "--suite", writeSuite(t, quickSuite),
		"--out", unwritableOut(t)}
	// Without ssh-known-host, the run is refused unless insecure-host-key
	// is true: what the error names shows which value was read.
	for _, tc := range []struct {
		value     string
		wantKnown bool // the ssh-known-host error is expected
	}{{"false", true}, {"true", false}, {"FALSE", true}} {
		t.Run(tc.value, func(t *testing.T) {
			r := runBin(t, cmdEnv(t), append(base, "--insecure-host-key", tc.value)...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2 (no private key)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if strings.Contains(r.stderr, "unexpected argument") {
				t.Errorf("--insecure-host-key %s: the value was taken for an argument:\n%s", tc.value, r.stderr)
			}
			if got := strings.Contains(r.stderr, `input "ssh-known-host": missing`); got != tc.wantKnown {
				t.Errorf("--insecure-host-key %s: ssh-known-host refused %v, want %v:\n%s", tc.value, got, tc.wantKnown, r.stderr)
			}
		})
	}
}

// The README's command list is the help's, line for line: a synopsis that
// drifts (report once read `report --expect a,b`, though --expect is
// optional) misleads whoever copies it.
func TestREADMEUsageIsTheHelp(t *testing.T) {
	readme := readFile(t, filepath.Join("..", "..", "README.md"))
	_, section, ok := strings.Cut(readme, "## The CLI\n\n```\n")
	if !ok {
		t.Fatal("README.md has no \"## The CLI\" section opening with a code block")
	}
	block, _, _ := strings.Cut(section, "```")
	r := runBin(t, cmdEnv(t), "help")
	if r.code != 0 {
		t.Fatalf("help: exit %d\n%s", r.code, r.stderr)
	}
	var help []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if cmd, ok := strings.CutPrefix(l, "  mvm-verify "); ok {
			help = append(help, strings.TrimRight("mvm-verify "+cmd, " "))
		}
	}
	got := strings.Split(strings.TrimRight(block, "\n"), "\n")
	if len(help) == 0 || strings.Join(got, "\n") != strings.Join(help, "\n") {
		t.Errorf("README's command list:\n%s\nwant the help's:\n%s", strings.Join(got, "\n"), strings.Join(help, "\n"))
	}
}
