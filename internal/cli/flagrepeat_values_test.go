package cli

import (
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/config"
)

// repeatedFlagError is repeatedFlag's error for name given the values in
// given, every other input's flag given nothing but secrets' as listed.
func repeatedFlagError(name string, given []string, secrets map[string][]string) string {
	flags := map[string]*inputFlag{}
	for _, in := range config.Inputs() {
		flags[in.Name] = &inputFlag{name: in.Name, given: secrets[in.Name]}
	}
	flags[name].given = given
	return repeatedFlag(flags[name], flags).Error()
}

// A secret flag's values read *** however short they are: the rule that
// hides a secret pasted elsewhere looks only for 8 characters or more.
func TestRepeatedSecretFlagShortValuesHidden(t *testing.T) {
	got := repeatedFlagError("github-token", []string{"abc", "def"}, nil)
	if want := "flag --github-token given twice (***, then ***): give it once"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// Key material in a flag that is not secret reads ***, by its armour or by
// its "PRIVATE KEY" alone.
func TestRepeatedFlagKeyMaterialHidden(t *testing.T) {
	for _, v := range []string{
		"-----BEGIN OPENSSH PRIVATE KEY-----",
		"OPENSSH PRIVATE KEY b3BlbnNzaC1rZXktdjE",
	} {
		got := repeatedFlagError("display", []string{v, "AWS"}, nil)
		if want := `flag --display given twice (***, then "AWS"): give it once`; got != want {
			t.Errorf("%q:\ngot  %s\nwant %s", v, got, want)
		}
	}
}

// A long value (a script pasted into a flag) is quoted as its first line,
// cut to 60 characters.
func TestRepeatedFlagLongValueShortened(t *testing.T) {
	first := strings.Repeat("a", 70)
	v := first + "\n" + strings.Repeat("b", 29)
	got := repeatedFlagError("display", []string{v, "x\ny"}, nil)
	want := `flag --display given twice ("` + strings.Repeat("a", 60) + `…", then "x…"): give it once`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
