package sshd

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/proc"
	"github.com/tinylabscom/mvm-verify/internal/waits"
)

// pollEvery is how often a test checks whether a process is gone.
const pollEvery = 20 * time.Millisecond

// requireRoot is testhost.RequireRoot's twin: sshd's own tests cannot
// import testhost, which imports sshd.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("sshd must run as root to switch to the logging-in user: run the tests as root, as CI does")
	}
}

func clientKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

func dialServer(t *testing.T, s *Server, signer ssh.Signer) *ssh.Client {
	t.Helper()
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s.HostPublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", net.JoinHostPort(s.Addr(), strconv.Itoa(s.Port())), &ssh.ClientConfig{
		User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(pub), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh to %s:%d: %v", s.Addr(), s.Port(), err)
	}
	return c
}

func run(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestStartRunStop(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	signer, line := clientKey(t)
	hostPEM, err := GenerateHostKey()
	if err != nil {
		t.Fatal(err)
	}
	wantHost, err := PublicKeyOf(hostPEM)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(ctx, Config{HostKeyPEM: hostPEM, AuthorizedKeys: map[string][]string{"root": {line}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(ctx) })
	if s.HostPublicKey() != wantHost {
		t.Errorf("host key %q, want %q", s.HostPublicKey(), wantHost)
	}
	if fi, err := os.Stat(s.Dir() + "/host_ed25519"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("host key file: %v %v, want mode 0600", fi, err)
	}
	c := dialServer(t, s, signer)
	if got := run(t, c, "id -un"); got != "root" {
		t.Errorf("id -un = %q, want root", got)
	}

	// A session's process has its own session id; Stop must end it too.
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start("echo $$; exec sleep 600"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, err := out.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	sleepPid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		t.Fatalf("session pid %q: %v", buf[:n], err)
	}
	if !proc.Alive(sleepPid) {
		t.Fatalf("session process %d is not running", sleepPid)
	}

	pid := s.Pid()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if proc.Alive(pid) {
		t.Errorf("sshd %d still running after Stop", pid)
	}
	if proc.Alive(sleepPid) {
		t.Errorf("session process %d still running after Stop", sleepPid)
	}
	if _, err := os.Stat(s.Dir()); !os.IsNotExist(err) {
		t.Errorf("sshd dir %s left behind: %v", s.Dir(), err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	_, line := clientKey(t)
	other, _ := clientKey(t)
	s, err := Start(ctx, Config{AuthorizedKeys: map[string][]string{"root": {line}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(ctx) })
	pub, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(s.HostPublicKey()))
	_, err = ssh.Dial("tcp", net.JoinHostPort(s.Addr(), strconv.Itoa(s.Port())), &ssh.ClientConfig{
		User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(other)},
		HostKeyCallback: ssh.FixedHostKey(pub), Timeout: 10 * time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("login with an unlisted key: err %v, want an authentication failure", err)
	}
}

func TestConfigValidation(t *testing.T) {
	ctx := context.Background()
	_, okKey := clientKey(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad address", Config{ListenAddr: "localhost"}, `listen address "localhost"`},
		{"bad port", Config{Port: 70000}, "port 70000"},
		{"bad user", Config{AuthorizedKeys: map[string][]string{"a b": nil}}, `user "a b"`},
		{"bad authorized key", Config{AuthorizedKeys: map[string][]string{"root": {"not a key"}}}, "authorized keys for root, line 1"},
		{"two keys in a line", Config{AuthorizedKeys: map[string][]string{"root": {okKey + "\n" + okKey}}}, "authorized keys for root, line 1"},
		{"bad host key", Config{HostKeyPEM: []byte("not a key")}, "parse host private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(ctx, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestStartHonoursContext(t *testing.T) {
	requireRoot(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := Start(ctx, Config{})
	if err == nil {
		s.Stop(context.Background())
		t.Fatal("Start with a cancelled context succeeded")
	}
}

func TestLogFileAndRunning(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	logFile := t.TempDir() + "/sshd.log"
	s, err := Start(ctx, Config{LogFile: logFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(ctx) })
	// sshd logs "Server listening" just after it starts accepting, which is
	// when Start returns: give the line a moment to land.
	var logged []byte
	for range 100 {
		if logged, _ = os.ReadFile(logFile); strings.Contains(string(logged), "Server listening") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(string(logged), "Server listening") {
		t.Errorf("log file: %q; want sshd's log", logged)
	}
	start, err := s.StartTime()
	if err != nil {
		t.Fatal(err)
	}
	if !Running(s.Pid(), start) {
		t.Fatalf("Running(%d, %d) = false for a live sshd", s.Pid(), start)
	}
	if Running(s.Pid(), start+1) {
		t.Errorf("Running accepted another start time: a reused pid would be killed")
	}
	if Running(os.Getpid(), mustStart(t, os.Getpid())) {
		t.Errorf("Running accepted a process that is not sshd")
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if Running(s.Pid(), start) {
		t.Errorf("Running after Stop")
	}
}

func mustStart(t *testing.T, pid int) uint64 {
	t.Helper()
	st, err := proc.StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDieWithParent starts sshd from a child test process, kills that
// process and expects sshd to die with it.
func TestDieWithParent(t *testing.T) {
	if os.Getenv("SSHD_TEST_HELPER") == "1" {
		s, err := Start(context.Background(), Config{DieWithParent: true})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(s.Pid(), s.Dir())
		select {}
	}
	requireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestDieWithParent$")
	cmd.Env = append(os.Environ(), "SSHD_TEST_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("helper: %v", err)
	}
	fields := strings.Fields(line)
	if len(fields) != 2 {
		cmd.Process.Kill()
		t.Fatalf("helper said %q", line)
	}
	// The killed helper cannot remove its server's directory.
	t.Cleanup(func() { os.RemoveAll(fields[1]) })
	pid, err := strconv.Atoi(fields[0])
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("helper said %q", line)
	}
	start, err := proc.StartTime(pid)
	if err != nil || !Running(pid, start) {
		cmd.Process.Kill()
		t.Fatalf("sshd %d not running: %v", pid, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for Running(pid, start) {
		if err := waits.Sleep(ctx, pollEvery); err != nil {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("sshd %d outlived the process that started it", pid)
		}
	}
	// The killed helper left its directory, host private key and all; the
	// next Start's sweep removes it once no process uses it (the child sshd
	// forked for Start's connection check may take a moment to go).
	if _, err := os.Stat(fields[1] + "/host_ed25519"); err != nil {
		t.Fatalf("the killed helper's dir: %v", err)
	}
	// A process the dead sshd forked for Start's connection check may still
	// be on its way out: between its exec and its setproctitle its command
	// line names nothing for a moment, then the directory again, and a
	// sweep that sees it then rightly leaves the directory. So Start again
	// until one Start's sweep found the directory unused; a Start that
	// never sweeps fails at the deadline.
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	for {
		for inUse(commandLines(), fields[1]) {
			if err := waits.Sleep(sctx, pollEvery); err != nil {
				t.Fatalf("processes still name %s after its sshd died", fields[1])
			}
		}
		s, err := Start(sctx, Config{})
		if err != nil {
			t.Fatal(err)
		}
		s.Stop(context.Background())
		_, statErr := os.Stat(fields[1])
		if os.IsNotExist(statErr) {
			return
		}
		if err := waits.Sleep(sctx, pollEvery); err != nil {
			t.Fatalf("the killed helper's sshd dir %s survived every Start for 30s (stat: %v)", fields[1], statErr)
		}
	}
}

// TestSweepStaleDirs: a sweep removes the private directories whose owner
// is gone and no process names, and nothing a live process uses.
func TestSweepStaleDirs(t *testing.T) {
	requireRoot(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx := context.Background()
	signer, line := clientKey(t)
	live, err := Start(ctx, Config{AuthorizedKeys: map[string][]string{"root": {line}}})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Stop(ctx)
	if !strings.HasPrefix(live.Dir(), tmp+"/"+dirPrefix) {
		t.Fatalf("server dir %s is not in TMPDIR %s", live.Dir(), tmp)
	}
	self, start := os.Getpid(), mustStart(t, os.Getpid())
	mk := func(name string) string {
		t.Helper()
		d := tmp + "/" + name
		if err := os.MkdirAll(d, 0o711); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d+"/host_ed25519", []byte("key"), 0o600); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Our pid with another start time: a process that is gone, its pid
	// now ours.
	gone := mk(fmt.Sprintf("%s%d-%d-1", dirPrefix, self, start+1))
	// Owner gone, but a running process (as a detached sshd would) names
	// a file in it.
	named := mk(fmt.Sprintf("%s%d-%d-2", dirPrefix, self, start+1))
	holder := exec.Command("sh", "-c", "sleep 600; :", named+"/sshd_config")
	// In a group of its own, so the kill reaches its sleep too.
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-holder.Process.Pid, syscall.SIGKILL); holder.Wait() }()
	// Named by an older build, without an owner: kept while recent.
	oldRecent, oldStale := mk(dirPrefix+"12345"), mk(dirPrefix+"67890")
	past := time.Now().Add(-2 * staleUnowned)
	if err := os.Chtimes(oldStale, past, past); err != nil {
		t.Fatal(err)
	}
	other := mk("not-ours")

	removed, err := SweepStaleDirs(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{gone, oldStale} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("stale dir %s survived the sweep (stat: %v)", d, err)
		}
	}
	for _, d := range []string{live.Dir(), named, oldRecent, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("sweep removed %s, which is in use or not ours: %v", d, err)
		}
	}
	if len(removed) != 2 {
		t.Errorf("sweep says it removed %v, want %s and %s", removed, gone, oldStale)
	}
	// The live server still logs users in: its dir holds their keys.
	if got := run(t, dialServer(t, live, signer), "id -un"); got != "root" {
		t.Errorf("id -un = %q", got)
	}
}

// TestLookup: sshd is found at a fixed path or on PATH, only as an
// executable file; otherwise the error says which package provides it.
func TestLookup(t *testing.T) {
	empty, withFile, withExe := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.WriteFile(withFile+"/sshd", []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(withExe+"/sshd", []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		candidates []string
		path       string
		want       string
	}{
		{"fixed path first", []string{withExe + "/sshd"}, empty, withExe + "/sshd"},
		{"on PATH", []string{empty + "/sshd"}, empty + ":" + withExe, withExe + "/sshd"},
		{"not executable", nil, withFile, ""},
		{"nowhere", []string{empty + "/sshd"}, empty, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Lookup(tc.candidates, tc.path)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Errorf("Lookup = %q, %v; want %s", got, err, tc.want)
				}
				return
			}
			if err != ErrNotFound || !strings.Contains(err.Error(), "apt-get install openssh-server") {
				t.Errorf("Lookup = %q, %v; want ErrNotFound naming openssh-server", got, err)
			}
		})
	}
}

func TestSetEnvValidated(t *testing.T) {
	for _, env := range []map[string]string{{"A B": "x"}, {"A": "x y"}, {"A": `x"`}, {"A": "x\ny"}} {
		_, err := Start(context.Background(), Config{SetEnv: env})
		if err == nil || !strings.Contains(err.Error(), "sshd SetEnv") {
			t.Errorf("SetEnv %q: err %v, want it refused", env, err)
		}
	}
}

// TestSetEnvAndCgroup: sessions carry SetEnv, and sshd and its sessions
// start in the given cgroup.
func TestSetEnvAndCgroup(t *testing.T) {
	requireRoot(t)
	mount := ""
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mi), "\n") {
		if pre, post, ok := strings.Cut(l, " - "); ok && strings.HasPrefix(post, "cgroup2 ") {
			mount = strings.Fields(pre)[4]
			break
		}
	}
	if mount == "" {
		// A cgroup v1 machine still has the v2 hierarchy, unmounted: mount
		// it for the test. Which mount a cgroup is reached through does not
		// matter to sshd.
		mount = t.TempDir()
		if err := syscall.Mount("cgroup2", mount, "cgroup2", 0, ""); err != nil {
			t.Fatalf("no cgroup v2 is mounted on this machine and mounting one at %s failed: %v (the kernel needs cgroup v2, Linux 4.5+, and the test root's CAP_SYS_ADMIN)", mount, err)
		}
		t.Cleanup(func() { syscall.Unmount(mount, syscall.MNT_DETACH) })
	}
	cg := fmt.Sprintf("%s/mvm-sshd-test-%d", mount, os.Getpid())
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	signer, line := clientKey(t)
	s, err := Start(ctx, Config{AuthorizedKeys: map[string][]string{"root": {line}},
		SetEnv: map[string]string{"MVM_TEST_MARK": "m4rk", "OTHER": "x"}, Cgroup: cg})
	if err != nil {
		syscall.Rmdir(cg)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop(ctx)
		// Exited processes leave the cgroup a moment after they are gone.
		for range 100 {
			if err := syscall.Rmdir(cg); err != syscall.EBUSY {
				return
			}
			waits.Sleep(ctx, 10*time.Millisecond)
		}
		t.Errorf("cgroup %s still busy after Stop", cg)
	})
	c := dialServer(t, s, signer)
	defer c.Close()
	if got := run(t, c, "echo $MVM_TEST_MARK $OTHER"); got != "m4rk x" {
		t.Errorf("session env = %q, want m4rk x", got)
	}
	self := strings.TrimPrefix(cg, mount)
	if got := run(t, c, "grep ^0:: /proc/self/cgroup"); got != "0::"+self {
		t.Errorf("session cgroup %q, want 0::%s", got, self)
	}
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", s.Pid())); !strings.Contains(string(b), "0::"+self+"\n") {
		t.Errorf("sshd cgroup %q, want %s", b, self)
	}
}
