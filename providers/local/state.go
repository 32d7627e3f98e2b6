package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/tinylabscom/mvm-verify/providers"
)

// state is what one leg changed on this machine, kept in a file so that
// Destroy works from a fresh process (the post step, `down`). Changes are
// undone newest first.
type state struct {
	Identity providers.Identity `json:"identity"`
	Tags     map[string]string  `json:"tags"`
	User     string             `json:"user"`
	Changes  []change           `json:"changes"`

	// path is the file the state was read from or last written to: a leg
	// handed a shared change keeps it in its own state directory.
	path string
}

// change is one thing Create did. Kind says which fields matter.
type change struct {
	Kind string `json:"kind"`

	// sshd
	Pid       int    `json:"pid,omitempty"`
	StartTime uint64 `json:"start_time,omitempty"`
	Dir       string `json:"dir,omitempty"`
	Addr      string `json:"addr,omitempty"`
	Port      int    `json:"port,omitempty"`

	// user, group, group-member, unlock: the account and group names.
	Name  string `json:"name,omitempty"`
	Group string `json:"group,omitempty"`
	// OldPassword is the locked marker ("!", "!!" or "!*", never a hash)
	// an unlock replaced.
	OldPassword string `json:"old_password,omitempty"`

	// processes: the leg's cgroup ("" where none could be made) and the
	// value of markerVar in its sessions' environment.
	Cgroup string `json:"cgroup,omitempty"`
	Marker string `json:"marker,omitempty"`

	// sudoers: the drop-in's path; workdir: the Host.WorkDir to remove.
	Path string `json:"path,omitempty"`

	// devkvm-perms: what /dev/kvm was before.
	UID  int    `json:"uid,omitempty"`
	GID  int    `json:"gid,omitempty"`
	Mode uint32 `json:"mode,omitempty"`
}

// Change kinds; the journal and List report them as resource kinds.
const (
	kindSSHD        = "sshd"
	kindProcs       = "processes"
	kindUser        = "user"
	kindGroup       = "group"
	kindGroupMember = "group-member"
	kindUnlock      = "user-unlock"
	kindSudoers     = "sudoers"
	kindDevKVM      = "devkvm-perms"
	kindWorkDir     = "workdir"
	// sshd-files: sshd's private directory (Dir) and its log (Path),
	// recorded before sshd starts.
	kindSSHDFiles = "sshd-files"
)

// shared reports whether a change affects other legs on this machine too,
// so undoing it must wait until no other leg needs it.
func (c change) shared() bool {
	switch c.Kind {
	case kindUser, kindGroup, kindGroupMember, kindUnlock, kindDevKVM:
		return true
	}
	return false
}

// resource describes the change as a providers.Resource.
func (c change) resource(st *state) providers.Resource {
	r := providers.Resource{
		Provider: Name, Kind: c.Kind, Tags: st.Tags,
		CreatedAt: st.Identity.CreatedAt, ExpiresAt: st.Identity.ExpiresAt,
	}
	switch c.Kind {
	case kindSSHD:
		r.ID = fmt.Sprintf("pid %d", c.Pid)
		r.Name = fmt.Sprintf("%s:%d", c.Addr, c.Port)
	case kindProcs:
		r.ID = markerVar + "=" + c.Marker
		r.Name = c.Cgroup
	case kindUser, kindUnlock:
		r.ID = c.Name
	case kindGroup:
		r.ID = c.Group
	case kindGroupMember:
		r.ID = c.Name + " in " + c.Group
	case kindSudoers, kindWorkDir:
		r.ID = c.Path
	case kindSSHDFiles:
		r.ID = c.Dir
		r.Name = c.Path
	case kindDevKVM:
		r.ID = "/dev/kvm"
		r.Name = fmt.Sprintf("was %d:%d %04o", c.UID, c.GID, c.Mode)
	}
	return r
}

// store is the state directory: one JSON file per leg, named after the
// identity's deterministic name. Shared changes (the user, /dev/kvm's mode)
// belong to the whole machine, so legs register in a machine-wide registry
// too: its lock serializes every leg's Create and Destroy, and its entries
// point at each leg's state file wherever its state directory is.
type store struct {
	dir      string
	registry string
	// log hears of other legs' state files refused by validateState.
	log *slog.Logger
}

// errInvalid marks a state file validateState refused.
var errInvalid = errors.New("invalid local state")

// MachineRegistry is where root's legs register; /run is cleared at boot,
// like the leg processes it describes.
const MachineRegistry = "/run/mvm-verify-local"

// registryDir is the machine-wide registry for root, who can change shared
// state; an unprivileged leg changes nothing shared and keeps to its dir.
func registryDir(dir string) string {
	if os.Geteuid() == 0 {
		return MachineRegistry
	}
	return dir
}

func (s store) path(name string) string { return filepath.Join(s.dir, name+".json") }

