package remote

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestQuoteRoundTripsThroughShells(t *testing.T) {
	cases := []string{
		"",
		"plain",
		"/usr/local/bin/mvm-verify",
		"two words",
		"it's",
		`'`,
		`''`,
		`"double" and 'single'`,
		`$HOME $(id) ${x} $1 $$ $? $-`,
		"`backticks`",
		`back\slash \\ \n`,
		"new\nline\ttab",
		"glob * ? [a-z] ~ ~root",
		"semi; and && or || pipe | amp & redirect > < >>",
		"!history !! #comment",
		"unicode ✅ ünï",
		"=starts-with-equals",
		"-starts-with-dash",
	}
	for _, shell := range []string{"bash", "sh", "dash"} {
		path, err := exec.LookPath(shell)
		if err != nil {
			continue // the cases still run under the shells that exist
		}
		for _, want := range cases {
			out, err := exec.Command(path, "-c", "printf '%s' "+Quote(want)).Output()
			if err != nil {
				t.Fatalf("%s: printf %s: %v", shell, Quote(want), err)
			}
			if string(out) != want {
				t.Errorf("%s: Quote(%q) = %s, shell read it back as %q", shell, want, Quote(want), out)
			}
		}
	}
}

func TestQuoteLeavesSafeWordsAlone(t *testing.T) {
	for in, want := range map[string]string{
		"mvm":            "mvm",
		"a/b.c-d_e":      "a/b.c-d_e",
		"KEY=value":      "KEY=value",
		"a b":            "'a b'",
		"it's":           `'it'\''s'`,
		"":               "''",
		"$HOME":          "'$HOME'",
		"user@host:1234": "user@host:1234",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestRemoteCommand(t *testing.T) {
	tests := []struct {
		name    string
		sudo    bool // the login user may sudo (CheckSudo)
		spec    RunSpec
		want    string // exact, or a prefix when wantPre
		wantPre bool
		wantErr string
	}{
		{name: "login user", spec: RunSpec{Command: "echo $HOME"}, want: `bash -lc 'echo $HOME'`},
		{name: "same user without sudo", spec: RunSpec{Command: "id -un", AsUser: "admin"}, want: `bash -lc 'id -un'`},
		{name: "same user with sudo", sudo: true, spec: RunSpec{Command: "id -un", AsUser: "admin"}, want: "sudo -n -iu admin bash -lc 'source <(base64 -d <<<aWQgLXVu)'"},
		{name: "no user with sudo", sudo: true, spec: RunSpec{Command: "id -un"}, want: `bash -lc 'id -un'`},
		{name: "env sorted", spec: RunSpec{Command: "env", Env: map[string]string{"B": "2", "A": "it's"}},
			want: `bash -lc 'export A='\''it'\''\'\'''\''s'\''` + "\n" + `export B=2` + "\n" + `env'`},
		{name: "other user", spec: RunSpec{Command: "id", AsUser: "mvm"}, want: "sudo -n -iu mvm bash -lc 'source <(base64 -d <<<", wantPre: true},
		{name: "bad user", spec: RunSpec{Command: "id", AsUser: "mvm; rm -rf /"}, wantErr: `run as user "mvm; rm -rf /": want a user name`},
		{name: "bad env", spec: RunSpec{Command: "id", Env: map[string]string{"A-B": "x"}}, wantErr: `environment variable name "A-B"`},
		{name: "empty", spec: RunSpec{Command: "  "}, wantErr: "command is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := remoteCommand("admin", tt.sudo, tt.spec, "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantPre && !strings.HasPrefix(got, tt.want) || !tt.wantPre && got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// The script for another user must reach that user's bash byte for byte
// after sudo -i's re-quoting, which leaves '$' unescaped: the encoded form
// must therefore hold no '$' (nor any quote the outer shell would eat).
func TestRemoteCommandSudoFormHasNoDollar(t *testing.T) {
	got, err := remoteCommand("admin", false, RunSpec{Command: `for f in "$@" $HOME '$x'; do echo $f; done`, AsUser: "mvm", Env: map[string]string{"X": "$y"}}, "m4rker")
	if err != nil {
		t.Fatal(err)
	}
	inner := strings.TrimPrefix(got, "sudo -n -iu mvm env MVM_VERIFY_CMD=m4rker bash -lc ")
	if strings.ContainsAny(inner, "$\"`\\") {
		t.Errorf("sudo form %s holds characters sudo -i would not protect", inner)
	}
}

func TestRemoteCommandSetsMarker(t *testing.T) {
	for as, want := range map[string]string{
		"":      "env MVM_VERIFY_CMD=abc123 bash -lc 'export A=1\ntrue'",
		"mvm":   "sudo -n -iu mvm env MVM_VERIFY_CMD=abc123 bash -lc 'source <(base64 -d <<<",
		"admin": "sudo -n -iu admin env MVM_VERIFY_CMD=abc123 bash -lc 'source <(base64 -d <<<",
	} {
		got, err := remoteCommand("admin", true, RunSpec{Command: "true", AsUser: as, Env: map[string]string{"A": "1"}}, "abc123")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("as %q: got %q, want it to start %q", as, got, want)
		}
	}
}

// On a bash older than 5 (no EPOCHREALTIME) the sweep's wait after TERM is
// counted in passes: at most 1 s of sleeps, so a TERM-ignoring process
// still gets its KILL within CancelGrace (2 s). A sleep that returns at
// once shows the bound without waiting on a clock: a wait bounded by wall
// time would call it for as long as that time lasts (the SECONDS-based
// wait this replaces: 1 to 2 s of calls).
func TestSweepWithoutEpochRealtimeKillsWithinASecondOfSleeps(t *testing.T) {
	fake := t.TempDir()
	calls := filepath.Join(fake, "calls")
	if err := os.WriteFile(filepath.Join(fake, "sleep"), []byte("#!/bin/sh\necho \"$1\" >>"+Quote(calls)+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	marker := newToken()
	stubborn := exec.Command("bash", "-c", "trap '' TERM; exec sleep 300")
	stubborn.Env = append(os.Environ(), markerVar+"="+marker)
	if err := stubborn.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = stubborn.Wait(); close(exited) }()
	t.Cleanup(func() { stubborn.Process.Kill(); <-exited })
	// bash execs sleep (TERM still ignored) once it has read its script:
	// wait for the marker to be on sleep's command line, not bash's.
	for {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(stubborn.Process.Pid) + "/cmdline")
		if strings.HasPrefix(string(b), "sleep\x00") {
			break
		}
		select {
		case <-exited:
			t.Fatalf("the TERM-ignoring process ended before the sweep: %v", waitErr)
		case <-time.After(5 * time.Millisecond):
		}
	}

	sweep := exec.Command("bash", "-c", "unset EPOCHREALTIME\n"+sweepScript(marker))
	sweep.Env = append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH"))
	if out, err := sweep.CombinedOutput(); err != nil {
		t.Fatalf("sweep: %v: %s", err, out)
	}
	select {
	case <-exited:
		var exit *exec.ExitError
		if ws, ok := stubborn.ProcessState.Sys().(syscall.WaitStatus); !errors.As(waitErr, &exit) || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("the TERM-ignoring process ended with %v, want killed by SIGKILL", waitErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the TERM-ignoring process still runs 10 s after the sweep ended: the sweep did not KILL it")
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatalf("the sweep never waited after its TERM: %v", err)
	}
	var slept time.Duration
	args := strings.Fields(string(b))
	for _, a := range args {
		d, err := time.ParseDuration(a + "s")
		if err != nil {
			t.Fatalf("sleep %q: %v", a, err)
		}
		slept += d
	}
	if slept > time.Second {
		t.Errorf("the sweep slept %s in %d calls after its TERM, want at most 1 s so that its KILL comes within CancelGrace (%s)", slept, len(args), DefaultCancelGrace)
	}
}
