package cli

import (
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/sethvargo/go-githubactions"

	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// ghaFiles wraps the runner's file commands (GITHUB_STATE, GITHUB_OUTPUT,
// GITHUB_STEP_SUMMARY) and workflow commands. Outside Actions, where those
// files are not set, every call does nothing instead of falling back to the
// deprecated stdout commands.
type ghaFiles struct {
	gha    *githubactions.Action
	getenv func(string) string
	errOut func(error)
	mu     sync.Mutex
}

// file runs one file command if its file is set; the library panics when it
// cannot write, and a reporting file must never take the leg down.
func (f *ghaFiles) file(env string, do func() error) {
	if f.getenv(env) == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			f.errOut(fmt.Errorf("write %s: %v", env, r))
		}
	}()
	if err := do(); err != nil {
		f.errOut(fmt.Errorf("write %s: %w", env, err))
	}
}

func (f *ghaFiles) saveState(key, value string) {
	f.file("GITHUB_STATE", func() error { return appendKeyValue(f.getenv("GITHUB_STATE"), key, value) })
}

func (f *ghaFiles) setOutput(key, value string) {
	f.file("GITHUB_OUTPUT", func() error { return appendKeyValue(f.getenv("GITHUB_OUTPUT"), key, value) })
}

// appendKeyValue appends key=value to a GITHUB_OUTPUT or GITHUB_STATE file
// as a heredoc whose delimiter is fresh for each write and absent from
// value. go-githubactions uses one fixed delimiter: a value holding that
// line (an --out path may hold any line) would end its heredoc early and
// what followed would be read as commands of its own — an injected output
// or state, or a line the runner refuses, failing the step and dropping
// every value after it.
func appendKeyValue(path, key, value string) error {
	delim := "ghadelimiter_" + rand.Text()
	for strings.Contains(value, delim) {
		delim = "ghadelimiter_" + rand.Text()
	}
	file, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	// One write, so a step killed mid-way leaves no half command for the
	// runner to refuse.
	_, err = file.WriteString(key + "<<" + delim + "\n" + value + "\n" + delim + "\n")
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

func (f *ghaFiles) addSummary(md string) {
	f.file("GITHUB_STEP_SUMMARY", func() error { f.gha.AddStepSummary(md); return nil })
}

// state is the action's memory between main and post: GITHUB_STATE, read
// back by the post step as STATE_*.
type state struct {
	files *ghaFiles
	mu    sync.Mutex
	// created is every resource recorded so far, saved as one JSON value.
	created []providers.Resource
	// leg, outside Actions, mirrors what a `down` needs into --out.
	leg *legFile
}

// save writes one key; later writes of a key win, as on the runner.
func (s *state) save(key, value string) { s.files.saveState(key, value) }

// Record makes state a providers.Journal: each resource is saved the moment
// it exists, so a killed main still leaves its ids to the post step.
func (s *state) Record(r providers.Resource) {
	s.mu.Lock()
	s.created = append(s.created, r)
	all := mustJSON(s.created)
	s.mu.Unlock()
	s.save("resources", all)
}

// hostCleanupsState is what the post step needs to undo the cycle's
// changes on a host we did not create: where the host is, its pinned host
// key, and the cleanups still to do. The private key is never saved: the
// post step takes it from the inputs again, as `down` does.
type hostCleanupsState struct {
	Host     verify.HostInfo      `json:"host"`
	Cleanups []verify.HostCleanup `json:"cleanups"`
}

// hostCleanupsKey is the state key of hostCleanupsState.
const hostCleanupsKey = "host-cleanups"

// PendingHostCleanups makes state a verify.HostJournal: the set is saved
// each time it changes, so a killed main leaves the post step exactly
// what its teardown had not done yet.
func (s *state) PendingHostCleanups(host verify.HostInfo, pending []verify.HostCleanup) {
	if pending == nil {
		pending = []verify.HostCleanup{}
	}
	s.save(hostCleanupsKey, mustJSON(hostCleanupsState{Host: host, Cleanups: pending}))
	if s.leg != nil {
		s.leg.PendingHostCleanups(host, pending)
	}
}
