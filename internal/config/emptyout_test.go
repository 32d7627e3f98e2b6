package config

import (
	"strconv"
	"testing"
)

// An out given as "" (a script's --out "$UNSET") is refused, in every
// mode, rather than read as the default: results and state would land in
// the current directory's mvm-verify-out, where nobody asked for them.
func TestOutGivenEmptyRefused(t *testing.T) {
	for _, in := range []map[string]string{
		{"provider": "aws", "out": ""},
		{"provider": "aws", "out": "  "},
		{"mode": "up", "provider": "aws", "out": ""},
		{"mode": "down", "out": ""},
		{"mode": "report", "out": ""},
	} {
		_, err := load(t, in)
		wantInputError(t, err, "out", `input "out": got "", expected a directory path (omit it for the default ./mvm-verify-out)`)
	}
}

// Not given, or given empty by a source that cannot tell empty from unset
// (the action's INPUT_OUT, which the runner sets to "" when the workflow
// gives none), out is the default.
func TestOutNotGivenIsTheDefault(t *testing.T) {
	for name, src := range map[string]Source{
		"absent": MapSource(map[string]string{"provider": "aws"}),
		"unset empty": func(name string) (string, bool) {
			if name == "provider" {
				return "aws", true
			}
			return "", false
		},
	} {
		r, err := LoadWith(src, opts())
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if r.Out != "./mvm-verify-out" {
			t.Errorf("%s: Out = %q, want ./mvm-verify-out", name, r.Out)
		}
	}
}

// An empty value of another input given explicitly keeps its meaning:
// only out, whose default writes to the current directory, is refused.
func TestOtherInputsGivenEmptyKeepTheirDefault(t *testing.T) {
	r, err := load(t, map[string]string{"provider": "aws", "suite": "", "lane": "", "comment": ""})
	if err != nil {
		t.Fatal(err)
	}
	if r.Lane != LaneAuto || r.SuitePath != "" {
		t.Errorf("Lane %q SuitePath %q, want auto and the built-in suite", r.Lane, r.SuitePath)
	}
}

// candidates is a list: a single mapping is refused with the form and how
// to write one candidate, not silently read as a list of one.
func TestCandidatesSingleMappingRefused(t *testing.T) {
	const want = `, expected a YAML or JSON list such as [{region: us-east-1, type: c8i.large}]; for one candidate put its mapping in [ ]`
	for _, v := range []string{
		`{"region":"us-east-1"}`,
		`{region: us-east-1, type: c8i.large}`,
		"region: eu-west-1\ntype: c8i.xlarge\n",
	} {
		_, err := load(t, map[string]string{"provider": "aws", "candidates": v})
		// Quoted as every value: the first line, marked when cut.
		wantInputError(t, err, "candidates", `input "candidates": got `+strconv.Quote(shorten(v))+want)
	}
	// The same candidate in brackets is the documented form.
	r, err := load(t, map[string]string{"provider": "aws", "candidates": `[{"region":"us-east-1"}]`})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Candidates) != 1 || r.Candidates[0].Region != "us-east-1" {
		t.Errorf("candidates = %+v, want one in us-east-1", r.Candidates)
	}
}
