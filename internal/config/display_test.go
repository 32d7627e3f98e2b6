package config

import (
	"strings"
	"testing"
)

// display is capped at load: one of thousands of characters, each escaped
// to up to 14 bytes in the matrix, would leave its row no room in the PR
// comment, and the report would fail at the end with an error not naming
// display. Any character is allowed; the cap counts characters, not bytes.
func TestLoadDisplayLength(t *testing.T) {
	tests := []struct {
		name    string
		display string
		ok      bool
	}{
		{"short", "AWS (c8i, spot)", true},
		{"at the cap", strings.Repeat("$", MaxDisplayLen), true},
		{"at the cap, multi-byte", strings.Repeat("é", MaxDisplayLen), true},
		{"one past the cap", strings.Repeat("a", MaxDisplayLen+1), false},
		{"one past the cap, multi-byte", strings.Repeat("é", MaxDisplayLen+1), false},
		{"thousands of dollar signs", strings.Repeat("$", 6000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := load(t, map[string]string{"provider": "aws", "display": tt.display})
			if tt.ok {
				if err != nil {
					t.Fatalf("display of %d characters: %v", len([]rune(tt.display)), err)
				}
				if r.Display != tt.display {
					t.Errorf("Display = %q, want %q", r.Display, tt.display)
				}
				return
			}
			// The value is echoed shortened (80 characters and …), not whole.
			wantInputError(t, err, "display", `got "`+string([]rune(tt.display)[:80])+`…"`, "expected at most 100 characters")
			if strings.Contains(err.Error(), string([]rune(tt.display)[:81])) {
				t.Errorf("error echoes more than 80 characters of display: %.200s", err)
			}
		})
	}
}

// The input's description states the cap the loader enforces.
func TestDisplayDescriptionStatesCap(t *testing.T) {
	for _, in := range Inputs() {
		if in.Name == "display" && !strings.Contains(in.Description, "at most 100 characters") {
			t.Errorf("display's description %q does not state its cap", in.Description)
		}
	}
}
