package testhost

import (
	"os"
	"strings"
	"testing"
)

// TestCloudHostEmulation: a Cloud host's sessions, a login shell of a
// plain user and root's through sudo alike, find cloud-init and systemctl
// reporting what the test set, in the real commands' forms and exit
// statuses; `status --wait` waits out a running cloud-init; the machine's
// own /usr/local/bin is still there; Stop removes the emulation.
func TestCloudHostEmulation(t *testing.T) {
	RequireRoot(t)
	user := tempUser(t)
	signer, line := ClientKey(t)
	h := Start(t, Options{Cloud: true, Users: []User{{Name: user, AuthorizedKeys: []string{line}, Sudo: true}}})
	c, err := dial(t, h, user, signer, h.HostKey())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run := func(cmd string) string {
		t.Helper()
		out, _ := Exec(t, c, "bash -lc '"+cmd+"; echo \" rc=$?\"'")
		return strings.Join(strings.Fields(out), " ")
	}
	for cmd, want := range map[string]string{
		"cloud-init status --wait":                       "status: done rc=0",
		"cloud-init status":                              "status: done rc=0",
		"sudo -n -i cloud-init status":                   "status: done rc=0",
		"systemctl is-system-running --wait":             "running rc=0",
		"sudo -n -i systemctl is-system-running":         "running rc=0",
		"systemctl --failed --no-legend --plain | wc -l": "0 rc=0",
	} {
		if got := run(cmd); got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
	}

	if err := h.SetCloudInit(CloudInitState{Status: "error"}); err != nil {
		t.Fatal(err)
	}
	if got, want := run("cloud-init status --wait"), "status: error rc=1"; got != want {
		t.Errorf("error: %q, want %q", got, want)
	}
	if err := h.SetCloudInit(CloudInitState{Status: "done", Recoverable: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := run("cloud-init status --long"), "status: done extended_status: degraded done"; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "rc=2") {
		t.Errorf("recoverable: %q, want %q… rc=2", got, want)
	}
	// A running cloud-init is waited for: the test finishes it once the
	// command has polled.
	if err := h.SetCloudInit(CloudInitState{Status: "running"}); err != nil {
		t.Fatal(err)
	}
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	stdout, _ := s.StdoutPipe()
	if err := s.Start("bash -lc 'cloud-init status --wait'"); err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 1)
	if _, err := stdout.Read(first); err != nil || first[0] != '.' {
		t.Fatalf("status --wait printed %q, %v; want a poll's dot", first, err)
	}
	if err := h.SetCloudInit(CloudInitState{Status: "done"}); err != nil {
		t.Fatal(err)
	}
	rest := new(strings.Builder)
	buf := make([]byte, 256)
	for {
		n, err := stdout.Read(buf)
		rest.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if err := s.Wait(); err != nil || !strings.HasSuffix(rest.String(), "\nstatus: done\n") {
		t.Errorf("status --wait after running: %q, %v", rest, err)
	}

	if err := h.SetSystem(SystemState{State: "degraded", Failed: []string{"apt-daily.service", "x.mount"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := run("systemctl is-system-running --wait"), "degraded rc=1"; got != want {
		t.Errorf("degraded: %q, want %q", got, want)
	}
	if got, want := run("systemctl --failed --no-legend --plain"), "apt-daily.service loaded failed failed apt-daily.service x.mount loaded failed failed x.mount rc=0"; got != want {
		t.Errorf("failed units: %q, want %q", got, want)
	}
	// The machine's own /usr/local/bin is still found.
	entries, err := os.ReadDir("/usr/local/bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "cloud-init" || e.Name() == "systemctl" {
			continue
		}
		if got := run("test -e /usr/local/bin/" + e.Name()); got != "rc=0" {
			t.Errorf("/usr/local/bin/%s of the machine is gone from the host: %q", e.Name(), got)
		}
		break
	}
	dir := h.cloud.dir
	if err := h.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the emulation's %s outlived the host: %v", dir, err)
	}
}
