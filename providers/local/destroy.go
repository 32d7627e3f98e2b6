package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/tinylabscom/mvm-verify/internal/proc"
	"github.com/tinylabscom/mvm-verify/internal/sshd"
	"github.com/tinylabscom/mvm-verify/providers"
)

// Destroy stops the leg's sshd and undoes its changes, newest first, from
// the leg's state file. A change other legs on this machine still rely on
// (the user, its groups, /dev/kvm's mode) is handed to one of them instead,
// so the last leg to go restores it. It is idempotent: without a state file
// there is nothing to do, and a change already undone counts as undone.
func (p *Provider) Destroy(ctx context.Context, id providers.Identity) (providers.Report, error) {
	var rep providers.Report
	unlock, err := p.store.lock()
	if err != nil {
		return rep, err
	}
	defer unlock()
	defer p.store.removeIfEmpty()
	name := id.Name()
	st, err := p.store.load(name)
	if err != nil || st == nil {
		return rep, err
	}
	others, err := p.store.all()
	if err != nil {
		return rep, err
	}
	delete(others, name)

	var errs []error
	var left []change
	handed := map[string]bool{}
	for i := len(st.Changes) - 1; i >= 0; i-- {
		c := st.Changes[i]
		if heir := heirFor(others, st, c); heir != "" {
			// Prepended: it predates everything the heir changed.
			others[heir].Changes = append([]change{c}, others[heir].Changes...)
			handed[heir] = true
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s %s left for leg %s, which still uses it", c.Kind, c.resource(st).ID, heir))
			continue
		}
		done, err := p.undo(ctx, c)
		if err != nil {
			errs = append(errs, err)
			left = append([]change{c}, left...)
			continue
		}
		if done {
			rep.Deleted = append(rep.Deleted, c.resource(st))
		}
	}
	for heir := range handed {
		if err := p.store.save(heir, others[heir]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		st.Changes = left
		if err := p.store.save(name, st); err != nil {
			errs = append(errs, err)
		}
		return rep, fmt.Errorf("local: destroy %s: %w", name, errors.Join(errs...))
	}
	if err := p.store.remove(name); err != nil {
		return rep, err
	}
	p.sweepCgroups(others)
	return rep, nil
}

// heirFor picks the other leg that must inherit a shared change, "" when
// none needs it.
func heirFor(others map[string]*state, st *state, c change) string {
	if !c.shared() {
		return ""
	}
	names := make([]string, 0, len(others))
	for n := range others {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		switch c.Kind {
		case kindUser, kindUnlock, kindGroupMember:
			if others[n].User == st.User {
				return n
			}
		default:
			return n
		}
	}
	return ""
}

// undo reverts one change. done is false when there was nothing left to
// revert (already gone, or the pid now belongs to another process).
func (p *Provider) undo(ctx context.Context, c change) (done bool, err error) {
	switch c.Kind {
	case kindSSHD:
		if sshd.Running(c.Pid, c.StartTime) {
			if err := proc.Terminate(ctx, c.Pid, p.grace, nil); err != nil {
				return false, err
			}
			done = true
		}
		if c.Dir != "" {
			if _, err := removeOwnDir(c.Dir); err != nil {
				return done, fmt.Errorf("remove sshd's dir: %w", err)
			}
		}
		if c.Path != "" {
			if err := os.RemoveAll(c.Path); err != nil {
				return done, fmt.Errorf("remove %s: %w", c.Path, err)
			}
		}
		return done, nil
	case kindProcs:
		found, err := killLeg(ctx, c.Cgroup, c.Marker, p.termGrace)
		if err != nil {
			return found, fmt.Errorf("stop the leg's processes: %w", err)
		}
		return found, nil
	case kindDevKVM:
		if _, _, _, ok, err := p.sys.kvmPerms(); err != nil || !ok {
			return false, err
		}
		if err := os.Chown(devKVM, c.UID, c.GID); err != nil {
			return false, fmt.Errorf("restore %s owner: %w", devKVM, err)
		}
		if err := os.Chmod(devKVM, os.FileMode(c.Mode)); err != nil {
			return false, fmt.Errorf("restore %s mode: %w", devKVM, err)
		}
		return true, nil
	case kindSSHDFiles:
		if c.Dir != "" {
			removed, err := removeOwnDir(c.Dir)
			if err != nil {
				return false, fmt.Errorf("remove sshd's dir: %w", err)
			}
			done = removed
		}
		if _, err := os.Lstat(c.Path); c.Path != "" && err == nil {
			if err := os.RemoveAll(c.Path); err != nil {
				return done, fmt.Errorf("remove %s: %w", c.Path, err)
			}
			done = true
		}
		return done, nil
	case kindWorkDir:
		if _, err := os.Lstat(c.Path); errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		if err := os.RemoveAll(c.Path); err != nil {
			return false, fmt.Errorf("remove the cycle's work dir: %w", err)
		}
		return true, nil
	case kindSudoers:
		err := os.Remove(c.Path)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("remove sudoers drop-in: %w", err)
		}
		return true, nil
	case kindGroupMember:
		if !p.sys.userExists(c.Name) || !p.sys.groupExists(c.Group) {
			return false, nil
		}
		if in, err := p.sys.inGroup(c.Name, c.Group); err != nil || !in {
			return false, err
		}
		return true, p.sys.run(ctx, "gpasswd", "-d", c.Name, c.Group)
	case kindUnlock:
		if !p.sys.userExists(c.Name) {
			return false, nil
		}
		if pw, err := p.sys.passwordField(c.Name); err != nil || pw != "*" {
			// Someone set a password since: leave it.
			return false, err
		}
		return true, p.sys.run(ctx, "usermod", "-p", c.OldPassword, c.Name)
	case kindUser:
		if !p.sys.userExists(c.Name) {
			return false, nil
		}
		if err := p.sys.killUserProcesses(c.Name); err != nil {
			return false, err
		}
		return true, p.sys.run(ctx, "userdel", "-r", "-f", c.Name)
	case kindGroup:
		if !p.sys.groupExists(c.Group) {
			return false, nil
		}
		// Deleting a group someone joined since would take it from them
		// (a test host's user, another program's): it is theirs now.
		if inUse, err := p.sys.groupInUse(c.Group); err != nil || inUse {
			if inUse {
				p.log.Info("group left in place: others belong to it now", "group", c.Group)
			}
			return false, err
		}
		return true, p.sys.run(ctx, "groupdel", c.Group)
	}
	return false, fmt.Errorf("unknown change kind %q in local state", c.Kind)
}

// List reports the legs' recorded changes that are still in place; an
// sshd counts while its process runs.
func (p *Provider) List(_ context.Context, f providers.Filter) ([]providers.Resource, error) {
	legs, err := p.store.all()
	if err != nil {
		return nil, err
	}
	var out []providers.Resource
	for _, st := range legs {
		if !f.Match(st.Tags) {
			continue
		}
		for _, c := range st.Changes {
			if c.Kind == kindSSHD && !sshd.Running(c.Pid, c.StartTime) {
				continue
			}
			if c.Kind == kindProcs && !legAlive(c.Cgroup, c.Marker) {
				continue
			}
			if c.Kind == kindWorkDir {
				if _, err := os.Lstat(c.Path); errors.Is(err, os.ErrNotExist) {
					continue
				}
			}
			if c.Kind == kindSSHDFiles && !anyExists(c.Dir, c.Path) {
				continue
			}
			out = append(out, c.resource(st))
		}
	}
	return out, nil
}

// anyExists says whether any of paths exists.
func anyExists(paths ...string) bool {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return true
		}
	}
	return false
}
