package aws_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// TestBinarySSHFromAnywhereOptIn: the action with
// allow-ssh-from-anywhere: true and no ssh-source-cidr opens tcp/22 to
// 0.0.0.0/0 and nothing else, says so in a warning, and a client from
// outside any runner's range reaches the host's sshd through the fake's
// firewall. The runner's address is not looked up (the lookup's URL is a
// closed port here, which would refuse the run): the opt-in replaces it.
func TestBinarySSHFromAnywhereOptIn(t *testing.T) {
	srv := binaryFake(t, true)
	bin := providertest.Binary(t)
	dir := t.TempDir()
	// The suite holds the host up until the test has looked at it: the
	// "host" is this machine, so the step sees the file the test makes, in
	// a directory the suite's user may read.
	release := filepath.Join(providertest.SharedDir(t), "release")
	suite := providertest.SuiteFile(t, "echo suite-started; until [ -e "+release+" ]; do sleep 0.2; done")
	env := actionEnv(t, srv, dir, "INPUT_SSH-SOURCE-CIDR=", "INPUT_ALLOW-SSH-FROM-ANYWHERE=true", "INPUT_SUITE="+suite)
	main := providertest.Start(t, bin, env, nil, "suite-started")
	main.WaitFor(t, "suite-started")
	checkOpenToAnywhere(t, srv)
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := main.Wait(t); code != 0 {
		t.Fatalf("exit %d\n%s\nstderr:\n%s", code, main.Output(), main.Stderr())
	}
	warning := "allow-ssh-from-anywhere is true: tcp/22 of the host is open to 0.0.0.0/0"
	if all := main.Output() + main.Stderr(); !strings.Contains(all, warning) {
		t.Errorf("no warning %q in the output:\n%s", warning, all)
	}
	if left := leftInFake(srv); len(left) > 0 {
		t.Errorf("left in the fake: %v", left)
	}
}

// checkOpenToAnywhere checks, while the run's one host is up, that its
// one security group lets in exactly tcp/22 from 0.0.0.0/0, and that a
// client outside any runner's /32 gets the host's SSH banner.
func checkOpenToAnywhere(t *testing.T, srv *fake.Server) {
	t.Helper()
	groups := srv.Groups()
	if len(groups) != 1 {
		t.Fatalf("%d security groups, want the run's 1: %+v", len(groups), groups)
	}
	want := fake.Rule{Protocol: "tcp", From: 22, To: 22, CIDR: "0.0.0.0/0"}
	if in := groups[0].Ingress; len(in) != 1 || in[0] != want {
		t.Errorf("ingress %+v, want only %+v", in, want)
	}
	booted := srv.Kit.Booted()
	if len(booted) != 1 {
		t.Fatalf("instances booted %v, want one", booted)
	}
	addr, port := asFake(srv).PublicAddress(booted[0])
	if a, p, ok := srv.Kit.PublicAddr(booted[0]); !ok || a != addr || p != port {
		t.Fatalf("the fake reports %s:%d, the kit's public address is %s:%d (%v)", addr, port, a, p, ok)
	}
	orig := srv.Kit.ClientAddr()
	if err := srv.Kit.SetClientAddr(providertest.Outsider); err != nil {
		t.Fatal(err)
	}
	defer srv.Kit.SetClientAddr(orig.String()) //nolint:errcheck // it parsed before
	// Waited for long: a banner that must come may be slow on a loaded
	// machine, and its absence is the failure.
	if b := providertest.SSHBanner(t, addr, port, time.Minute); !strings.HasPrefix(b, "SSH-") {
		t.Errorf("from %s, with tcp/22 open to 0.0.0.0/0, %s:%d sent %q, want an SSH banner", providertest.Outsider, addr, port, b)
	}
}
