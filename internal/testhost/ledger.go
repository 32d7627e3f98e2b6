package testhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/proc"
)

// What Boot changes on the machine is undone when the host stops, but
// several test binaries run at once (go test ./...) and share accounts
// (fixed names such as mvr-login, root): a change stays while any live host
// still relies on it and is undone by the last. Each host keeps a record in
// RegistryDir naming its process; records whose process is gone belong to
// interrupted runs and are undone by the next Boot or Stop on the machine.
// Every step runs under one machine-wide lock.

// RegistryDir holds one record per running test host. /run is cleared at
// boot, like the processes the records name.
const RegistryDir = "/run/mvm-verify-testhost"

// CreatedMark is the comment (GECOS) of every account Boot creates: such an
// account is deleted, home and all, once no live host uses it, even when
// the record of the host that made it was lost.
const CreatedMark = "mvm-verify testhost"

// staleDropIn is how old a sudoers drop-in named like ours but listed in no
// record must be before it is removed: one without a record was written by
// an older testhost, whose host may still be running for that long.
const staleDropIn = 30 * time.Minute

// record is what one host changed beyond its own sshd.
type record struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
	// Users are the accounts the host serves; Groups the groups they were
	// put in. A live record holding a name keeps it in place.
	Users  []string `json:"users"`
	Groups []string `json:"groups"`
	// DropIns are the host's sudoers drop-ins, its own alone.
	DropIns []string `json:"drop_ins,omitempty"`
	// CreatedGroups, Added and Unlocked are shared changes: when the host
	// goes they pass to a live host that uses the group or user.
	CreatedGroups []string     `json:"created_groups,omitempty"`
	Added         []membership `json:"added,omitempty"`
	Unlocked      []unlocked   `json:"unlocked,omitempty"`

	path string
}

// membership is a group Boot added an account it did not create to.
type membership struct {
	User  string `json:"user"`
	Group string `json:"group"`
}

// unlocked is an account Boot unlocked for key logins, with the password
// field to restore. The field may hold a hash, so records are root-only.
type unlocked struct {
	User string `json:"user"`
	Old  string `json:"old"`
}

func (r *record) save() error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode test host record: %w", err)
	}
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write test host record: %w", err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		return fmt.Errorf("write test host record: %w", err)
	}
	return nil
}

// alive reports whether the record's process still runs.
func (r *record) alive() bool {
	return proc.Started(r.Pid, r.Start)
}

// newRecord starts this process's record for a host.
func newRecord(id string) (*record, error) {
	start, err := proc.StartTime(os.Getpid())
	if err != nil {
		return nil, err
	}
	return &record{Pid: os.Getpid(), Start: start,
		path: filepath.Join(RegistryDir, fmt.Sprintf("%d-%d-%s.json", os.Getpid(), start, id))}, nil
}

