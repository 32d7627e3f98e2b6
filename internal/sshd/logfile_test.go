package sshd

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A log path someone planted as a symlink (to a file root's shells run,
// say) is refused, not followed: the target is not written to and no sshd
// starts.
func TestLogFileSymlinkNotFollowed(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "profile.sh")
	if err := os.WriteFile(target, []byte("# untouched\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "leg.sshd.log")
	if err := os.Symlink(target, logFile); err != nil {
		t.Fatal(err)
	}
	s, err := Start(context.Background(), Config{LogFile: logFile})
	if err == nil {
		s.Stop(context.Background())
		t.Fatal("Start with the log path a planted symlink succeeded; want it refused")
	}
	if b, _ := os.ReadFile(target); string(b) != "# untouched\n" {
		t.Errorf("the symlink's target was written to: %q", b)
	}
	// An existing plain file is not appended to either: it may be a hard
	// link to someone else's.
	plain := filepath.Join(dir, "plain.log")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err := Start(context.Background(), Config{LogFile: plain}); err == nil {
		s.Stop(context.Background())
		t.Error("Start with an existing log file succeeded; want it refused")
	}
}
