package fakecloud

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// TestHostBooter boots each instance as a real OpenSSH test host configured
// from the user data the adapter sent: its users and their keys, root's
// keys and the pinned host key, as cloud-init would have set them up.
// Each host gets its own loopback address, which the fake reports as the
// instance's public IP. Its sessions find cloud-init and systemctl
// reporting a finished boot (testhost.Options.Cloud); a test changes that
// with the *testhost.Host's SetCloudInit and SetSystem.
type TestHostBooter struct {
	// Port sshd listens on. 22 (with a free 127.0.0.0/8 address per host)
	// lets adapters keep their production port; 0 picks a free port.
	Port int
	// AfterBoot, when set, runs once sshd answers: what the test wants
	// done on the host that cloud-init's runcmd would have done (such as
	// the ready marker). The fake never runs the user data's commands
	// itself, since the "host" is the machine running the tests.
	AfterBoot func(ctx context.Context, spec BootSpec, m Machine) error
	Logger    *slog.Logger
}

// Boot implements Booter. It needs root, as testhost does.
func (b TestHostBooter) Boot(ctx context.Context, spec BootSpec) (Machine, error) {
	opts, err := testhost.OptionsFromUserData(spec.UserData)
	if err != nil {
		return nil, fmt.Errorf("boot %s: %w", spec.ID, err)
	}
	opts.Port, opts.Logger = b.Port, b.Logger
	// Booted from user data, the host ran cloud-init to the end and
	// systemd brought it up: what the cycle's ready phase asks it.
	opts.Cloud = true
	// And its /dev/kvm is root:kvm 0660, as the cloud-config's runcmd
	// leaves it: the suite's user, in the kvm group, opens it on the kvm
	// lane whatever the machine's own node allows.
	opts.KVMGroup = true
	h, err := testhost.Boot(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("boot %s: %w", spec.ID, err)
	}
	if b.AfterBoot != nil {
		if err := b.AfterBoot(ctx, spec, h); err != nil {
			h.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // reporting the boot error
			return nil, fmt.Errorf("boot %s: after boot: %w", spec.ID, err)
		}
	}
	return h, nil
}
