package cli_test

import (
	"crypto/rand"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// netnsPeer makes a network namespace joined to this one by a veth pair
// and returns its name and the address inside it: a host that is not this
// machine's loopback, yet reached only through a link the test made.
func netnsPeer(t *testing.T) (name, inside string) {
	t.Helper()
	var b [2]byte
	rand.Read(b[:])
	id := fmt.Sprintf("%02x%02x", b[0], b[1])
	name, here, peer := "mvpns"+id, "mvpa"+id, "mvpb"+id
	sub := int(b[1]) &^ 3
	outside := fmt.Sprintf("10.214.%d.%d", b[0], sub+1)
	inside = fmt.Sprintf("10.214.%d.%d", b[0], sub+2)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s (needs iproute2, installed by .ci/run, and root)", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", name)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", here).Run()
		exec.Command("ip", "netns", "del", name).Run()
	})
	ip("link", "add", here, "type", "veth", "peer", "name", peer, "netns", name)
	ip("addr", "add", outside+"/30", "dev", here)
	ip("link", "set", here, "up")
	ip("-n", name, "addr", "add", inside+"/30", "dev", peer)
	ip("-n", name, "link", "set", peer, "up")
	ip("-n", name, "link", "set", "lo", "up")
	return name, inside
}

// TestSSHDynamicProbeRefusedAtPreflight: a dynamically linked probe binary
// for an ssh host that is not this machine is bad input, known from the
// inputs alone. It is refused at preflight — exit 2, naming probe-binary
// and how to build a static one — before anything runs on the host: the
// suite's bootstrap, which ready would run there as root, never runs. The
// host is a real sshd on the far side of a veth pair the test made, so a
// run that went on would reach it.
func TestSSHDynamicProbeRefusedAtPreflight(t *testing.T) {
	testhost.RequireRoot(t)
	const dynamic = "/bin/true" // Debian links coreutils dynamically
	if f, err := elf.Open(dynamic); err != nil {
		t.Fatalf("%s: %v (Debian's coreutils)", dynamic, err)
	} else {
		interp := false
		for _, p := range f.Progs {
			interp = interp || p.Type == elf.PT_INTERP
		}
		f.Close()
		if !interp {
			t.Fatalf("%s is statically linked: the test needs a dynamically linked executable there (Debian's coreutils)", dynamic)
		}
	}
	ns, addr := netnsPeer(t)
	keyPEM, authorized := testhost.ClientKeyPEM(t)
	// A user with passwordless sudo, as on a cloud image, not root: see
	// cliSuiteUser.
	login := freshCLISuiteUser(t)
	h := testhost.Start(t, testhost.Options{Netns: ns, Addr: addr, Port: 22,
		Users: []testhost.User{{Name: login, AuthorizedKeys: []string{authorized}, Sudo: true}}})
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	// The host shares this machine's files: the markers show whether the
	// bootstrap or a step ran there, in a directory the suite's user can
	// write to.
	marks := openTempDir(t, "mvm-cli-shared-")
	booted, stepped := filepath.Join(marks, "bootstrapped"), filepath.Join(marks, "stepped")
	suite := writeSuite(t, fmt.Sprintf("user: %s\nbootstrap:\n  - touch %s\nsteps:\n  - name: touch\n    run: touch %s\n", login, booted, stepped))
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"run", "--provider", "ssh", "--suite", suite, "--out", out,
		"--ssh-host", addr, "--ssh-port", "22", "--ssh-user", login,
		"--ssh-private-key-file", keyFile, "--ssh-known-host", addr + " " + h.HostKey(),
		"--ready-timeout", "30s"}
	args = append(args, thisHostLane().laneArgs()...)

	r := runBin(t, cmdEnv(t), append(args, "--probe-binary", dynamic)...)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (bad input)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{`input "probe-binary"`, dynamic, "dynamically linked", "CGO_ENABLED=0", addr} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", want, r.stdout, r.stderr)
		}
	}
	for _, m := range []string{booted, stepped} {
		if _, err := os.Stat(m); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists (stat: %v): the run reached the host after a probe binary it could not run", m, err)
		}
	}
	if p := phaseStatus(t, filepath.Join(out, "result.json"), "preflight"); p != "fail" {
		t.Errorf("preflight phase %q, want fail", p)
	}
	if p := phaseStatus(t, filepath.Join(out, "result.json"), "ready"); p != "" {
		t.Errorf("ready phase %q after the refusal, want none", p)
	}

	// The same host with the static probe binary (this mvm-verify): the
	// host is reachable and the bootstrap runs, so the refusal above is
	// the binary's, not a host the run could not have reached.
	ok := runBin(t, cmdEnv(t), args...)
	if ok.code != 0 {
		t.Fatalf("with a static probe binary: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", ok.code, ok.stdout, ok.stderr)
	}
	if _, err := os.Stat(booted); err != nil {
		t.Errorf("with a static probe binary the bootstrap did not run: %v", err)
	}
}
