package providertest

import (
	"slices"
	"testing"
)

// A scenario's flag replaces RunArgs' own, in either form, so the binary
// (which refuses a flag given twice) sees each once; the rest stay.
func TestWithArgsReplacesBaseFlags(t *testing.T) {
	base := []string{"run", "--provider", "aws", "--region", "us-east-1", "--ssh-source-cidr=127.0.0.1/32", "--timeout-minutes", "10"}
	got := WithArgs(base, "--region", "xx-nowhere-1", "--ssh-source-cidr", "10.0.0.0/8", "--spot-failover")
	want := []string{"run", "--provider", "aws", "--timeout-minutes", "10",
		"--region", "xx-nowhere-1", "--ssh-source-cidr", "10.0.0.0/8", "--spot-failover"}
	if !slices.Equal(got, want) {
		t.Errorf("WithArgs = %q\nwant %q", got, want)
	}
	if got := WithArgs(base); !slices.Equal(got, base) {
		t.Errorf("WithArgs without extra = %q, want base", got)
	}
}
