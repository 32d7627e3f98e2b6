package testhost

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBootFailingWhileCreatingUsersUndoes: a boot whose context ends while
// it makes the users (a fake cloud's boot when its test ends) fails with an
// error naming what it was making, and undoes its own changes: no account,
// no group, no record of it left. (The undo once released a nil record and
// crashed the test binary.)
func TestBootFailingWhileCreatingUsersUndoes(t *testing.T) {
	RequireRoot(t)
	user, group := tempUser(t), tempGroup(t)
	_, line := ClientKey(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	h, err := Boot(ctx, Options{Users: []User{{Name: user, AuthorizedKeys: []string{line}, Sudo: true, Groups: []string{group}}}})
	if err == nil {
		h.Stop(context.Background()) //nolint:errcheck // the test fails anyway
		t.Fatal("Boot with an ended context succeeded")
	}
	if !strings.Contains(err.Error(), "create group "+group) {
		t.Fatalf("Boot: %v; want the error of creating group %s", err, group)
	}
	if exists("passwd", user) || exists("group", group) {
		t.Errorf("after the failed boot: user %s exists %v, group %s exists %v; want neither",
			user, exists("passwd", user), group, exists("group", group))
	}
	// Any record naming the account is the failed boot's: the name is
	// this test's own.
	records, _ := filepath.Glob(filepath.Join(RegistryDir, "*.json"))
	for _, path := range records {
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), `"`+user+`"`) {
			t.Errorf("record %s of the failed boot left: %s", path, b)
		}
	}
}
