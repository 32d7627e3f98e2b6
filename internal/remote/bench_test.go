package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// BenchmarkExec times one trivial command ("true") through our client and
// through OpenSSH's ssh(1), side by side against ONE test sshd booted once,
// so the variants differ only in the client and in how it reaches the host:
//
//	remote-session         our Client.Run: a new session on an open connection (what the cycle does)
//	openssh-controlmaster  ssh through a ControlMaster: a new session on an open connection
//	remote-dial            our Dial + Run + Close: a fresh connection per command
//	openssh-connect        ssh without multiplexing: a fresh connection per command
//
// OpenSSH is given the exact command line Run sends (the marker env and
// bash -lc), so both sides run the same thing on the host. Run with:
//
//	go test -run '^$' -bench Exec -benchtime 200x ./internal/remote
func BenchmarkExec(b *testing.B) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		b.Fatal("the OpenSSH client (ssh) is not installed: install Debian's openssh-client (.ci/run does)")
	}
	h := newBenchHost(b)
	ctx := context.Background()
	spec := RunSpec{Command: "true"}
	run := func(b *testing.B, c *Client) {
		if res, err := c.Run(ctx, spec); err != nil || res.ExitCode != 0 {
			b.Fatalf("Run: %+v %v", res, err)
		}
	}
	line, err := remoteCommand(h.f.login, false, spec, newToken())
	if err != nil {
		b.Fatal(err)
	}
	base := []string{
		"-F", "/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + h.known,
		"-o", "IdentitiesOnly=yes", "-i", h.keyFile,
		"-p", strconv.Itoa(h.f.host.Port()), "-l", h.f.login,
	}
	// openssh runs ssh with opts and then the host and, if any, command.
	openssh := func(b *testing.B, opts []string, command ...string) {
		args := append(append(append(slices.Clone(base), opts...), h.f.host.Addr()), command...)
		if out, err := exec.Command(sshBin, args...).CombinedOutput(); err != nil {
			b.Fatalf("ssh %v: %v: %s", args, err, out)
		}
	}

	b.Run("remote-session", func(b *testing.B) {
		c := h.f.dial(b, DialOptions{})
		for b.Loop() {
			run(b, c)
		}
	})
	b.Run("openssh-controlmaster", func(b *testing.B) {
		mux := []string{"-o", "ControlPath=" + filepath.Join(b.TempDir(), "cm")}
		// The master starts outside the timed loop, as our connection does.
		openssh(b, append(mux, "-o", "ControlMaster=yes", "-o", "ControlPersist=60"), "true")
		b.Cleanup(func() { openssh(b, append(mux, "-O", "exit")) })
		for b.Loop() {
			openssh(b, append(mux, "-o", "ControlMaster=no"), line)
		}
		// A master that died would have made the loop connect afresh.
		openssh(b, append(mux, "-O", "check"))
	})
	b.Run("remote-dial", func(b *testing.B) {
		for b.Loop() {
			c, err := Dial(ctx, h.f.target(), DialOptions{})
			if err != nil {
				b.Fatal(err)
			}
			run(b, c)
			c.Close()
		}
	})
	b.Run("openssh-connect", func(b *testing.B) {
		for b.Loop() {
			openssh(b, []string{"-o", "ControlMaster=no", "-o", "ControlPath=none"}, line)
		}
	})
}

// benchHost is one sshd whose login user accepts both our in-memory client
// key and a key file for OpenSSH's ssh.
type benchHost struct {
	f       *fixture
	keyFile string
	known   string
}

func newBenchHost(b *testing.B) *benchHost {
	b.Helper()
	testhost.RequireRoot(b)
	keys, err := GenerateKeys()
	if err != nil {
		b.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "bench")
	if err != nil {
		b.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		b.Fatal(err)
	}
	f := &fixture{keys: keys, login: loginUser}
	f.host = testhost.Start(b, testhost.Options{
		HostKeyPEM: keys.HostPrivatePEM,
		Users:      []testhost.User{{Name: f.login, AuthorizedKeys: []string{keys.ClientAuthorized, AuthorizedKey(signer.PublicKey())}}},
	})
	known := filepath.Join(dir, "known_hosts")
	line := fmt.Sprintf("[%s]:%d %s\n", f.host.Addr(), f.host.Port(), f.host.HostKey())
	if err := os.WriteFile(known, []byte(line), 0o600); err != nil {
		b.Fatal(err)
	}
	return &benchHost{f: f, keyFile: keyFile, known: known}
}
