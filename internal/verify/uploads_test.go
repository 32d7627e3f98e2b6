package verify

import "testing"

// The upload check's answer is its marked line, whatever a login profile
// printed around it; anything else is no answer.
func TestParseUploadCheck(t *testing.T) {
	cases := []struct {
		out     string
		missing int
		kept    string
		ok      bool
	}{
		{"mvm-verify-upload: 2 no\n", 2, "no", true},
		{"pyenv: some noise\nmvm-verify-upload: 0 yes\n", 0, "yes", true},
		{"mvm-verify-upload: 0 dir", 0, "dir", true},
		{"", 0, "", false},
		{"mvm-verify-upload: -1 no\n", 0, "", false},
		{"mvm-verify-upload: 1 maybe\n", 1, "maybe", false},
		{"mvm-verify-upload: x no\n", 0, "", false},
	}
	for _, tc := range cases {
		missing, kept, ok := parseUploadCheck([]byte(tc.out))
		if ok != tc.ok || (ok && (missing != tc.missing || kept != tc.kept)) {
			t.Errorf("parseUploadCheck(%q) = %d %q %v, want %d %q %v", tc.out, missing, kept, ok, tc.missing, tc.kept, tc.ok)
		}
	}
}
