package cli

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/providers"
)

// state is the action's memory between main and post (GITHUB_STATE, read
// back by the post step as STATE_*). Outside Actions it is a no-op: `up`
// keeps its own state file instead.
type state struct {
	path string
	mu   sync.Mutex
	// created is every resource recorded so far, saved as one JSON value.
	created []providers.Resource
	errOut  func(error)
}

func (a *app) newState(run *config.Run) *state {
	return &state{
		path:   a.env.Getenv("GITHUB_STATE"),
		errOut: func(err error) { fmt.Fprintf(a.stderr, "mvm-verify: save state: %v\n", err) },
	}
}

// save writes one key; later writes of a key win, as on the runner.
func (s *state) save(key, value string) {
	if s.path == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := appendFile(s.path, fileCommand(key, value)); err != nil {
		s.errOut(err)
	}
}

// Record makes state a providers.Journal: each resource is saved the moment
// it exists, so a killed main still leaves its ids to the post step.
func (s *state) Record(r providers.Resource) {
	s.mu.Lock()
	s.created = append(s.created, r)
	all := mustJSON(s.created)
	s.mu.Unlock()
	s.save("resources", all)
}

// fileCommand formats a key/value for GITHUB_STATE / GITHUB_OUTPUT with a
// heredoc delimiter that cannot occur in the value.
func fileCommand(key, value string) string {
	delim := "MVM_VERIFY_EOF"
	for strings.Contains(value, delim) {
		delim += "_"
	}
	return fmt.Sprintf("%s<<%s\n%s\n%s\n", key, delim, value, delim)
}

// outputs writes the step's outputs to GITHUB_OUTPUT.
type outputs struct {
	path   string
	errOut func(error)
}

func (a *app) outputs() outputs {
	return outputs{
		path:   a.env.Getenv("GITHUB_OUTPUT"),
		errOut: func(err error) { fmt.Fprintf(a.stderr, "mvm-verify: set output: %v\n", err) },
	}
}

func (o outputs) set(key, value string) {
	if o.path == "" {
		return
	}
	if err := appendFile(o.path, fileCommand(key, value)); err != nil {
		o.errOut(err)
	}
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
