package cli

import (
	"errors"
	"testing"
	"time"
)

// A record that says until when the program waits (the sticky comment's
// wait for a lock, logged with until) is progress, as one with wait is: it
// may be the only output of a long wait.
func TestLogRecordWithUntilIsProgress(t *testing.T) {
	a, stdout, stderr := logApp(nil)
	until := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a.reportLog.Info("waiting for the sticky comment's lock", "until", until)
	want := "   waiting for the sticky comment's lock until=\"2026-01-02 03:04:05 +0000 UTC\"\n"
	if stdout.String() != want || stderr.Len() != 0 {
		t.Errorf("stdout:\n%q\nwant:\n%q\nstderr:\n%s", stdout.String(), want, stderr.String())
	}
}

// The GitHub reporting's warnings are left to debugging, its errors are
// not: an error is no repeat of a notice.
func TestReportingErrorIsShown(t *testing.T) {
	a, stdout, stderr := logApp(nil)
	a.reportLog.Error("GitHub reporting failed", "error", errors.New("401 Bad credentials"))
	want := "mvm-verify: error: GitHub reporting failed error=\"401 Bad credentials\"\n"
	if stderr.String() != want || stdout.Len() != 0 {
		t.Errorf("stderr:\n%q\nwant:\n%q\nstdout:\n%s", stderr.String(), want, stdout.String())
	}
}

// A value holding = or " is quoted, so it cannot read as a second
// key=value pair or as the end of a quoted one.
func TestLogValuesWithEqualsOrQuotesQuoted(t *testing.T) {
	a, _, stderr := logApp(nil)
	a.log.Warn("odd values", "arg", "a=b", "said", `say"hi"`, "plain", "ok")
	want := `mvm-verify: warning: odd values arg="a=b" said="say\"hi\"" plain=ok` + "\n"
	if stderr.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr.String(), want)
	}
}
