package cli

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/providers"
)

// resolving is a provider that resolved a default from where it runs.
type resolving struct{ providers.Provider }

func (resolving) ResolvedInputs() map[string]string {
	return map[string]string{"local-state-dir": "/resolved", "region": "from-provider"}
}

func TestLegFile(t *testing.T) {
	out := t.TempDir()
	run := &config.Run{Provider: "local", Out: out, Inputs: map[string]string{"region": "given"}}
	id := providers.Identity{Key: "local"}
	f, err := newLegFile(run, id, resolving{})
	if err != nil {
		t.Fatal(err)
	}
	// What the provider resolved is kept for down; a given input wins.
	if got := f.st.Inputs; got["local-state-dir"] != "/resolved" || got["region"] != "given" {
		t.Errorf("state inputs %v, want the resolved state dir and the given region", got)
	}
	// The writer is alive; a pid reused by a later process is not it.
	if !stillRunning(&f.st) {
		t.Error("the run that wrote the state reads as not running")
	}
	if stale := (upState{PID: f.st.PID, StartTime: f.st.StartTime + 1}); stillRunning(&stale) {
		t.Error("a pid with another start time reads as the run")
	}
	// A second leg into the same --out is refused, naming out.
	var ie *config.InputError
	if _, err := newLegFile(run, id, resolving{}); !errors.As(err, &ie) || ie.Input != "out" {
		t.Fatalf("second leg into the same out: %v, want an input error naming out", err)
	}
	// Removal leaves a state that is not this leg's.
	other := &legFile{dir: f.dir, st: f.st}
	other.st.PID++
	if err := other.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "host", upStateFile)); err != nil {
		t.Fatalf("another leg's removal took this leg's state: %v", err)
	}
	if err := f.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "host")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state left after its own leg removed it: %v", err)
	}
}

func TestLegFileUnwritableOut(t *testing.T) {
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "host"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := newLegFile(&config.Run{Provider: "local", Out: out}, providers.Identity{Key: "local"}, resolving{})
	var ie *config.InputError
	if !errors.As(err, &ie) || ie.Input != "out" || ie.Value != out {
		t.Fatalf("state under a file: %v, want an input error naming out and its value", err)
	}
}
