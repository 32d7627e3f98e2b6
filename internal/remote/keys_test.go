package remote

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestGenerateKeys(t *testing.T) {
	k, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	host, err := ssh.ParseRawPrivateKey(k.HostPrivatePEM)
	if err != nil {
		t.Fatalf("host PEM does not parse: %v", err)
	}
	hostSigner, err := ssh.NewSignerFromKey(host)
	if err != nil {
		t.Fatal(err)
	}
	if got := AuthorizedKey(hostSigner.PublicKey()); got != k.HostPublic {
		t.Errorf("HostPublic %q does not match the private key's %q", k.HostPublic, got)
	}
	if !strings.HasPrefix(k.HostPublic, "ssh-ed25519 ") || !strings.HasPrefix(k.ClientAuthorized, "ssh-ed25519 ") {
		t.Errorf("want ed25519 keys, got host %q client %q", k.HostPublic, k.ClientAuthorized)
	}
	if got := AuthorizedKey(k.Client.PublicKey()); got != k.ClientAuthorized {
		t.Errorf("ClientAuthorized %q does not match the signer's %q", k.ClientAuthorized, got)
	}
	if !bytes.HasPrefix(k.HostPrivatePEM, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n")) {
		t.Errorf("host key is not OpenSSH PEM: starts %q", k.HostPrivatePEM[:30])
	}
	other, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	if other.HostPublic == k.HostPublic || other.ClientAuthorized == k.ClientAuthorized {
		t.Error("two runs got the same key")
	}
}

// OpenSSH itself (what sshd and cloud-init's ssh_keys hand it to) must read
// the host key.
func TestHostKeyReadByOpenSSH(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Fatal("ssh-keygen is not installed: install Debian's openssh-client (.ci/run does)")
	}
	k, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "host")
	if err := os.WriteFile(path, k.HostPrivatePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(keygen, "-y", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -y: %v: %s", err, out)
	}
	got, want := strings.Fields(string(out)), strings.Fields(k.HostPublic)
	if len(got) < 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ssh-keygen derived %q, want %q", out, k.HostPublic)
	}
}

func TestSecretsAreThePEMBody(t *testing.T) {
	k, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	secrets := k.Secrets()
	if len(secrets) < 3 {
		t.Fatalf("got %d secrets, want every body line of the PEM", len(secrets))
	}
	for _, s := range secrets {
		if strings.Contains(s, "-----") || strings.ContainsAny(s, "\r\n ") || len(s) < minSecretLen {
			t.Errorf("secret %q: want a body line", s)
		}
		if !bytes.Contains(k.HostPrivatePEM, []byte(s)) {
			t.Errorf("secret %q is not in the PEM", s)
		}
	}
	masked := MaskString(string(k.HostPrivatePEM), secrets)
	for line := range strings.Lines(masked) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "-----") && line != Mask && len(line) >= minSecretLen {
			t.Errorf("PEM line survived masking: %q", line)
		}
	}
}

// leakProbes returns substrings that must never be printed: every PEM body
// line, and the raw private key in the encodings a careless %v or %x would
// produce.
func leakProbes(t *testing.T, k *Keys) []string {
	t.Helper()
	raw, err := ssh.ParseRawPrivateKey(k.HostPrivatePEM)
	if err != nil {
		t.Fatal(err)
	}
	seed := fmt.Sprintf("%v", raw) // the ed25519 key as fmt would print it
	rawBytes := []byte(fmt.Sprintf("%s", raw))
	probes := append([]string{}, k.Secrets()...)
	probes = append(probes, seed[1:40], hex.EncodeToString(rawBytes)[:40], base64.StdEncoding.EncodeToString(rawBytes)[:40])
	// The client key, which Keys holds unexported for ClientPrivatePEM.
	clientPEM, err := k.ClientPrivatePEM()
	if err != nil {
		t.Fatal(err)
	}
	clientRaw, err := ssh.ParseRawPrivateKey(clientPEM)
	if err != nil {
		t.Fatal(err)
	}
	probes = append(probes, fmt.Sprintf("%v", clientRaw)[1:40], hex.EncodeToString([]byte(fmt.Sprintf("%s", clientRaw)))[:40])
	// The PEM itself as %v, %x and %q would print a []byte.
	body := k.HostPrivatePEM[40:]
	probes = append(probes, fmt.Sprintf("%v", body)[1:80], hex.EncodeToString(body)[:60], strings.ToUpper(hex.EncodeToString(body)[:60]))
	return probes
}

