package config

import (
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers/aws"
)

// An input with no Default shows `—` in the docs' Default column, which
// reads as "none"; the ones a provider fills in anyway must say what it
// fills in, in the column and the description, with the values the
// provider really uses.
func TestProviderFilledDefaultsAreDocumented(t *testing.T) {
	for name, wants := range map[string][]string{
		"region":        {"AWS_REGION", "AWS_DEFAULT_REGION", aws.DefaultRegion},
		"instance-type": {aws.DefaultType},
	} {
		in := input(t, name)
		if in.Default != "" {
			t.Errorf("input %s has Default %q: it would override the provider's own default", name, in.Default)
		}
		for _, w := range wants {
			if !strings.Contains(in.Description, w) {
				t.Errorf("input %s's description does not name its default %q: %s", name, w, in.Description)
			}
			if !strings.Contains(in.DocDefault, w) {
				t.Errorf("input %s's Default column %q does not name %q", name, in.DocDefault, w)
			}
		}
	}
}
