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
		New:   New,
		Check: Check,
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

// hostRE is a host name; an IP address is parsed as one.
var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// New builds the provider from the ssh-* inputs, refusing them as Check
// does.
func New(o providers.Options) (providers.Provider, error) {
	p, err := read(o)
	if err != nil {
		return nil, err
	}
	if p.hostKey == "" {
		// Debug: the CLI already warned about insecure-host-key, once.
		o.Log().Debug("insecure-host-key is true: any host key will be accepted, so a machine in the middle could impersonate ssh-host", "ssh-host", p.host)
	}
	return p, nil
}

// Check checks the ssh-* inputs (providers.Entry.Check): every bad one is
// an *providers.InputError naming the input, its value (never a key's)
// and the form expected; several are joined.
func Check(o providers.Options) error {
	_, err := read(o)
	return err
}

// read checks the ssh-* inputs and returns the provider they describe.
func read(o providers.Options) (*Provider, error) {
	p := &Provider{port: 22}
	var errs []error
	refuse := func(input, value, expected string, cause error) {
		errs = append(errs, &providers.InputError{Input: input, Value: value, Expected: expected, Err: cause})
	}

	p.host = o.In("ssh-host")
	hostOK := false
	switch {
	case p.host == "":
		refuse("ssh-host", "", "the host name or IP address of the existing host (provider ssh)", nil)
	case strings.Contains(p.host, "@"):
		refuse("ssh-host", p.host, "a host name or IP address without user@ (set ssh-user)", nil)
	case net.ParseIP(p.host) == nil && !hostRE.MatchString(p.host):
		refuse("ssh-host", p.host, "a host name or IP address, without :port (set ssh-port)", nil)
	default:
		hostOK = true
	}

	portOK := true
	if v := o.In("ssh-port"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 || strings.TrimLeft(v, "0123456789") != "" {
			refuse("ssh-port", v, "a port number from 1 to 65535", nil)
			portOK = false
		}
		p.port = n
	}

	if v := o.In("ssh-user"); v != "" {
		if !providers.ValidUserName(v) {
			refuse("ssh-user", v, "a user name like ubuntu (lowercase letters, digits, _ and -, at most 32)", nil)
		}
		p.user = v
	}

	key, err := privateKey(o)
	if err != nil {
		errs = append(errs, err)
	}
	p.keyPEM = key

	insecure := false
	if v := o.In("insecure-host-key"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			refuse("insecure-host-key", v, "true or false", nil)
		}
		insecure = b
	}
	switch known := o.In("ssh-known-host"); {
	case known == "" && !insecure:
		refuse("ssh-known-host", "", `the host's public key ("ssh-ed25519 AAAA…", e.g. from ssh-keyscan), or insecure-host-key: true`, nil)
	case known == "":
		// insecure-host-key: true, which the CLI warns about.
	default:
		k, err := parseKnownHost(known)
		switch {
		case err != nil:
			errs = append(errs, err)
		case insecure:
			// The key given would be pinned whatever insecure-host-key
			// says: the pair asks for two things, and one would be ignored.
			refuse("insecure-host-key", o.In("insecure-host-key"), "false when ssh-known-host is given: the key given is "+
				"pinned and checked; give ssh-known-host or insecure-host-key: true, not both", nil)
		case hostOK && portOK:
			if err := k.matches(p.host, p.port); err != nil {
				errs = append(errs, err)
			}
			p.hostKey = k.key
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// privateKey reads the key from ssh-private-key or ssh-private-key-file.
// Its errors never quote the key, nor say more of a key that does not
// parse than its kind.
func privateKey(o providers.Options) ([]byte, error) {
	inline, file := o.In("ssh-private-key"), o.In("ssh-private-key-file")
	switch {
	case inline == "" && file == "":
		return nil, &providers.InputError{Input: "ssh-private-key",
			Expected: "the host's private key (or set ssh-private-key-file) for provider ssh"}
	case inline != "" && file != "":
		return nil, &providers.InputError{Input: "ssh-private-key-file", Value: file,
			Expected: "to be empty when ssh-private-key is set: give one of them"}
	case inline != "":
		pemBytes := []byte(inline + "\n")
		if expected := checkPrivateKey(pemBytes); expected != "" {
			if !strings.Contains(inline, "-----BEGIN") && !strings.Contains(inline, "\n") {
				expected += "; for a path use ssh-private-key-file"
			}
			return nil, &providers.InputError{Input: "ssh-private-key", Value: "***", Expected: expected}
		}
		return pemBytes, nil
	}
	if providers.LooksLikeKey(file) {
		return nil, &providers.InputError{Input: "ssh-private-key-file", Value: "***",
			Expected: "a path; pass the key itself in ssh-private-key"}
	}
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, &providers.InputError{Input: "ssh-private-key-file", Value: file, Expected: "a readable private key file", Err: err}
	}
	if expected := checkPrivateKey(pemBytes); expected != "" {
		return nil, &providers.InputError{Input: "ssh-private-key-file", Value: file, Expected: "a file holding " + expected}
	}
	return pemBytes, nil
}

// checkPrivateKey returns what was expected when data is not a usable key.
// The parser's own error is not passed on: only its kind is, never the key.
func checkPrivateKey(data []byte) string {
	_, err := xssh.ParsePrivateKey(data)
	var pass *xssh.PassphraseMissingError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pass):
		return "an unencrypted private key (this one has a passphrase)"
	}
	return "an OpenSSH or PEM private key"
}