func TestKeysNeverPrintPrivateMaterial(t *testing.T) {
	k, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	// hostSigner holds a private key the probes know, so a signer that
	// printed itself would be caught.
	hostSigner, err := ParsePrivateKey(k.HostPrivatePEM)
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Addr: "203.0.113.7", User: "mvm", Signer: hostSigner, HostKey: k.HostPublic}
	type holder struct {
		Keys   Keys
		Ptr    *Keys
		Target Target
		Signer ssh.Signer
	}
	var printed []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o"} {
		printed = append(printed,
			fmt.Sprintf(verb, k), fmt.Sprintf(verb, *k), fmt.Sprintf(verb, target),
			fmt.Sprintf(verb, k.Client), fmt.Sprintf(verb, hostSigner), fmt.Sprintf(verb, holder{*k, k, target, hostSigner}))
	}
	var logged bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logged, nil), slog.NewTextHandler(&logged, nil)} {
		slog.New(h).Info("keys", "keys", k, "value", *k, "target", target, "signer", k.Client, "host", hostSigner)
	}
	printed = append(printed, logged.String())
	all := strings.Join(printed, "\n")
	for _, p := range leakProbes(t, k) {
		if strings.Contains(all, p) {
			t.Fatalf("private material %q printed in:\n%s", p, all)
		}
	}
	// And what is printed is the fingerprint, so it is still useful.
	fp := ssh.FingerprintSHA256(k.Client.PublicKey())
	if !strings.Contains(fmt.Sprintf("%+v", k), fp) || !strings.Contains(logged.String(), fp) {
		t.Errorf("client fingerprint %s missing from %+v / %s", fp, k, logged.String())
	}
}

func TestParsePrivateKey(t *testing.T) {
	k, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParsePrivateKey(k.HostPrivatePEM)
	if err != nil {
		t.Fatal(err)
	}
	if AuthorizedKey(s.PublicKey()) != k.HostPublic {
		t.Error("parsed key has a different public key")
	}
	if got := fmt.Sprintf("%#v", s); strings.Contains(got, k.Secrets()[0]) || !strings.Contains(got, "SHA256:") {
		t.Errorf("parsed signer prints %q", got)
	}
	_, err = ParsePrivateKey([]byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n"))
	if err == nil || strings.Contains(err.Error(), "not a key") {
		t.Errorf("bad key: err = %v, want an error that does not quote the input", err)
	}
}

func TestFingerprint(t *testing.T) {
	k, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	fp, err := Fingerprint(k.HostPublic)
	if err != nil || !strings.HasPrefix(fp, "SHA256:") {
		t.Fatalf("Fingerprint = %q, %v", fp, err)
	}
	if _, err := Fingerprint("ssh-ed25519 notbase64!"); err == nil || !strings.Contains(err.Error(), "want an authorized_keys line") {
		t.Errorf("bad key: err = %v", err)
	}
}

func TestClientPrivatePEM(t *testing.T) {
	k, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := k.ClientPrivatePEM()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	if AuthorizedKey(s.PublicKey()) != k.ClientAuthorized {
		t.Error("exported client key is not the one Keys logs in with")
	}
	if _, err := (&Keys{}).ClientPrivatePEM(); err == nil {
		t.Error("a Keys without a client key exported one")
	}
}
