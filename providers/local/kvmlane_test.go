package local_test

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/local"
)

// TestKVMLaneRefusedWithoutKVM: the local provider's host is this machine,
// so an explicit kvm lane on a machine whose KVM is unusable is refused at
// preflight as bad input — naming the lane, the value, why KVM is unusable
// and what to give instead — rather than failing the probe's KVM check
// after sshd and the suite user were set up. Create, which preflights
// again, makes nothing: no state, no user, no registration. With KVM the
// same request passes, and the no-kvm lane passes either way. KVM is
// injected (WithKVM) both ways, so this holds on a machine with KVM and on
// one without.
func TestKVMLaneRefusedWithoutKVM(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	p := newProvider(t, dir)
	local.WithKVM(p, false)
	name := tempUser(t)
	l := newLeg(t, name, "kvm")

	err := p.Preflight(ctx, l.req)
	if err == nil {
		t.Fatal("preflight passed the kvm lane on a machine without usable KVM")
	}
	if providers.ClassOf(err) != providers.ClassInvalid {
		t.Errorf("class %v, want invalid (exit 2, could not start)", providers.ClassOf(err))
	}
	var in *providers.InputError
	if !errors.As(err, &in) || in.Name() != "lane" || in.Value != "kvm" {
		t.Fatalf("err %v (%T), want an input error naming input lane and value kvm", err, err)
	}
	for _, want := range []string{
		`input "lane": got "kvm", expected no-kvm or auto on this machine, or run on a host with usable KVM`,
		"this machine's KVM is unusable: the test took KVM away",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err %q lacks %q", err, want)
		}
	}

	// Create preflights again and makes nothing.
	var j providers.MemJournal
	if h, err := p.Create(ctx, l.req, &j); err == nil || !strings.Contains(err.Error(), `input "lane": got "kvm"`) {
		t.Fatalf("Create = %+v, %v; want the kvm lane refused", h, err)
	}
	if recs := j.Records(); len(recs) != 0 {
		t.Errorf("Create recorded %v", kinds(recs))
	}
	if _, err := user.Lookup(name); err == nil {
		t.Errorf("user %s created", name)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir %s made (stat: %v)", dir, err)
	}
	if refs, _ := filepath.Glob(filepath.Join(local.MachineRegistry, l.req.Identity.Name()+".*")); len(refs) != 0 {
		t.Errorf("registered: %v", refs)
	}

	// The no-kvm lane needs no KVM; the kvm lane passes where KVM works.
	// The suite user is the current one, which an sshd not run as root
	// can log in as too.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	ok := l.req
	ok.User = me.Username
	ok.Lane = "no-kvm"
	if err := p.Preflight(ctx, ok); err != nil {
		t.Errorf("preflight of the no-kvm lane without KVM: %v", err)
	}
	local.WithKVM(p, true)
	ok.Lane = "kvm"
	if err := p.Preflight(ctx, ok); err != nil {
		t.Errorf("preflight of the kvm lane with KVM: %v", err)
	}
}
