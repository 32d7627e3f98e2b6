package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"log/slog"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/providers"
)

// `providers --json` lists each provider's inputs from the input table, the
// source the configuration reads: every input a provider asks for, and
// every one its Info declares, is listed there (or applies to every
// provider), so the list cannot leave out what the provider reads.
func TestProviderInputsListWhatIsRead(t *testing.T) {
	general := map[string]bool{}
	for _, in := range config.Inputs() {
		if len(in.Providers) == 0 && len(in.NotProviders) == 0 {
			general[in.Name] = true
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	// Values that let New get as far as it can, reading all it reads.
	values := map[string]string{
		"ssh-host": "127.0.0.1", "ssh-user": "root", "ssh-private-key": string(pem.EncodeToMemory(block)),
		"insecure-host-key": "true", "region": "us-east-1", "aws-endpoint": "http://127.0.0.1:1",
		"local-state-dir": t.TempDir(),
	}
	reg := registry()
	for _, name := range reg.Names() {
		entry, err := reg.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		listed := providerInputs(name)
		read := map[string]bool{}
		opts := providers.Options{
			Input:  func(n string) string { read[n] = true; return values[n] },
			Getenv: func(string) string { return "" },
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		}
		if p, err := entry.New(opts); err == nil {
			// Cancelled: nothing is reached, but what preflight reads
			// from its inputs is read.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = p.Preflight(ctx, providers.Request{User: "root", Lane: "kvm"})
		} else {
			t.Logf("%s: New: %v", name, err)
		}
		if len(read) == 0 {
			t.Errorf("%s read no input: this test checks nothing for it", name)
		}
		for n := range read {
			if !general[n] && !slices.Contains(listed, n) {
				t.Errorf("%s reads input %q, which providers --json does not list for it (listed: %v)", name, n, listed)
			}
		}
		for _, n := range entry.Info.Inputs {
			if !general[n] && !slices.Contains(listed, n) {
				t.Errorf("%s declares input %q, which providers --json does not list for it (listed: %v)", name, n, listed)
			}
		}
	}
}
