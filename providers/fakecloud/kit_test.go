package fakecloud

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

type machine struct {
	mu      sync.Mutex
	stopped bool
}

func (m *machine) Addr() string { return "127.0.0.9" }
func (m *machine) Port() int    { return 2222 }
func (m *machine) Stop(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = true
	return nil
}

func TestIDs(t *testing.T) {
	k := New(nil, nil)
	if a, b, c := k.NewID("i-"), k.NewID("i-"), k.NewID("sg-"); a != "i-00000000000000001" || b != "i-00000000000000002" || c != "sg-00000000000000001" {
		t.Fatalf("ids = %s %s %s", a, b, c)
	}
}

func TestFaults(t *testing.T) {
	k := New(nil, nil)
	k.Inject(Fault{Op: "Run", Times: 2, Code: "Throttle"})
	k.Inject(Fault{Op: "Del", When: func(c Call) bool { return c.Params["id"] == "x" }, Code: "Dep"})
	var got []string
	for range 3 {
		f := k.Begin("Run", nil)
		if f == nil {
			got = append(got, "ok")
		} else {
			got = append(got, f.Code)
		}
	}
	if got[0] != "Throttle" || got[1] != "Throttle" || got[2] != "ok" {
		t.Errorf("Run answers = %v, want two throttles then ok", got)
	}
	if f := k.Begin("Del", map[string]string{"id": "y"}); f != nil {
		t.Errorf("When not honoured: %+v", f)
	}
	for range 2 { // Times 0 means every matching call
		if f := k.Begin("Del", map[string]string{"id": "x"}); f == nil || f.Code != "Dep" {
			t.Errorf("Del x = %+v", f)
		}
	}
	if ops := k.Ops(); len(ops) != 6 || ops[0] != "Run" || ops[5] != "Del" {
		t.Errorf("ops = %v", ops)
	}
}

func TestCapacityAndLag(t *testing.T) {
	k := New(nil, nil)
	k.NoCapacity("z1", "", "spot")
	if k.HasCapacity("z1", "t", "spot") || !k.HasCapacity("z1", "t", "on-demand") || !k.HasCapacity("z2", "t", "spot") {
		t.Error("capacity rule matched wrongly")
	}
	k.SetConsistencyLag(2)
	// Each write operation meets the lag on its own, whatever reads or
	// other writes saw the resource already.
	expectSeq(t, "lag of 2 reads", func() bool { return k.Visible("a") }, false, false, true)
	expectSeq(t, "lag of 2 calls for a write after the reads", func() bool { return k.Known("Delete", "a") }, false, false, true)
	expectSeq(t, "lag of 2 calls for a second write operation", func() bool { return k.Known("Update", "a") }, false, false, true)
	k.Known("Delete", "b")
	k.Known("Delete", "b")
	expectSeq(t, "reads of b after writes of b (writes do not count as reads)", func() bool { return k.Visible("b") }, false, false, true)
}

// expectSeq calls the stateful check once per wanted answer, in order, and
// fails naming the sequence when the answers differ.
func expectSeq(t *testing.T, what string, check func() bool, want ...bool) {
	t.Helper()
	got := make([]bool, len(want))
	for i := range want {
		got[i] = check()
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: successive calls answered %v, want %v", what, got, want)
	}
}

func TestTransitionDelays(t *testing.T) {
	k := New(nil, nil)
	if !k.AddressShown("i-1") || !k.TerminationDone("i-1") {
		t.Error("without delays the transitions are immediate")
	}
	k.SetAddressDelay(2)
	k.SetTerminationDelay(1)
	expectSeq(t, "address delay of 2 describes", func() bool { return k.AddressShown("i-2") }, false, false, true)
	expectSeq(t, "termination delay of 1 describe", func() bool { return k.TerminationDone("i-2") }, false, true)
}

func TestBootHoldAndHalt(t *testing.T) {
	booted := make(chan *machine, 2)
	k := New(BooterFunc(func(_ context.Context, spec BootSpec) (Machine, error) {
		if string(spec.UserData) == "fail" {
			return nil, errors.New("bad user data")
		}
		m := &machine{}
		booted <- m
		return m, nil
	}), nil)
	release := k.HoldBoots()
	running := make(chan Machine, 1)
	k.Boot("i-1", []byte("ok"), func(m Machine) { running <- m }, func(error) { t.Error("boot failed") })
	select {
	case <-booted:
		t.Fatal("booted while held")
	default:
	}
	release()
	m := <-running
	if m.Addr() != "127.0.0.9" || m.Port() != 2222 {
		t.Errorf("machine = %s:%d", m.Addr(), m.Port())
	}
	if err := k.Halt(context.Background(), "i-1"); err != nil {
		t.Fatal(err)
	}
	if bm := <-booted; !bm.stopped {
		t.Error("halt did not stop the machine")
	}

	// Halted while held: never boots, never reports.
	release = k.HoldBoots()
	k.Boot("i-2", []byte("ok"), func(Machine) { t.Error("halted instance reported running") }, func(error) {})
	if err := k.Halt(context.Background(), "i-2"); err != nil {
		t.Fatal(err)
	}
	release()

	failed := make(chan error, 1)
	k.Boot("i-3", []byte("fail"), func(Machine) { t.Error("bad boot reported running") }, func(err error) { failed <- err })
	if err := <-failed; err == nil {
		t.Error("boot failure not reported")
	}
	if err := k.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-booted:
		t.Error("a halted or failed instance booted")
	default:
	}
}

func TestStore(t *testing.T) {
	var s Store[int]
	s.Put("b", 1)
	s.Put("a", 2)
	s.Put("b", 3) // replacing keeps the creation order
	if !s.Update("a", func(v *int) { *v *= 10 }) || s.Update("zz", func(*int) {}) {
		t.Error("Update results wrong")
	}
	if got := s.List(nil); len(got) != 2 || got[0] != 3 || got[1] != 20 {
		t.Errorf("List = %v", got)
	}
	if got := s.List(func(_ string, v int) bool { return v > 5 }); len(got) != 1 || got[0] != 20 {
		t.Errorf("filtered List = %v", got)
	}
	if !s.Delete("a") || s.Delete("a") {
		t.Error("Delete results wrong")
	}
	if _, ok := s.Get("a"); ok {
		t.Error("deleted value still there")
	}
}
