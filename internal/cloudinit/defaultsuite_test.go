package cloudinit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/cloudinit"
	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/remote"
)

// TestBuiltInSuiteUserDataSchema renders the user data of a run of the
// built-in suite as the cycle does (internal/verify's preflight: the run's
// keys, the suite's user, packages and bootstrap, a ready marker and the
// TTL) and has the real cloud-init validate it: the suite most runs use
// is not one of TestCloudInitSchema's hand-made variants.
func TestBuiltInSuiteUserDataSchema(t *testing.T) {
	// What config.Load expands it with outside Actions, with a ref as a
	// pull request gives it.
	suite, err := config.DefaultSuite().Expand(config.Vars{
		Repo: config.DefaultRepository,
		Ref:  "0123456789abcdef0123456789abcdef01234567",
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := remote.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cloudinit.Render(cloudinit.Config{
		User:              suite.User,
		AuthorizedKeys:    []string{keys.ClientAuthorized},
		HostKeyPrivatePEM: string(keys.HostPrivatePEM),
		HostKeyPublic:     keys.HostPublic,
		Packages:          suite.Packages,
		Bootstrap:         suite.Bootstrap,
		ReadyMarker:       "/var/lib/mvm-verify/ready-mvmv-1-1-verify-0",
		TTL:               3 * time.Hour, // the ttl input's default
	})
	if err != nil {
		t.Fatalf("render the built-in suite's user data: %v", err)
	}
	// The document must be the suite's, or the check below proves little.
	if len(suite.Bootstrap) == 0 || len(suite.Packages) == 0 {
		t.Fatalf("the built-in suite has no bootstrap or no packages: %+v", suite)
	}
	for _, want := range append([]string{"name: " + suite.User}, suite.Packages...) {
		if !strings.Contains(string(doc), want) {
			t.Errorf("the user data lacks %q:\n%s", want, doc)
		}
	}
	if out, err := cloudinit.Schema(t, doc); err != nil {
		t.Errorf("cloud-init schema rejects the built-in suite's user data (%v):\n%s\n--- document ---\n%s", err, out, doc)
	}
}
