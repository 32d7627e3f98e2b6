package providertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// markerPattern finds the ready marker the cycle's user data touches last
// ("/var/lib/mvm-verify/ready-<name>", name the leg's Identity.Name).
var markerPattern = regexp.MustCompile(`/var/lib/mvm-verify/ready-([A-Za-z0-9_.-]+)`)

// BootOptions shape the hosts a fake boots for the binary.
type BootOptions struct {
	// Ready makes each host get the ready marker its user data names, as
	// cloud-init's last runcmd would; without it the host never reads as
	// ready, and the run waits in its ready phase.
	Ready bool
	// AfterBoot, when set, also runs on each host once sshd answers.
	AfterBoot func(fakecloud.BootSpec, fakecloud.Machine) error
}

// Booter boots a fake's instances as real OpenSSH test hosts configured
// from the user data the adapter sent (fakecloud.TestHostBooter, on port
// 22 of a loopback address each). When t ends it removes the ready marker
// and the work directory the cycle uploads the probe to
// (/tmp/mvm-verify-<name>): the "hosts" are this machine, so their files
// outlive the instances.
func Booter(t *testing.T, o BootOptions) fakecloud.Booter {
	t.Helper()
	RequireTestHosts(t)
	return fakecloud.TestHostBooter{Port: 22, AfterBoot: func(_ context.Context, spec fakecloud.BootSpec, m fakecloud.Machine) error {
		if o.AfterBoot != nil {
			if err := o.AfterBoot(spec, m); err != nil {
				return err
			}
		}
		found := markerPattern.FindSubmatch(spec.UserData)
		if found == nil {
			return nil
		}
		marker, name := string(found[0]), string(found[1])
		t.Cleanup(func() {
			os.Remove(marker)
			if !strings.ContainsAny(name, "/.") {
				os.RemoveAll("/tmp/mvm-verify-" + name)
			}
		})
		if !o.Ready {
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(marker), 0o755); err != nil {
			return err
		}
		return os.WriteFile(marker, nil, 0o644)
	}}
}

// NoBoot is a booter for runs that must create nothing: a boot fails t.
func NoBoot(t *testing.T) fakecloud.Booter {
	return fakecloud.BooterFunc(func(_ context.Context, spec fakecloud.BootSpec) (fakecloud.Machine, error) {
		t.Errorf("instance %s booted in a run that must create nothing", spec.ID)
		return nil, errors.New("this test boots nothing")
	})
}

// PresentedHostKey is the host key sshd at m presents, read from a
// handshake that stops there.
func PresentedHostKey(m fakecloud.Machine) (ssh.PublicKey, error) {
	var key ssh.PublicKey
	errSeen := errors.New("host key seen")
	_, err := ssh.Dial("tcp", net.JoinHostPort(m.Addr(), strconv.Itoa(m.Port())), &ssh.ClientConfig{
		User: "nobody", Timeout: 30 * time.Second,
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error { key = k; return errSeen },
	})
	if key == nil {
		return nil, fmt.Errorf("no host key from %s:%d: %v", m.Addr(), m.Port(), err)
	}
	return key, nil
}
