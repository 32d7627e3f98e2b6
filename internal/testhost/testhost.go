// Package testhost boots real OpenSSH test hosts: this machine's users
// behind a throwaway sshd on their own loopback address (or in a network
// namespace). Tests use Start; the fake clouds use Boot with the Options
// parsed from the user data an adapter sent, so a fake instance is a real
// SSH host configured as cloud-init would have configured it.
//
// Users are real accounts in this machine's /etc/passwd. Boot creates those
// that are missing, adds them to their groups and unlocks a locked account
// (sshd without PAM refuses those even for key logins); Stop leaves all of
// that in place, since other hosts on the machine may share the users, and
// removes only its sudoers drop-ins. Tests should use user names of their
// own and delete them when done.
package testhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"

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
	// Netns runs sshd inside this network namespace (made by the test).
	Netns  string
	Logger *slog.Logger
}

// Host is a running test host.
type Host struct {
	srv      *sshd.Server
	dropIns  []string
	stopOnce sync.Once
	stopErr  error
}

// Addr is the host's IP address.
func (h *Host) Addr() string { return h.srv.Addr() }

// Port is the host's SSH port.
func (h *Host) Port() int { return h.srv.Port() }

// HostKey is the host key in authorized_keys form.
func (h *Host) HostKey() string { return h.srv.HostPublicKey() }

// Pid is the sshd's process id.
func (h *Host) Pid() int { return h.srv.Pid() }

// Stop stops sshd and removes the sudoers drop-ins Boot wrote. Users stay.
func (h *Host) Stop(ctx context.Context) error {
	h.stopOnce.Do(func() {
		err := h.srv.Stop(ctx)
		for _, f := range h.dropIns {
			if rmErr := os.Remove(f); rmErr != nil && !os.IsNotExist(rmErr) && err == nil {
				err = fmt.Errorf("remove sudoers drop-in: %w", rmErr)
			}
		}
		h.stopErr = err
	})
	return h.stopErr
}

var nameRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// Boot ensures the users exist and starts sshd for them. It needs root.
func Boot(ctx context.Context, opts Options) (*Host, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("boot test host: needs root to run sshd and manage users")
	}
	keys := map[string][]string{}
	var dropIns []string
	cleanup := func() {
		for _, f := range dropIns {
			os.Remove(f)
		}
	}
	for _, u := range opts.Users {
		if err := ensureUser(ctx, u); err != nil {
			cleanup()
			return nil, err
		}
		keys[u.Name] = append(keys[u.Name], u.AuthorizedKeys...)
		if u.Sudo {
			f, err := writeSudoers(u.Name)
			if err != nil {
				cleanup()
				return nil, err
			}
			dropIns = append(dropIns, f)
		}
	}
	addr := opts.Addr
	if addr == "" && opts.Netns == "" {
		var err error
		if addr, err = sshd.FreeLoopback(opts.Port); err != nil {
			cleanup()
			return nil, err
		}
	}
	srv, err := sshd.Start(ctx, sshd.Config{
		ListenAddr: addr, Port: opts.Port, HostKeyPEM: opts.HostKeyPEM, AuthorizedKeys: keys,
		Netns: opts.Netns, HideKVM: opts.HideKVM, Logger: opts.Logger, DieWithParent: true,
	})
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("boot test host: %w", err)
	}
	return &Host{srv: srv, dropIns: dropIns}, nil
}

// ensureUser creates the user and its groups when missing, under a lock
// because parallel tests may boot hosts for the same user.
func ensureUser(ctx context.Context, u User) error {
	if !nameRE.MatchString(u.Name) {
		return fmt.Errorf("test host user %q: expected a user name like mvm (lowercase letters, digits, _ and -)", u.Name)
	}
	unlock, err := lockUsers()
	if err != nil {
		return err
	}
	defer unlock()
	for _, g := range u.Groups {
		if !nameRE.MatchString(g) {
			return fmt.Errorf("test host user %s group %q: expected a group name like sudo or kvm", u.Name, g)
		}
		if exec.CommandContext(ctx, "getent", "group", g).Run() != nil {
			if err := runCmd(ctx, "groupadd", "--system", g); err != nil {
				return fmt.Errorf("create group %s: %w", g, err)
			}
		}
	}
	if exec.CommandContext(ctx, "getent", "passwd", u.Name).Run() != nil {
		// "*" rather than useradd's locked "!": sshd without PAM refuses
		// locked accounts even for key logins.
		args := []string{"-m", "-s", "/bin/bash", "-p", "*"}
		if len(u.Groups) > 0 {
			args = append(args, "-G", strings.Join(u.Groups, ","))
		}
		if err := runCmd(ctx, "useradd", append(args, u.Name)...); err != nil {
			return fmt.Errorf("create user %s: %w", u.Name, err)
		}
		return nil
	}
	if len(u.Groups) > 0 {
		if err := runCmd(ctx, "usermod", "-a", "-G", strings.Join(u.Groups, ","), u.Name); err != nil {
			return fmt.Errorf("add user %s to groups %s: %w", u.Name, strings.Join(u.Groups, ","), err)
		}
	}
	if locked(u.Name) {
		if err := runCmd(ctx, "usermod", "-p", "*", u.Name); err != nil {
			return fmt.Errorf("unlock user %s for key logins: %w", u.Name, err)
		}
	}
	return nil
}

// locked reports whether the account's password field marks it locked,
// which sshd without PAM treats as "no logins at all".
func locked(name string) bool {
	b, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) >= 2 && f[0] == name {
			return strings.HasPrefix(f[1], "!")
		}
	}
	return false
}

func lockUsers() (func(), error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "mvm-verify-testhost-users.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open user lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock users: %w", err)
	}
	return func() { f.Close() }, nil
}

// writeSudoers writes a drop-in of this host's own, so stopping one host
// does not take sudo from another host's user of the same name.
func writeSudoers(user string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("name sudoers drop-in: %w", err)
	}
	// sudo skips drop-ins whose names contain a dot.
	f := filepath.Join("/etc/sudoers.d", "mvm-testhost-"+user+"-"+hex.EncodeToString(b[:]))
	if err := os.MkdirAll("/etc/sudoers.d", 0o755); err != nil {
		return "", fmt.Errorf("create /etc/sudoers.d: %w", err)
	}
	if err := os.WriteFile(f, []byte(user+" ALL=(ALL) NOPASSWD:ALL\n"), 0o440); err != nil {
		return "", fmt.Errorf("write sudoers drop-in for %s: %w", user, err)
	}
	return f, nil
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
