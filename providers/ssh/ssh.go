// Package ssh is the bring-your-own-host provider: an existing machine
// reached with the user's key and pinned host key. It creates nothing and
// deletes nothing.
package ssh

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/tinylabscom/mvm-verify/providers"
)

// Name is the provider's registry name.
const Name = "ssh"

// Entry registers the provider.
func Entry() providers.Entry {
	return providers.Entry{
		Info: providers.Info{
			Name:        Name,
			Description: "An existing host you bring, reached over SSH with your key; its host key is pinned from ssh-known-host. No host is created or deleted; a missing suite user is created and removed at teardown, as are the suite's uploads.",
			Creates:     false,
			Lanes:       []string{"kvm", "no-kvm"},
			Inputs:      []string{"ssh-host", "ssh-port", "ssh-user", "ssh-private-key", "ssh-private-key-file", "ssh-known-host", "insecure-host-key"},
			Credentials: "an SSH private key the host accepts (ssh-private-key or ssh-private-key-file)",
		},
		New: New,
	}
}

// Provider is the configured existing host.
type Provider struct {
	host    string
	port    int
	user    string
	keyPEM  []byte
	hostKey string // authorized_keys form; "" when insecure
}

var (
	hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
	userRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
)

// New validates the ssh-* inputs. Errors name the input, its value (never
// for the private key) and the expected form.
func New(o providers.Options) (providers.Provider, error) {
	p := &Provider{port: 22}

	p.host = o.In("ssh-host")
	if p.host == "" {
		return nil, errors.New("ssh-host is required: the host name or IP address of the existing host")
	}
	if net.ParseIP(p.host) == nil && !hostRE.MatchString(p.host) {
		return nil, fmt.Errorf("ssh-host %q: expected a host name or an IP address, without user@ or :port (use ssh-user and ssh-port)", p.host)
	}

	if v := o.In("ssh-port"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("ssh-port %q: expected a port number from 1 to 65535", v)
		}
		p.port = n
	}

	if v := o.In("ssh-user"); v != "" {
		if !userRE.MatchString(v) {
			return nil, fmt.Errorf("ssh-user %q: expected a user name such as ubuntu or mvm", v)
		}
		p.user = v
	}

	key, err := privateKey(o)
	if err != nil {
		return nil, err
	}
	p.keyPEM = key

	insecure := false
	if v := o.In("insecure-host-key"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("insecure-host-key %q: expected true or false", v)
		}
		insecure = b
	}
	if v := o.In("ssh-known-host"); v != "" {
		if p.hostKey, err = knownHostKey(v, p.host, p.port); err != nil {
			return nil, err
		}
	} else if !insecure {
		return nil, errors.New(`ssh-known-host is required: the host key ssh-host must present, as "ssh-ed25519 AAAA…" or a known_hosts line ` +
			`(ssh-keyscan prints it); set insecure-host-key to true only if you cannot pin it`)
	}
	if p.hostKey == "" {
		// Debug: the CLI already warned about insecure-host-key, once.
		o.Log().Debug("insecure-host-key is true: any host key will be accepted, so a machine in the middle could impersonate ssh-host", "ssh-host", p.host)
	}
	return p, nil
}

func privateKey(o providers.Options) ([]byte, error) {
	inline, file := o.In("ssh-private-key"), o.In("ssh-private-key-file")
	var pemBytes []byte
	var from string
	switch {
	case inline != "" && file != "":
		return nil, errors.New("ssh-private-key and ssh-private-key-file are both set: expected only one")
	case inline != "":
		pemBytes, from = []byte(inline+"\n"), "ssh-private-key"
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("ssh-private-key-file %q: %w", file, err)
		}
		pemBytes, from = b, fmt.Sprintf("ssh-private-key-file %q", file)
	default:
		return nil, errors.New("ssh-private-key or ssh-private-key-file is required: the private key ssh-host accepts for ssh-user")
	}
	if _, err := xssh.ParsePrivateKey(pemBytes); err != nil {
		var pp *xssh.PassphraseMissingError
		if errors.As(err, &pp) {
			return nil, fmt.Errorf("%s: the key is protected by a passphrase: expected an unencrypted OpenSSH or PEM private key", from)
		}
		return nil, fmt.Errorf("%s: expected an unencrypted OpenSSH or PEM private key (-----BEGIN OPENSSH PRIVATE KEY-----)", from)
	}
	return pemBytes, nil
}

