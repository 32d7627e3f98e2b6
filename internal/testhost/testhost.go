// Package testhost boots real OpenSSH test hosts: this machine's users
// behind a throwaway sshd on their own loopback address (or in a network
// namespace). Tests use Start; the fake clouds use Boot with the Options
// parsed from the user data an adapter sent, so a fake instance is a real
// SSH host configured as cloud-init would have configured it.
//
// Users are real accounts in this machine's /etc/passwd. Boot creates those
// that are missing (with their groups), adds them to their groups and
// unlocks a locked account (sshd without PAM refuses those even for key
// logins); Stop undoes all of that, and deletes the accounts it created with
// their homes, once no other running host on the machine uses them, in this
// test binary or another. What an interrupted run left behind is undone by
// the next Boot (see RegistryDir).
//
// The local provider's end-to-end tests (internal/cli's --provider local
// runs) boot no testhost: the product brings its own throwaway sshd there
// (internal/sshd, real OpenSSH, the package testhost is built on), and
// those tests exercise exactly that, so they follow this package's rule
// rather than depart from it.
package testhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/tinylabscom/mvm-verify/internal/sshd"
)

// User is an account on the test host.
type User struct {
	Name           string
	AuthorizedKeys []string
	// Groups are added to the user's supplementary groups (created when
	// missing), e.g. sudo or kvm.
	Groups []string
	// Sudo installs a NOPASSWD:ALL sudoers drop-in for the user while the
	// host runs.
	Sudo bool
}

// Options describe a test host.
type Options struct {
	// Addr is the IP sshd listens on. "" picks a free address in
	// 127.0.0.0/8 (127.0.0.1 when Netns is set).
	Addr string
	// Port is the TCP port; 0 picks a free one.
	Port int
	// HostKeyPEM is the host's private key; nil generates one.
	HostKeyPEM []byte
	Users      []User
	// HideKVM makes /dev/kvm absent for everything sshd runs.
	HideKVM bool
	// KVMGroup shows sessions the machine's /dev/kvm, when it has one, as
	// root:kvm 0660, as a cloud host booted from the cycle's cloud-config
	// has it (sshd.Config.KVMGroup): a user the host gives the kvm group
	// opens it whatever the machine's own node allows, which is untouched.
	KVMGroup bool
	// Cloud makes the host read as a booted cloud host to its sessions:
	// cloud-init done, the system running (see CloudInitState,
	// SystemState). It hides the machine's own cloud-init and systemctl
	// from the sessions, whatever they report.
	Cloud bool
	// Netns runs sshd inside this network namespace (made by the test).
	Netns  string
	Logger *slog.Logger
}

// Host is a running test host.
type Host struct {
	srv      *sshd.Server
	rec      *record
	cloud    *cloudHost // nil without Options.Cloud
	stopOnce sync.Once
	stopErr  error
}

// Addr is the host's IP address.
func (h *Host) Addr() string { return h.srv.Addr() }

// Port is the host's SSH port.
func (h *Host) Port() int { return h.srv.Port() }

// HostKey is the host key in authorized_keys form.
func (h *Host) HostKey() string { return h.srv.HostPublicKey() }

// KnownHostsLine is the host's key as a known_hosts line for its address
// and port ("[addr]:port TYPE BASE64"), as ssh-keyscan -p prints it.
func (h *Host) KnownHostsLine() string {
	return fmt.Sprintf("[%s]:%d %s", h.Addr(), h.Port(), h.HostKey())
}

// Pid is the sshd's process id.
func (h *Host) Pid() int { return h.srv.Pid() }

// Stop stops sshd and undoes what Boot changed on the machine, except what
// another running host still uses (see RegistryDir).
func (h *Host) Stop(ctx context.Context) error {
	h.stopOnce.Do(func() {
		err := h.srv.Stop(ctx)
		if h.cloud != nil {
			if rmErr := os.RemoveAll(h.cloud.dir); rmErr != nil {
				err = errors.Join(err, fmt.Errorf("remove the cloud host emulation: %w", rmErr))
			}
		}
		if rErr := releaseOwn(context.WithoutCancel(ctx), h.rec); rErr != nil {
			err = errors.Join(err, rErr)
		}
		h.stopErr = err
	})
	return h.stopErr
}

func releaseOwn(ctx context.Context, rec *record) error {
	unlock, err := lockMachine()
	if err != nil {
		return err
	}
	defer unlock()
	if err := release(ctx, []*record{rec}); err != nil {
		return fmt.Errorf("undo test host changes: %w", err)
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// Boot ensures the users exist and starts sshd for them. It needs root.
// First it undoes what hosts of interrupted runs left on the machine.
func Boot(ctx context.Context, opts Options) (*Host, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("boot test host: needs root to run sshd and manage users")
	}
	keys := map[string][]string{}
	for _, u := range opts.Users {
		if !nameRE.MatchString(u.Name) {
			return nil, fmt.Errorf("test host user %q: expected a user name like mvm (lowercase letters, digits, _ and -)", u.Name)
		}
		for _, g := range u.Groups {
			if !nameRE.MatchString(g) {
				return nil, fmt.Errorf("test host user %s group %q: expected a group name like sudo or kvm", u.Name, g)
			}
		}
		keys[u.Name] = append(keys[u.Name], u.AuthorizedKeys...)
	}
	rec, err := setUp(ctx, opts.Users)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Host, error) {
		if rErr := releaseOwn(context.WithoutCancel(ctx), rec); rErr != nil {
			err = errors.Join(err, rErr)
		}
		return nil, err
	}
	addr := opts.Addr
	if addr == "" && opts.Netns == "" {
		if addr, err = sshd.FreeLoopback(opts.Port); err != nil {
			return fail(err)
		}
	}
	cfg := sshd.Config{
		ListenAddr: addr, Port: opts.Port, HostKeyPEM: opts.HostKeyPEM, AuthorizedKeys: keys,
		Netns: opts.Netns, HideKVM: opts.HideKVM, KVMGroup: opts.KVMGroup, Logger: opts.Logger, DieWithParent: true,
	}
	var cloud *cloudHost
	if opts.Cloud {
		if cloud, err = newCloudHost(); err != nil {
			return fail(fmt.Errorf("boot test host: %w", err))
		}
		cfg.LocalBin = cloud.bin()
	}
	srv, err := sshd.Start(ctx, cfg)
	if err != nil {
		if cloud != nil {
			os.RemoveAll(cloud.dir)
		}
		return fail(fmt.Errorf("boot test host: %w", err))
	}
	return &Host{srv: srv, rec: rec, cloud: cloud}, nil
}

