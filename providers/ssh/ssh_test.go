package ssh_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/ssh"
)

func options(in map[string]string, log *slog.Logger) providers.Options {
	return providers.Options{Input: func(n string) string { return in[n] }, Logger: log}
}

func encryptedKey(t *testing.T) []byte {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := xssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

func TestNewValidation(t *testing.T) {
	keyPEM, _ := testhost.ClientKeyPEM(t)
	_, hostLine := testhost.HostKeyPair(t)
	keyFile := filepath.Join(t.TempDir(), "id")
	os.WriteFile(keyFile, keyPEM, 0o600)
	valid := func(over map[string]string) map[string]string {
		in := map[string]string{"ssh-host": "203.0.113.7", "ssh-private-key": string(keyPEM), "ssh-known-host": hostLine}
		for k, v := range over {
			if v == "-" {
				delete(in, k)
			} else {
				in[k] = v
			}
		}
		return in
	}
	for _, tc := range []struct {
		name string
		in   map[string]string
		want string // "" means valid
	}{
		{"valid", valid(nil), ""},
		{"known_hosts line", valid(map[string]string{"ssh-known-host": "203.0.113.7 " + hostLine}), ""},
		{"bracketed known_hosts line", valid(map[string]string{"ssh-known-host": "[host.example]:2222 " + hostLine}), ""},
		{"key file", valid(map[string]string{"ssh-private-key": "-", "ssh-private-key-file": keyFile}), ""},
		{"insecure", valid(map[string]string{"ssh-known-host": "-", "insecure-host-key": "true"}), ""},
		{"host missing", valid(map[string]string{"ssh-host": "-"}), "ssh-host is required"},
		{"host with user", valid(map[string]string{"ssh-host": "me@host"}), `ssh-host "me@host": expected a host name`},
		{"host with port", valid(map[string]string{"ssh-host": "host:22"}), `ssh-host "host:22"`},
		{"port word", valid(map[string]string{"ssh-port": "ssh"}), `ssh-port "ssh": expected a port number from 1 to 65535`},
		{"port zero", valid(map[string]string{"ssh-port": "0"}), `ssh-port "0": expected a port number from 1 to 65535`},
		{"port past the range", valid(map[string]string{"ssh-port": "65536"}), `ssh-port "65536": expected a port number from 1 to 65535`},
		{"port negative", valid(map[string]string{"ssh-port": "-22"}), `ssh-port "-22": expected a port number from 1 to 65535`},
		{"lowest port", valid(map[string]string{"ssh-port": "1"}), ""},
		{"highest port", valid(map[string]string{"ssh-port": "65535"}), ""},
		{"bad user", valid(map[string]string{"ssh-user": "Bad User"}), `ssh-user "Bad User"`},
		{"no key", valid(map[string]string{"ssh-private-key": "-"}), "ssh-private-key or ssh-private-key-file is required"},
		{"two keys", valid(map[string]string{"ssh-private-key-file": keyFile}), "both set"},
		{"garbage key", valid(map[string]string{"ssh-private-key": "SECRET-GARBAGE"}), "ssh-private-key: expected an unencrypted"},
		{"encrypted key", valid(map[string]string{"ssh-private-key": string(encryptedKey(t))}), "passphrase"},
		{"missing key file", valid(map[string]string{"ssh-private-key": "-", "ssh-private-key-file": "/nonexistent/id"}), `ssh-private-key-file "/nonexistent/id"`},
		{"no known host", valid(map[string]string{"ssh-known-host": "-"}), "ssh-known-host is required"},
		{"insecure false", valid(map[string]string{"ssh-known-host": "-", "insecure-host-key": "false"}), "ssh-known-host is required"},
		{"insecure word", valid(map[string]string{"insecure-host-key": "yes please"}), `insecure-host-key "yes please": expected true or false`},
		{"bad known host", valid(map[string]string{"ssh-known-host": "host ssh-ed25519 notbase64"}), `ssh-known-host "host ssh-ed25519 notbase64": expected`},
		{"cert authority", valid(map[string]string{"ssh-known-host": "@cert-authority * " + hostLine}), "@cert-authority marker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ssh.New(options(tc.in, nil))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY-----\n") || strings.Contains(err.Error(), "SECRET-GARBAGE") {
				t.Errorf("error quotes the private key: %v", err)
			}
		})
	}
}

