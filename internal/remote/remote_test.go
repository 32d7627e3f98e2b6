package remote

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// The test users are real accounts on this machine (testhost keeps them
// between runs), so their names are fixed rather than per run, and what the
// tests write goes to a scratch directory of their own.
const (
	loginUser = "mvr-login"
	otherUser = "mvr-other"
)

// fixture is one real sshd (internal/testhost) with a login user who may
// sudo and a second user to run commands as.
type fixture struct {
	keys         *Keys
	host         *testhost.Host
	login, other string
	scratch      string // writable by both users, removed after the test
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	testhost.RequireRoot(t)
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{keys: keys, login: loginUser, other: otherUser}
	f.host = testhost.Start(t, testhost.Options{
		HostKeyPEM: keys.HostPrivatePEM,
		Users: []testhost.User{
			{Name: f.login, AuthorizedKeys: []string{keys.ClientAuthorized}, Sudo: true},
			{Name: f.other},
		},
	})
	f.scratch = scratchDir(t)
	return f
}

// scratchDir is a sticky, world-writable directory like /tmp, so that
// either test user can write into it.
func scratchDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mvr-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (f *fixture) target() Target {
	return Target{Addr: f.host.Addr(), Port: f.host.Port(), User: f.login, Signer: f.keys.Client, HostKey: f.keys.HostPublic}
}

