// Package sshd runs a throwaway OpenSSH sshd: its own config, host key and
// authorized keys in a private directory, listening on one loopback address,
// optionally inside a network namespace or with /dev/kvm hidden. The local
// provider and the test hosts are built on it.
package sshd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
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
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/proc"
)

// Config describes one sshd.
type Config struct {
	// ListenAddr is the loopback IP to listen on; "" means 127.0.0.1.
	ListenAddr string
	// Port to listen on; 0 picks a free one.
	Port int
	// HostKeyPEM is the host's private key in OpenSSH PEM form; nil
	// generates a fresh ed25519 key. Never logged.
	HostKeyPEM []byte
	// AuthorizedKeys maps a user name to its authorized_keys lines.
	AuthorizedKeys map[string][]string
	// Netns, when set, runs sshd inside `ip netns exec Netns`.
	Netns string
	// HideKVM runs sshd in a private mount namespace whose /dev has no kvm
	// node, so sessions see a host without KVM.
	HideKVM bool
	// KVMGroup runs sshd in a private mount namespace whose /dev/kvm, when
	// the machine has one and HideKVM is off, is a node of sshd's own for
	// the same device, root:kvm with mode 0660: what the cycle's
	// cloud-config (its runcmd and udev rule, internal/cloudinit) leaves
	// on a cloud host. Members of the kvm group open it whatever the
	// machine's own node's owner and mode, which stay as they were. It
	// needs root; without a kvm group on the machine it does nothing.
	KVMGroup bool
	// LocalBin, when set, is a directory whose programs sessions find first
	// by name: sshd runs in a private mount namespace where it is
	// /usr/local/bin, which login shells' PATH and sudo's secure_path
	// search before /usr/bin. What the machine's own /usr/local/bin holds
	// stays there beside them. Test hosts emulate a booted cloud host's
	// commands (cloud-init, systemctl) with it; it needs root.
	LocalBin string
	// Logger receives sshd's own log lines at debug level; nil discards them.
	Logger *slog.Logger
	// DieWithParent kills sshd when this process dies, so a test binary
	// that crashes or times out leaves no server behind. Servers that must
	// outlive this process (the local provider's) leave it off.
	DieWithParent bool
	// LogFile, when set, receives sshd's log instead of Logger. Use it when
	// sshd must outlive this process: a pipe's reader would die with it.
	LogFile string
	// GracePeriod is how long Stop waits after SIGTERM before SIGKILL;
	// 0 means 5s.
	GracePeriod time.Duration
	// PollInterval is how often Start checks whether the port accepts
	// connections; 0 means 20ms.
	PollInterval time.Duration
	// Binary is the sshd to run; "" means FindBinary's.
	Binary string
	// Cgroup, when set, is a cgroup v2 directory sshd starts in (clone3's
	// CLONE_INTO_CGROUP), so it and everything its sessions start, however
	// detached, stay findable there and can be killed together.
	Cgroup string
	// SetEnv is set in every session sshd starts (sshd_config SetEnv) and in
	// sshd's own environment, which marks the processes of this server where
	// no cgroup can hold them. Names are letters, digits and _; values hold
	// no whitespace, quotes or backslashes.
	SetEnv map[string]string
	// TempDir is where the server's private directory is made; "" means
	// os.TempDir(). Every user that logs in must be able to search it:
	// sshd reads authorized_keys as that user.
	TempDir string
	// Dir, when set, is the private directory itself, named by DirName
	// and not yet existing: a caller that must record where it is before
	// sshd starts (to remove it should this process be killed before
	// Start returns) names it first. TempDir is then its parent.
	Dir string
}

// ErrNotFound is returned when no sshd binary exists.
var ErrNotFound = errors.New("sshd not found in /usr/sbin or PATH: install Debian's openssh-server (apt-get install openssh-server)")

