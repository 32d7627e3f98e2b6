package local

import (
	"encoding/json"
	"errors"
	"fmt"
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

	// sudoers: the drop-in's path.
	Path string `json:"path,omitempty"`

	// devkvm-perms: what /dev/kvm was before.
	UID  int    `json:"uid,omitempty"`
	GID  int    `json:"gid,omitempty"`
	Mode uint32 `json:"mode,omitempty"`
}

// Change kinds; the journal and List report them as resource kinds.
const (
	kindSSHD        = "sshd"
	kindUser        = "user"
	kindGroup       = "group"
	kindGroupMember = "group-member"
	kindUnlock      = "user-unlock"
	kindSudoers     = "sudoers"
	kindDevKVM      = "devkvm-perms"
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
	case kindUser, kindUnlock:
		r.ID = c.Name
	case kindGroup:
		r.ID = c.Group
	case kindGroupMember:
		r.ID = c.Name + " in " + c.Group
	case kindSudoers:
		r.ID = c.Path
	case kindDevKVM:
		r.ID = "/dev/kvm"
		r.Name = fmt.Sprintf("was %d:%d %04o", c.UID, c.GID, c.Mode)
	}
	return r
}

// store is the state directory: one JSON file per leg, named after the
// identity's deterministic name.
type store struct{ dir string }

func (s store) path(name string) string { return filepath.Join(s.dir, name+".json") }

func (s store) ensure() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("create local state dir %s: %w", s.dir, err)
	}
	return nil
}

// lock serializes Create and Destroy across processes sharing the dir, so
// the hand-over of shared changes sees a consistent set of legs.
func (s store) lock() (func(), error) {
	if err := s.ensure(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open local state lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock local state: %w", err)
	}
	// Idempotent, so Create can release it early and still defer it.
	return sync.OnceFunc(func() { f.Close() }), nil
}

// load returns the leg's state, or nil when there is none.
func (s store) load(name string) (*state, error) {
	b, err := os.ReadFile(s.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read local state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read local state %s: %w", s.path(name), err)
	}
	return &st, nil
}

// save writes atomically, so a crash leaves the old or the new state.
func (s store) save(name string, st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode local state: %w", err)
	}
	tmp := s.path(name) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write local state: %w", err)
	}
	if err := os.Rename(tmp, s.path(name)); err != nil {
		return fmt.Errorf("write local state: %w", err)
	}
	return nil
}

func (s store) remove(name string) error {
	if err := os.Remove(s.path(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove local state: %w", err)
	}
	return nil
}

// all returns every leg's state by name.
func (s store) all() (map[string]*state, error) {
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
		if err != nil {
			return nil, err
		}
		if st != nil {
			out[name] = st
		}
	}
	return out, nil
}
