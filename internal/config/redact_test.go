package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A secret input's value pasted into the suite file (as a step's timeout,
// as a key) is not quoted by the suite's field errors, which quote the
// file: the bad input error is printed, annotated and put in the job
// summary. The error still names the input, the file's line and field.
func TestSuiteErrorsDoNotQuoteASecret(t *testing.T) {
	const token = "ghs_pastedtoken0123456789"
	for name, step := range map[string]string{
		"value": "    timeout: " + token + "\n",
		"key":   "    " + token + ": 1\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "suite.yml")
			text := "user: root\nsteps:\n  - name: a\n    run: \"true\"\n" + step
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := load(t, map[string]string{"provider": "local", "suite": path, "github-token": token})
			wantInputError(t, err, "suite", path+":5: steps[0]", "***")
			if strings.Contains(err.Error(), token) {
				t.Errorf("the error quotes the github-token: %v", err)
			}
		})
	}
}

// An error that quotes no secret is left as it was.
func TestSuiteErrorsWithoutASecretKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "suite.yml")
	if err := os.WriteFile(path, []byte("user: root\nsteps:\n  - name: a\n    run: \"true\"\n    timeout: soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := load(t, map[string]string{"provider": "local", "suite": path, "github-token": "ghs_pastedtoken0123456789"})
	wantInputError(t, err, "suite", path+`:5: steps[0].timeout: got "soon"`)
}