func loadRecords() ([]*record, error) {
	paths, err := filepath.Glob(filepath.Join(RegistryDir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*record
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read test host record: %w", err)
		}
		r := &record{path: p}
		if err := json.Unmarshal(b, r); err != nil {
			// A torn write of a crashed process: nothing to undo from it.
			os.Remove(p)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// lockMachine takes the machine-wide lock every record change holds.
func lockMachine() (func(), error) {
	if err := os.MkdirAll(RegistryDir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", RegistryDir, err)
	}
	f, err := os.OpenFile(filepath.Join(RegistryDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open test host lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock test hosts: %w", err)
	}
	return func() { f.Close() }, nil
}

// release undoes what the given records changed, except what a live
// record still relies on, which passes to it, and then deletes the accounts
// Boot created that no live record uses. With no records it only sweeps up
// after interrupted runs. The caller holds the machine lock.
func release(ctx context.Context, gone []*record) error {
	all, err := loadRecords()
	if err != nil {
		return err
	}
	var live []*record
	for _, r := range all {
		if slices.ContainsFunc(gone, func(g *record) bool { return g.path == r.path }) {
			continue
		}
		if r.alive() {
			live = append(live, r)
		} else {
			gone = append(gone, r)
		}
	}
	heir := func(user, group string) *record {
		for _, r := range live {
			if (user == "" || slices.Contains(r.Users, user)) && (group == "" || slices.Contains(r.Groups, group)) {
				return r
			}
		}
		return nil
	}
	var errs []error
	var groups []string
	handed := map[*record]bool{}
	for _, g := range gone {
		// The file is what counts: other hosts may have handed changes to it.
		if b, err := os.ReadFile(g.path); err == nil {
			json.Unmarshal(b, g)
		}
		for _, f := range g.DropIns {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove sudoers drop-in: %w", err))
			}
		}
		for _, u := range g.Unlocked {
			if h := heir(u.User, ""); h != nil {
				h.Unlocked, handed[h] = append(h.Unlocked, u), true
			} else if err := relock(ctx, u); err != nil {
				errs = append(errs, err)
			}
		}
		for _, m := range g.Added {
			if h := heir(m.User, m.Group); h != nil {
				h.Added, handed[h] = append(h.Added, m), true
			} else if err := leaveGroup(ctx, m); err != nil {
				errs = append(errs, err)
			}
		}
		for _, grp := range g.CreatedGroups {
			if h := heir("", grp); h != nil {
				h.CreatedGroups, handed[h] = append(h.CreatedGroups, grp), true
			} else {
				groups = append(groups, grp)
			}
		}
		if err := os.Remove(g.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove test host record: %w", err))
		}
	}
	for h := range handed {
		if err := h.save(); err != nil {
			errs = append(errs, err)
		}
	}
	// Accounts go before groups: a group cannot go while it is an account's
	// primary group.
	marked, err := markedUsers()
	if err != nil {
		errs = append(errs, err)
	}
	for _, u := range marked {
		if heir(u, "") == nil {
			if err := deleteUser(ctx, u); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, g := range groups {
		if err := deleteGroup(ctx, g); err != nil {
			errs = append(errs, err)
		}
	}
	if err := sweepDropIns(live); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// markedUsers lists the accounts Boot created.
func markedUsers() ([]string, error) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return nil, fmt.Errorf("read /etc/passwd: %w", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		// name:x:uid:gid:gecos:home:shell
		if f := strings.Split(line, ":"); len(f) == 7 && f[4] == CreatedMark {
			out = append(out, f[0])
		}
	}
	return out, nil
}

// deleteUser kills what still runs as the account (daemons a test left
// behind), then deletes it with its home.
func deleteUser(ctx context.Context, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return nil
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("user %s uid %q: %w", name, u.Uid, err)
	}
	for range 50 {
		if n, _ := proc.KillUID(uid); n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := runCmd(ctx, "userdel", "-r", "-f", name); err != nil {
		return fmt.Errorf("delete test user %s: %w", name, err)
	}
	return nil
}

// deleteGroup deletes a group Boot created once nothing on the machine
// uses it: no members (someone else may have joined it since) and no
// account's primary group.
func deleteGroup(ctx context.Context, name string) error {
	b, err := os.ReadFile("/etc/group")
	if err != nil {
		return fmt.Errorf("read /etc/group: %w", err)
	}
	gid := ""
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) == 4 && f[0] == name {
			if f[3] != "" {
				return nil
			}
			gid = f[2]
		}
	}
	if gid == "" {
		return nil
	}
	pw, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return fmt.Errorf("read /etc/passwd: %w", err)
	}
	for _, line := range strings.Split(string(pw), "\n") {
		if f := strings.Split(line, ":"); len(f) == 7 && f[3] == gid {
			return nil
		}
	}
	if err := runCmd(ctx, "groupdel", name); err != nil {
		return fmt.Errorf("delete test group %s: %w", name, err)
	}
	return nil
}

func leaveGroup(ctx context.Context, m membership) error {
	if in, err := inGroup(m.User, m.Group); err != nil || !in {
		return nil // the account or group went meanwhile
	}
	if err := runCmd(ctx, "gpasswd", "-d", m.User, m.Group); err != nil {
		return fmt.Errorf("take %s out of group %s: %w", m.User, m.Group, err)
	}
	return nil
}

// relock restores the password field Boot replaced, unless someone set a
// password since. chpasswd reads it from stdin, keeping a hash out of argv.
func relock(ctx context.Context, u unlocked) error {
	if pw, ok := passwordField(u.User); !ok || pw != "*" {
		return nil
	}
	cmd := exec.CommandContext(ctx, "chpasswd", "-e")
	cmd.Stdin = strings.NewReader(u.User + ":" + u.Old + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		// chpasswd's output does not echo the field.
		return fmt.Errorf("lock %s again: %w: %s", u.User, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// sweepDropIns removes sudoers drop-ins named like ours that no live
// record lists, once they are old enough to be no older testhost's.
func sweepDropIns(live []*record) error {
	paths, err := filepath.Glob("/etc/sudoers.d/mvm-testhost-*")
	if err != nil {
		return err
	}
	for _, p := range paths {
		if slices.ContainsFunc(live, func(r *record) bool { return slices.Contains(r.DropIns, p) }) {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil || time.Since(fi.ModTime()) < staleDropIn {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove stale sudoers drop-in: %w", err)
		}
	}
	return nil
}

func inGroup(name, group string) (bool, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return false, err
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return false, err
	}
	if u.Gid == g.Gid {
		return true, nil
	}
	ids, err := u.GroupIds()
	if err != nil {
		return false, err
	}
	return slices.Contains(ids, g.Gid), nil
}

// passwordField returns the account's /etc/shadow password field.
func passwordField(name string) (string, bool) {
	b, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) >= 2 && f[0] == name {
			return f[1], true
		}
	}
	return "", false
}
