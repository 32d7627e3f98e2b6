package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// logApp is an app over buffers, with env as its environment.
func logApp(env map[string]string) (a *app, stdout, stderr *bytes.Buffer) {
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	a = newApp(Env{Args: []string{"mvm-verify"}, Stdout: stdout, Stderr: stderr, Getenv: func(k string) string { return env[k] }})
	return a, stdout, stderr
}

// At a terminal the log records read as the progress does: no slog
// key=value lines with timestamps; info only with debugging on; a
// provider's info (an instance launched, the next zone tried) and a record
// announcing a wait are progress lines, as they may be the only output of
// a long wait; the GitHub reporting's warnings, which repeat the notice the
// CLI prints, are left to debugging.
func TestLogRecordsAtATerminal(t *testing.T) {
	a, stdout, stderr := logApp(nil)
	a.log.Info("no cgroup for the leg's processes", "reason", "permission denied")
	a.log.Debug("cleanup", "name", "close ssh")
	a.reportLog.Warn("GitHub reporting degraded", "error", errors.New("no such host"))
	a.reportLog.Info("job URL unknown; linking the run")
	a.log.Warn("closing SSH connection", "target", "203.0.113.7:22", "reason", "keepalive unanswered")
	a.progressLog.Info("launched instance", "id", "i-0abc", "type", "c8i.large", "zone", "us-east-1a")
	a.progressLog.Debug("aws sdk: retrying", "class", "retry")
	a.reportLog.Info("GitHub rate limit", "request", "create status", "wait", time.Minute)

	wantOut := "   launched instance id=i-0abc type=c8i.large zone=us-east-1a\n" +
		"   GitHub rate limit request=\"create status\" wait=1m0s\n"
	if stdout.String() != wantOut {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), wantOut)
	}
	wantErr := "mvm-verify: warning: closing SSH connection target=203.0.113.7:22 reason=\"keepalive unanswered\"\n"
	if stderr.String() != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr.String(), wantErr)
	}
}

// MVM_VERIFY_DEBUG=1 (or RUNNER_DEBUG=1) shows every record, debug
// included, the GitHub reporting's demoted warnings too.
func TestLogRecordsWithDebugging(t *testing.T) {
	for _, v := range []string{"MVM_VERIFY_DEBUG", "RUNNER_DEBUG"} {
		t.Run(v, func(t *testing.T) {
			a, stdout, stderr := logApp(map[string]string{v: "1"})
			a.log.Info("no cgroup", "reason", "permission denied")
			a.log.With("candidate", "us-east-1").WithGroup("g").Debug("cleanup", "name", "close ssh")
			a.reportLog.Warn("GitHub reporting degraded", "error", errors.New("no such host"))
			want := "mvm-verify: info: no cgroup reason=\"permission denied\"\n" +
				"mvm-verify: debug: cleanup candidate=us-east-1 g.name=\"close ssh\"\n" +
				"mvm-verify: info: GitHub reporting degraded error=\"no such host\"\n"
			if stderr.String() != want || stdout.Len() != 0 {
				t.Errorf("stderr:\n%s\nwant:\n%s\nstdout:\n%s", stderr.String(), want, stdout.String())
			}
		})
	}
}

// In Actions the records the terminal shows only with debugging are
// ::debug:: commands (on stdout, where the runner reads commands), escaped
// as workflow command data; with RUNNER_DEBUG unset they are not written.
func TestLogRecordsInActions(t *testing.T) {
	a, stdout, stderr := logApp(map[string]string{"GITHUB_ACTIONS": "true", "RUNNER_DEBUG": "1"})
	a.log.Info("a step said\n::error::100%", "n", 1)
	a.progressLog.Info("launched instance", "id", "i-0abc")
	want := "::debug::a step said ::error::100%25 n=1\n   launched instance id=i-0abc\n"
	if stdout.String() != want || stderr.Len() != 0 {
		t.Errorf("stdout:\n%q\nwant:\n%q\nstderr:\n%s", stdout.String(), want, stderr.String())
	}

	a, stdout, stderr = logApp(map[string]string{"GITHUB_ACTIONS": "true"})
	a.log.Info("quiet")
	a.log.Debug("quieter")
	if stdout.Len()+stderr.Len() != 0 {
		t.Errorf("records without RUNNER_DEBUG:\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
}

// The row printed at a terminal is plain text: what matrix.Escape wrote for
// GitHub's renderer reads back as the text it stands for.
func TestTerminalTextUndoesTheMarkdownEscapes(t *testing.T) {
	for _, s := range []string{
		`check a>b | c #12: exit status 3`,
		`<nil> & &amp; \ C:\x [link](https://example.com) ![img](x) www.example.com`,
		"`code` @user GH-12 owner/repo#3 $HOME and $PATH cost $2.50",
		`already &#8203; escaped? \| no: taken as text`,
	} {
		row := matrix.Row{Provider: "Local <x>", Notes: s}
		row.Set(matrix.Preflight, matrix.Pass, "")
		got := terminalText(matrix.Table([]matrix.Row{row}))
		want := "| Local <x> | ✅ | ? | ? | " + s + " |"
		if !strings.Contains(got, want) {
			t.Errorf("notes %q shown as\n%s\nwant the line\n%s", s, got, want)
		}
	}
}

// The variables that turn debugging on are documented where the CLI is.
func TestDebugVariablesAreDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, cliSection, _ := strings.Cut(string(data), "\n## The CLI\n")
	cliSection, _, _ = strings.Cut(cliSection, "\n## ")
	for _, v := range []string{"MVM_VERIFY_DEBUG", "RUNNER_DEBUG"} {
		if !debugOn(func(k string) string { return map[string]string{v: "1"}[k] }) {
			t.Errorf("%s=1 does not turn debugging on", v)
		}
		if !strings.Contains(cliSection, "`"+v+"=1`") {
			t.Errorf("README.md's CLI section does not document %s=1", v)
		}
	}
}
