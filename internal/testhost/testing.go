package testhost

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/sshd"
)

// RequireRoot fails the test unless it runs as root, which the tests that
// start sshd hosts, create users or run the local provider need, and which
// CI provides: a test that could not run must not pass as skipped.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (it runs sshd test hosts, creates users or runs the local provider): run the tests as root, as CI does")
	}
}

// Start boots a host for a test and stops it when the test ends, which
// undoes what Boot did to the machine. It fails the test when not run as
// root or without sshd, which CI provides.
func Start(t testing.TB, opts Options) *Host {
	t.Helper()
	RequireRoot(t)
	if _, err := sshd.FindBinary(); err != nil {
		t.Fatal(err)
	}
	h, err := Boot(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Stop(context.Background()); err != nil {
			t.Errorf("stop test host: %v", err)
		}
	})
	return h
}

// ClientKey returns a fresh ed25519 client key as a signer and in
// authorized_keys form.
func ClientKey(t testing.TB) (ssh.Signer, string) {
	t.Helper()
	pemBytes, line := ClientKeyPEM(t)
	s, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	return s, line
}

// ClientKeyPEM returns a fresh ed25519 client private key in OpenSSH PEM
// form and its public half in authorized_keys form.
func ClientKeyPEM(t testing.TB) ([]byte, string) {
	t.Helper()
	return keyPair(t)
}

// HostKeyPair returns a fresh ed25519 host private key in OpenSSH PEM form
// and its public half in authorized_keys form.
func HostKeyPair(t testing.TB) ([]byte, string) {
	t.Helper()
	return keyPair(t)
}

func keyPair(t testing.TB) ([]byte, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
}

// Exec runs cmd in a new session on c and returns its trimmed combined
// output and whether it exited 0; a transport failure fails the test.
func Exec(t testing.TB, c *ssh.Client, cmd string) (string, bool) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	if _, exit := err.(*ssh.ExitError); err != nil && !exit {
		t.Fatalf("%s: %v", cmd, err)
	}
	return strings.TrimSpace(string(out)), err == nil
}
