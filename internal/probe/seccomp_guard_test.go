package probe

import (
	"context"
	"strings"
	"testing"
)

// A binary that does not route the child argument would run itself again
// and probe again; inside the child the re-exec must refuse.
func TestReexecRefusesInsideChild(t *testing.T) {
	t.Setenv(seccompChildEnv, "1")
	_, _, err := ReexecSeccompChild(context.Background())
	if err == nil || !strings.Contains(err.Error(), SeccompChildArg) {
		t.Fatalf("err = %v, want a refusal naming %s", err, SeccompChildArg)
	}
}