// knownHost is the ssh-known-host input, parsed.
type knownHost struct {
	line  string   // for errors: the hosts and the key type, not the key
	key   string   // authorized_keys form
	hosts []string // nil for the key alone
}

// parseKnownHost accepts "TYPE BASE64 [comment]" or a known_hosts line
// "HOSTS TYPE BASE64".
func parseKnownHost(v string) (*knownHost, error) {
	// ParseAuthorizedKey takes a leading field that is not a key type for
	// options, so a known_hosts line would pass as a key with "options":
	// only a line that starts with its key is the key alone.
	if pub, _, opts, _, err := xssh.ParseAuthorizedKey([]byte(v)); err == nil && len(opts) == 0 {
		return &knownHost{key: strings.TrimSpace(string(xssh.MarshalAuthorizedKey(pub)))}, nil
	}
	marker, hosts, pub, _, _, err := xssh.ParseKnownHosts([]byte(v))
	if err != nil || pub == nil {
		return nil, &providers.InputError{Input: "ssh-known-host", Value: v,
			Expected: `a public key like "ssh-ed25519 AAAA…" or a known_hosts line`}
	}
	// Errors about a line that parses quote its hosts, not its key.
	line := strings.Join(hosts, ",") + " " + pub.Type() + " …"
	if marker != "" {
		return nil, &providers.InputError{Input: "ssh-known-host", Value: "@" + marker + " " + line,
			Expected: "a plain known_hosts line (the @" + marker + " marker is not supported)"}
	}
	return &knownHost{line: line, key: strings.TrimSpace(string(xssh.MarshalAuthorizedKey(pub))), hosts: hosts}, nil
}

// matches refuses a known_hosts line that is not for host:port as ssh(1)
// would look it up (hostMatches): a line for another host is refused
// rather than pinned. The key alone is for whichever host.
func (k *knownHost) matches(host string, port int) error {
	if k.hosts == nil {
		return nil
	}
	name := knownhosts.Normalize(net.JoinHostPort(host, strconv.Itoa(port)))
	if hostMatches(k.hosts, name) {
		return nil
	}
	return &providers.InputError{Input: "ssh-known-host", Value: k.line,
		Expected: fmt.Sprintf(`a known_hosts line whose hosts include %s (as ssh-keyscan -p %d %s prints it), or the key alone as "ssh-ed25519 AAAA…"`,
			name, port, host),
		Err: fmt.Errorf("the line is for %q, not for ssh-host %s port %d", strings.Join(k.hosts, ","), host, port)}
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
