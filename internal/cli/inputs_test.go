package cli

import (
	"testing"

	"github.com/sethvargo/go-githubactions"
)

// The runner passes input foo-bar as INPUT_FOO-BAR (hyphens kept) and sets
// every declared input, so an empty one must read as not given.
func TestActionSource(t *testing.T) {
	environ := map[string]string{
		"INPUT_PROVIDER":        "aws",
		"INPUT_TIMEOUT-MINUTES": " 45\n",
		"INPUT_MAX-COST":        "",
	}
	gha := githubactions.New(githubactions.WithGetenv(func(k string) string { return environ[k] }))
	src := actionSource(gha)
	tests := []struct {
		name, want string
		given      bool
	}{
		{"provider", "aws", true},
		{"timeout-minutes", "45", true},
		{"max-cost", "", false},
		{"region", "", false},
	}
	for _, tt := range tests {
		got, given := src(tt.name)
		if got != tt.want || given != tt.given {
			t.Errorf("input %q = %q, %v; want %q, %v", tt.name, got, given, tt.want, tt.given)
		}
	}
}
