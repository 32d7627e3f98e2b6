package providers

import (
	"strings"
	"testing"
)

// Every part of an identity that tells two legs apart is in its name (so
// in AWS ClientTokens): two identities differing in any one have
// different names.
func TestNameHashesEveryPart(t *testing.T) {
	base := Identity{Repo: "o/r", RunID: "42", RunAttempt: "1", Job: "verify", Key: "aws", Leg: "0123456789ab"}
	for part, edit := range map[string]func(*Identity){
		"Repo":       func(id *Identity) { id.Repo = "o/other" },
		"RunID":      func(id *Identity) { id.RunID = "43" },
		"RunAttempt": func(id *Identity) { id.RunAttempt = "2" },
		"Job":        func(id *Identity) { id.Job = "verify-arm" },
		"Key":        func(id *Identity) { id.Key = "aws-c8i" },
		"Leg":        func(id *Identity) { id.Leg = "ba9876543210" },
	} {
		other := base
		edit(&other)
		if base.Name() == other.Name() {
			t.Errorf("identities differing only in %s share the name %s", part, base.Name())
		}
	}
}

// Every class reads back as itself from the word it is written as (the
// attempts in result.json), and an unknown word is refused naming it.
func TestClassTextRoundTrip(t *testing.T) {
	for k := ClassUnknown; k <= ClassInvalid; k++ {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%d): %v", k, err)
		}
		var got Class
		if err := got.UnmarshalText(b); err != nil || got != k {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, got, err, k)
		}
	}
	var c Class
	if err := c.UnmarshalText([]byte("flaky")); err == nil || !strings.Contains(err.Error(), `"flaky"`) {
		t.Errorf("UnmarshalText(flaky) = %v, want an error naming it", err)
	}
}
