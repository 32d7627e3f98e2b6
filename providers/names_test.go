package providers

import "testing"

// The name forms the configuration and the adapters share.
func TestNameForms(t *testing.T) {
	for s, want := range map[string]bool{
		"ubuntu": true, "_svc": true, "ec2-user": true, "a_b-c9": true, "abcdefghijklmnopqrstuvwxyz012345": true,
		"": false, "Ab": false, "a.b": false, "9lives": false, "-x": false, "root$": false, "a b": false,
		"abcdefghijklmnopqrstuvwxyz0123456": false, // 33
	} {
		if got := ValidUserName(s); got != want {
			t.Errorf("ValidUserName(%q) = %v, want %v", s, got, want)
		}
	}
	for s, want := range map[string]bool{"aws": true, "new-cloud": true, "a1": true, "": false, "AWS": false, "1aws": false, "new_cloud": false} {
		if got := ValidName(s); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
	}
}
