package providertest

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// PostAfterSIGKILLInLaunch: the action's main is killed with SIGKILL
// inside the fake's launch handler, after the fake made the instance and
// before it answered, so main never learns the instance's id (nor does its
// journal). The post step, run fresh with only STATE_* and the fake's API,
// finds the instance by tag and deletes it, leaving nothing tagged.
//
// The kill is an Applied fault's Acted hook (fakecloud.Fault): the fake
// acts, calls it, and only then answers — an error, lost on a dead
// client. A fake that does not honour Applied or Acted fails here.
func PostAfterSIGKILLInLaunch(t *testing.T, c Cloud) {
	f := c.Start(t, Booter(t, BootOptions{Ready: true}))
	bin := Binary(t)
	dir := t.TempDir()
	env := ActionEnv(t, c, f, dir)
	target := newTarget()
	killed := make(chan fakecloud.Call, 1)
	f.Kit().Inject(fakecloud.Fault{When: f.IsLaunch, Times: 1, Applied: true, Status: 500, Code: "InternalError",
		Message: "killed in the launch", Acted: func(call fakecloud.Call) {
			target.wait().Process().Kill() //nolint:errcheck // it may have ended
			killed <- call
		}})
	p := Start(t, bin, env, nil)
	target.set(p)
	if code := p.Wait(t); code != -1 {
		// -1: ended by a signal. Anything else ended on its own.
		t.Fatalf("main exited %d: it was not killed inside the launch (a fake that ignores Applied faults or their Acted hook?)\n%s\nstderr:\n%s",
			code, p.Output(), p.Stderr())
	}
	// Acted reports the kill right after sending it.
	select {
	case <-killed:
	case <-time.After(procBound):
		t.Fatalf("main was killed, but not by the launch's Acted hook\n%s\nstderr:\n%s", p.Output(), p.Stderr())
	}
	held := leftIn(f)
	insts := ofKind(held, c.InstanceKind)
	if len(insts) != 1 {
		t.Fatalf("after the SIGKILL in the launch the fake holds %v, want the one %s it made", held, c.InstanceKind)
	}
	id := insts[0].ID
	state := ReadState(t, filepath.Join(dir, "state"))
	var saved providers.Identity
	if err := json.Unmarshal([]byte(state["identity"]), &saved); err != nil || saved.Leg == "" {
		t.Fatalf("main saved no identity with a leg id before creating: %q (%v)", state["identity"], err)
	}
	if insts[0].Tags[providers.TagLeg] != saved.Leg {
		t.Errorf("instance %s has leg tag %q, the state says %q", id, insts[0].Tags[providers.TagLeg], saved.Leg)
	}
	// Main died before the answer: its journal cannot name the instance,
	// so the post step below has only the tags to find it by.
	if strings.Contains(state["resources"], id) {
		t.Fatalf("the state's journal names %s, which main was killed before hearing of: the kill came too late (%q)", id, state["resources"])
	}
	out := RunPostCleanly(t, bin, f, env, state, "main:\n"+p.Output())
	if !strings.Contains(out, "deleted "+c.InstanceKind) {
		t.Errorf("post output does not say it deleted the %s:\n%s", c.InstanceKind, out)
	}
	for _, call := range f.Kit().Calls() {
		if slices.Contains(f.Deletes(call), id) {
			return
		}
	}
	t.Errorf("the fake saw no call deleting instance %s (calls %v)", id, f.Kit().Ops())
}
