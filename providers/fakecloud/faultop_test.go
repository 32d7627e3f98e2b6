package fakecloud

import "testing"

// A fault for one operation leaves the others alone: they succeed, and
// do not use up its Times, so it still answers its own operation.
func TestFaultOnlyHitsItsOperation(t *testing.T) {
	k := New(nil, nil)
	k.Inject(Fault{Op: "Run", Times: 1, Code: "Throttle"})
	for _, op := range []string{"Describe", "Del"} {
		if f := k.Begin(op, map[string]string{"id": "x"}); f != nil {
			t.Errorf("%s answered the Run fault %+v, want success", op, f)
		}
	}
	if f := k.Begin("Run", nil); f == nil || f.Code != "Throttle" {
		t.Errorf("Run after other operations = %+v, want the Throttle fault", f)
	}
	if f := k.Begin("Run", nil); f != nil {
		t.Errorf("second Run = %+v, want success once the fault's one time is used", f)
	}
}
