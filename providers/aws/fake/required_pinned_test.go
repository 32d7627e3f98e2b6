package fake

import (
	"slices"
	"testing"
)

// TestRequiredParametersAreAWSs pins the parameters each action the
// adapter calls requires, as the AWS API references list them, against
// the fake's tables. TestEveryActionRefusesUnknownAndMissingParameters
// checks the fake refuses what its tables require; this checks the
// tables require what AWS does, so a requirement dropped from a table
// (a request the adapter shapes without it would pass here and fail
// against AWS) is caught.
func TestRequiredParametersAreAWSs(t *testing.T) {
	// EC2 API reference (query API, version 2016-11-15). either is a pair
	// of which EC2 needs one: the group's id, or its name (a default
	// VPC's group).
	ec2 := map[string]struct {
		required []string
		either   [2]string
	}{
		"RunInstances":                  {required: []string{"MinCount", "MaxCount"}},
		"CreateSecurityGroup":           {required: []string{"GroupName", "GroupDescription"}},
		"AuthorizeSecurityGroupIngress": {either: [2]string{"GroupId", "GroupName"}},
		"DeleteSecurityGroup":           {either: [2]string{"GroupId", "GroupName"}},
		"TerminateInstances":            {required: []string{"InstanceId.1"}},
		"DescribeInstances":             {},
		"DescribeImages":                {},
		"GetConsoleOutput":              {required: []string{"InstanceId"}},
		"DeleteVolume":                  {required: []string{"VolumeId"}},
		"DeleteNetworkInterface":        {required: []string{"NetworkInterfaceId"}},
	}
	handlers := ec2Handlers()
	for _, name := range sortedKeys(ec2) {
		want := ec2[name]
		h, ok := handlers[name]
		if !ok {
			t.Errorf("the fake does not serve ec2:%s", name)
			continue
		}
		if !sameSet(h.required, want.required) {
			t.Errorf("ec2:%s requires %q, AWS requires %q", name, h.required, want.required)
		}
		if h.either != want.either && h.either != [2]string{want.either[1], want.either[0]} {
			t.Errorf("ec2:%s needs one of %q, AWS needs one of %q", name, h.either, want.either)
		}
	}

	// STS API reference.
	sts := map[string][]string{
		"GetCallerIdentity":         nil,
		"AssumeRoleWithWebIdentity": {"RoleArn", "RoleSessionName", "WebIdentityToken"},
	}
	stsTable := stsActions()
	for _, name := range sortedKeys(sts) {
		a, ok := stsTable[name]
		if !ok {
			t.Errorf("the fake does not serve sts:%s", name)
			continue
		}
		if !sameSet(a.required, sts[name]) {
			t.Errorf("sts:%s requires %q, AWS requires %q", name, a.required, sts[name])
		}
	}

	// SSM API reference.
	ssm := map[string][]string{"GetParameter": {"Name"}}
	ssmTable := ssmActions()
	for _, name := range sortedKeys(ssm) {
		a, ok := ssmTable[name]
		if !ok {
			t.Errorf("the fake does not serve ssm:%s", name)
			continue
		}
		if !sameSet(a.required, ssm[name]) {
			t.Errorf("ssm:%s requires %q, AWS requires %q", name, a.required, ssm[name])
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
