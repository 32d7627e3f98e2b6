package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// legFile is the leg's state in --out while a CLI run or up is in flight.
// In Actions the post step tears down a killed main step from STATE_*; at a
// terminal nothing follows a killed run (kill -9, a closed laptop), so the
// same facts go to --out/host/host.json, where `mvm-verify down --out DIR`
// finds them, before anything is created. A run that tears down cleanly
// removes it; `up` replaces it with the kept host's state.
type legFile struct {
	dir string
	mu  sync.Mutex
	st  upState
}

// hostDir is where a leg's state lives in --out.
func hostDir(out string) string { return filepath.Join(out, "host") }

// checkOutFree refuses an --out that still holds another leg's state:
// writing over it would lose the only record of a kept host (or of a
// killed run's resources) before they are torn down.
func checkOutFree(out string) error {
	path := filepath.Join(hostDir(out), upStateFile)
	if _, err := os.Stat(path); err == nil {
		return &config.InputError{Input: "out", Value: out,
			Expected: "a directory without an earlier leg's state (" + path + " is there: run `mvm-verify down --out " + out + "` first, or choose another --out)"}
	}
	return nil
}

func newLegFile(run *config.Run, id providers.Identity) (*legFile, error) {
	f := &legFile{dir: hostDir(run.Out)}
	f.st = upState{Provider: run.Provider, Identity: id, Inputs: map[string]string{}, PID: os.Getpid()}
	f.st.Exe, _ = os.Executable()
	for k, v := range run.Inputs {
		if !run.IsSecret(k) {
			f.st.Inputs[k] = v
		}
	}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", f.dir, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f, f.writeLocked()
}

// PendingHostCleanups keeps what is still to undo on a host we did not
// create, which only an SSH login can undo.
func (f *legFile) PendingHostCleanups(host verify.HostInfo, pending []verify.HostCleanup) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := host
	f.st.Host, f.st.HostCleanups = &h, pending
	_ = f.writeLocked() // the first write succeeded; a later failure keeps what it wrote
}

// remove deletes the state of a leg that left nothing behind.
func (f *legFile) remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return os.RemoveAll(f.dir)
}

// writeLocked replaces the file whole, so a kill mid-write leaves the
// previous version, never half of one.
func (f *legFile) writeLocked() error {
	path := filepath.Join(f.dir, upStateFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(mustJSON(f.st)), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// stillRunning reports whether the run that wrote st is alive: the same
// program under the same pid (a reused pid runs something else).
func stillRunning(st *upState) bool {
	if st.PID <= 0 {
		return false
	}
	if err := syscall.Kill(st.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", st.PID))
	return err == nil && exe == st.Exe
}