func (s store) ref(name string) string { return filepath.Join(s.registry, name+".ref") }

// lock serializes Create and Destroy across every process using the
// registry, so the hand-over of shared changes sees a consistent set of legs.
// The state directory is made under the lock, as Destroy removes it under
// the lock once it is empty.
func (s store) lock() (func(), error) {
	if _, err := makeOwnDir(s.registry); err != nil {
		if s.registry == s.dir {
			return nil, stateDirError(s.dir, err)
		}
		return nil, fmt.Errorf("local: machine registry %s: expected a directory owned by this user and writable by no one else: %w", s.registry, err)
	}
	f, err := os.OpenFile(filepath.Join(s.registry, ".lock"), os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open local state lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock local state: %w", err)
	}
	created, err := makeOwnDir(s.dir)
	if err != nil {
		f.Close()
		return nil, stateDirError(s.dir, err)
	}
	if created {
		// Marked as ours, so only a directory we made is removed once
		// empty, never one the user made and named.
		if err := os.WriteFile(filepath.Join(s.dir, createdMarker), nil, 0o600); err != nil {
			f.Close()
			return nil, fmt.Errorf("mark local state dir %s: %w", s.dir, err)
		}
	}
	// Idempotent, so Create can release it early and still defer it.
	return sync.OnceFunc(func() { f.Close() }), nil
}

// removeIfEmpty removes the state directory once no leg keeps anything in
// it, so a run leaves no empty directory behind. The caller holds the
// lock. The registry's directory stays: it holds the
// lock file, which other processes may be waiting on.
func (s store) removeIfEmpty() {
	if s.dir == s.registry {
		return
	}
	// Only a directory this provider made, holding nothing but its
	// marker: one with another leg's state, or the user's own, stays.
	entries, err := os.ReadDir(s.dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != createdMarker {
		return
	}
	_ = os.Remove(filepath.Join(s.dir, createdMarker))
	_ = os.Remove(s.dir)
}

// createdMarker, in the state directory, says this provider made it.
const createdMarker = ".created-by-mvm-verify"

// load returns the leg's state, or nil when there is none.
func (s store) load(name string) (*state, error) {
	return loadPath(s.path(name))
}

func loadPath(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read local state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read local state %s: %w", path, err)
	}
	if err := validateState(path, strings.TrimSuffix(filepath.Base(path), ".json"), &st); err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalid, err)
	}
	st.path = path
	return &st, nil
}

// save writes atomically, so a crash leaves the old or the new state, to
// the file the state came from (a heir's own directory) or to this store,
// and registers it machine-wide.
func (s store) save(name string, st *state) error {
	if st.path == "" {
		st.path = s.path(name)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode local state: %w", err)
	}
	if err := writeAtomic(st.path, b); err != nil {
		return err
	}
	if s.registry == s.dir {
		return nil
	}
	return writeAtomic(s.ref(name), []byte(st.path))
}

// writeAtomic writes through a fresh temporary file in path's directory:
// a fixed name could be a symlink planted there, and the rename replaces
// whatever is at path, a symlink included, without following it.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("write local state: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write local state: %w", err)
	}
	return nil
}

func (s store) remove(name string) error {
	for _, path := range []string{s.path(name), s.ref(name)} {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove local state: %w", err)
		}
	}
	return nil
}

// all returns every registered leg's state by name: with a machine-wide
// registry, every leg on this machine, whatever its state directory.
func (s store) all() (map[string]*state, error) {
	if s.registry != s.dir {
		return s.registered()
	}
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list local state: %w", err)
	}
	out := map[string]*state{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		st, err := s.load(name)
		if errors.Is(err, errInvalid) {
			s.skip(err)
			continue
		}
		if err != nil {
			return nil, err
		}
		if st != nil {
			out[name] = st
		}
	}
	return out, nil
}

// registered reads the machine-wide registry. An entry whose state file is
// gone (its leg was torn down from another registry-less process, or the
// file was removed by hand) is dropped.
func (s store) registered() (map[string]*state, error) {
	entries, err := os.ReadDir(s.registry)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list local legs: %w", err)
	}
	out := map[string]*state{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".ref")
		if !ok || e.IsDir() {
			continue
		}
		path, err := os.ReadFile(filepath.Join(s.registry, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read local leg %s: %w", name, err)
		}
		st, err := loadPath(string(path))
		if errors.Is(err, errInvalid) {
			s.skip(err)
			continue
		}
		if err != nil {
			return nil, err
		}
		if st == nil {
			os.Remove(filepath.Join(s.registry, e.Name()))
			continue
		}
		out[name] = st
	}
	return out, nil
}

// skip reports another leg's state file that validateState refused: this
// leg neither acts on it nor hands it anything, and goes on.
func (s store) skip(err error) {
	if s.log != nil {
		s.log.Warn("local: ignoring another leg's state", "err", err)
	}
}
