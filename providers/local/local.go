// Package local is the `local` provider: this machine, reached through a
// throwaway sshd on a loopback address with the run's keys. The suite user
// is set up as cloud-init would set it up on a cloud host, and everything
// changed is written to a state file per leg so Destroy can undo it from a
// fresh process (the post step).
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tinylabscom/mvm-verify/internal/probe"
	"github.com/tinylabscom/mvm-verify/internal/sshd"
	"github.com/tinylabscom/mvm-verify/providers"
)

// Name is the provider's registry name.
const Name = "local"

const devKVM = "/dev/kvm"

// suiteGroups are the groups the suite user gets, as the rendered
// cloud-config gives them.
var suiteGroups = []string{"kvm", "sudo"}

// Entry registers the provider.
func Entry() providers.Entry {
	return providers.Entry{
		Info: providers.Info{
			Name: Name,
			Description: "This machine, through a throwaway sshd on a loopback address with per-run keys; " +
				"the suite user is set up as cloud-init would. The no-kvm lane hides /dev/kvm from the sessions.",
			Creates: true,
			Lanes:   []string{"kvm", "no-kvm"},
			Inputs:  []string{"local-state-dir"},
			Credentials: "openssh-server (its sshd) on this machine, and root to set up the suite user " +
				"(without root, the suite's user must be the current user)",
		},
		New:   New,
		Check: Check,
	}
}

// Provider is the local machine.
type Provider struct {
	// kvmUsable is probe.KVMUsable but in tests: whether this machine's
	// KVM works, and why not when it does not.
	kvmUsable func() (bool, string)
	store     store
	sys       system
	log       *slog.Logger
	// grace is how long Destroy waits for sshd after SIGTERM.
	grace time.Duration
	// termGrace is how long Destroy gives the leg's processes after
	// SIGTERM before SIGKILL.
	termGrace time.Duration
	// findSSHD and cgroupMount are sshd.FindBinary and cgroup2Mount but in
	// tests, which take them away.
	findSSHD    func() (string, error)
	cgroupMount func() (string, error)
	// sshdStarted, when set, is called once sshd runs and before it is
	// recorded: tests end Create there, as a kill would.
	sshdStarted func(*sshd.Server)
}

// New reads local-state-dir as Check does; the default (see
// defaultStateDir) is the same for the main and the post step.
func New(o providers.Options) (providers.Provider, error) {
	dir, err := stateDir(o)
	if err != nil {
		return nil, err
	}
	return &Provider{store: store{dir: dir, registry: registryDir(dir), log: o.Log()}, log: o.Log(), grace: 5 * time.Second, termGrace: 2 * time.Second,
		findSSHD: sshd.FindBinary, cgroupMount: cgroup2Mount, kvmUsable: probe.KVMUsable}, nil
}

// Check checks local-state-dir (providers.Entry.Check) as New does, so
// config reports a bad one at load with every other bad input: a refusal
// is a *providers.InputError naming the input, its value and the form
// expected. Like New it leaves nothing behind (see checkStateDir).
func Check(o providers.Options) error {
	_, err := stateDir(o)
	return err
}

