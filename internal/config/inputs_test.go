package config

import (
	"strings"
	"testing"
)

func input(t *testing.T, name string) Input {
	t.Helper()
	for _, in := range Inputs() {
		if in.Name == name {
			return in
		}
	}
	t.Fatalf("no input %q", name)
	return Input{}
}

// NotApplying is what the CLI warns with: it names the mode or provider
// and who the input is for.
func TestNotApplying(t *testing.T) {
	tests := []struct {
		input, mode, provider string
		want                  string // "" when the input applies
	}{
		{"ssh-host", ModeRun, "local", "does not apply to provider local (it is for ssh)"},
		{"ssh-host", ModeRun, "ssh", ""},
		{"ssh-host", ModeDown, "", ""},
		{"ssh-host", ModeReport, "", "does not apply to report (it is for run, up, down)"},
		{"step-timeout", ModeUp, "local", "does not apply to up (it is for run)"},
		{"instance-type", ModeRun, "local", "does not apply to provider local (it is for providers that create a cloud host, not local or ssh)"},
		{"region", ModeRun, "ssh", "does not apply to provider ssh"},
		{"region", ModeRun, "aws", ""},
		// A cloud added later is not in the list and gets the input.
		{"region", ModeRun, "gcp", ""},
		{"matrix-file", ModeRun, "aws", "does not apply to run (it is for report)"},
		{"out", ModeReport, "", ""},
	}
	for _, tt := range tests {
		got := input(t, tt.input).NotApplying(tt.mode, tt.provider)
		if tt.want == "" && got != "" || !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s in %s for %q: %q, want %q", tt.input, tt.mode, tt.provider, got, tt.want)
		}
		if applies := input(t, tt.input).AppliesTo(tt.mode, tt.provider); applies != (got == "") {
			t.Errorf("%s in %s for %q: AppliesTo %v but NotApplying %q", tt.input, tt.mode, tt.provider, applies, got)
		}
	}
}
