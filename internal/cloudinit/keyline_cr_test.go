package cloudinit

import (
	"strings"
	"testing"
)

// TestAuthorizedKeyWithCarriageReturnRefused: a carriage return in an
// authorized key is refused like a newline. A parser that splits lines only
// on \n reads what follows the \r as the first key's comment, so without
// the check a second key with a forced command (or any other option) would
// pass validation and land in authorized_keys, where tools that treat \r as
// a line break see it as a key of its own.
func TestAuthorizedKeyWithCarriageReturnRefused(t *testing.T) {
	other := newKey(t, 9)
	c := minimalConfig(t)
	c.AuthorizedKeys = []string{c.AuthorizedKeys[0] + " c\r" + `command="id" ` + other.pub}
	out, err := Render(c)
	if err == nil {
		t.Fatalf("Render accepted a key with a carriage return before a second key:\n%s", out)
	}
	if !strings.Contains(err.Error(), "AuthorizedKeys[0]") {
		t.Errorf("error %q does not name AuthorizedKeys[0]", err)
	}
}
