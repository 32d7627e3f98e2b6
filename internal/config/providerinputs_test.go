package config

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws"
	sshprovider "github.com/tinylabscom/mvm-verify/providers/ssh"
)

// A provider's inputs have one rule, the provider's own: what Load refuses
// for them is what the provider's factory refuses, word for word, and Load
// refuses it with every other bad input before anything starts. The cases
// are the values on which config's old copy of the rules and the adapters'
// disagreed (a dot in ssh-user, no length limit, host:port, subnet-zz, a
// role ARN with a space), and a few more.
func TestProviderInputsHaveOneRule(t *testing.T) {
	sshBase := map[string]string{"provider": "ssh", "ssh-host": "192.0.2.1", "ssh-private-key": testKeyPEM(t), "insecure-host-key": "true"}
	awsBase := map[string]string{"provider": "aws"}
	over := func(base map[string]string, kv ...string) map[string]string {
		m := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name, input string
		in          map[string]string
		want        string
		// cands is the candidates input as config parses it, for the
		// factory.
		cands []providers.Candidate
	}{
		{"ssh-user with a dot", "ssh-user", over(sshBase, "ssh-user", "a.b"), `input "ssh-user": got "a.b", expected a user name like ubuntu`, nil},
		{"ssh-user upper case", "ssh-user", over(sshBase, "ssh-user", "Ab"), `input "ssh-user": got "Ab", expected a user name like ubuntu`, nil},
		{"ssh-user too long", "ssh-user", over(sshBase, "ssh-user", strings.Repeat("u", 33)), `input "ssh-user": got "` + strings.Repeat("u", 33) + `"`, nil},
		{"ssh-host with a port", "ssh-host", over(sshBase, "ssh-host", "host:22"), `input "ssh-host": got "host:22", expected a host name or IP address, without :port (set ssh-port)`, nil},
		{"ssh-port", "ssh-port", over(sshBase, "ssh-port", "+22"), `input "ssh-port": got "+22", expected a port number from 1 to 65535`, nil},
		{"known_hosts line for another host", "ssh-known-host", over(sshBase, "insecure-host-key", "false", "ssh-known-host", "other.example "+testHostKey(t)),
			`input "ssh-known-host": got "other.example ssh-ed25519 …", expected a known_hosts line whose hosts include 192.0.2.1`, nil},
		{"subnet of no EC2 form", "subnet-id", over(awsBase, "subnet-id", "subnet-zz"), `input "subnet-id": got "subnet-zz", expected a subnet id like subnet-0123456789abcdef0`, nil},
		{"role ARN with a space", "aws-role-to-assume", over(awsBase, "aws-role-to-assume", "arn:aws:iam::123456789012:role/a b"),
			`input "aws-role-to-assume": got "arn:aws:iam::123456789012:role/a b", expected a role ARN like arn:aws:iam::123456789012:role/mvm-verify`, nil},
		{"region", "region", over(awsBase, "region", "Mars"), `input "region": got "Mars", expected an AWS region such as us-east-1`, nil},
		{"zone of another region", "zone", over(awsBase, "region", "us-east-1", "zone", "eu-west-1a"),
			`input "zone": got "eu-west-1a", expected an availability zone of region us-east-1 such as us-east-1a`, nil},
		{"candidates entry", "candidates[1].zone", over(awsBase, "candidates", "[{region: us-east-1}, {region: eu-west-1, zone: us-east-1a}]"),
			`input "candidates[1].zone": got "us-east-1a", expected an availability zone of region eu-west-1 such as eu-west-1a`,
			[]providers.Candidate{{Region: "us-east-1", Market: "on-demand"}, {Region: "eu-west-1", Zone: "us-east-1a", Market: "on-demand"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.in)
			wantInputError(t, err, tc.input, tc.want)
			// The factory, given the inputs as loaded, says the same.
			o := providers.Options{Input: func(n string) string { return cmpOr(tc.in[n], inputDefault(n)) }, Getenv: env(nil), Candidates: tc.cands}
			var newErr error
			switch tc.in["provider"] {
			case "ssh":
				_, newErr = sshprovider.New(o)
			case "aws":
				_, newErr = aws.New(o, aws.Config{})
			}
			if newErr == nil || newErr.Error() != firstLine(err, tc.input) {
				t.Errorf("the provider's factory says\n%v\nLoad says\n%v", newErr, firstLine(err, tc.input))
			}
		})
	}
}

// Where the caller passes no provider checks (a registry-less Load), only
// the inputs config knows are checked.
func TestProviderInputsWithoutChecks(t *testing.T) {
	o := opts()
	o.Check = nil
	if _, err := LoadWith(MapSource(map[string]string{"provider": "aws", "subnet-id": "subnet-zz"}), o); err != nil {
		t.Errorf("without the registry's checks: %v", err)
	}
}

// An input config refuses already is not refused a second time by the
// provider's check (market is both config's and aws's), and a single input
// that fills every candidate is reported once.
func TestProviderInputsReportedOnce(t *testing.T) {
	_, err := load(t, map[string]string{"provider": "aws", "market": "cheap", "region": "Mars",
		"candidates": "[{type: c8i.large}, {type: m8i.large}]"})
	for input, want := range map[string]int{"market": 1, "region": 1} {
		n := 0
		for _, e := range unjoin(err) {
			var ie *InputError
			if errors.As(e, &ie) && ie.Name() == input {
				n++
			}
		}
		if n != want {
			t.Errorf("%d errors for %s, want %d:\n%v", n, input, want, err)
		}
	}
}

func inputDefault(name string) string {
	for _, in := range Inputs() {
		if in.Name == name {
			return in.Default
		}
	}
	return ""
}

// firstLine is the error for input among those Load joined.
func firstLine(err error, input string) string {
	for _, e := range unjoin(err) {
		var ie *InputError
		if errors.As(e, &ie) && ie.Name() == input {
			return e.Error()
		}
	}
	return ""
}
