package testhost

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A booted cloud host has a cloud-init that ran our user data and a
// systemd that brought the system up; the machine under a test host has
// neither in that state (cloud-init says "not run", systemd is not PID 1).
// With Options.Cloud the host's sessions find a cloud-init and a systemctl
// of the host's own first by name (/usr/local/bin in sshd's mount
// namespace, see sshd.Config.LocalBin), which report what the test set:
// by default cloud-init done and the system running.

// CloudInitState is what the emulated `cloud-init status` reports.
type CloudInitState struct {
	// Status is cloud-init's: "running", "done", "error" or "not run".
	// `status --wait` waits while it is running or not run.
	Status string
	// Recoverable makes a status report errors cloud-init recovered from,
	// as cloud-init 23.4 and later do: the status line is unchanged, the
	// long form says "degraded", and the exit status is 2.
	Recoverable bool
}

// SystemState is what the emulated `systemctl is-system-running` reports.
type SystemState struct {
	// State is systemd's: "running", "degraded", "starting", "offline"….
	// `is-system-running --wait` waits while it is initializing or
	// starting.
	State string
	// Failed are the units `systemctl --failed` lists.
	Failed []string
}

// cloudHost is a Cloud host's emulation: its commands in bin, what they
// report in state.
type cloudHost struct{ dir string }

func (c *cloudHost) bin() string   { return filepath.Join(c.dir, "bin") }
func (c *cloudHost) state() string { return filepath.Join(c.dir, "state") }

// newCloudHost writes the emulated commands and their default state into a
// fresh directory every user can search, since sessions of any user run
// them.
func newCloudHost() (c *cloudHost, err error) {
	dir, err := os.MkdirTemp("", "mvm-testhost-cloud-")
	if err != nil {
		return nil, fmt.Errorf("emulate a cloud host: %w", err)
	}
	c = &cloudHost{dir: dir}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
			err = fmt.Errorf("emulate a cloud host: %w", err)
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{c.bin(), c.state()} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
	}
	scripts := map[string]string{"cloud-init": cloudInitShim, "systemctl": systemctlShim}
	for name, script := range scripts {
		text := strings.ReplaceAll(script, "@STATE@", shellQuote(c.state()))
		if err := os.WriteFile(filepath.Join(c.bin(), name), []byte(text), 0o755); err != nil {
			return nil, err
		}
	}
	if err := c.setCloudInit(CloudInitState{Status: "done"}); err != nil {
		return nil, err
	}
	if err := c.setSystem(SystemState{State: "running"}); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *cloudHost) setCloudInit(s CloudInitState) error {
	text := s.Status + "\n"
	if s.Recoverable {
		text += "recoverable\n"
	}
	return c.write("cloud-init", text)
}

func (c *cloudHost) setSystem(s SystemState) error {
	text := s.State + "\n"
	for _, u := range s.Failed {
		text += u + "\n"
	}
	return c.write("system", text)
}

// write replaces a state file whole, so a command reading it meanwhile
// sees the old state or the new one.
func (c *cloudHost) write(name, text string) error {
	tmp := filepath.Join(c.state(), "."+name)
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.state(), name))
}

// SetCloudInit sets what the host's `cloud-init status` reports. The host
// must have been booted with Options.Cloud.
func (h *Host) SetCloudInit(s CloudInitState) error {
	if h.cloud == nil {
		return fmt.Errorf("set cloud-init status on the host at %s: it was not booted with Options.Cloud", h.Addr())
	}
	return h.cloud.setCloudInit(s)
}

// SetSystem sets what the host's `systemctl is-system-running` and
// `systemctl --failed` report. The host must have been booted with
// Options.Cloud.
func (h *Host) SetSystem(s SystemState) error {
	if h.cloud == nil {
		return fmt.Errorf("set the system state on the host at %s: it was not booted with Options.Cloud", h.Addr())
	}
	return h.cloud.setSystem(s)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// cloudInitShim is `cloud-init status` as cloud-init 23.4 and later print
// it in the tabular form: with --wait a dot per poll while cloud-init
// runs, then a newline; "status: STATUS"; with --long more lines. It
// exits 1 on status error, 2 on errors cloud-init recovered from, else 0.
// Other subcommands go to the machine's cloud-init.
const cloudInitShim = `#!/bin/sh
# cloud-init status as a test host emulates a booted cloud host's.
state=@STATE@/cloud-init
if [ "$1" != status ]; then
  if [ -x /usr/bin/cloud-init ]; then exec /usr/bin/cloud-init "$@"; fi
  echo "cloud-init: only status is emulated on this test host" >&2
  exit 2
fi
shift
wait= long=
for a in "$@"; do
  case $a in
  -w|--wait) wait=1 ;;
  -l|--long) long=1 ;;
  --format=tabular) ;;
  *) echo "usage: cloud-init status [-h] [--format {json,tabular,yaml}] [-l] [-w]" >&2; exit 2 ;;
  esac
done
status=$(sed -n 1p "$state")
if [ -n "$wait" ]; then
  while [ "$status" = running ] || [ "$status" = "not run" ]; do
    printf .
    sleep 0.1
    status=$(sed -n 1p "$state")
  done
  echo
fi
recoverable=$(sed -n 2p "$state")
echo "status: $status"
if [ -n "$long" ]; then
  extended=$status
  if [ "$recoverable" = recoverable ]; then extended="degraded $status"; fi
  echo "extended_status: $extended"
  echo "boot_status_code: enabled-by-generator"
  echo "detail: DataSourceNoCloud [seed=/var/lib/cloud/seed/nocloud]"
fi
if [ "$status" = error ]; then exit 1; fi
if [ "$recoverable" = recoverable ]; then exit 2; fi
exit 0
`

// systemctlShim is systemctl's is-system-running (exit 0 only when
// running; --wait waits out initializing and starting) and --failed
// (--no-legend, --plain as systemctl prints them). Other commands go to
// the machine's systemctl.
const systemctlShim = `#!/bin/sh
# systemctl as a test host emulates a booted cloud host's.
state=@STATE@/system
case " $* " in
*" is-system-running "*)
  s=$(sed -n 1p "$state")
  case " $* " in
  *" --wait "*)
    while [ "$s" = initializing ] || [ "$s" = starting ]; do
      sleep 0.1
      s=$(sed -n 1p "$state")
    done ;;
  esac
  echo "$s"
  [ "$s" = running ]
  exit ;;
*" --failed "*)
  bullet="● " legend=1
  case " $* " in *" --plain "*) bullet= ;; esac
  case " $* " in *" --no-legend "*) legend= ;; esac
  if [ -n "$legend" ]; then echo "  UNIT LOAD ACTIVE SUB DESCRIPTION"; fi
  n=0
  for unit in $(sed -n '2,$p' "$state"); do
    echo "$bullet$unit loaded failed failed $unit"
    n=$((n + 1))
  done
  if [ -n "$legend" ]; then echo; echo "$n loaded units listed."; fi
  exit 0 ;;
esac
if [ -x /usr/bin/systemctl ]; then exec /usr/bin/systemctl "$@"; fi
echo "systemctl: only is-system-running and --failed are emulated on this test host" >&2
exit 1
`
