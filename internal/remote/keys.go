package remote

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Keys are one run's SSH keys: the client key the cycle logs in with and the
// host key the host is given (cloud-init ssh_keys, or the local sshd) and must
// present. They live only in memory. Printing or logging a Keys shows
// fingerprints, never key material.
type Keys struct {
	// Client signs the login. It redacts itself when printed.
	Client ssh.Signer
	// ClientAuthorized is the client public key in authorized_keys form
	// ("ssh-ed25519 AAAA..."), without a trailing newline.
	ClientAuthorized string
	// HostPrivatePEM is the host's ed25519 private key in OpenSSH PEM form,
	// what cloud-init's ssh_keys.ed25519_private takes. Secret.
	HostPrivatePEM []byte
	// HostPublic is the host public key in authorized_keys form, what
	// cloud-init's ssh_keys.ed25519_public takes and Target.HostKey pins.
	HostPublic string

	// clientKey is kept only so `mvm-verify up` can hand the key to the
	// user (ClientPrivatePEM); nothing else serializes it.
	clientKey ed25519.PrivateKey
}

// ClientPrivatePEM serializes the client key in OpenSSH PEM form, for the one
// case where a person must log in after we are gone (`mvm-verify up`, which
// writes it to a 0600 file). Secret.
func (k *Keys) ClientPrivatePEM() ([]byte, error) {
	if k == nil || k.clientKey == nil {
		return nil, errors.New("no client key to export")
	}
	block, err := ssh.MarshalPrivateKey(k.clientKey, "mvm-verify client key")
	if err != nil {
		return nil, fmt.Errorf("encode client key: %w", err)
	}
	return pem.EncodeToMemory(block), nil
}

// GenerateKeys makes a fresh ed25519 client key and ed25519 host key.
func GenerateKeys() (*Keys, error) {
	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate client key: %w", err)
	}
	client, err := ssh.NewSignerFromKey(clientPriv)
	if err != nil {
		return nil, fmt.Errorf("generate client key: %w", err)
	}
	hostPub, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(hostPriv, "mvm-verify host key")
	if err != nil {
		return nil, fmt.Errorf("encode host key: %w", err)
	}
	sshHostPub, err := ssh.NewPublicKey(hostPub)
	if err != nil {
		return nil, fmt.Errorf("encode host key: %w", err)
	}
	return &Keys{
		Client:           redact(client),
		ClientAuthorized: AuthorizedKey(client.PublicKey()),
		HostPrivatePEM:   pem.EncodeToMemory(block),
		HostPublic:       AuthorizedKey(sshHostPub),
		clientKey:        clientPriv,
	}, nil
}

// minSecretLen keeps short fragments (the last, partial line of a PEM body)
// out of the mask list: masking a few base64 characters wherever they occur
// would garble logs while hiding nothing of use.
const minSecretLen = 16

// Secrets returns the strings to mask in everything printed: each body line
// of the private PEM. The armor lines ("-----BEGIN ...") are not secret and
// are left out. The client key has no serialized form, so it has nothing to
// mask.
func (k *Keys) Secrets() []string {
	if k == nil {
		return nil
	}
	return pemSecrets(k.HostPrivatePEM)
}

func pemSecrets(pemBytes []byte) []string {
	var out []string
	for line := range strings.Lines(string(pemBytes)) {
		line = strings.TrimSpace(line)
		if len(line) < minSecretLen || strings.HasPrefix(line, "-----") {
			continue
		}
		out = append(out, line)
	}
	return out
}

// String shows the fingerprints only.
func (k Keys) String() string {
	return fmt.Sprintf("remote.Keys{client: %s, host: %s}", signerFingerprint(k.Client), authorizedFingerprint(k.HostPublic))
}

// GoString keeps %#v from dumping the PEM.
func (k Keys) GoString() string { return k.String() }

// Format makes every verb (%v, %+v, %#v, %s, %x, %q) print String.
func (k Keys) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// LogValue logs fingerprints only.
func (k Keys) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client", signerFingerprint(k.Client)),
		slog.String("host", authorizedFingerprint(k.HostPublic)),
	)
}

// AuthorizedKey renders a public key in authorized_keys form without the
// trailing newline.
func AuthorizedKey(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// ParseAuthorizedKey parses one authorized_keys line; what names the value
// in the error ("host key").
func ParseAuthorizedKey(what, line string) (ssh.PublicKey, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, fmt.Errorf("%s %q: want an authorized_keys line such as \"ssh-ed25519 AAAA...\": %w", what, truncate(line, 40), err)
	}
	return k, nil
}

// Fingerprint returns the SHA256 fingerprint ("SHA256:...") of an
// authorized_keys line.
func Fingerprint(authorized string) (string, error) {
	k, err := ParseAuthorizedKey("public key", authorized)
	if err != nil {
		return "", err
	}
	return ssh.FingerprintSHA256(k), nil
}

// ParsePrivateKey parses an unencrypted private key (bring-your-own hosts)
// into a signer that redacts itself when printed. The error never quotes the
// key.
func ParsePrivateKey(pemBytes []byte) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("private key: encrypted keys are not supported; want an unencrypted OpenSSH or PEM private key")
		}
		return nil, fmt.Errorf("private key: want an unencrypted OpenSSH or PEM private key: %w", err)
	}
	return redact(s), nil
}

// PrivateKeySecrets returns the body lines of a private key PEM to mask.
func PrivateKeySecrets(pemBytes []byte) []string { return pemSecrets(pemBytes) }

func authorizedFingerprint(line string) string {
	if line == "" {
		return "none"
	}
	fp, err := Fingerprint(line)
	if err != nil {
		return "invalid"
	}
	return fp
}

func signerFingerprint(s ssh.Signer) string {
	if s == nil {
		return "none"
	}
	return ssh.FingerprintSHA256(s.PublicKey())
}

// redact wraps a signer so it prints as its fingerprint: a struct holding
// it (Keys, Target) then cannot leak the private key through fmt or slog.
// The wrapper keeps the algorithm interfaces of the signer it wraps, since
// the client picks rsa-sha2-* only for signers that have them.
func redact(s ssh.Signer) ssh.Signer {
	switch s := s.(type) {
	case ssh.MultiAlgorithmSigner:
		return redactedMultiSigner{s}
	case ssh.AlgorithmSigner:
		return redactedAlgSigner{s}
	}
	return redactedSigner{s}
}

type redactedSigner struct{ ssh.Signer }

type redactedAlgSigner struct{ ssh.AlgorithmSigner }

type redactedMultiSigner struct{ ssh.MultiAlgorithmSigner }

func redactedString(s ssh.Signer) string { return "ssh.Signer(" + signerFingerprint(s) + ")" }

func (s redactedSigner) String() string       { return redactedString(s) }
func (s redactedSigner) GoString() string     { return s.String() }
func (s redactedSigner) LogValue() slog.Value { return slog.StringValue(s.String()) }

func (s redactedAlgSigner) String() string       { return redactedString(s) }
func (s redactedAlgSigner) GoString() string     { return s.String() }
func (s redactedAlgSigner) LogValue() slog.Value { return slog.StringValue(s.String()) }

func (s redactedMultiSigner) String() string       { return redactedString(s) }
func (s redactedMultiSigner) GoString() string     { return s.String() }
func (s redactedMultiSigner) LogValue() slog.Value { return slog.StringValue(s.String()) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