// Server is a running sshd.
type Server struct {
	addr    string
	port    int
	hostPub string
	dir     string
	cmd     *exec.Cmd
	log     *slog.Logger
	grace   time.Duration
	stderr  *tail
	logFile string
	exited  chan struct{}
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// Addr is the IP sshd listens on.
func (s *Server) Addr() string { return s.addr }

// Port is the TCP port sshd listens on.
func (s *Server) Port() int { return s.port }

// HostPublicKey is the host key in authorized_keys form ("ssh-ed25519 AAAA...").
func (s *Server) HostPublicKey() string { return s.hostPub }

// Pid is the sshd listener's process id (also its process group id).
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Dir is the server's private directory (config, host key, keys, pid file).
func (s *Server) Dir() string { return s.dir }

// FindBinary returns the path of sshd, preferring /usr/sbin/sshd (Debian
// keeps it there, outside most users' PATH) over the PATH.
func FindBinary() (string, error) {
	return Lookup([]string{"/usr/sbin/sshd"}, os.Getenv("PATH"))
}

// Lookup returns the first of the candidate paths that is an executable
// file, else the first sshd in the directories of path (a PATH-style list),
// else ErrNotFound.
func Lookup(candidates []string, path string) (string, error) {
	for _, c := range candidates {
		if executable(c) {
			return c, nil
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		if c := filepath.Join(dir, "sshd"); executable(c) {
			return c, nil
		}
	}
	return "", ErrNotFound
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// GenerateHostKey returns a fresh ed25519 private key in OpenSSH PEM form.
func GenerateHostKey() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, fmt.Errorf("marshal ed25519 key: %w", err)
	}
	return pem.EncodeToMemory(block), nil
}

// PublicKeyOf returns the authorized_keys form of a PEM private key's public half.
func PublicKeyOf(keyPEM []byte) (string, error) {
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		// The parser's error does not quote the key.
		return "", fmt.Errorf("parse host private key: %w", err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), nil
}

var (
	userName = regexp.MustCompile(`^[a-z_][a-z0-9_-]*[$]?$`)
	envName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Start writes the config and starts sshd, returning once its port accepts
// TCP connections.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	var err error
	bin := cfg.Binary
	if bin == "" {
		if bin, err = FindBinary(); err != nil {
			return nil, err
		}
	}
	for k, v := range cfg.SetEnv {
		if !envName.MatchString(k) || strings.ContainsAny(v, " \t\r\n\"'\\") {
			return nil, fmt.Errorf("sshd SetEnv %s: expected a name of letters, digits and _ and a value without whitespace or quotes", k)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr := cfg.ListenAddr
	if addr == "" {
		addr = "127.0.0.1"
	}
	ip := net.ParseIP(addr)
	if ip == nil {
		return nil, fmt.Errorf("sshd listen address %q: expected an IP address such as 127.0.0.1", addr)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("sshd port %d: expected 0 (pick a free port) or 1-65535", cfg.Port)
	}
	for u, lines := range cfg.AuthorizedKeys {
		if !userName.MatchString(u) {
			return nil, fmt.Errorf("sshd authorized keys user %q: expected a user name like runner or mvm", u)
		}
		for i, l := range lines {
			// One key per line: an embedded newline would smuggle in another.
			if _, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(l)); err != nil || strings.TrimSpace(string(rest)) != "" {
				return nil, fmt.Errorf("sshd authorized keys for %s, line %d: expected one key in authorized_keys form (\"ssh-ed25519 AAAA…\")", u, i+1)
			}
		}
	}
	keyPEM := cfg.HostKeyPEM
	if len(keyPEM) == 0 {
		if keyPEM, err = GenerateHostKey(); err != nil {
			return nil, err
		}
	}
	hostPub, err := PublicKeyOf(keyPEM)
	if err != nil {
		return nil, err
	}
	// The privilege separation directory Debian's sshd insists on.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil && os.Geteuid() == 0 {
		return nil, fmt.Errorf("create sshd privsep dir /run/sshd: %w", err)
	}
	parent := cfg.TempDir
	if parent == "" {
		parent = os.TempDir()
	}
	if cfg.Dir != "" {
		parent = filepath.Dir(cfg.Dir)
	}
	// What killed servers left: their host private keys among them.
	if removed, err := SweepStaleDirs(parent); err != nil || len(removed) > 0 {
		log.Debug("swept stale sshd dirs", "removed", removed, "err", err)
	}
	if cfg.LocalBin != "" {
		if err := prepareLocalBin(cfg.LocalBin); err != nil {
			return nil, err
		}
	}
	dir, err := writeDir(parent, cfg.Dir, keyPEM, cfg.AuthorizedKeys)
	if err != nil {
		return nil, err
	}
	grace := cfg.GracePeriod
	if grace <= 0 {
		grace = 5 * time.Second
	}
	poll := cfg.PollInterval
	if poll <= 0 {
		poll = 20 * time.Millisecond
	}

	var logF *os.File
	if cfg.LogFile != "" {
		// A new file, never one found there: sshd may run as root, and a
		// planted symlink or file would have it write its log wherever
		// that points.
		logF, err = os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("open sshd log: %w", err)
		}
		defer logF.Close() // sshd holds its own descriptor
	}

	// A picked port can be taken between picking and binding; sshd then exits
	// at once and a second pick almost always wins.
	attempts := 1
	if cfg.Port == 0 {
		attempts = 5
	}
	var lastErr error
	for range attempts {
		port := cfg.Port
		if port == 0 {
			// A namespace's ports cannot be probed from here; one free on
			// this host's loopback is as good a guess as any.
			probe := addr
			if cfg.Netns != "" {
				probe = "127.0.0.1"
			}
			if port, err = freePort(probe); err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
		}
		s := &Server{addr: addr, port: port, hostPub: hostPub, dir: dir, log: log, grace: grace,
			stderr: &tail{max: 16 << 10}, exited: make(chan struct{})}
		err := s.start(ctx, bin, cfg, logF, poll)
		if err == nil {
			log.Debug("sshd started", "addr", addr, "port", port, "pid", s.Pid(), "netns", cfg.Netns, "hide_kvm", cfg.HideKVM)
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil || cfg.Port != 0 || !strings.Contains(s.logTail(), "Address already in use") {
			break
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// writeDir creates the private directory. sshd reads authorized_keys as
// the logging-in user, so the directory is traversable (0711) but not
// listable; only public keys are readable, the host key stays 0600.
func writeDir(parent, dir string, keyPEM []byte, keys map[string][]string) (string, error) {
	if dir != "" {
		// 0700 until the chmod below, as MkdirTemp makes it.
		if err := os.Mkdir(dir, 0o700); err != nil {
			return "", fmt.Errorf("create sshd dir: %w", err)
		}
	} else {
		pattern, err := dirPattern()
		if err != nil {
			return "", fmt.Errorf("create sshd dir: %w", err)
		}
		if dir, err = os.MkdirTemp(parent, pattern); err != nil {
			return "", fmt.Errorf("create sshd dir: %w", err)
		}
	}
	fail := func(what string, err error) (string, error) {
		os.RemoveAll(dir)
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return fail("chmod sshd dir", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "host_ed25519"), keyPEM, 0o600); err != nil {
		return fail("write sshd host key", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o711); err != nil {
		return fail("create sshd keys dir", err)
	}
	for u, lines := range keys {
		var b strings.Builder
		for _, l := range lines {
			b.WriteString(strings.TrimSpace(l))
			b.WriteByte('\n')
		}
		if err := os.WriteFile(filepath.Join(dir, "keys", u), []byte(b.String()), 0o644); err != nil {
			return fail("write authorized keys for "+u, err)
		}
	}
	return dir, nil
}

func configText(dir, addr string, port int, env map[string]string) string {
	var setEnv string
	if len(env) > 0 {
		names := make([]string, 0, len(env))
		for k := range env {
			names = append(names, k)
		}
		slices.Sort(names)
		setEnv = "SetEnv"
		for _, k := range names {
			setEnv += " " + k + "=" + env[k]
		}
		setEnv += "\n"
	}
	return fmt.Sprintf(`# Written by mvm-verify for one throwaway sshd.
ListenAddress %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s/%%u
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
PrintMotd no
X11Forwarding no
Subsystem sftp internal-sftp
LogLevel INFO
%s`, net.JoinHostPort(addr, strconv.Itoa(port)), filepath.Join(dir, "host_ed25519"),
		filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "keys"), setEnv)
}

// start runs sshd once; logF, when cfg.LogFile is set, is that file,
// opened once for every attempt.
func (s *Server) start(ctx context.Context, bin string, cfg Config, logF *os.File, poll time.Duration) error {
	cfgPath := filepath.Join(s.dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(configText(s.dir, s.addr, s.port, cfg.SetEnv)), 0o600); err != nil {
		return fmt.Errorf("write sshd_config: %w", err)
	}
	argv := []string{bin, "-D", "-e", "-f", cfgPath}
	var nsScript string
	if cfg.LocalBin != "" {
		nsScript = localBinScript(cfg.LocalBin)
	}
	// Without a /dev/kvm there is nothing to hide, and skipping the mount
	// namespace lets an unprivileged container run the no-KVM lane.
	if _, err := os.Stat("/dev/kvm"); cfg.HideKVM && err == nil {
		nsScript += hideKVMScript
	}
	if cfg.KVMGroup && !cfg.HideKVM && hasKVMGroup() {
		nsScript += kvmGroupScript(filepath.Join(s.dir, "kvm"))
	}
	if nsScript != "" {
		argv = append([]string{"unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-ec", nsScript + `exec "$@"` + "\n", "sshd-mounts"}, argv...)
	}
	if cfg.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", cfg.Netns}, argv...)
	}
	// Every wrapper execs the next, so the process started is sshd itself.
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for k, v := range cfg.SetEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cfg.Cgroup != "" {
		cg, err := os.Open(cfg.Cgroup)
		if err != nil {
			return fmt.Errorf("open cgroup for sshd: %w", err)
		}
		defer cg.Close() // the child holds its place in the cgroup, not the fd
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cg.Fd())
	}
	// sshd's log comes through a pipe of ours that it writes to directly
	// (an *os.File, so exec starts no copying goroutine): cmd.Wait then
	// returns once sshd is reaped, even if a process that outlived it,
	// such as a session child its death orphaned, still holds the pipe,
	// which would hold exec's copy, and Stop waiting for it, for as long.
	var pr, pw *os.File
	var logDone chan struct{}
	if cfg.LogFile != "" {
		cmd.Stdout, cmd.Stderr = logF, logF
		s.logFile = cfg.LogFile
	} else {
		var err error
		if pr, pw, err = os.Pipe(); err != nil {
			return fmt.Errorf("create sshd's log pipe: %w", err)
		}
		cmd.Stderr = pw // stdout stays /dev/null: sshd -e logs to stderr
		logDone = make(chan struct{})
		go func() {
			s.readLog(pr)
			close(logDone)
		}()
	}
	started := make(chan error, 1)
	go func() {
		if cfg.DieWithParent {
			// The kernel sends Pdeathsig when the thread that forked
			// exits, not the process: keep this goroutine on its thread
			// for as long as sshd runs.
			runtime.LockOSThread()
			cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
		}
		err := cmd.Start()
		if pw != nil {
			pw.Close() // sshd has its own copy; ours would keep the log open
		}
		if err != nil {
			if pr != nil {
				pr.Close()
			}
			started <- fmt.Errorf("start sshd: %w", err)
			return
		}
		s.cmd = cmd
		started <- nil
		s.waitErr = cmd.Wait()
		if logDone != nil {
			// The log ends when the last process holding it exits: at
			// once when that was sshd, which errors read from logTail
			// need all of. One that outlived it is not waited for.
			select {
			case <-logDone:
			case <-time.After(logDrain):
				pr.Close()
				<-logDone
			}
		}
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return err
	}
	if err := s.waitListening(ctx, cfg.Netns, poll); err != nil {
		s.kill()
		return err
	}
	return nil
}

// logDrain is how long sshd's log is read after sshd was reaped, for what
// a process that outlived it, holding the log open, keeps from its end.
const logDrain = 2 * time.Second

// hideKVMScript runs as root in a fresh mount namespace: it replaces /dev
// with a tmpfs holding only what sshd, shells and ptys need.
const hideKVMScript = `
mount -t tmpfs -o mode=0755,nosuid,size=1m hide-kvm-dev /dev
mknod -m 0666 /dev/null c 1 3
mknod -m 0666 /dev/zero c 1 5
mknod -m 0666 /dev/full c 1 7
mknod -m 0666 /dev/random c 1 8
mknod -m 0666 /dev/urandom c 1 9
mknod -m 0666 /dev/tty c 5 0
mkdir -m 0755 /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
`

// hasKVMGroup says whether KVMGroup has something to do: a /dev/kvm and a
// kvm group to give it to (a machine without the group has no one in it).
func hasKVMGroup() bool {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return false
	}
	_, err := user.LookupGroup("kvm")
	return err == nil
}

// kvmGroupScript runs as root in sshd's fresh mount namespace: a node for
// /dev/kvm's device, root:kvm 0660, made on a tmpfs at dir (device nodes
// made anywhere under the machine's /dev or /tmp would be the machine's,
// or refused there), is bound over /dev/kvm.
func kvmGroupScript(dir string) string {
	q := "'" + strings.ReplaceAll(dir, "'", `'\''`) + "'"
	return "mkdir -p " + q + "\nmount -t tmpfs -o mode=0755,size=64k kvm-group " + q + "\n" +
		"mknod -m 0660 " + q + "/kvm c $((0x$(stat -c %t /dev/kvm))) $((0x$(stat -c %T /dev/kvm)))\n" +
		"chown root:kvm " + q + "/kvm\nmount --bind " + q + "/kvm /dev/kvm\n"
}

// localBinMachine is the directory in a LocalBin where the machine's own
// /usr/local/bin is mounted, for the links to what it holds.
const localBinMachine = ".machine"

// localBinScript runs as root in sshd's fresh mount namespace: the
// machine's /usr/local/bin goes under dir, which prepareLocalBin filled
// with links to it, and dir becomes /usr/local/bin.
func localBinScript(dir string) string {
	q := "'" + strings.ReplaceAll(dir, "'", `'\''`) + "'"
	return "mount --bind /usr/local/bin " + q + "/" + localBinMachine + "\nmount --bind " + q + " /usr/local/bin\n"
}

// prepareLocalBin links every name in the machine's /usr/local/bin that
// dir does not hold itself to the machine's file, as seen from sshd's
// mount namespace (localBinScript), so that nothing is hidden there.
func prepareLocalBin(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, localBinMachine), 0o755); err != nil {
		return fmt.Errorf("sshd LocalBin %s: %w", dir, err)
	}
	entries, err := os.ReadDir("/usr/local/bin")
	if err != nil {
		return fmt.Errorf("sshd LocalBin %s: read the machine's /usr/local/bin: %w", dir, err)
	}
	for _, e := range entries {
		own := filepath.Join(dir, e.Name())
		if _, err := os.Lstat(own); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dir, localBinMachine, e.Name()), own); err != nil {
			return fmt.Errorf("sshd LocalBin %s: %w", dir, err)
		}
	}
	return nil
}

