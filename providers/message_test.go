package providers

import (
	"errors"
	"fmt"
	"testing"
)

// The classes steer the candidate loop; people read the cause. Message
// drops them wherever they sit in the chain, and ClassOf still finds them.
func TestMessageDropsTheClass(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{Classified(ClassInvalid, "", errors.New("local: sshd not found; install openssh-server")),
			"local: sshd not found; install openssh-server"},
		{fmt.Errorf("preflight: %w", Classified(ClassAuth, "", errors.New("Needs AWS credentials"))),
			"preflight: Needs AWS credentials"},
		{Classified(ClassCapacity, "InsufficientInstanceCapacity", errors.New("no room in us-east-1a")),
			"no room in us-east-1a (InsufficientInstanceCapacity)"},
		{Classified(ClassCapacity, "InsufficientInstanceCapacity", errors.New("api error InsufficientInstanceCapacity: no room")),
			"api error InsufficientInstanceCapacity: no room"},
		{fmt.Errorf("create: %w", Classified(ClassInvalid, "", fmt.Errorf("candidate 2: %w", Classified(ClassQuota, "", errors.New("vCPU limit"))))),
			"create: candidate 2: vCPU limit"},
		{errors.Join(Classified(ClassTransient, "", errors.New("destroy: throttled")), fmt.Errorf("leak check: %w", Classified(ClassAuth, "", errors.New("denied")))),
			"destroy: throttled\nleak check: denied"},
		{errors.New("plain"), "plain"},
	}
	for _, tc := range cases {
		if got := Message(tc.err); got != tc.want {
			t.Errorf("Message(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if Message(nil) != "" {
		t.Error("Message(nil) is not empty")
	}
	if ClassOf(cases[1].err) != ClassAuth {
		t.Error("the class is gone from the error itself")
	}
}
