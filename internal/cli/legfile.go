package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/proc"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// legFile is the leg's state in --out while a CLI run or up is in flight.
// The Docker action's post step tears down a killed main step from STATE_*;
// nothing follows a killed subcommand (kill -9, a closed laptop, a
// cancelled run: step), so the same facts go to --out/host/host.json, where `mvm-verify down --out DIR`
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
	if data, err := os.ReadFile(path); err == nil {
		var st upState
		if json.Unmarshal(data, &st) == nil && stillRunning(&st) {
			return &config.InputError{Input: "out", Value: out,
				Expected: fmt.Sprintf("a directory no running leg uses (pid %d is running one with its state in %s: wait for it, or choose another --out)", st.PID, path)}
		}
		down, _ := downCommand(out, &st)
		return &config.InputError{Input: "out", Value: out,
			Expected: "a directory without an earlier leg's state (" + path + " is there: run `" + down + "` first, or choose another --out)"}
	}
	return nil
}

// newLegFile writes the leg's first state, refusing (as bad input) an
// --out another leg has just claimed: the file is created exclusively.
// procStart reads this process's start time (proc.StartTime when nil;
// tests pass one that fails).
func newLegFile(run *config.Run, id providers.Identity, p providers.Provider, procStart func(pid int) (uint64, error)) (*legFile, error) {
	f := &legFile{dir: hostDir(run.Out)}
	f.st = upState{Provider: run.Provider, Identity: id, Inputs: stateInputs(run, p), PID: os.Getpid()}
	startTime := procStart
	if startTime == nil {
		startTime = proc.StartTime
	}
	start, err := startTime(f.st.PID)
	if err != nil {
		// No input is at fault: the caller reports a leg that could not
		// start, not bad input.
		return nil, fmt.Errorf("record leg state: %w", err)
	}
	f.st.StartTime = start
	outErr := func(err error) error {
		return &config.InputError{Input: "out", Value: run.Out, Expected: "a directory this user can write, for the leg's state", Err: err}
	}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return nil, outErr(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	path := filepath.Join(f.dir, upStateFile)
	tmp, err := f.writeTemp()
	if err != nil {
		return nil, outErr(err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); errors.Is(err, os.ErrExist) {
		return nil, checkOutFree(run.Out)
	} else if err != nil {
		return nil, outErr(err)
	}
	return f, nil
}

// stateInputs are the inputs a later `down` needs: the non-secret ones
// given, and what the provider resolved from where it runs.
func stateInputs(run *config.Run, p providers.Provider) map[string]string {
	in := map[string]string{}
	for k, v := range run.Inputs {
		if !run.IsSecret(k) {
			in[k] = v
		}
	}
	if r, ok := p.(providers.Resolver); ok {
		for k, v := range r.ResolvedInputs() {
			if _, given := in[k]; !given {
				in[k] = v
			}
		}
	}
	return in
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

// finished records the verdict of a run whose state stays for `down`
// (its teardown left something), once its result is written: `down` then
// keeps the verdict rather than take the leg for one killed before it.
func (f *legFile) finished(outcome verify.Outcome) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Outcome = outcome
	return f.writeLocked()
}

// remove deletes the state of a leg that left nothing behind, unless
// another leg's state has taken its place.
func (f *legFile) remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var st upState
	data, err := os.ReadFile(filepath.Join(f.dir, upStateFile))
	if err != nil || json.Unmarshal(data, &st) != nil || st.PID != f.st.PID || st.StartTime != f.st.StartTime {
		return err
	}
	return os.RemoveAll(f.dir)
}

// writeLocked replaces the file whole, so a kill mid-write leaves the
// previous version, never half of one.
func (f *legFile) writeLocked() error {
	tmp, err := f.writeTemp()
	if err != nil {
		return err
	}
	path := filepath.Join(f.dir, upStateFile)
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func (f *legFile) writeTemp() (string, error) {
	tmp, err := os.CreateTemp(f.dir, ".host-*.json")
	if err != nil {
		return "", fmt.Errorf("write the leg's state: %w", err)
	}
	_, err = tmp.WriteString(mustJSON(f.st))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	return tmp.Name(), nil
}

// stillRunning reports whether the run that wrote st is alive: the pid
// still the process that started then (a reused pid started later).
func stillRunning(st *upState) bool {
	return st.PID > 0 && proc.Started(st.PID, st.StartTime)
}
