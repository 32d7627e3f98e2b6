package badinput

import (
	"errors"
	"io/fs"
	"testing"
)

// Every refused input reads the same, whoever refuses it: the input's
// name quoted, the value given and the form expected, then the cause. A
// candidate's field reads as its single input until the caller names the
// candidates entry, and key material is never echoed.
func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *Error
		want string
	}{
		{"value", &Error{Input: "ssh-user", Value: "Ab", Expected: "a user name like ubuntu"},
			`input "ssh-user": got "Ab", expected a user name like ubuntu`},
		{"missing", &Error{Input: "ssh-host", Expected: "a host name"},
			`input "ssh-host": missing, expected a host name`},
		{"given empty", &Error{Input: "out", GivenEmpty: true, Expected: "a directory path"},
			`input "out": got "", expected a directory path`},
		{"cause", &Error{Input: "ssh-private-key-file", Value: "/k", Expected: "a readable private key file", Err: errors.New("no such file")},
			`input "ssh-private-key-file": got "/k", expected a readable private key file (no such file)`},
		{"cause alone", &Error{Input: "suite", Err: errors.New("s.yml:3: steps: missing")},
			`input "suite": s.yml:3: steps: missing`},
		{"candidate type", &Error{Field: "type", Value: "t3.large", Expected: "a type with KVM"},
			`input "instance-type": got "t3.large", expected a type with KVM`},
		{"candidate region", &Error{Field: "region", Value: "Mars", Expected: "an AWS region"},
			`input "region": got "Mars", expected an AWS region`},
		{"candidates entry", &Error{Input: "candidates[1].type", Field: "type", Value: "t3.large", Expected: "a type with KVM"},
			`input "candidates[1].type": got "t3.large", expected a type with KVM`},
		{"key material", &Error{Input: "ssh-host", Value: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n", Expected: "a host name"},
			`input "ssh-host": got "***", expected a host name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q\nwant       %q", got, tc.want)
			}
		})
	}
}

// The cause stays reachable through the error, as the CLI and callers
// test it with errors.Is.
func TestUnwrap(t *testing.T) {
	err := error(&Error{Input: "matrix-file", Value: "docs/matrix.md", Expected: "x", Err: fs.ErrNotExist})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v does not unwrap to its cause", err)
	}
}