// stateDir is the state directory local-state-dir names, or its default,
// once checkStateDir says it can hold the leg's state.
func stateDir(o providers.Options) (string, error) {
	dir := o.In("local-state-dir")
	if dir == "" {
		var err error
		if dir, err = defaultStateDir(o.Env); err != nil {
			return "", err
		}
	}
	if !filepath.IsAbs(dir) {
		return "", &providers.InputError{Input: "local-state-dir", Value: dir, Expected: stateDirForm}
	}
	dir = filepath.Clean(dir)
	// Refused here, before the CLI makes --out or anything starts, and
	// again at preflight.
	if err := checkStateDir(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// ResolvedInputs implements providers.Resolver: the state directory, whose
// default comes from this process's environment.
func (p *Provider) ResolvedInputs() map[string]string {
	return map[string]string{"local-state-dir": p.store.dir}
}

// The optional interfaces the cycle and the CLI look for at run time,
// checked by the compiler so a drifted signature cannot silently drop one.
var _ interface {
	providers.Provider
	providers.LaneOfferer
	providers.Resolver
} = (*Provider)(nil)

// Name is "local".
func (p *Provider) Name() string { return Name }

// OfferedLanes is what this machine can run: the kvm lane only with usable
// KVM, so lane auto on a machine without it runs the no-kvm lane instead of
// failing the KVM check.
func (p *Provider) OfferedLanes() []string {
	if kvmUsable(p) {
		return []string{"kvm", "no-kvm"}
	}
	return []string{"no-kvm"}
}

// Preflight checks that the state directory can be written, sshd is
// installed and the suite user can log in.
func (p *Provider) Preflight(_ context.Context, req providers.Request) error {
	if err := checkStateDir(p.store.dir); err != nil {
		return providers.Classified(providers.ClassInvalid, "", err)
	}
	if _, err := p.findSSHD(); err != nil {
		return providers.Classified(providers.ClassInvalid, "", fmt.Errorf("local: %w", err))
	}
	if !providers.ValidUserName(req.User) {
		return providers.Classified(providers.ClassInvalid, "",
			fmt.Errorf("local: suite user %q: expected a user name such as mvm or runner", req.User))
	}
	if req.Lane != "" && req.Lane != "kvm" && req.Lane != "no-kvm" {
		return providers.Classified(providers.ClassInvalid, "", fmt.Errorf("local: lane %q: expected kvm or no-kvm", req.Lane))
	}
	if req.Lane == "kvm" {
		// The host is this machine: the probe's KVM check would fail
		// the leg after sshd and the suite user were set up; say so
		// before anything is made.
		if ok, why := p.kvmUsable(); !ok {
			return providers.Classified(providers.ClassInvalid, "", kvmLaneError(why))
		}
	}
	if os.Geteuid() != 0 {
		// An sshd that is not root logs in only as the user it runs as.
		if cur, err := currentUser(); err == nil && req.User != cur {
			return providers.Classified(providers.ClassInvalid, "", notRootError(req.User))
		}
		// Hiding a KVM this user can use needs root; one it cannot use
		// is hidden already.
		if _, _, _, haveKVM, _ := p.sys.kvmPerms(); haveKVM && req.Lane == "no-kvm" && kvmUsable(p) {
			return providers.Classified(providers.ClassInvalid, "",
				errors.New("local: the no-kvm lane hides /dev/kvm in a private mount namespace, which needs root: run mvm-verify as root or use the kvm lane"))
		}
		return nil
	}
	if req.User != "root" && p.sys.userExists(req.User) {
		pw, err := p.sys.passwordField(req.User)
		if err == nil && lockedWithHash(pw) {
			return providers.Classified(providers.ClassInvalid, "", lockedError(req.User))
		}
	}
	return nil
}

// kvmUsable is whether this machine's KVM works, without the reason.
func kvmUsable(p *Provider) bool {
	ok, _ := p.kvmUsable()
	return ok
}

// kvmLaneError refuses the kvm lane on this machine, whose KVM is
// unusable for why (the probe's reason).
func kvmLaneError(why string) error {
	return &providers.InputError{Input: "lane", Value: "kvm",
		Expected: "no-kvm or auto on this machine, or run on a host with usable KVM",
		Err:      fmt.Errorf("this machine's KVM is unusable: %s", why)}
}

func notRootError(name string) error {
	cur := "the current user"
	if u, err := currentUser(); err == nil {
		cur = u
	}
	return fmt.Errorf("local: suite user %q: mvm-verify is not root, so its sshd logs in only as %s and cannot set up another user: "+
		"expected the suite's user to be %s, or run mvm-verify as root", name, cur, cur)
}

func lockedError(name string) error {
	return fmt.Errorf("local: user %q has a locked password with a hash behind it, and sshd without PAM refuses locked accounts: "+
		"unlock it (usermod -U %s) or use another suite user", name, name)
}

// lockedWithHash is a locked account whose password we would have to keep
// and restore to unlock it; a bare "!" (no password) we can unlock safely.
func lockedWithHash(pw string) bool {
	return len(pw) > 1 && pw[0] == '!' && pw != "!!" && pw != "!*"
}

// Create sets up the suite user and starts sshd for it.
func (p *Provider) Create(ctx context.Context, req providers.Request, j providers.Journal) (*providers.Host, error) {
	j = providers.OrDiscard(j)
	if err := p.Preflight(ctx, req); err != nil {
		return nil, err
	}
	name := req.Identity.Name()
	unlock, err := p.store.lock()
	if err != nil {
		return nil, err
	}
	old, err := p.store.load(name)
	if err != nil {
		unlock()
		return nil, err
	}
	if legs, err := p.store.all(); err == nil {
		p.sweepCgroups(legs)
	}
	if old != nil {
		// A previous attempt of this leg: start from a clean machine.
		unlock()
		if _, err := p.Destroy(ctx, req.Identity); err != nil {
			return nil, fmt.Errorf("local: clean up the previous attempt: %w", err)
		}
		if unlock, err = p.store.lock(); err != nil {
			return nil, err
		}
	}
	defer unlock()

	st := &state{Identity: req.Identity, Tags: req.Identity.Tags(), User: req.User}
	// Every change is saved before the next is made, so a crash leaves a
	// state Destroy can finish.
	record := func(c change) error {
		st.Changes = append(st.Changes, c)
		if err := p.store.save(name, st); err != nil {
			return err
		}
		j.Record(c.resource(st))
		return nil
	}
	if err := p.store.save(name, st); err != nil {
		return nil, err
	}
	host, err := p.create(ctx, req, record)
	if err != nil {
		unlock()
		if _, derr := p.Destroy(context.WithoutCancel(ctx), req.Identity); derr != nil {
			err = errors.Join(err, fmt.Errorf("local: undo after failed create: %w", derr))
		}
		return nil, err
	}
	return host, nil
}

func (p *Provider) create(ctx context.Context, req providers.Request, record func(change) error) (*providers.Host, error) {
	if os.Geteuid() == 0 && req.User != "root" {
		if err := p.setUpUser(ctx, req.User, req.Identity.Name(), record); err != nil {
			return nil, err
		}
	}
	if os.Geteuid() == 0 && req.User == "root" {
		if err := p.writeSudoers("root", req.Identity.Name(), false, record); err != nil {
			return nil, err
		}
	}
	if os.Geteuid() == 0 && req.Lane != "no-kvm" {
		if err := p.openKVM(ctx, record); err != nil {
			return nil, err
		}
	}
	bin, err := p.findSSHD()
	if err != nil {
		return nil, providers.Classified(providers.ClassInvalid, "", fmt.Errorf("local: %w", err))
	}
	addr, err := sshd.FreeLoopback(0)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	// The host is this machine, so the cycle's files (the probe binary) are
	// removed by Destroy, which needs no sshd: after a signal the sshd is
	// stopped before the cycle could remove them over SSH. Under /tmp, not
	// TMPDIR: the suite's user must reach it. Recorded before the
	// leg's processes, so it is removed after they are stopped.
	workDir := "/tmp/mvm-verify-" + req.Identity.Name()
	if err := record(change{Kind: kindWorkDir, Path: workDir}); err != nil {
		return nil, err
	}
	if err := makeWorkDir(workDir, req.User); err != nil {
		return nil, err
	}
	// sshd's private directory (its host key among its files) and its log
	// are named and recorded before it starts: killed before the sshd
	// itself is recorded, the run still leaves Destroy what to remove.
	// Recorded before the leg's processes, so they go after sshd is
	// stopped with them.
	logFile := filepath.Join(p.store.dir, req.Identity.Name()+".sshd.log")
	tempDir := sshdTempDir(req.User)
	sshdDir, err := sshd.DirName(tempDir)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	if err := record(change{Kind: kindSSHDFiles, Dir: sshdDir, Path: logFile}); err != nil {
		return nil, err
	}
	// A log left by an earlier attempt of this leg, in the state
	// directory that is ours alone; sshd.Start makes a new one.
	if err := os.Remove(logFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("local: remove the previous sshd log: %w", err)
	}
	marker, cgroup, err := p.legProcesses(req.Identity.Name(), record)
	if err != nil {
		return nil, err
	}
	srv, err := sshd.Start(ctx, sshd.Config{
		ListenAddr: addr, HostKeyPEM: req.HostKeyPEM,
		AuthorizedKeys: map[string][]string{req.User: {req.ClientAuthorizedKey}},
		HideKVM:        req.Lane == "no-kvm" && os.Geteuid() == 0,
		LogFile:        logFile,
		Logger:         p.log,
		Binary:         bin,
		Cgroup:         cgroup,
		SetEnv:         map[string]string{markerVar: marker},
		TempDir:        tempDir,
		Dir:            sshdDir,
	})
	if err != nil {
		os.Remove(logFile) // its tail is in err
		return nil, fmt.Errorf("local: %w", err)
	}
	if p.sshdStarted != nil {
		p.sshdStarted(srv)
	}
	start, err := srv.StartTime()
	if err == nil {
		err = record(change{Kind: kindSSHD, Pid: srv.Pid(), StartTime: start, Dir: srv.Dir(), Addr: srv.Addr(), Port: srv.Port(), Path: logFile})
	}
	if err != nil {
		srv.Stop(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("local: %w", err)
	}
	// Debug: the cycle prints the host it got as progress; an INFO line
	// here would be a second, differently formatted one among the ==> lines.
	p.log.Debug("local sshd started", "addr", srv.Addr(), "port", srv.Port(), "pid", srv.Pid(), "user", req.User, "lane", req.Lane)
	return &providers.Host{
		Address: srv.Addr(), Port: srv.Port(), User: req.User, HostKey: srv.HostPublicKey(),
		ID: req.Identity.Name(), Type: "local", WorkDir: workDir, Uname: thisUname(), Outlives: true,
	}, nil
}

// sshdTempDir is where the throwaway sshd keeps its files: TMPDIR, unless
// a suite user who is not the one running mvm-verify could not reach them
// there. sshd reads authorized_keys as the user logging in, so root's
// private TMPDIR would lock a created suite user out; /tmp is open to all.
func sshdTempDir(suiteUser string) string {
	dir := os.TempDir()
	if os.Geteuid() != 0 || suiteUser == "root" || searchableByAll(dir) {
		return dir
	}
	return "/tmp"
}

// searchableByAll reports whether every user may pass through dir: it and
// each directory above it have the search bit for others.
func searchableByAll(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// thisUname is `uname -sm` of this machine, the local provider's host;
// empty if the kernel will not say, and the cycle asks over SSH instead.
func thisUname() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Machine[:])
}

// legProcesses makes what finds the leg's processes at Destroy, recorded
// before it exists: a marker for its sessions' environment and, where the
// machine allows, a cgroup for sshd. It returns the cgroup to start sshd in,
// "" for none.
func (p *Provider) legProcesses(leg string, record func(change) error) (marker, cgroup string, err error) {
	if marker, err = newMarker(); err != nil {
		return "", "", fmt.Errorf("local: %w", err)
	}
	path, cgErr := p.cgroupPath(leg) // "" when there is none to be had
	if err := record(change{Kind: kindProcs, Marker: marker, Cgroup: path}); err != nil {
		return "", "", err
	}
	if cgErr == nil {
		if cgErr = makeCgroup(path); cgErr == nil {
			return marker, path, nil
		}
	}
	p.log.Debug("local: no cgroup for the leg's processes; Destroy finds them by their environment instead",
		"reason", cgErr.Error(), "marker", markerVar+"="+marker)
	return marker, "", nil
}

// setUpUser gives the suite user what the cloud-config gives it: an
// account with a shell, the kvm and sudo groups and passwordless sudo.
func (p *Provider) setUpUser(ctx context.Context, name, leg string, record func(change) error) error {
	for _, g := range suiteGroups {
		if err := p.ensureGroup(ctx, g, record); err != nil {
			return err
		}
	}
	if !p.sys.userExists(name) {
		if err := record(change{Kind: kindUser, Name: name}); err != nil {
			return err
		}
		// "*": no password, but not locked, which sshd without PAM refuses.
		if err := p.sys.run(ctx, "useradd", "-m", "-s", "/bin/bash", "-p", "*", name); err != nil {
			return fmt.Errorf("local: create user %s: %w", name, err)
		}
	} else if pw, err := p.sys.passwordField(name); err == nil && (pw == "!" || pw == "!!" || pw == "!*") {
		if err := record(change{Kind: kindUnlock, Name: name, OldPassword: pw}); err != nil {
			return err
		}
		if err := p.sys.run(ctx, "usermod", "-p", "*", name); err != nil {
			return fmt.Errorf("local: unlock user %s for key logins: %w", name, err)
		}
	}
	for _, g := range suiteGroups {
		in, err := p.sys.inGroup(name, g)
		if err != nil {
			return fmt.Errorf("local: %w", err)
		}
		if in {
			continue
		}
		if err := record(change{Kind: kindGroupMember, Name: name, Group: g}); err != nil {
			return err
		}
		if err := p.sys.run(ctx, "usermod", "-a", "-G", g, name); err != nil {
			return fmt.Errorf("local: add %s to group %s: %w", name, g, err)
		}
	}
	return p.writeSudoers(name, leg, true, record)
}

// writeSudoers writes the leg's sudoers drop-in for the user the leg logs
// in as: passwordless sudo when grant is set (root needs none), and the
// leg's marker kept through sudo, which would reset it. Steps run through
// sudo -iu even as the login user, so without it what a step starts would
// not carry the marker Destroy finds it by without a cgroup.
func (p *Provider) writeSudoers(name, leg string, grant bool, record func(change) error) error {
	// One drop-in per leg, so legs sharing a user do not undo each other;
	// sudo skips names with dots, which leg names never have.
	path := filepath.Join("/etc/sudoers.d", "mvm-verify-"+leg)
	if err := os.MkdirAll("/etc/sudoers.d", 0o755); err != nil {
		return fmt.Errorf("local: create /etc/sudoers.d: %w", err)
	}
	if err := record(change{Kind: kindSudoers, Path: path}); err != nil {
		return err
	}
	// env_keep carries the leg's marker through sudo, which would reset it,
	// so what a step starts with sudo is found at Destroy without a cgroup.
	rule := fmt.Sprintf("Defaults:%s env_keep += \"%s\"\n", name, markerVar)
	if grant {
		rule += fmt.Sprintf("%s ALL=(ALL) NOPASSWD:ALL\n", name)
	}
	if err := os.WriteFile(path, []byte(rule), 0o440); err != nil {
		return fmt.Errorf("local: write sudoers drop-in: %w", err)
	}
	return nil
}

// openKVM makes /dev/kvm root:kvm 0660, as the cloud-config's runcmd does.
func (p *Provider) openKVM(ctx context.Context, record func(change) error) error {
	uid, gid, mode, ok, err := p.sys.kvmPerms()
	if err != nil || !ok {
		return err
	}
	if err := p.ensureGroup(ctx, "kvm", record); err != nil {
		return err
	}
	kvm, err := p.sys.groupID("kvm")
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if uid == 0 && gid == kvm && mode == 0o660 {
		return nil
	}
	if err := record(change{Kind: kindDevKVM, UID: uid, GID: gid, Mode: uint32(mode)}); err != nil {
		return err
	}
	if err := os.Chown(devKVM, 0, kvm); err != nil {
		return fmt.Errorf("local: chown %s root:kvm: %w", devKVM, err)
	}
	if err := os.Chmod(devKVM, 0o660); err != nil {
		return fmt.Errorf("local: chmod %s 0660: %w", devKVM, err)
	}
	return nil
}

func (p *Provider) ensureGroup(ctx context.Context, g string, record func(change) error) error {
	if p.sys.groupExists(g) {
		return nil
	}
	if err := record(change{Kind: kindGroup, Group: g}); err != nil {
		return err
	}
	// -f: another program (a test host) may create it at the same moment.
	if err := p.sys.run(ctx, "groupadd", "-f", "--system", g); err != nil {
		return fmt.Errorf("local: create group %s: %w", g, err)
	}
	return nil
}

// makeWorkDir makes the cycle's work dir in the shared /tmp, owned by the
// user the cycle logs in as, before the cycle uploads there: one another
// user made first (the name is derived from the run, not secret) could be
// a symlink the upload follows, or let them swap the probe binary the
// suite user runs. What is there already is a leftover of this leg only if
// it is a plain directory of root's or the login user's; anything else is
// refused.
func makeWorkDir(dir, login string) error {
	uid, gid := os.Geteuid(), os.Getegid()
	if os.Geteuid() == 0 {
		u, err := user.Lookup(login)
		if err != nil {
			return fmt.Errorf("local: look up user %s: %w", login, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	if fi, err := os.Lstat(dir); err == nil {
		owner, _ := statOwner(fi)
		if fi.Mode()&os.ModeSymlink != 0 || !fi.IsDir() || (owner != 0 && owner != uid) {
			return fmt.Errorf("local: the cycle's work dir %s exists already and is not a directory of root's or %s's: "+
				"another user may have planted it; remove it and run again", dir, login)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("local: remove a previous work dir: %w", err)
		}
	}
	// Mkdir fails on anything at the path, a symlink included.
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("local: create the cycle's work dir: %w", err)
	}
	if err := os.Lchown(dir, uid, gid); err != nil {
		return fmt.Errorf("local: give the cycle's work dir to %s: %w", login, err)
	}
	// Others may read and run the probe binary (the suite user, when it is
	// not the login user), never write.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("local: chmod the cycle's work dir: %w", err)
	}
	return nil
}
