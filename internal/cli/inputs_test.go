package cli

import (
	"strings"
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

// A word after a bool flag is its value, whatever it is (the value is
// checked later); after a flag that takes a value it is that value, and
// after "--" or an argument nothing is read.
func TestJoinBoolValues(t *testing.T) {
	bools := map[string]bool{"comment": true, "insecure-host-key": true}
	tests := []struct{ in, want string }{
		{"--comment false", "--comment=false"},
		{"-comment TRUE --provider local", "-comment=TRUE --provider local"},
		{"--comment=false false", "--comment=false false"},
		{"--display false --comment", "--display false --comment"},
		{"--comment no", "--comment=no"},
		{"--comment -- false", "--comment -- false"},
		{"--comment --provider local", "--comment --provider local"},
		{"--provider local -- --comment false", "--provider local -- --comment false"},
		{"extra --comment false", "extra --comment false"},
	}
	for _, tt := range tests {
		got := strings.Join(joinBoolValues(strings.Fields(tt.in), bools), " ")
		if got != tt.want {
			t.Errorf("joinBoolValues(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"provider", "providers", "probe", "run", "json", "ssh-host", "ssh-port"}
	tests := []struct{ in, want string }{
		{"providr", "provider"},
		{"rnu", "run"},
		{"jsn", "json"},
		{"ssh-hots", "ssh-host"},
		{"region", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, names); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