// fast keeps retries and kill waits short; none of the tests depends on
// how long anything takes.
func fast() DialOptions {
	return DialOptions{InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, KillGrace: 3 * time.Second, CancelGrace: 3 * time.Second}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func (f *fixture) dial(t testing.TB, o DialOptions) *Client {
	t.Helper()
	c, err := Dial(testContext(t), f.target(), o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func run(t *testing.T, c *Client, s RunSpec) ExecResult {
	t.Helper()
	res, err := c.Run(testContext(t), s)
	if err != nil {
		t.Fatalf("Run(%q): %v", s.Command, err)
	}
	return res
}

// lockedBuffer is a live-output sink read while Run writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// notifyWriter closes seen once the output holds marker.
type notifyWriter struct {
	lockedBuffer
	marker string
	seen   chan struct{}
	once   sync.Once
}

func newNotifyWriter(marker string) *notifyWriter {
	return &notifyWriter{marker: marker, seen: make(chan struct{})}
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	n, err := w.lockedBuffer.Write(p)
	if strings.Contains(w.String(), w.marker) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func TestRunEcho(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	var live lockedBuffer
	res := run(t, c, RunSpec{Command: "echo hello; echo oops >&2; id -un", Stdout: &live})
	if res.ExitCode != 0 || !res.OK() || res.TimedOut || res.Signal != "" {
		t.Errorf("result %+v, want a clean exit 0", res)
	}
	for _, want := range []string{"hello\n", "oops\n", f.login + "\n"} {
		if !bytes.Contains(res.Output, []byte(want)) {
			t.Errorf("output %q lacks %q", res.Output, want)
		}
	}
	if live.String() != string(res.Output) {
		t.Errorf("live output %q differs from kept output %q", live.String(), res.Output)
	}
}

func TestRunExitCodes(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	tests := []struct {
		cmd    string
		code   int
		signal string
	}{
		{"true", 0, ""},
		{"false", 1, ""},
		{"exit 3", 3, ""},
		{"x=42; exit $x", 42, ""},
		{"kill -TERM $$", 128 + 15, "TERM"},
		{"kill -KILL $$", 128 + 9, "KILL"},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			res := run(t, c, RunSpec{Command: tt.cmd})
			if res.ExitCode != tt.code || res.Signal != tt.signal {
				t.Errorf("exit %d signal %q, want %d %q", res.ExitCode, res.Signal, tt.code, tt.signal)
			}
			if res.OK() != (tt.code == 0) {
				t.Errorf("OK() = %v for exit %d", res.OK(), tt.code)
			}
		})
	}
}

// The same script, with shell syntax that a careless quoting layer breaks,
// must behave identically as the login user and through sudo -i.
func TestRunAsUser(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	script := `printf '%s|' "$(id -un)" "$HOME" "$PWD" "$A" "$B"; for w in one 'two words'; do printf '<%s>' "$w"; done; printf '%s' '$HOME'`
	env := map[string]string{"A": `it's "quoted" $HOME`, "B": "line1\nline2"}
	want := func(user string) string {
		return user + "|/home/" + user + "|/home/" + user + `|it's "quoted" $HOME|line1` + "\n" + `line2|<one><two words>$HOME`
	}
	for _, as := range []string{"", f.login, f.other} {
		t.Run("as "+as, func(t *testing.T) {
			res := run(t, c, RunSpec{Command: script, AsUser: as, Env: env})
			user := as
			if user == "" {
				user = f.login
			}
			if res.ExitCode != 0 || string(res.Output) != want(user) {
				t.Errorf("exit %d output\n%q\nwant\n%q", res.ExitCode, res.Output, want(user))
			}
		})
	}
	// Once CheckSudo found the login user's sudo, a command as the login
	// user goes through sudo -iu as well, and means the same.
	sc := f.dial(t, fast())
	if ok, err := sc.CheckSudo(testContext(t)); err != nil || !ok {
		t.Fatalf("CheckSudo for %s, who has NOPASSWD sudo: ok %v, err %v", f.login, ok, err)
	}
	if res := run(t, sc, RunSpec{Command: script, AsUser: f.login, Env: env}); res.ExitCode != 0 || string(res.Output) != want(f.login) {
		t.Errorf("as the login user through sudo: exit %d output\n%q\nwant\n%q", res.ExitCode, res.Output, want(f.login))
	}
	for as, want := range map[string]string{"": "none\n", f.login: f.login + "\n"} {
		if res := run(t, sc, RunSpec{Command: `echo "${SUDO_USER:-none}"`, AsUser: as}); string(res.Output) != want {
			t.Errorf("as %q after CheckSudo: SUDO_USER %q, want %q", as, res.Output, want)
		}
	}
	if res := run(t, c, RunSpec{Command: `echo "${SUDO_USER:-none}"`, AsUser: f.login}); string(res.Output) != "none\n" {
		t.Errorf("as the login user without CheckSudo: SUDO_USER %q, want none (no sudo)", res.Output)
	}
	// A login shell reads the profile: this is how rustup's PATH arrives.
	profile := "/home/" + f.other + "/.profile"
	orig, err := os.ReadFile(profile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if orig == nil {
			os.Remove(profile)
		} else {
			os.WriteFile(profile, orig, 0o644)
		}
	})
	if err := os.WriteFile(profile, append(orig, "\nexport FROM_PROFILE=yes\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := run(t, c, RunSpec{Command: `echo "$FROM_PROFILE"`, AsUser: f.other}); string(res.Output) != "yes\n" {
		t.Errorf("profile not read: %q", res.Output)
	}
	if res := run(t, c, RunSpec{Command: "exit 7", AsUser: f.other}); res.ExitCode != 7 {
		t.Errorf("exit status through sudo: %d, want 7", res.ExitCode)
	}
}

// remoteGone waits until no process on the host has marker in its command
// line. The check is real pgrep output, polled because a killed process
// takes a moment to be reaped.
func remoteGone(t *testing.T, c *Client, marker string) {
	t.Helper()
	// The [s] keeps pgrep from matching its own command line.
	pattern := "[" + marker[:1] + "]" + marker[1:]
	for i := 0; ; i++ {
		res := run(t, c, RunSpec{Command: "pgrep -f " + Quote(pattern)})
		if res.ExitCode == 1 {
			return
		}
		if i == 100 {
			t.Fatalf("%q still running on the host: pgrep exit %d %s", marker, res.ExitCode, res.Output)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The timeout's clock starts once the command has printed "started" (see
// afterOutput), so the kill finds it past that point however slowly a
// loaded host gets it there.
func TestRunTimeoutKills(t *testing.T) {
	f := newFixture(t)
	pid := strconv.Itoa(os.Getpid() % 100)
	tests := []struct {
		name    string
		asUser  string
		command string
		markers []string // processes that must be gone afterwards
	}{
		{"login user", "", "echo started; sleep 61.1" + pid + "; echo survived", []string{"sleep 61.1" + pid}},
		// sudo's own process is root's; the killed command must still end.
		{"login user through sudo", "sudo", "echo started; sleep 61.5" + pid + "; echo survived", []string{"sleep 61.5" + pid}},
		// killpg as the login user cannot reach the other user's processes.
		{"other user through sudo", f.other, "echo started; sleep 61.2" + pid + "; echo survived", []string{"sleep 61.2" + pid}},
		// A process in a session of its own escapes killpg.
		{"escaped to a new session", "", "setsid sleep 61.3" + pid + " </dev/null >/dev/null 2>&1 & echo started; sleep 61.4" + pid,
			[]string{"sleep 61.3" + pid, "sleep 61.4" + pid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := newAfterOutput("started\n")
			c, as := f.dial(t, seen.options(fast())), tt.asUser
			if as == "sudo" {
				if ok, err := c.CheckSudo(testContext(t)); err != nil || !ok {
					t.Fatalf("CheckSudo: ok %v, err %v", ok, err)
				}
				as = f.login
			}
			res, err := c.Run(testContext(t), RunSpec{Command: tt.command, AsUser: as, Timeout: 300 * time.Millisecond, Stdout: seen})
			if err != nil {
				t.Fatalf("a timeout is a result, not an error: %v", err)
			}
			if !res.TimedOut || res.OK() {
				t.Errorf("result %+v, want TimedOut", res)
			}
			// TERM comes first, and these die of it.
			if res.Signal != "TERM" || res.ExitCode != 128+15 {
				t.Errorf("exit %d signal %q, want the TERM reported", res.ExitCode, res.Signal)
			}
			if string(res.Output) != "started\n" {
				t.Errorf("output %q, want what ran before the kill", res.Output)
			}
			for _, m := range tt.markers {
				remoteGone(t, c, m)
			}
			// The connection outlives killed commands.
			if res := run(t, c, RunSpec{Command: "echo still here"}); string(res.Output) != "still here\n" {
				t.Errorf("after timeout: %q", res.Output)
			}
		})
	}
}

// The sweep after a timeout runs without the user's login profile: a
// profile that waits (a rehash waiting on its lock, here a sleep) must not
// keep the sweep from ending what escaped killpg.
func TestSweepSkipsTheLoginProfile(t *testing.T) {
	f := newFixture(t)
	seen := newAfterOutput("started\n")
	c := f.dial(t, seen.options(fast()))
	u, err := user.Lookup(f.other)
	if err != nil {
		t.Fatal(err)
	}
	flag := filepath.Join(f.scratch, "profile-blocks")
	profile := filepath.Join(u.HomeDir, ".bash_profile")
	if err := os.WriteFile(profile, []byte("[ -f "+Quote(flag)+" ] && sleep 30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(profile); os.Remove(flag) })
	marker := "sleep 61.6" + strconv.Itoa(os.Getpid()%100)
	// The command's own login passes; every login after it would wait.
	cmd := "touch " + Quote(flag) + "; setsid " + marker + " </dev/null >/dev/null 2>&1 & echo started; sleep 61.7"
	res, err := c.Run(testContext(t), RunSpec{Command: cmd, AsUser: f.other, Timeout: 300 * time.Millisecond, Stdout: seen})
	if err != nil || !res.TimedOut {
		t.Fatalf("result %+v, err %v; want a timeout", res, err)
	}
	remoteGone(t, c, marker)
}

// TestRunTimeoutIsTheStepTimeout: a command that would finish on its own a
// few seconds later is stopped at its timeout, not at some multiple of it:
// it is reported timed out and never gets to print.
func TestRunTimeoutIsTheStepTimeout(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	res, err := c.Run(testContext(t), RunSpec{Command: "echo started; sleep 3; echo finished", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("a timeout is a result, not an error: %v", err)
	}
	if !res.TimedOut || res.OK() {
		t.Errorf("result %+v, want TimedOut", res)
	}
	if strings.Contains(string(res.Output), "finished") {
		t.Errorf("output %q: the command ran to its end past its timeout", res.Output)
	}
}

// The sweep asks before it kills: a process that cleans up on TERM (a
// shell holding a lock file) gets to, and one that ignores TERM is still
// killed.
func TestRunTimeoutTermsBeforeKill(t *testing.T) {
	f := newFixture(t)
	seen := newAfterOutput("started\n")
	c := f.dial(t, seen.options(fast()))
	// Where the host's user can write: t.TempDir's parent is root's alone.
	dir, err := os.MkdirTemp("/tmp", "mvm-remote-term-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(os.Getpid() % 100)
	cleaned := filepath.Join(dir, "cleaned-up")
	// Each child says when its trap is set; the timeout's clock starts
	// once both have.
	politeSet, stubbornSet := filepath.Join(dir, "polite-trap-set"), filepath.Join(dir, "stubborn-trap-set")
	polite, stubborn := "sleep 63.1"+pid, "sleep 63.2"+pid
	cmd := "setsid bash -c " + Quote("trap 'touch "+cleaned+"; exit' TERM; touch "+politeSet+"; "+polite+" & wait") + " </dev/null >/dev/null 2>&1 & " +
		"setsid bash -c " + Quote("trap '' TERM; touch "+stubbornSet+"; "+stubborn) + " </dev/null >/dev/null 2>&1 & " +
		"until [ -e " + politeSet + " ] && [ -e " + stubbornSet + " ]; do sleep 0.05; done; " +
		"echo started; sleep 63.3" + pid
	res, err := c.Run(testContext(t), RunSpec{Command: cmd, Timeout: 300 * time.Millisecond, Stdout: seen})
	if err != nil || !res.TimedOut {
		t.Fatalf("res %+v, err %v; want a timeout", res, err)
	}
	remoteGone(t, c, stubborn)
	remoteGone(t, c, polite)
	if _, err := os.Stat(cleaned); err != nil {
		t.Errorf("the process that cleans up on TERM was killed without a TERM: %v", err)
	}
}

func TestRunContextCancel(t *testing.T) {
	f := newFixture(t)
	plain := f.dial(t, fast())
	sc := f.dial(t, fast())
	if ok, err := sc.CheckSudo(testContext(t)); err != nil || !ok {
		t.Fatalf("CheckSudo: ok %v, err %v", ok, err)
	}
	for i, as := range []string{"", f.other, "sudo"} {
		t.Run("as "+as, func(t *testing.T) {
			c := plain
			if as == "sudo" {
				c, as = sc, f.login // the login user through sudo
			}
			marker := "sleep 62." + strconv.Itoa(i) + strconv.Itoa(os.Getpid()%100)
			ctx, cancel := context.WithCancel(testContext(t))
			live := newNotifyWriter("started")
			go func() {
				<-live.seen
				cancel()
			}()
			survived := filepath.Join(f.scratch, "survived"+strconv.Itoa(i))
			res, err := c.Run(ctx, RunSpec{Command: "echo started; " + marker + "; touch " + survived, AsUser: as, Stdout: live})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if res.TimedOut || res.OK() {
				t.Errorf("result %+v after cancel", res)
			}
			if !bytes.Contains(res.Output, []byte("started")) {
				t.Errorf("partial output lost: %q", res.Output)
			}
			remoteGone(t, c, marker)
			if _, err := os.Stat(survived); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: %v; the script went on after its sleep was killed", survived, err)
			}
			if _, err := c.Run(ctx, RunSpec{Command: "true"}); !errors.Is(err, context.Canceled) {
				t.Errorf("Run with a done ctx: err = %v", err)
			}
		})
	}
}

// TestRunCancelStubbornCommandKeepsConnection cancels a command, run as
// another user through sudo, that ignores TERM and has started a child in
// a session of its own that ignores TERM and HUP and holds its output: the
// sweep must KILL them
// after its TERM, and the host, which answers all along, must not be taken
// for dead, whether the killed command reports its end within CancelGrace
// or only after it (a grace shorter than the sweep's wait for TERM).
func TestRunCancelStubbornCommandKeepsConnection(t *testing.T) {
	f := newFixture(t)
	for i, grace := range []time.Duration{3 * time.Second, 200 * time.Millisecond} {
		t.Run("grace "+grace.String(), func(t *testing.T) {
			o := fast()
			o.CancelGrace = grace
			c := f.dial(t, o)
			n := strconv.Itoa(i) + strconv.Itoa(os.Getpid()%100)
			inStep, detached := "sleep 64.1"+n, "sleep 64.2"+n
			t.Cleanup(func() { exec.Command("pkill", "-KILL", "-f", "^sleep 64\\.[12]"+n+"$").Run() })
			cmd := "trap '' TERM; (setsid sh -c " + Quote(`trap "" TERM HUP; exec `+detached) + " &); " +
				"echo started; " + inStep
			ctx, cancel := context.WithCancel(testContext(t))
			live := newNotifyWriter("started")
			go func() {
				<-live.seen
				cancel()
			}()
			_, err := c.Run(ctx, RunSpec{Command: cmd, AsUser: f.other, Stdout: live})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if err := c.Err(); err != nil {
				t.Fatalf("the connection to a host that answers was closed: %v", err)
			}
			remoteGone(t, c, inStep)
			remoteGone(t, c, detached)
			if res := run(t, c, RunSpec{Command: "echo still here", AsUser: f.other}); string(res.Output) != "still here\n" {
				t.Errorf("after the cancel: %q", res.Output)
			}
		})
	}
}

// TestRunOutputCap covers output beyond twice the cap, which the writer
// trims as it goes, and output between once and twice the cap, which only
// the result's snapshot cuts.
func TestRunOutputCap(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	for _, n := range []int{5000, 1500, 997} {
		t.Run(strconv.Itoa(n+3)+" bytes", func(t *testing.T) {
			res := run(t, c, RunSpec{Command: "head -c " + strconv.Itoa(n) + " /dev/zero | tr '\\0' a; printf END", MaxOutput: 1000})
			wantLen, wantDropped := min(n+3, 1000), int64(max(0, n+3-1000))
			if len(res.Output) != wantLen || !bytes.HasSuffix(res.Output, []byte("aEND")) || res.OutputDropped != wantDropped {
				t.Errorf("kept %d bytes ending %q, dropped %d; want the last %d and %d dropped",
					len(res.Output), res.Output[max(0, len(res.Output)-8):], res.OutputDropped, wantLen, wantDropped)
			}
		})
	}
}

func TestRunRejectsBadSpec(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	for _, s := range []RunSpec{
		{Command: "id", AsUser: "root; touch /tmp/x"},
		{Command: "id", Env: map[string]string{"BAD NAME": "x"}},
		{Command: ""},
	} {
		if _, err := c.Run(testContext(t), s); err == nil {
			t.Errorf("Run(%+v) accepted", s)
		}
	}
}

func TestDialHostKeyMismatch(t *testing.T) {
	f := newFixture(t)
	impostor, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	tgt := f.target()
	tgt.HostKey = impostor.HostPublic // pin a key the host does not have
	marker := filepath.Join(f.scratch, "ran")

	var attempts []error
	o := fast()
	o.HandshakeBudget = 2
	o.Progress = func(_ int, err error) { attempts = append(attempts, err) }
	c, err := Dial(testContext(t), tgt, o)
	if err == nil {
		c.Run(testContext(t), RunSpec{Command: "touch " + Quote(marker)})
		c.Close()
		t.Fatal("Dial accepted a host presenting the wrong key")
	}
	if !errors.Is(err, ErrHostKeyMismatch) || errors.Is(err, ErrAuth) {
		t.Errorf("err = %v, want ErrHostKeyMismatch only", err)
	}
	if len(attempts) != 2 {
		t.Errorf("%d attempts, want the budget of 2", len(attempts))
	}
	wantFP, _ := Fingerprint(impostor.HostPublic)
	gotFP, _ := Fingerprint(f.keys.HostPublic)
	for _, s := range []string{wantFP, gotFP, "expected", "presented"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	for _, secret := range append(f.keys.Secrets(), strings.Fields(f.keys.HostPublic)[1]) {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error quotes key material: %v", err)
		}
	}
	if _, statErr := os.Stat(marker); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("marker %s: %v; no command may run on a refused host", marker, statErr)
	}
}

// A host with no key of the pinned type (here only ECDSA) is refused like a
// wrong key, not retried until the deadline.
func TestDialHostWithoutPinnedKeyType(t *testing.T) {
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(ecKey, "")
	if err != nil {
		t.Fatal(err)
	}
	user := loginUser
	testhost.RequireRoot(t)
	host := testhost.Start(t, testhost.Options{
		HostKeyPEM: pem.EncodeToMemory(block),
		Users:      []testhost.User{{Name: user, AuthorizedKeys: []string{keys.ClientAuthorized}}},
	})
	tgt := Target{Addr: host.Addr(), Port: host.Port(), User: user, Signer: keys.Client, HostKey: keys.HostPublic}
	_, err = Dial(testContext(t), tgt, fast())
	if !errors.Is(err, ErrHostKeyMismatch) || !strings.Contains(err.Error(), "no ssh-ed25519 key") {
		t.Errorf("err = %v, want a host key mismatch naming the missing key type", err)
	}
}

func TestDialAuthFailure(t *testing.T) {
	f := newFixture(t)
	stranger, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	tgt := f.target()
	tgt.Signer = stranger.Client
	o := fast()
	var n int
	o.Progress = func(int, error) { n++ }
	_, err = Dial(testContext(t), tgt, o)
	if !errors.Is(err, ErrAuth) || errors.Is(err, ErrHostKeyMismatch) {
		t.Errorf("err = %v, want ErrAuth", err)
	}
	if n != 3 {
		t.Errorf("%d attempts, want the default budget of 3", n)
	}
}

func TestDialValidatesTarget(t *testing.T) {
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	good := Target{Addr: "127.0.0.1", Port: 1, User: "u", Signer: keys.Client, HostKey: keys.HostPublic}
	tests := []struct {
		name string
		edit func(*Target)
		want string
	}{
		{"no addr", func(t *Target) { t.Addr = "" }, "address is empty"},
		{"bad port", func(t *Target) { t.Port = 70000 }, "port 70000"},
		{"no user", func(t *Target) { t.User = "" }, "user is empty"},
		{"no signer", func(t *Target) { t.Signer = nil }, "no client key"},
		{"no host key", func(t *Target) { t.HostKey = "" }, "host key is empty"},
		{"bad host key", func(t *Target) { t.HostKey = "ssh-ed25519 %%%" }, `host key "ssh-ed25519 %%%"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tgt := good
			tt.edit(&tgt)
			_, err := Dial(testContext(t), tgt, fast())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestDialInsecureAcceptsAnyKey(t *testing.T) {
	f := newFixture(t)
	tgt := f.target()
	tgt.HostKey = ""
	tgt.Insecure = true
	var log lockedBuffer
	o := fast()
	// At debug level: the user was warned about insecure-host-key once,
	// where it was read; the key accepted is detail for a debug run.
	o.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := Dial(testContext(t), tgt, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fp, _ := Fingerprint(f.keys.HostPublic)
	if !strings.Contains(log.String(), "not be verified") || !strings.Contains(log.String(), fp) {
		t.Errorf("no debug line naming the accepted key %s in log:\n%s", fp, log.String())
	}
	if strings.Contains(log.String(), "level=WARN") {
		t.Errorf("a second warning about insecure-host-key:\n%s", log.String())
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestDialRetriesUntilHostListens(t *testing.T) {
	testhost.RequireRoot(t)
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	user := loginUser
	port := freePort(t)
	tgt := Target{Addr: "127.0.0.1", Port: port, User: user, Signer: keys.Client, HostKey: keys.HostPublic}

	failed := make(chan error, 100)
	o := fast()
	o.Progress = func(_ int, err error) { failed <- err }
	type dialed struct {
		c   *Client
		err error
	}
	done := make(chan dialed, 1)
	go func() {
		c, err := Dial(testContext(t), tgt, o)
		done <- dialed{c, err}
	}()
	for range 3 {
		err := <-failed
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("attempt failed with %v, want connection refused", err)
		}
	}
	testhost.Start(t, testhost.Options{
		Addr: "127.0.0.1", Port: port, HostKeyPEM: keys.HostPrivatePEM,
		Users: []testhost.User{{Name: user, AuthorizedKeys: []string{keys.ClientAuthorized}}},
	})
	d := <-done
	if d.err != nil {
		t.Fatalf("Dial after the host started: %v", d.err)
	}
	defer d.c.Close()
	if res := run(t, d.c, RunSpec{Command: "id -un"}); string(res.Output) != user+"\n" {
		t.Errorf("id -un = %q", res.Output)
	}
}

func TestDialGivesUpWithContext(t *testing.T) {
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	tgt := Target{Addr: "127.0.0.1", Port: freePort(t), User: "nobody", Signer: keys.Client, HostKey: keys.HostPublic}
	ctx, cancel := context.WithCancel(testContext(t))
	o := fast()
	o.Progress = func(n int, _ error) {
		if n == 2 {
			cancel()
		}
	}
	_, err = Dial(ctx, tgt, o)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err = %v, want both the cancellation and the last attempt's refusal", err)
	}
}

// TestDialBackoffCapped: the wait between failed attempts doubles from
// InitialBackoff but never exceeds MaxBackoff, however many attempts fail.
// The waits are recorded, not slept.
func TestDialBackoffCapped(t *testing.T) {
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	tgt := Target{Addr: "127.0.0.1", Port: freePort(t), User: "nobody", Signer: keys.Client, HostKey: keys.HostPublic}
	const attempts = 20
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	o := DialOptions{InitialBackoff: time.Second, MaxBackoff: 8 * time.Second}
	var waited []time.Duration
	o.Sleep = func(ctx context.Context, d time.Duration) error {
		waited = append(waited, d)
		if len(waited) == attempts {
			cancel()
		}
		return ctx.Err()
	}
	if _, err := Dial(ctx, tgt, o); !errors.Is(err, context.Canceled) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want the cancellation after refused attempts", err)
	}
	if len(waited) != attempts {
		t.Fatalf("%d waits, want one after each of %d refused attempts", len(waited), attempts)
	}
	if waited[0] > o.InitialBackoff {
		t.Errorf("first wait %v, want at most InitialBackoff %v", waited[0], o.InitialBackoff)
	}
	for i, d := range waited {
		if d > o.MaxBackoff {
			t.Errorf("wait %d is %v, more than MaxBackoff %v", i+1, d, o.MaxBackoff)
		}
	}
	// It does grow to the cap: with jitter a wait is at least half its
	// backoff, and by the last attempt the backoff is MaxBackoff.
	if last := waited[attempts-1]; last < o.MaxBackoff/2 {
		t.Errorf("last wait %v, want the backoff grown to MaxBackoff %v (at least half of it with jitter)", last, o.MaxBackoff)
	}
}

func TestUpload(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	sum := sha256.Sum256(data)
	dst := filepath.Join(f.scratch, "new/dir/mvm-verify")

	if err := c.Upload(testContext(t), bytes.NewReader(data), dst, 0o750); err != nil {
		t.Fatal(err)
	}
	res := run(t, c, RunSpec{Command: "sha256sum " + Quote(dst) + " | cut -d' ' -f1; stat -c %a " + Quote(dst) + "; ls -A " + Quote(filepath.Dir(dst))})
	want := hex.EncodeToString(sum[:]) + "\n750\nmvm-verify\n"
	if string(res.Output) != want {
		t.Errorf("remote file: %q, want %q (content hash, mode, no temp files left)", res.Output, want)
	}

	// Replacing a file, including one that is executing, works.
	run(t, c, RunSpec{Command: "cp /bin/sleep " + Quote(dst) + " && (" + Quote(dst) + " 30 >/dev/null 2>&1 &) && sleep 0.2"})
	if err := c.Upload(testContext(t), strings.NewReader("#!/bin/sh\necho v2\n"), dst, 0o755); err != nil {
		t.Fatalf("replace a running binary: %v", err)
	}
	if res := run(t, c, RunSpec{Command: Quote(dst)}); string(res.Output) != "v2\n" {
		t.Errorf("replaced file runs as %q", res.Output)
	}
	run(t, c, RunSpec{Command: "pkill -f " + Quote(dst) + " || true"})

	for _, bad := range []string{"relative/path", "/a/../b", "/"} {
		if err := c.Upload(testContext(t), strings.NewReader("x"), bad, 0o644); err == nil {
			t.Errorf("Upload to %q accepted", bad)
		}
	}
	if err := c.Upload(testContext(t), strings.NewReader("x"), "/proc/forbidden/x", 0o644); err == nil {
		t.Error("Upload into /proc succeeded")
	}
}

func TestUploadFailedReaderLeavesNothing(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	dir := filepath.Join(f.scratch, "up")
	r := io.MultiReader(strings.NewReader("partial"), errReader{})
	if err := c.Upload(testContext(t), r, dir+"/file", 0o644); err == nil || !strings.Contains(err.Error(), "source broke") {
		t.Fatalf("err = %v, want the reader's error", err)
	}
	if res := run(t, c, RunSpec{Command: "ls -A " + Quote(dir)}); len(res.Output) != 0 {
		t.Errorf("left behind: %q", res.Output)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("source broke") }

// endlessReader is an upload source that never ends; started is closed
// once some of it has been read, so the upload is under way.
type endlessReader struct {
	read    int
	started chan struct{}
	once    sync.Once
}

func newEndlessReader() *endlessReader { return &endlessReader{started: make(chan struct{})} }

func (r *endlessReader) Read(p []byte) (int, error) {
	clear(p)
	r.read += len(p)
	if r.read >= 1<<20 {
		r.once.Do(func() { close(r.started) })
	}
	return len(p), nil
}

// uploadUntilCancelled starts an endless upload to dst, waits until it is
// under way, runs between (which may freeze the host), cancels, and
// returns Upload's error. A guard fails the test instead of hanging it
// when Upload never returns.
func uploadUntilCancelled(t *testing.T, c *Client, dst string, between func()) error {
	t.Helper()
	return untilCancelled(t, "Upload", func(ctx context.Context, src io.Reader) error {
		return c.Upload(ctx, src, dst, 0o755)
	}, between)
}

// untilCancelled runs upload (named what in failures) from an endless
// source until it is under way, then between, then cancels it, and returns
// its error.
func untilCancelled(t *testing.T, what string, upload func(context.Context, io.Reader) error, between func()) error {
	t.Helper()
	src := newEndlessReader()
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- upload(ctx, src) }()
	select {
	case <-src.started:
	case err := <-done:
		t.Fatalf("%s ended before it was cancelled: %v", what, err)
	}
	between()
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("%s did not return after its context was cancelled", what)
		return nil
	}
}

// TestUploadCancelOnFrozenHost cancels an upload to a host that stopped
// answering mid-transfer (sshd frozen). sftp's own Close waits for the
// server, so Upload must give up on the host itself, as Run does: return,
// and close the connection so the cleanups after it fail at once.
func TestUploadCancelOnFrozenHost(t *testing.T) {
	f := newFixture(t)
	o := fast()
	o.Keepalive = -1 // only the cancel may notice the frozen host
	o.CancelGrace = 200 * time.Millisecond
	c := f.dial(t, o)

	err := uploadUntilCancelled(t, c, filepath.Join(f.scratch, "big"), func() { freezeServer(t, c) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Upload cancelled on a frozen host: err = %v, want context.Canceled", err)
	}
	if !errors.Is(c.Err(), ErrUnresponsive) {
		t.Errorf("Client.Err() = %v, want ErrUnresponsive: the connection to a host that held the upload stays open", c.Err())
	}
	if _, err := c.Run(testContext(t), RunSpec{Command: "true"}); !errors.Is(err, ErrUnresponsive) {
		t.Errorf("Run after giving up on the host: err = %v, want one naming ErrUnresponsive", err)
	}
}

// TestUploadCancelLeavesNothing cancels an upload to a live host: the
// connection stays usable and the partial file is removed, though the
// SFTP session it was written through is gone.
func TestUploadCancelLeavesNothing(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	dir := filepath.Join(f.scratch, "up")

	err := uploadUntilCancelled(t, c, filepath.Join(dir, "big"), func() {})
	cancelledCleanly(t, c, "Upload", err, dir)
}

// cancelledCleanly checks an upload (named what) into dir cancelled on a
// live host: it returned the cancel, the connection stays, and dir is
// empty.
func cancelledCleanly(t *testing.T, c *Client, what string, err error, dir string) {
	t.Helper()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%s cancelled: err = %v, want context.Canceled", what, err)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("connection to a live host closed by the cancel: %v", err)
	}
	if res := run(t, c, RunSpec{Command: "ls -A " + Quote(dir)}); len(res.Output) != 0 {
		t.Errorf("left behind: %q", res.Output)
	}
}

// TestKeepaliveClosesSilentConnection freezes the sshd processes serving our
// connection (SIGSTOP): the kernel still acknowledges TCP, as it would for
// a hung host or a NAT that keeps the socket open but drops the traffic,
// yet nothing answers at the SSH level. A running command must then fail
// with ErrKeepalive instead of hanging.
func TestKeepaliveClosesSilentConnection(t *testing.T) {
	f := newFixture(t)
	o := fast()
	// Ten missed 100ms intervals: quick to notice a frozen host, yet a
	// second of slack for a loaded machine's live one.
	o.Keepalive = 100 * time.Millisecond
	o.KeepaliveMaxMissed = 10
	c := f.dial(t, o)

	live := newNotifyWriter("started")
	// The frozen session never reaps its command: give the sleep a name of
	// its own so the test can end it instead of leaving it to run 10 minutes.
	sleep := fmt.Sprintf("sleep 600.%06d", time.Now().UnixNano()%1000000)
	t.Cleanup(func() { exec.Command("pkill", "-f", sleep).Run() })
	type ran struct {
		res ExecResult
		err error
	}
	done := make(chan ran, 1)
	go func() {
		res, err := c.Run(testContext(t), RunSpec{Command: "echo started; " + sleep, Stdout: live})
		done <- ran{res, err}
	}()
	<-live.seen
	// Keepalives are answered while the host is alive.
	time.Sleep(15 * o.Keepalive)
	if err := c.Err(); err != nil {
		t.Fatalf("connection closed while the host answered: %v", err)
	}
	freezeServer(t, c)

	r := <-done
	if !errors.Is(r.err, ErrKeepalive) {
		t.Fatalf("Run on a frozen host: err = %v, want ErrKeepalive", r.err)
	}
	if !errors.Is(c.Err(), ErrKeepalive) {
		t.Errorf("Client.Err() = %v", c.Err())
	}
	if string(r.res.Output) != "started\n" {
		t.Errorf("output before the freeze lost: %q", r.res.Output)
	}
	if _, err := c.Run(testContext(t), RunSpec{Command: "true"}); err == nil {
		t.Error("Run on a closed connection succeeded")
	}
}

// TestRunCancelOnFrozenHost cancels a command on a host that has stopped
// answering (sshd frozen). Run must give up after CancelGrace instead of
// waiting out KillGrace, and close the connection, so the cleanups after a
// signal fail at once instead of each waiting for a dead host.
func TestRunCancelOnFrozenHost(t *testing.T) {
	f := newFixture(t)
	o := fast()
	o.Keepalive = -1 // only the cancel may notice the frozen host
	// A KillGrace no test run waits out: a Run still waiting after the
	// hang bound below has taken KillGrace for the cancel's grace.
	o.KillGrace = time.Hour
	o.CancelGrace = 200 * time.Millisecond
	c := f.dial(t, o)

	sleep := fmt.Sprintf("sleep 600.%06d", time.Now().UnixNano()%1000000)
	t.Cleanup(func() { exec.Command("pkill", "-f", sleep).Run() })
	ctx, cancel := context.WithCancel(testContext(t))
	live := newNotifyWriter("started")
	type ran struct {
		res ExecResult
		err error
	}
	done := make(chan ran, 1)
	go func() {
		res, err := c.Run(ctx, RunSpec{Command: "echo started; " + sleep, Stdout: live})
		done <- ran{res, err}
	}()
	<-live.seen
	freezeServer(t, c)
	cancel()
	var r ran
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("Run has not returned 30 s after the cancel on a frozen host, with CancelGrace %s and KillGrace %s: the cancel waits KillGrace instead of CancelGrace (is the grace no longer clamped to CancelGrace?)", o.CancelGrace, o.KillGrace)
	}
	res, err := r.res, r.err
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run cancelled on a frozen host: err = %v, want context.Canceled", err)
	}
	if string(res.Output) != "started\n" {
		t.Errorf("output before the freeze lost: %q", res.Output)
	}
	if !errors.Is(c.Err(), ErrUnresponsive) {
		t.Errorf("Client.Err() = %v, want ErrUnresponsive: the connection to a host that ignored the kill stays open", c.Err())
	} else if want := "within " + o.CancelGrace.String() + " of the cancel"; !strings.Contains(c.Err().Error(), want) {
		t.Errorf("Client.Err() = %v, want it to say %q: the grace after a cancel is CancelGrace", c.Err(), want)
	}
	if _, err := c.Run(testContext(t), RunSpec{Command: "true"}); err == nil || !errors.Is(err, ErrUnresponsive) {
		t.Errorf("Run after giving up on the host: err = %v, want one naming ErrUnresponsive", err)
	}
}

// freezeServer stops every process holding the server end of c's TCP
// connection (sshd's per-connection processes) until the test ends, or
// until the test calls the thaw it returns.
func freezeServer(t *testing.T, c *Client) (thaw func()) {
	t.Helper()
	testhost.RequireRoot(t)
	// sshd forks the process serving an authenticated connection after
	// Dial has returned; a reply to a request means it is there to freeze.
	if _, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil); err != nil {
		t.Fatalf("request before freezing the host: %v", err)
	}
	server := c.ssh.RemoteAddr().(*net.TCPAddr)
	client := c.ssh.LocalAddr().(*net.TCPAddr)
	inode := tcpInode(t, server, client)
	pids := socketOwners(t, inode)
	if len(pids) == 0 {
		t.Fatalf("no process holds socket inode %s", inode)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP %d: %v", pid, err)
		}
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	}
	// SIGSTOP takes effect once the process is next scheduled; until then
	// it may still read what the test sends to the "frozen" host.
	for _, pid := range pids {
		waitStopped(t, pid)
	}
	return func() {
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Fatalf("SIGCONT %d: %v", pid, err)
			}
		}
	}
}

// waitStopped waits until pid is stopped ("T" in /proc/PID/stat) or gone
// (a zombie, or reaped): sshd's pre-authentication child may still hold
// the socket while it exits.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	giveUp := time.After(30 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if err != nil {
			t.Fatalf("state of frozen process %d: %v", pid, err)
		}
		// The state follows the command name, which is in parentheses
		// and may hold spaces.
		_, rest, _ := bytes.Cut(stat[bytes.LastIndexByte(stat, ')'):], []byte(" "))
		if len(rest) > 0 && bytes.IndexByte([]byte("TtZX"), rest[0]) >= 0 {
			return
		}
		select {
		case <-giveUp:
			t.Fatalf("process %d is not stopped 30 s after SIGSTOP: %s", pid, stat)
		case <-time.After(time.Millisecond):
		}
	}
}

// tcpInode finds the inode of the IPv4 socket local→remote in
// /proc/net/tcp.
func tcpInode(t *testing.T, local, remote *net.TCPAddr) string {
	t.Helper()
	return tcpEntry(t, local, remote)[9]
}

// tcpEntry returns the fields of the IPv4 socket local→remote's line in
// /proc/net/tcp, where addresses are hex in host byte order.
func tcpEntry(t *testing.T, local, remote *net.TCPAddr) []string {
	t.Helper()
	hexAddr := func(a *net.TCPAddr) string {
		ip := a.IP.To4()
		return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port)
	}
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(table)) {
		fields := strings.Fields(line)
		if len(fields) > 9 && fields[1] == hexAddr(local) && fields[2] == hexAddr(remote) {
			return fields
		}
	}
	t.Fatalf("socket %v -> %v not in /proc/net/tcp", local, remote)
	return nil
}

func socketOwners(t *testing.T, inode string) []int {
	t.Helper()
	want := "socket:[" + inode + "]"
	fds, err := filepath.Glob("/proc/[0-9]*/fd/*")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	var pids []int
	for _, fd := range fds {
		if link, err := os.Readlink(fd); err == nil && link == want {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			if pid != os.Getpid() && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// A login user without passwordless sudo: CheckSudo says so rather than
// failing, and commands as the login user keep running in its own login
// shell, without sudo.
func TestCheckSudoRefusedKeepsTheLoginShell(t *testing.T) {
	testhost.RequireRoot(t)
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	h := testhost.Start(t, testhost.Options{
		HostKeyPEM: keys.HostPrivatePEM,
		Users:      []testhost.User{{Name: otherUser, AuthorizedKeys: []string{keys.ClientAuthorized}}},
	})
	c, err := Dial(testContext(t), Target{Addr: h.Addr(), Port: h.Port(), User: otherUser, Signer: keys.Client, HostKey: keys.HostPublic}, fast())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	ok, err := c.CheckSudo(testContext(t))
	if err != nil || ok {
		t.Fatalf("CheckSudo for %s, who may not sudo: ok %v, err %v; want false, nil", otherUser, ok, err)
	}
	res := run(t, c, RunSpec{Command: `echo "$(id -un) ${SUDO_USER:-none}"`, AsUser: otherUser})
	if want := otherUser + " none\n"; res.ExitCode != 0 || string(res.Output) != want {
		t.Errorf("as the login user without sudo: exit %d output %q, want %q", res.ExitCode, res.Output, want)
	}
}
