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
	"strconv"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// The benchmarks run `bash -lc true`, the exact string Run sends for the
// command "true", through our client and through OpenSSH against the same
// sshd, so the numbers compare transport cost only.
const benchCommand = "bash -lc true"

// benchHost is one sshd whose login user accepts both our in-memory client
// key and a key file for OpenSSH's ssh.
type benchHost struct {
	f       *fixture
	keyFile string
	known   string
}

func newBenchHost(b *testing.B) *benchHost {
	b.Helper()
	requireRoot(b)
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

func BenchmarkRemoteExec(b *testing.B) {
	h := newBenchHost(b)
	ctx := context.Background()
	b.Run("open-connection", func(b *testing.B) {
		c := h.f.dial(b, DialOptions{})
		for b.Loop() {
			res, err := c.Run(ctx, RunSpec{Command: "true"})
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("Run: %+v %v", res, err)
			}
		}
	})
	b.Run("dial-per-exec", func(b *testing.B) {
		for b.Loop() {
			c, err := Dial(ctx, h.f.target(), DialOptions{})
			if err != nil {
				b.Fatal(err)
			}
			res, err := c.Run(ctx, RunSpec{Command: "true"})
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("Run: %+v %v", res, err)
			}
			c.Close()
		}
	})
}

func BenchmarkOpenSSHExec(b *testing.B) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		b.Fatal("the OpenSSH client (ssh) is not installed: install Debian's openssh-client (.ci/run does)")
	}
	h := newBenchHost(b)
	base := []string{
		"-F", "/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + h.known,
		"-o", "IdentitiesOnly=yes", "-i", h.keyFile,
		"-p", strconv.Itoa(h.f.host.Port()), "-l", h.f.login,
	}
	sshRun := func(b *testing.B, opts ...string) {
		args := append(append(append([]string{}, base...), opts...), h.f.host.Addr(), benchCommand)
		if out, err := exec.Command(sshBin, args...).CombinedOutput(); err != nil {
			b.Fatalf("ssh %v: %v: %s", args, err, out)
		}
	}
	b.Run("no-multiplexing", func(b *testing.B) {
		for b.Loop() {
			sshRun(b, "-o", "ControlMaster=no")
		}
	})
	b.Run("controlmaster", func(b *testing.B) {
		control := filepath.Join(b.TempDir(), "cm")
		mux := []string{"-o", "ControlMaster=auto", "-o", "ControlPath=" + control, "-o", "ControlPersist=60"}
		sshRun(b, mux...) // opens the master outside the timed loop
		b.Cleanup(func() {
			exec.Command(sshBin, append(append(append([]string{}, base...), "-O", "exit", "-o", "ControlPath="+control), h.f.host.Addr())...).Run()
		})
		b.ResetTimer()
		for b.Loop() {
			sshRun(b, mux...)
		}
	})
}