// setUp makes the users, their groups and sudoers drop-ins under the
// machine lock, recording each change before making it.
func setUp(ctx context.Context, users []User) (rec *record, err error) {
	unlock, err := lockMachine()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := release(ctx, nil); err != nil {
		return nil, fmt.Errorf("clean up after earlier test hosts: %w", err)
	}
	var id [6]byte
	rand.Read(id[:])
	if rec, err = newRecord(hex.EncodeToString(id[:])); err != nil {
		return nil, fmt.Errorf("boot test host: %w", err)
	}
	for _, u := range users {
		if !slices.Contains(rec.Users, u.Name) {
			rec.Users = append(rec.Users, u.Name)
		}
		for _, g := range u.Groups {
			if !slices.Contains(rec.Groups, g) {
				rec.Groups = append(rec.Groups, g)
			}
		}
	}
	if err := rec.save(); err != nil {
		return nil, err
	}
	// The undo releases own, not rec: a failure below returns nil for rec
	// before this runs.
	own := rec
	defer func() {
		if err != nil {
			if rErr := release(context.WithoutCancel(ctx), []*record{own}); rErr != nil {
				err = errors.Join(err, fmt.Errorf("undo: %w", rErr))
			}
		}
	}()
	for _, u := range users {
		if err := ensureUser(ctx, rec, u); err != nil {
			return nil, err
		}
		if u.Sudo {
			if err := writeSudoers(rec, u.Name); err != nil {
				return nil, err
			}
		}
	}
	return rec, nil
}

// ensureUser creates the user and its groups when missing. Of an account
// it finds, it records the groups it adds and the lock it lifts.
func ensureUser(ctx context.Context, rec *record, u User) error {
	for _, g := range u.Groups {
		if _, err := user.LookupGroup(g); err == nil {
			continue
		}
		rec.CreatedGroups = append(rec.CreatedGroups, g)
		if err := rec.save(); err != nil {
			return err
		}
		if err := runCmd(ctx, "groupadd", "-f", "--system", g); err != nil {
			return fmt.Errorf("create group %s: %w", g, err)
		}
	}
	if _, err := user.Lookup(u.Name); err != nil {
		// "*" rather than useradd's locked "!": sshd without PAM refuses
		// locked accounts even for key logins. The comment marks it ours.
		args := []string{"-m", "-s", "/bin/bash", "-p", "*", "-c", CreatedMark}
		if len(u.Groups) > 0 {
			args = append(args, "-G", strings.Join(u.Groups, ","))
		}
		if err := runCmd(ctx, "useradd", append(args, u.Name)...); err != nil {
			return fmt.Errorf("create user %s: %w", u.Name, err)
		}
		return nil
	}
	for _, g := range u.Groups {
		if in, err := inGroup(u.Name, g); err != nil || in {
			continue
		}
		rec.Added = append(rec.Added, membership{User: u.Name, Group: g})
		if err := rec.save(); err != nil {
			return err
		}
		if err := runCmd(ctx, "usermod", "-a", "-G", g, u.Name); err != nil {
			return fmt.Errorf("add user %s to group %s: %w", u.Name, g, err)
		}
	}
	if pw, ok := passwordField(u.Name); ok && strings.HasPrefix(pw, "!") {
		rec.Unlocked = append(rec.Unlocked, unlocked{User: u.Name, Old: pw})
		if err := rec.save(); err != nil {
			return err
		}
		if err := runCmd(ctx, "usermod", "-p", "*", u.Name); err != nil {
			return fmt.Errorf("unlock user %s for key logins: %w", u.Name, err)
		}
	}
	return nil
}

// writeSudoers writes a drop-in of this host's own, so stopping one host
// does not take sudo from another host's user of the same name.
func writeSudoers(rec *record, user string) error {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("name sudoers drop-in: %w", err)
	}
	// sudo skips drop-ins whose names contain a dot.
	f := filepath.Join("/etc/sudoers.d", "mvm-testhost-"+user+"-"+hex.EncodeToString(b[:]))
	if err := os.MkdirAll("/etc/sudoers.d", 0o755); err != nil {
		return fmt.Errorf("create /etc/sudoers.d: %w", err)
	}
	rec.DropIns = append(rec.DropIns, f)
	if err := rec.save(); err != nil {
		return err
	}
	if err := os.WriteFile(f, []byte(user+" ALL=(ALL) NOPASSWD:ALL\n"), 0o440); err != nil {
		return fmt.Errorf("write sudoers drop-in for %s: %w", user, err)
	}
	return nil
}

func runCmd(ctx context.Context, name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(out.String()))
	}
	return nil
}
