package remote

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/sshd"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// dialCounting dials tgt with the default handshake budget and returns
// Dial's error and how many attempts failed. A refusal Dial does not count
// against the budget would be retried until ctx ends: the attempt after
// the budget cancels ctx instead, so such a Dial returns at once, and not
// with ErrAuth.
func dialCounting(t *testing.T, tgt Target) (error, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	o := fast()
	budget := o.withDefaults().HandshakeBudget
	attempts := 0
	o.Progress = func(attempt int, _ error) {
		attempts = attempt
		if attempt > budget {
			cancel()
		}
	}
	c, err := Dial(ctx, tgt, o)
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded with a key the host refuses")
	}
	return err, attempts
}

// An x/crypto host whose every answer to the key is "partial success, go
// on" disconnects once its cap on attempts is reached ("too many
// authentication attempts"): a refusal, counted against the handshake
// budget and reported as ErrAuth, not retried as a connection failure.
func TestDialTooManyAttemptsDisconnectIsAuthFailure(t *testing.T) {
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := ssh.ParsePrivateKey(keys.HostPrivatePEM)
	if err != nil {
		t.Fatal(err)
	}
	var partial func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error)
	partial = func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
		return nil, &ssh.PartialSuccessError{Next: ssh.ServerAuthCallbacks{PublicKeyCallback: partial}}
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: partial, MaxAuthTries: -1}
	cfg.AddHostKey(hostKey)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				if sc, _, _, err := ssh.NewServerConn(conn, cfg); err == nil {
					sc.Close()
				}
			}()
		}
	}()
	addr := l.Addr().(*net.TCPAddr)
	tgt := Target{Addr: addr.IP.String(), Port: addr.Port, User: "u", Signer: keys.Client, HostKey: keys.HostPublic}
	err, attempts := dialCounting(t, tgt)
	if !errors.Is(err, ErrAuth) || errors.Is(err, ErrHostKeyMismatch) {
		t.Errorf("err = %v, want ErrAuth", err)
	}
	if attempts != 3 {
		t.Errorf("%d attempts, want the default budget of 3", attempts)
	}
}

// OpenSSH with MaxAuthTries 1 disconnects after the first refused key
// ("Too many authentication failures"): that is a refusal of the key too,
// not a connection to retry until the boot budget runs out.
func TestDialMaxAuthTriesDisconnectIsAuthFailure(t *testing.T) {
	testhost.RequireRoot(t)
	bin, err := sshd.FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(t.TempDir(), "sshd-maxauthtries-1")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+Quote(bin)+" -o MaxAuthTries=1 \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	addr, err := sshd.FreeLoopback(0)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sshd.Start(testContext(t), sshd.Config{ListenAddr: addr, HostKeyPEM: keys.HostPrivatePEM,
		AuthorizedKeys: map[string][]string{"nobody": {keys.ClientAuthorized}}, Binary: wrapper, DieWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("stop the test sshd: %v", err)
		}
	})
	tgt := Target{Addr: srv.Addr(), Port: srv.Port(), User: "nobody", Signer: stranger.Client, HostKey: keys.HostPublic}
	err, attempts := dialCounting(t, tgt)
	if !errors.Is(err, ErrAuth) || errors.Is(err, ErrHostKeyMismatch) {
		t.Errorf("err = %v, want ErrAuth", err)
	}
	if attempts != 3 {
		t.Errorf("%d attempts, want the default budget of 3", attempts)
	}
}
