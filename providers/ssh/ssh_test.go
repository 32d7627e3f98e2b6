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
	"golang.org/x/crypto/ssh/knownhosts"

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
		{"bracketed known_hosts line", valid(map[string]string{"ssh-host": "host.example", "ssh-port": "2222", "ssh-known-host": "[host.example]:2222 " + hostLine}), ""},
		{"known_hosts line for another host", valid(map[string]string{"ssh-known-host": "host.example " + hostLine}), `input "ssh-known-host": got "host.example ssh-ed25519 …", expected a known_hosts line whose hosts include 203.0.113.7 (as ssh-keyscan -p 22 203.0.113.7 prints it), or the key alone as "ssh-ed25519 AAAA…" (the line is for "host.example", not for ssh-host 203.0.113.7 port 22)`},
		{"key file", valid(map[string]string{"ssh-private-key": "-", "ssh-private-key-file": keyFile}), ""},
		{"insecure", valid(map[string]string{"ssh-known-host": "-", "insecure-host-key": "true"}), ""},
		{"host missing", valid(map[string]string{"ssh-host": "-"}), `input "ssh-host": missing, expected the host name or IP address of the existing host`},
		{"host with user", valid(map[string]string{"ssh-host": "me@host"}), `input "ssh-host": got "me@host", expected a host name or IP address without user@ (set ssh-user)`},
		{"host with port", valid(map[string]string{"ssh-host": "host:22"}), `input "ssh-host": got "host:22", expected a host name or IP address, without :port (set ssh-port)`},
		{"port word", valid(map[string]string{"ssh-port": "ssh"}), `input "ssh-port": got "ssh", expected a port number from 1 to 65535`},
		{"port zero", valid(map[string]string{"ssh-port": "0"}), `input "ssh-port": got "0", expected a port number from 1 to 65535`},
		{"port past the range", valid(map[string]string{"ssh-port": "65536"}), `input "ssh-port": got "65536", expected a port number from 1 to 65535`},
		{"port negative", valid(map[string]string{"ssh-port": "-22"}), `input "ssh-port": got "-22", expected a port number from 1 to 65535`},
		{"lowest port", valid(map[string]string{"ssh-port": "1"}), ""},
		{"highest port", valid(map[string]string{"ssh-port": "65535"}), ""},
		{"bad user", valid(map[string]string{"ssh-user": "Bad User"}), `input "ssh-user": got "Bad User", expected a user name like ubuntu`},
		{"no key", valid(map[string]string{"ssh-private-key": "-"}), `input "ssh-private-key": missing, expected the host's private key (or set ssh-private-key-file)`},
		{"two keys", valid(map[string]string{"ssh-private-key-file": keyFile}), `", expected to be empty when ssh-private-key is set`},
		{"garbage key", valid(map[string]string{"ssh-private-key": "SECRET-GARBAGE"}), `input "ssh-private-key": got "***", expected an OpenSSH or PEM private key; for a path use ssh-private-key-file`},
		{"encrypted key", valid(map[string]string{"ssh-private-key": string(encryptedKey(t))}), `input "ssh-private-key": got "***", expected an unencrypted private key (this one has a passphrase)`},
		{"missing key file", valid(map[string]string{"ssh-private-key": "-", "ssh-private-key-file": "/nonexistent/id"}), `input "ssh-private-key-file": got "/nonexistent/id", expected a readable private key file (open /nonexistent/id: `},
		{"no known host", valid(map[string]string{"ssh-known-host": "-"}), `input "ssh-known-host": missing, expected the host's public key`},
		{"insecure false", valid(map[string]string{"ssh-known-host": "-", "insecure-host-key": "false"}), `input "ssh-known-host": missing, expected the host's public key`},
		{"insecure word", valid(map[string]string{"insecure-host-key": "yes please"}), `input "insecure-host-key": got "yes please", expected true or false`},
		{"bad known host", valid(map[string]string{"ssh-known-host": "host ssh-ed25519 notbase64"}), `input "ssh-known-host": got "host ssh-ed25519 notbase64", expected a public key like`},
		{"cert authority", valid(map[string]string{"ssh-known-host": "@cert-authority * " + hostLine}), `input "ssh-known-host": got "@cert-authority * ssh-ed25519 …", expected a plain known_hosts line (the @cert-authority marker is not supported)`},
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
		"ssh-private-key": string(keyPEM), "ssh-known-host": th.KnownHostsLine(),
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

// A known_hosts line pins its key only for the hosts it names, read as
// ssh(1) reads them against ssh-host and ssh-port: "[host]:port" for a
// port other than 22, hashed entries, wildcards, comma lists, negation.
// A line for another host is bad input naming the host part, never the
// key.
func TestKnownHostLineMustBeForTheHost(t *testing.T) {
	keyPEM, _ := testhost.ClientKeyPEM(t)
	_, key := testhost.HostKeyPair(t)
	keyBody := strings.Fields(key)[1]
	hashed := func(hostport string) string { return knownhosts.HashHostname(knownhosts.Normalize(hostport)) }
	for _, tc := range []struct {
		name, host, port, hosts string
		ok                      bool
	}{
		{"address", "203.0.113.7", "", "203.0.113.7", true},
		{"name, another case", "h.example", "", "H.Example", true},
		{"comma list", "h.example", "", "a.example,h.example,203.0.113.9", true},
		{"bracketed port", "h.example", "2222", "[h.example]:2222", true},
		{"bracketed port 22", "h.example", "22", "[h.example]:22", false}, // ssh looks up "h.example" for 22
		{"plain host on another port", "h.example", "2222", "h.example", false},
		{"bracketed, other port", "h.example", "2200", "[h.example]:2222", false},
		{"another host", "203.0.113.7", "", "other.example", false},
		{"wildcard", "h.example", "", "*.example", true},
		{"wildcard, another domain", "h.example", "", "*.example.org", false},
		{"question mark", "203.0.113.7", "", "203.0.113.?", true},
		{"wildcard port", "h.example", "2222", "[h.example]:*", true},
		{"negated", "h.example", "", "*.example,!h.example", false},
		{"negated other", "h.example", "", "*.example,!g.example", true},
		{"hashed", "203.0.113.7", "", hashed("203.0.113.7:22"), true},
		{"hashed with port", "203.0.113.7", "2222", hashed("203.0.113.7:2222"), true},
		{"hashed, another host", "203.0.113.7", "", hashed("203.0.113.8:22"), false},
		{"hashed, another port", "203.0.113.7", "2222", hashed("203.0.113.7:22"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]string{"ssh-host": tc.host, "ssh-private-key": string(keyPEM), "ssh-known-host": tc.hosts + " " + key}
			if tc.port != "" {
				in["ssh-port"] = tc.port
			}
			p, err := ssh.New(options(in, nil))
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				h, err := p.Create(context.Background(), providers.Request{User: "mvm"}, nil)
				if err != nil || !strings.Contains(h.HostKey, keyBody) {
					t.Errorf("pinned %q (err %v), want the line's key", h.HostKey, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("a line for %q was accepted for ssh-host %s port %q", tc.hosts, tc.host, tc.port)
			}
			for _, want := range []string{"ssh-known-host", strconv.Quote(tc.hosts), "ssh-host " + tc.host, "expected a known_hosts line whose hosts include"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), keyBody) {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}
}