func (s *Server) readLog(r io.Reader) {
	buf := make([]byte, 4096)
	var line []byte
	for {
		n, err := r.Read(buf)
		s.stderr.Write(buf[:n])
		line = append(line, buf[:n]...)
		for {
			i := bytes.IndexByte(line, '\n')
			if i < 0 {
				break
			}
			s.log.Debug("sshd", "port", s.port, "line", string(bytes.TrimSpace(line[:i])))
			line = line[i+1:]
		}
		if err != nil {
			return
		}
	}
}

func (s *Server) waitListening(ctx context.Context, netns string, poll time.Duration) error {
	target := net.JoinHostPort(s.addr, strconv.Itoa(s.port))
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := dialIn(netns, target); err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("sshd exited before listening on %s (%v): %s", target, s.waitErr, strings.TrimSpace(s.logTail()))
		case <-ctx.Done():
			return fmt.Errorf("wait for sshd on %s: %w", target, ctx.Err())
		case <-t.C:
		}
	}
}

// StartTime is the sshd process's start time in clock ticks after boot;
// with Pid it lets another process tell this sshd from a later process
// that reused the pid (see Running).
func (s *Server) StartTime() (uint64, error) { return proc.StartTime(s.Pid()) }

// Running reports whether pid is still the sshd that had startTime: alive,
// started then, and running an sshd binary. Another process, pid namespace
// or boot may have reused the pid since.
func Running(pid int, startTime uint64) bool { return proc.Running(pid, startTime, "sshd") }

// Stop sends SIGTERM to sshd, its process group and every descendant,
// waits up to the grace period, SIGKILLs what is left and removes the
// private directory. It is safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		err := proc.Terminate(ctx, s.Pid(), s.grace, s.exited)
		if err != nil {
			err = fmt.Errorf("stop sshd: %w", err)
		}
		if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove sshd dir: %w", rmErr)
		}
		s.stopErr = err
	})
	return s.stopErr
}

func (s *Server) kill() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	proc.Terminate(ctx, s.Pid(), s.grace, s.exited)
}

// logTail returns the end of sshd's log, for errors.
func (s *Server) logTail() string {
	if s.logFile == "" {
		return s.stderr.String()
	}
	b, _ := os.ReadFile(s.logFile)
	if len(b) > s.stderr.max {
		b = b[len(b)-s.stderr.max:]
	}
	return string(b)
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
