package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// What `up` leaves for `down` and for the user (host.json, the keys).

// upState is what `up` leaves for `down` and for the user: enough to reach
// the host and to find its resources again.
type upState struct {
	Provider string             `json:"provider"`
	Identity providers.Identity `json:"identity"`
	Inputs   map[string]string  `json:"inputs"`
	Host     *verify.HostInfo   `json:"host"`
	KeyFile  string             `json:"key_file"`
	Known    string             `json:"known_hosts_file"`
	// HostCleanups undo what the cycle changed on the host over SSH (a
	// suite user it created, the probe binary): `down` runs them before
	// the provider's destroy, which on a host we did not create is all
	// that removes them.
	HostCleanups []verify.HostCleanup `json:"host_cleanups,omitempty"`
	// PID and StartTime are the CLI run that wrote this state while it is
	// in flight (see legFile); a kept host's state has neither.
	PID       int    `json:"pid,omitempty"`
	StartTime uint64 `json:"start_time,omitempty"`
	// Outcome is the verdict of a run that finished (its result.json
	// written) but left something for `down`: its teardown failed or was
	// not confirmed. Empty while the run is in flight, so a state with a
	// PID and no outcome is a run killed before its result.
	Outcome verify.Outcome `json:"outcome,omitempty"`
}

const upStateFile = "host.json"

// keyToGiveAgain names the secret input `down` must be given again for
// the leg of st, "" when the state holds all down needs. The state keeps
// no secret: an ssh leg whose key came as ssh-private-key (not as
// ssh-private-key-file, whose path it keeps) leaves down no key to log in
// with to undo its changes on the host — and the ssh provider takes no
// other key than the user's.
func (st *upState) keyToGiveAgain() string {
	if st.Provider != "ssh" || st.KeyFile != "" || st.Inputs["ssh-private-key-file"] != "" {
		return ""
	}
	return "ssh-private-key"
}

// downCommand is the command that tears down the leg of st from out, as
// the user can paste it, and, when it needs the key given again, a note
// saying what KEY in it is.
func downCommand(out string, st *upState) (cmd, note string) {
	// Absolute, so that the command works from wherever it is run (the
	// state path printed beside it is absolute too).
	if abs, err := filepath.Abs(out); err == nil {
		out = abs
	}
	cmd = "mvm-verify down --out " + remote.Quote(out)
	in := st.keyToGiveAgain()
	if in == "" {
		return cmd, ""
	}
	cmd += " --" + in + "-file KEY"
	note = fmt.Sprintf("KEY is a file holding the private key the run was given as %s: a secret, so %s does not keep it "+
		"(or give it in the environment as INPUT_%s, as the run had it)", in, hostDir(out), strings.ToUpper(in))
	return cmd, note
}

// saveUp writes the state of a kept host: the client key (0600) so the
// user can log in, a known_hosts file pinning the host key, and host.json.
func (a *app) saveUp(run *config.Run, id providers.Identity, res *verify.Result, plan verify.Plan) error {
	dir, err := filepath.Abs(filepath.Join(run.Out, "host"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// run checked --out before the leg began; again, as what goes here
	// is a private key: only into a directory no other user can write.
	if err := checkOut(run.Out, a.outTrust()...); err != nil {
		return err
	}
	// A marker of an earlier up's down in a reused --out is not this leg's.
	if err := os.Remove(filepath.Join(run.Out, downReportedFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	st := upState{Provider: run.Provider, Identity: id, Inputs: stateInputs(run, plan.Provider), Host: res.Host, HostCleanups: res.HostCleanups}
	if len(res.ClientKeyPEM) > 0 {
		st.KeyFile = filepath.Join(dir, "id_ed25519")
		// Each file is written new and renamed into place, never through
		// a file (or symlink) already at its name.
		if err := writeFileAtomic(st.KeyFile, res.ClientKeyPEM, 0o600); err != nil {
			return err
		}
	}
	if res.Host != nil && res.Host.HostKey != "" {
		st.Known = filepath.Join(dir, "known_hosts")
		hostPattern := res.Host.Address
		if res.Host.Port != 22 {
			hostPattern = fmt.Sprintf("[%s]:%d", res.Host.Address, res.Host.Port)
		}
		if err := writeFileAtomic(st.Known, []byte(hostPattern+" "+res.Host.HostKey+"\n"), 0o600); err != nil {
			return err
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, upStateFile), []byte(mustJSON(st)), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\nThe host is up and kept. State: %s\n", dir)
	if res.Host != nil {
		cmd := fmt.Sprintf("ssh -p %d", res.Host.Port)
		if st.KeyFile != "" {
			cmd += " -i " + remote.Quote(st.KeyFile)
		}
		if st.Known != "" {
			// ssh splits this option's value at spaces (it takes a list of
			// files) unless the path is in double quotes.
			known := st.Known
			if strings.ContainsAny(known, " \t") {
				known = `"` + known + `"`
			}
			cmd += " -o " + remote.Quote("UserKnownHostsFile="+known) + " -o StrictHostKeyChecking=yes"
		}
		cmd += fmt.Sprintf(" %s@%s", res.Host.User, res.Host.Address)
		fmt.Fprintf(a.stdout, "Log in:    %s\n", cmd)
	}
	cmd, note := downCommand(run.Out, &st)
	fmt.Fprintf(a.stdout, "Tear down: %s\n", cmd)
	if note != "" {
		fmt.Fprintf(a.stdout, "           %s\n", note)
	}
	return nil
}
