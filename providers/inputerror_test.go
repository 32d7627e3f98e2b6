package providers

import (
	"errors"
	"testing"
)

// Every refused input reads the same, whoever refuses it: the input's
// name quoted, the value given and the form expected, then the cause. A
// candidate's field reads as its single input until the caller names the
// candidates entry, and key material is never echoed.
func TestInputErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *InputError
		want string
	}{
		{"value", &InputError{Input: "ssh-user", Value: "Ab", Expected: "a user name like ubuntu"},
			`input "ssh-user": got "Ab", expected a user name like ubuntu`},
		{"missing", &InputError{Input: "ssh-host", Expected: "a host name"},
			`input "ssh-host": missing, expected a host name`},
		{"given empty", &InputError{Input: "out", GivenEmpty: true, Expected: "a directory path"},
			`input "out": got "", expected a directory path`},
		{"cause", &InputError{Input: "ssh-private-key-file", Value: "/k", Expected: "a readable private key file", Err: errors.New("no such file")},
			`input "ssh-private-key-file": got "/k", expected a readable private key file (no such file)`},
		{"cause alone", &InputError{Input: "suite", Err: errors.New("s.yml:3: steps: missing")},
			`input "suite": s.yml:3: steps: missing`},
		{"candidate type", &InputError{Field: "type", Value: "t3.large", Expected: "a type with KVM"},
			`input "instance-type": got "t3.large", expected a type with KVM`},
		{"candidate region", &InputError{Field: "region", Value: "Mars", Expected: "an AWS region"},
			`input "region": got "Mars", expected an AWS region`},
		{"candidates entry", &InputError{Input: "candidates[1].type", Field: "type", Value: "t3.large", Expected: "a type with KVM"},
			`input "candidates[1].type": got "t3.large", expected a type with KVM`},
		{"key material", &InputError{Input: "ssh-host", Value: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n", Expected: "a host name"},
			`input "ssh-host": got "***", expected a host name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q\nwant       %q", got, tc.want)
			}
		})
	}
}

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
