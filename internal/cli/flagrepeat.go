package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tinylabscom/mvm-verify/internal/config"
)

// repeatedFlag is the error for an input flag given more than once. The
// last value does not silently win: a wrapper script that puts
// --provider local before the user's --provider aws would otherwise run
// on a billed cloud, or the other way round, without a word. Both forms
// count (--lane kvm and --lane=kvm), and so does a bare switch
// (--comment then --comment=false). A secret flag's values, and any value
// that looks like a key or holds a secret flag's value, read ***.
func repeatedFlag(f *inputFlag, flags map[string]*inputFlag) error {
	secrets := flagSecrets(flags)
	secret := isSecretInput(f.name)
	values := make([]string, len(f.given))
	for i, v := range f.given {
		values[i] = quoteFlagValue(v, secret, secrets)
	}
	times := "twice"
	if len(values) > 2 {
		times = fmt.Sprintf("%d times", len(values))
	}
	last := len(values) - 1
	list := strings.Join(values[:last], ", ") + ", then " + values[last]
	return fmt.Errorf("flag --%s given %s (%s): give it once", f.name, times, list)
}

// flagSecrets is every value the secret input flags were given.
func flagSecrets(flags map[string]*inputFlag) []string {
	var secrets []string
	for _, in := range config.Inputs() {
		if in.Secret {
			secrets = append(secrets, flags[in.Name].given...)
		}
	}
	return secrets
}

func isSecretInput(name string) bool {
	for _, in := range config.Inputs() {
		if in.Name == name {
			return in.Secret
		}
	}
	return false
}

// quoteFlagValue is a value as the error quotes it: *** for a secret, for
// key material, and for anything holding a secret's value or a line of
// one (a token pasted into the wrong flag); else quoted, shortened to its
// first line and 60 characters.
func quoteFlagValue(v string, secret bool, secrets []string) string {
	if secret || strings.Contains(v, "-----BEGIN") || strings.Contains(v, "PRIVATE KEY") {
		return "***"
	}
	for _, s := range secrets {
		for _, line := range strings.Split(s, "\n") {
			// Shorter lines (a key's last one) match unrelated values by
			// chance.
			if line = strings.TrimSpace(line); len(line) >= 8 && strings.Contains(v, line) {
				return "***"
			}
		}
	}
	const max = 60
	if first, _, multi := strings.Cut(v, "\n"); multi {
		v = first + "…"
	}
	if r := []rune(v); len(r) > max {
		v = string(r[:max]) + "…"
	}
	return strconv.Quote(v)
}
