package local

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"testing"
)

// A group this leg created is deleted at Destroy only while nobody belongs
// to it: a user who joined since (a test host's, another program's) keeps it.
func TestCreatedGroupLeftWhileInUse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("run as root: the test creates a group and a user (CI runs as root)")
	}
	const group, member = "mvr-grp-inuse", "mvr-grp-member"
	ctx := context.Background()
	p := &Provider{log: slog.Default()}
	var recorded []change
	if err := p.ensureGroup(ctx, group, func(c change) error { recorded = append(recorded, c); return nil }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("userdel", "-f", member).Run()
		exec.Command("groupdel", group).Run()
	})
	if len(recorded) != 1 || recorded[0].Kind != kindGroup {
		t.Fatalf("recorded %+v, want the group's creation", recorded)
	}
	if out, err := exec.Command("useradd", "-M", "-N", "-G", group, member).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	done, err := p.undo(ctx, recorded[0])
	if err != nil || done {
		t.Fatalf("undo with a member: done %v, err %v; want the group left", done, err)
	}
	if _, err := user.LookupGroup(group); err != nil {
		t.Fatalf("the group was deleted under its member: %v", err)
	}
	if out, err := exec.Command("userdel", "-f", member).CombinedOutput(); err != nil {
		t.Fatalf("userdel: %v\n%s", err, out)
	}
	if done, err := p.undo(ctx, recorded[0]); err != nil || !done {
		t.Fatalf("undo once unused: done %v, err %v; want it deleted", done, err)
	}
	if _, err := user.LookupGroup(group); err == nil {
		t.Error("the unused group is still there")
	}
}