// insecure-host-key is the configuration's to warn about, once (the CLI
// does); the provider only notes it at debug level, not as a second warning.
func TestInsecureLogsAtDebug(t *testing.T) {
	keyPEM, _ := testhost.ClientKeyPEM(t)
	var logs bytes.Buffer
	p, err := ssh.New(options(map[string]string{"ssh-host": "h", "ssh-private-key": string(keyPEM), "insecure-host-key": "true"},
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=DEBUG") || !strings.Contains(logs.String(), "insecure-host-key") ||
		strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("logs %q, want insecure-host-key noted at debug level only", logs.String())
	}
	h, err := p.Create(context.Background(), providers.Request{User: "mvm"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.HostKey != "" {
		t.Errorf("HostKey %q with insecure-host-key, want empty", h.HostKey)
	}
}

// TestCreatePinsTestHost points the provider at a real sshd and logs in
// with exactly what Create returned.
func TestCreatePinsTestHost(t *testing.T) {
	keyPEM, line := testhost.ClientKeyPEM(t)
	th := testhost.Start(t, testhost.Options{Users: []testhost.User{{Name: "root", AuthorizedKeys: []string{line}}}})
	p, err := ssh.New(options(map[string]string{
		"ssh-host": th.Addr(), "ssh-port": strconv.Itoa(th.Port()), "ssh-user": "root",
		"ssh-private-key": string(keyPEM), "ssh-known-host": th.Addr() + " " + th.HostKey(),
	}, nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := providers.Request{User: "mvm"}
	if err := p.Preflight(ctx, req); err != nil {
		t.Fatal(err)
	}
	h, err := p.Create(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.HostKey != th.HostKey() || h.Address != th.Addr() || h.Port != th.Port() || h.User != "root" {
		t.Fatalf("host %+v, want %s:%d as root with key %s", h, th.Addr(), th.Port(), th.HostKey())
	}
	signer, err := xssh.ParsePrivateKey(h.PrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pinned, _, _, _, err := xssh.ParseAuthorizedKey([]byte(h.HostKey))
	if err != nil {
		t.Fatal(err)
	}
	c, err := xssh.Dial("tcp", net.JoinHostPort(h.Address, strconv.Itoa(h.Port)), &xssh.ClientConfig{
		User: h.User, Auth: []xssh.AuthMethod{xssh.PublicKeys(signer)},
		HostKeyCallback: xssh.FixedHostKey(pinned), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := c.NewSession()
	out, err := s.Output("id -un")
	c.Close()
	if err != nil || strings.TrimSpace(string(out)) != "root" {
		t.Errorf("id -un = %q, %v; want root", out, err)
	}

	rep, err := p.Destroy(ctx, providers.Identity{})
	if err != nil || len(rep.Deleted) != 0 {
		t.Errorf("Destroy = %+v, %v; want nothing deleted", rep, err)
	}
	if res, err := p.List(ctx, providers.Filter{}); err != nil || len(res) != 0 {
		t.Errorf("List = %v, %v; want nothing", res, err)
	}
}

func TestCreateDefaultsToSuiteUser(t *testing.T) {
	keyPEM, _ := testhost.ClientKeyPEM(t)
	_, hostLine := testhost.HostKeyPair(t)
	p, err := ssh.New(options(map[string]string{"ssh-host": "h.example", "ssh-private-key": string(keyPEM), "ssh-known-host": hostLine}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Preflight(context.Background(), providers.Request{}); err == nil {
		t.Error("preflight passed with neither ssh-user nor a suite user")
	}
	h, err := p.Create(context.Background(), providers.Request{User: "mvm"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.User != "mvm" || h.Port != 22 || h.HostKey != hostLine {
		t.Errorf("host %+v: want user mvm, port 22, the pinned key", h)
	}
}
