package verify

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/probe"
)

// The test binary doubles as the probe binary the cycle uploads: run as
// `probe --json` it prints the host report as mvm-verify does, and it
// routes the probe's seccomp child. So the tests upload and run a real
// probe without building the program first.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case probe.SeccompChildArg:
			os.Exit(probe.SeccompChildMain())
		case "probe":
			rep := probe.Collect(context.Background(), probe.Options{})
			if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}

// testProbeBinary is this test binary, for Plan.ProbeBinary.
func testProbeBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}
