package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/verify"
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
	f, err := newLegFile(run, id, resolving{}, nil)
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
	if _, err := newLegFile(run, id, resolving{}, nil); !errors.As(err, &ie) || ie.Input != "out" {
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
	_, err := newLegFile(&config.Run{Provider: "local", Out: out}, providers.Identity{Key: "local"}, resolving{}, nil)
	var ie *config.InputError
	if !errors.As(err, &ie) || ie.Input != "out" || ie.Value != out {
		t.Fatalf("state under a file: %v, want an input error naming out and its value", err)
	}
}

// TestLegFileKeepsSecretsOut: the state down reads keeps the inputs it
// needs to find the leg again, never a secret one: a private key or a token
// given as an input must not land in --out/host/host.json, which outlives
// the run.
func TestLegFileKeepsSecretsOut(t *testing.T) {
	const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n"
	const token = "ghs_secretToken0123456789"
	out := t.TempDir()
	run := &config.Run{Provider: "ssh", Out: out, Inputs: map[string]string{
		"ssh-host": "192.0.2.7", "ssh-private-key": key, "github-token": token,
	}}
	for _, name := range []string{"ssh-private-key", "github-token"} {
		if !run.IsSecret(name) {
			t.Fatalf("input %s is not secret: the test shows nothing", name)
		}
	}
	f, err := newLegFile(run, providers.Identity{Key: "ssh"}, resolving{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.remove()
	if got := f.st.Inputs["ssh-host"]; got != "192.0.2.7" {
		t.Errorf("state input ssh-host %q, want the given host (down needs it)", got)
	}
	for _, name := range []string{"ssh-private-key", "github-token"} {
		if _, ok := f.st.Inputs[name]; ok {
			t.Errorf("state inputs hold the secret input %s", name)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "host", upStateFile))
	if err != nil {
		t.Fatal(err)
	}
	for what, secret := range map[string]string{
		"the key's body":  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
		"the key's armor": "PRIVATE KEY",
		"the token":       token,
	} {
		if strings.Contains(string(data), secret) {
			t.Errorf("%s holds %s", upStateFile, what)
		}
	}
}

// TestLegFileIsPrivate: the leg's state says where its host is and how it
// was configured; it is the user's alone (0700 directory, 0600 file).
func TestLegFileIsPrivate(t *testing.T) {
	out := t.TempDir()
	f, err := newLegFile(&config.Run{Provider: "local", Out: out}, providers.Identity{Key: "local"}, resolving{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.remove()
	for path, want := range map[string]os.FileMode{
		filepath.Join(out, "host"):              0o700,
		filepath.Join(out, "host", upStateFile): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %v, want %v", path, got, want)
		}
	}
}

// TestLeftNoteAsksForTheKeyAgain: the forced quit's down command must be
// one that works. An ssh leg whose key came as the secret ssh-private-key
// leaves --out without it, so the command asks for the key as a file (and
// says what KEY is); a leg whose key is a file the state names, and a local
// leg, need nothing more than --out.
func TestLeftNoteAsksForTheKeyAgain(t *testing.T) {
	const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n"
	for _, tc := range []struct {
		name     string
		provider string
		inputs   map[string]string
		again    bool
	}{
		{"ssh, key as ssh-private-key", "ssh", map[string]string{"ssh-host": "192.0.2.7", "ssh-private-key": key}, true},
		{"ssh, key as ssh-private-key-file", "ssh", map[string]string{"ssh-host": "192.0.2.7", "ssh-private-key-file": "/keys/id"}, false},
		{"local", "local", map[string]string{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "my out")
			f, err := newLegFile(&config.Run{Provider: tc.provider, Out: out, Inputs: tc.inputs}, providers.Identity{Key: tc.provider}, resolving{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.remove()
			f.PendingHostCleanups(verify.HostInfo{Address: "192.0.2.7", Port: 22, User: "root"},
				[]verify.HostCleanup{{Name: "remove the probe's work directory", Command: "rm -rf /tmp/mvm-verify-x"}})
			note := (&state{leg: f}).leftNote(out)
			if !strings.Contains(note, "on 192.0.2.7: remove the probe's work directory") {
				t.Fatalf("the note does not name the pending host cleanup:\n%s", note)
			}
			cmd := "run: mvm-verify down --out '" + out + "'"
			withKey := cmd + " --ssh-private-key-file KEY\n"
			if tc.again {
				for _, w := range []string{withKey, "KEY is a file holding the private key the run was given as ssh-private-key",
					"INPUT_SSH-PRIVATE-KEY"} {
					if !strings.Contains(note, w) {
						t.Errorf("the note lacks %q:\n%s", w, note)
					}
				}
			} else if !strings.Contains(note, cmd+"\n") || strings.Contains(note, "KEY") {
				t.Errorf("the note asks for more than --out, or lacks %q:\n%s", cmd, note)
			}
			if strings.Contains(note, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUA") {
				t.Errorf("the note holds the key:\n%s", note)
			}
		})
	}
}
