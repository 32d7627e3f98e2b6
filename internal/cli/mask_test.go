package cli_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// maskedFirst checks that stdout tells the runner to mask each of secrets
// (`::add-mask::` followed by the value) before any line that is not a
// mask command: the runner hides a value only in what is printed after
// its mask, so a mask that comes late, or never, leaves the value readable
// in the log.
func maskedFirst(t *testing.T, stdout string, secrets []string) {
	t.Helper()
	lines := strings.Split(stdout, "\n")
	first := slices.IndexFunc(lines, func(l string) bool { return !strings.HasPrefix(l, "::add-mask::") })
	if first < 0 {
		first = len(lines)
	}
	for _, s := range secrets {
		at := slices.Index(lines, "::add-mask::"+s)
		switch {
		case at < 0:
			// Named by its start only: the failure log is an artifact too.
			t.Errorf("stdout never masks the secret starting %q", s[:min(len(s), 12)])
		case at > first:
			t.Errorf("stdout masks the secret starting %q on line %d, after line %d %q, which is not a mask command",
				s[:min(len(s), 12)], at+1, first+1, lines[first])
		}
	}
}

// TestRunnerMasksSecretInputs runs a main step as GitHub's runner does,
// with the secret inputs a workflow passes from its secrets: an SSH private
// key and a GitHub token. The runner masks a secret only when it comes
// from the secrets context; a value passed through an input, or read from a
// file, is the action's to mask. So stdout must carry `::add-mask::` for
// the token and for every line of the key (the runner matches a mask line
// by line, and a step that prints the key prints it line by line), before
// anything else is printed.
func TestRunnerMasksSecretInputs(t *testing.T) {
	h, _, keyPEM := sshHost(t)
	gh := fakeGitHub(t)
	dir := t.TempDir()
	suite := writeSuite(t, "user: root\nsteps:\n  - name: hello\n    run: echo hi\n    column: Live cycle\n")
	env := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"GITHUB_STATE="+emptyFile(t, "state"),
		"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(),
		"INPUT_PROVIDER=ssh", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "out"),
		"INPUT_SSH-HOST="+h.Addr(), fmt.Sprintf("INPUT_SSH-PORT=%d", h.Port()), "INPUT_SSH-USER=root",
		"INPUT_SSH-PRIVATE-KEY="+string(keyPEM), "INPUT_SSH-KNOWN-HOST="+h.Addr()+" "+h.HostKey())...)
	r := runBin(t, env)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if len(gh.Statuses(ghRepo, ghHead)) == 0 {
		t.Fatal("the run posted no status: the token was not used, and the test shows nothing about it")
	}
	secrets := []string{ghToken}
	for _, l := range strings.Split(string(keyPEM), "\n") {
		if strings.TrimSpace(l) != "" {
			secrets = append(secrets, l)
		}
	}
	if len(secrets) < 4 {
		t.Fatalf("the key has %d lines to look for, want its armour and body", len(secrets)-1)
	}
	maskedFirst(t, r.stdout, secrets)
}