// knownHostKey accepts "TYPE BASE64 [comment]" or a known_hosts line
// "HOSTS TYPE BASE64" and returns the key in authorized_keys form. A
// known_hosts line must be for host:port as ssh(1) would look it up
// (hostMatches): a line for another host is refused rather than pinned.
// Errors quote the host part of a line, never its key.
func knownHostKey(v, host string, port int) (string, error) {
	// ParseAuthorizedKey takes a leading field that is not a key type for
	// options, so a known_hosts line would pass as a key with "options":
	// only a line that starts with its key is the key alone.
	if pub, _, opts, _, err := xssh.ParseAuthorizedKey([]byte(v)); err == nil && len(opts) == 0 {
		return strings.TrimSpace(string(xssh.MarshalAuthorizedKey(pub))), nil
	}
	marker, hosts, pub, _, _, err := xssh.ParseKnownHosts([]byte(v))
	if err != nil || pub == nil {
		return "", fmt.Errorf(`ssh-known-host %q: expected a host key as "ssh-ed25519 AAAA…" or a known_hosts line "HOST ssh-ed25519 AAAA…"`, v)
	}
	if marker != "" {
		return "", fmt.Errorf("ssh-known-host %q: the @%s marker is not supported: expected a plain known_hosts line", v, marker)
	}
	name := knownhosts.Normalize(net.JoinHostPort(host, strconv.Itoa(port)))
	if !hostMatches(hosts, name) {
		return "", fmt.Errorf("ssh-known-host: the line is for %q, not for ssh-host %s port %d: expected a known_hosts line whose hosts include %s "+
			"(as ssh-keyscan -p %d %s prints it), or the key alone as \"ssh-ed25519 AAAA…\"",
			strings.Join(hosts, ","), host, port, name, port, host)
	}
	return strings.TrimSpace(string(xssh.MarshalAuthorizedKey(pub))), nil
}

// hostMatches reports whether a known_hosts line's host patterns select
// name (knownhosts.Normalize's form: "host" for port 22, "[host]:port"
// otherwise), as ssh(1) reads them: a hashed "|1|salt|hash" entry matches
// when HMAC-SHA1(salt, name) is its hash; "*" and "?" are wildcards; a
// pattern negated with "!" that matches rules the line out whatever else
// matches.
func hostMatches(patterns []string, name string) bool {
	matched := false
	for _, p := range patterns {
		negated := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		var ok bool
		if strings.HasPrefix(p, "|1|") {
			ok = hashedMatch(p, name)
		} else {
			ok = wildcardMatch(strings.ToLower(p), strings.ToLower(name))
		}
		if ok && negated {
			return false
		}
		matched = matched || ok
	}
	return matched
}

// hashedMatch checks a HashKnownHosts entry "|1|base64(salt)|base64(hash)".
func hashedMatch(entry, name string) bool {
	parts := strings.Split(entry, "|")
	if len(parts) != 4 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	want, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(name))
	return hmac.Equal(mac.Sum(nil), want)
}

// wildcardMatch matches s against pattern, where '*' is any run of
// characters and '?' any one.
func wildcardMatch(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildcardMatch(pattern[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
		}
		pattern, s = pattern[1:], s[1:]
	}
	return s == ""
}

// Name is "ssh".
func (p *Provider) Name() string { return Name }

// Preflight checks that there is a user to log in as.
func (p *Provider) Preflight(_ context.Context, req providers.Request) error {
	if p.user == "" && req.User == "" {
		return providers.Classified(providers.ClassInvalid, "",
			errors.New("ssh: no user to log in as: set ssh-user or the suite's user"))
	}
	return nil
}

// Create returns the existing host; nothing is created.
func (p *Provider) Create(_ context.Context, req providers.Request, _ providers.Journal) (*providers.Host, error) {
	user := p.user
	if user == "" {
		user = req.User
	}
	return &providers.Host{
		Address:       p.host,
		Port:          p.port,
		User:          user,
		HostKey:       p.hostKey,
		PrivateKeyPEM: p.keyPEM,
		ID:            net.JoinHostPort(p.host, strconv.Itoa(p.port)),
		Type:          "existing host",
	}, nil
}

// Destroy deletes nothing: the host is the user's.
func (p *Provider) Destroy(context.Context, providers.Identity) (providers.Report, error) {
	return providers.Report{}, nil
}

// List finds nothing: this provider creates no resources.
func (p *Provider) List(context.Context, providers.Filter) ([]providers.Resource, error) {
	return nil, nil
}
