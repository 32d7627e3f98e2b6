package config

import (
	"strings"
	"testing"
)

// check-run-id takes job.check_run_id: digits, and larger than 32 bits.
func TestLoadCheckRunID(t *testing.T) {
	r, err := load(t, map[string]string{"provider": "aws", "check-run-id": "71234567890"})
	if err != nil || r.CheckRunID != 71234567890 {
		t.Fatalf("check-run-id 71234567890: CheckRunID %d, err %v", r.CheckRunID, err)
	}
	if r, err := load(t, map[string]string{"provider": "aws"}); err != nil || r.CheckRunID != 0 {
		t.Fatalf("no check-run-id: CheckRunID %d, err %v", r.CheckRunID, err)
	}
	for _, bad := range []string{"abc", "-3", "0", "12a", "+5", "1e9", "99999999999999999999"} {
		_, err := load(t, map[string]string{"provider": "aws", "check-run-id": bad})
		wantInputError(t, err, "check-run-id", `got "`+bad+`"`, "digits only", "job.check_run_id")
	}
}

// GitHub evaluates ${{ }} in action.yml's descriptions when it loads the
// action, where only the inputs context exists: an example expression in a
// description would make every use of the action fail to load.
func TestInputDescriptionsHoldNoExpression(t *testing.T) {
	for _, in := range Inputs() {
		if strings.Contains(in.Description, "${{") {
			t.Errorf("input %s: description holds an expression: %s", in.Name, in.Description)
		}
	}
	for _, out := range Outputs() {
		if strings.Contains(out.Description, "${{") {
			t.Errorf("output %s: description holds an expression: %s", out.Name, out.Description)
		}
	}
}
