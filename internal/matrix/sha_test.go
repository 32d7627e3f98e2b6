package matrix

import (
	"strings"
	"testing"
)

// ValidSHA takes a full SHA-1 or SHA-256 commit id in lowercase hex, and
// nothing else a head-sha input or an event payload might carry.
func TestValidSHA(t *testing.T) {
	sha1 := strings.Repeat("0123456789", 4)
	sha256 := strings.Repeat("abcdef0123456789", 4)
	for _, s := range []string{sha1, sha256, strings.Repeat("f", 40)} {
		if !ValidSHA(s) {
			t.Errorf("ValidSHA(%q) = false, want true", s)
		}
	}
	for _, s := range []string{
		"", "HEAD", "main", sha1[:7], sha1[:39], sha1 + "0", sha256[:63], sha256 + "0",
		strings.ToUpper(sha256), sha1[:39] + "g", sha1[:39] + "/", sha1[:39] + ":", sha1[:39] + "`",
		" " + sha1[:39], sha1[:39] + "\n",
	} {
		if ValidSHA(s) {
			t.Errorf("ValidSHA(%q) = true, want false", s)
		}
	}
}
