package config

import (
	"strings"
	"testing"
)

// The candidates input's description names every key an entry may hold,
// the instance-type alias of type too: the error for an unknown key lists
// them all, and the docs must not say less.
func TestCandidatesDescriptionNamesEveryKey(t *testing.T) {
	var desc string
	for _, in := range Inputs() {
		if in.Name == "candidates" {
			desc = in.Description
		}
	}
	if desc == "" {
		t.Fatal("no candidates input")
	}
	for _, key := range candidateKeys {
		if !strings.Contains(desc, " "+key+" ") && !strings.Contains(desc, " "+key+",") && !strings.Contains(desc, " "+key+".") {
			t.Errorf("candidates' description does not name the key %s: %q", key, desc)
		}
	}
}
