// Package fakecloud is the kit every provider's wire-level fake is built
// from: a state store, ids, async boot of instances as real SSH hosts, fault
// injection and a log of the calls made. A provider fake (providers/<name>/fake)
// adds only its wire protocol and resource shapes on top.
//
// A fake's handler calls Kit.Begin(op, params) first and answers an injected
// Fault in its wire format; it keeps resources in Store values with ids
// from NewID; it checks capacity with HasCapacity; it sets its firewall
// with SetFirewall before the first boot; on create it calls Boot(id,
// userData, running, failed), reports the instance pending until running
// is called with the Machine — at the instance's public address, a front
// the kit opens that lets a connection through to the host only while the
// firewall allows the client address (SetClientAddr), so the Machine's
// Addr, never the host's own, becomes the public IP — and calls Halt on
// delete. Tests drive faults (Inject, NoCapacity, SetConsistencyLag,
// HoldBoots, SetAddressDelay, SetTerminationDelay) and read Calls/Ops. See
// providers/aws/fake, and docs/providers.md for what a fake adds and the
// conformance scenarios (providers/providertest) it serves.
package fakecloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
)

// Machine is a booted instance: a real sshd reachable at Addr():Port().
type Machine interface {
	Addr() string
	Port() int
	Stop(ctx context.Context) error
}

// BootSpec is what the fake knows when an instance boots.
type BootSpec struct {
	ID       string
	UserData []byte // exactly as the adapter sent it (decoded from base64 where the API encodes it)
}

// Booter starts a Machine for an instance. The production-like booter is
// TestHostBooter; a test that does not need SSH may pass a BooterFunc.
type Booter interface {
	Boot(ctx context.Context, spec BootSpec) (Machine, error)
}

// BooterFunc adapts a function to a Booter.
type BooterFunc func(ctx context.Context, spec BootSpec) (Machine, error)

// Boot calls f.
func (f BooterFunc) Boot(ctx context.Context, spec BootSpec) (Machine, error) { return f(ctx, spec) }

// Kit is the shared state of one fake cloud. Create it with New; it is safe
// for concurrent use by the fake's HTTP handlers and the test.
type Kit struct {
	booter Booter
	log    *slog.Logger

	mu       sync.Mutex
	seq      map[string]int
	faults   []*Fault
	noCap    []capacityRule
	lag      int
	reads    map[string]int
	delays   map[string]int // SetAddressDelay, SetTerminationDelay by kind
	counts   map[string]int // describes counted against them, by kind and id
	hold     chan struct{}  // closed = boots proceed
	machines map[string]*boot
	booted   []string // every id Boot was called for, in order
	calls    []Call
	// firewall guards the instances' public addresses (SetFirewall);
	// clientAddr is where connections to them come from; fronts are the
	// public addresses open, by instance id (front.go).
	firewall   Firewall
	clientAddr netip.Addr
	fronts     map[string]*front
	ctx        context.Context
	cancel     context.CancelFunc
}

// New returns a kit that boots instances with b (nil: instances never get
// an address, for tests that stop before boot).
func New(b Booter, log *slog.Logger) *Kit {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	open := make(chan struct{})
	close(open)
	return &Kit{
		booter: b, log: log,
		seq: map[string]int{}, reads: map[string]int{}, machines: map[string]*boot{},
		delays: map[string]int{}, counts: map[string]int{},
		hold: open, ctx: ctx, cancel: cancel,
		clientAddr: netip.MustParseAddr(DefaultClientAddr), fronts: map[string]*front{},
	}
}

// NewID returns prefix + 17 hex digits, unique within the kit and
// deterministic in creation order ("i-" + "00000000000000001").
func (k *Kit) NewID(prefix string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.seq[prefix]++
	return fmt.Sprintf("%s%017x", prefix, k.seq[prefix])
}

// Call is one API request as the fake saw it.
type Call struct {
	Op     string
	Params map[string]string
}

// Calls returns the operations made so far, oldest first.
func (k *Kit) Calls() []Call {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Call(nil), k.calls...)
}

// Ops returns just the operation names of Calls.
func (k *Kit) Ops() []string {
	var ops []string
	for _, c := range k.Calls() {
		ops = append(ops, c.Op)
	}
	return ops
}

// Fault is an error the fake returns instead of doing the operation.
type Fault struct {
	// Op is the operation it applies to; "" means every operation.
	Op string
	// When, if set, must also hold for the call (e.g. a zone or a type).
	When func(Call) bool
	// Times is how many calls fail; 0 or less means every matching call.
	Times int
	// Status is the HTTP status; Code and Message the provider's error.
	Status  int
	Code    string
	Message string
	// Pretend answers the call with success but does nothing: a delete
	// that does not delete, which only the leak check can catch.
	Pretend bool
	// Applied does the operation and then answers with the error anyway:
	// the cloud acted but its answer was lost (a 5xx from a front end, a
	// connection cut after the launch). A launch retried after it must not
	// make a second instance; only an idempotency token prevents that.
	Applied bool
	// Acted, when set on an Applied fault, is called once the operation
	// has been done and before the error is answered: a test that kills
	// the client there knows the cloud acted and the client never heard.
	Acted func(Call)
}

// Inject adds a fault. Faults are checked in the order added.
func (k *Kit) Inject(f Fault) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.faults = append(k.faults, &f)
}

// Begin records the call and returns the fault to answer with, if any. Each
// handler calls it first, answers a Pretend fault with the operation's
// success response without doing it, and an Applied fault by doing the
// operation, calling its Acted (if set) and answering the fault's error
// instead of its result.
func (k *Kit) Begin(op string, params map[string]string) *Fault {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := Call{Op: op, Params: params}
	k.calls = append(k.calls, c)
	for i, f := range k.faults {
		if f.Op != "" && f.Op != op {
			continue
		}
		if f.When != nil && !f.When(c) {
			continue
		}
		out := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				k.faults = append(k.faults[:i], k.faults[i+1:]...)
			}
		}
		return &out
	}
	return nil
}

type capacityRule struct{ zone, typ, market string }

// NoCapacity makes launches in zone of typ on market fail for lack of
// capacity; an empty field matches anything.
func (k *Kit) NoCapacity(zone, typ, market string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.noCap = append(k.noCap, capacityRule{zone, typ, market})
}

// HasCapacity says whether a launch of typ in zone on market has room.
func (k *Kit) HasCapacity(zone, typ, market string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range k.noCap {
		if (r.zone == "" || r.zone == zone) && (r.typ == "" || r.typ == typ) && (r.market == "" || r.market == market) {
			return false
		}
	}
	return true
}

// SetConsistencyLag makes a new resource invisible to the first n reads
// after its creation, as EC2's describe-after-create is, and unknown to
// the first n calls of each write operation naming it (Known).
func (k *Kit) SetConsistencyLag(n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lag = n
}

// Visible counts a read of id and says whether it may be seen yet.
func (k *Kit) Visible(id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads[id]++
	return k.reads[id] > k.lag
}

// Known counts a call of write operation op naming id and says whether op
// may find id yet. A cloud's writes are eventually consistent too (EC2: a
// call made with an id right after its create may answer NotFound), and
// each operation learns of a new resource on its own, after the same lag
// as reads: a describe that shows the resource does not mean the next
// write will find it, so every write path an adapter takes meets the lag.
func (k *Kit) Known(op, id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := "write/" + op + "/" + id
	k.reads[key]++
	return k.reads[key] > k.lag
}

// Delays of asynchronous transitions, counted in describes of the instance
// rather than in time, so a test controls them without waiting.
const (
	delayAddress     = "address"
	delayTermination = "termination"
)

// SetAddressDelay makes a running instance show no public address for its
// first n describes while running, as a cloud that assigns the address
// after the instance starts does.
func (k *Kit) SetAddressDelay(n int) { k.setDelay(delayAddress, n) }

// AddressShown counts a describe of running instance id and says whether
// its address may show yet.
func (k *Kit) AddressShown(id string) bool { return k.due(delayAddress, id) }

// SetTerminationDelay keeps a deleted instance in its shutting-down state
// for n describes after its host has halted.
func (k *Kit) SetTerminationDelay(n int) { k.setDelay(delayTermination, n) }

// TerminationDone counts a describe of shutting-down instance id whose host
// has halted and says whether it may read as terminated now.
func (k *Kit) TerminationDone(id string) bool { return k.due(delayTermination, id) }

func (k *Kit) setDelay(kind string, n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.delays[kind] = n
}

func (k *Kit) due(kind, id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := kind + "/" + id
	k.counts[key]++
	return k.counts[key] > k.delays[kind]
}

// HoldBoots stops instances from finishing their boot (they stay pending,
// without an address) until release is called: a slow boot the test
// controls without timing.
func (k *Kit) HoldBoots() (release func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ch := make(chan struct{})
	k.hold = ch
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// boot is one instance's machine, booting or booted.
type boot struct {
	cancel  context.CancelFunc
	done    chan struct{}
	machine Machine
}

// Boot starts instance id in the background. When the machine is up,
// running is called with it — behind its public address, when the fake
// set a firewall (SetFirewall): the Machine's Addr and Port are then the
// front's, which is what the fake reports as the instance's public IP.
// When booting fails, or the public address cannot be opened, failed is
// called (and Halt still stops a machine that came up). Either is called
// at most once, never after Halt(id), and under the kit's lock: a
// callback must not call the kit's methods but in a goroutine of its own.
func (k *Kit) Boot(id string, userData []byte, running func(Machine), failed func(error)) {
	k.mu.Lock()
	ctx, cancel := context.WithCancel(k.ctx)
	b := &boot{cancel: cancel, done: make(chan struct{})}
	k.machines[id] = b
	k.booted = append(k.booted, id)
	hold := k.hold
	k.mu.Unlock()

	go func() {
		defer close(b.done)
		select {
		case <-hold:
		case <-ctx.Done():
			return
		}
		if k.booter == nil {
			return
		}
		m, err := k.booter.Boot(ctx, BootSpec{ID: id, UserData: userData})
		// The public address opens outside the lock, which its
		// connections take to ask the firewall.
		k.mu.Lock()
		fw := k.firewall
		k.mu.Unlock()
		var f *front
		var ferr error
		if err == nil && fw != nil {
			f, ferr = k.openFront(id, m, fw)
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if ctx.Err() != nil {
			if f != nil {
				go f.close()
			}
			if m != nil {
				go m.Stop(context.Background()) //nolint:errcheck // halted while booting; nothing to report to
			}
			return
		}
		if err != nil {
			k.log.Warn("fake instance failed to boot", "id", id, "err", err)
			failed(err)
			return
		}
		// Halt stops the machine from here on, even one that gets no
		// public address.
		b.machine = m
		if ferr != nil {
			k.log.Warn("fake instance got no public address", "id", id, "err", ferr)
			failed(fmt.Errorf("public address: %w", ferr))
			return
		}
		if f != nil {
			k.fronts[id] = f
			m = public{Machine: m, f: f}
		}
		running(m)
	}()
}

// Booted returns the ids of every instance Boot was called for, oldest
// first, halted ones included: what the fake created, for a test to ask
// what became of it.
func (k *Kit) Booted() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.booted...)
}

// Halt stops instance id's machine (or its boot in progress) and waits for it.
func (k *Kit) Halt(ctx context.Context, id string) error {
	k.mu.Lock()
	b := k.machines[id]
	delete(k.machines, id)
	k.mu.Unlock()
	if b == nil {
		return nil
	}
	b.cancel()
	select {
	case <-b.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Its public address goes first: nothing reaches a halting machine.
	k.CloseFront(id)
	if b.machine != nil {
		return b.machine.Stop(ctx)
	}
	return nil
}

// Close halts every machine. Call it when the test ends.
func (k *Kit) Close(ctx context.Context) error {
	k.mu.Lock()
	ids := make([]string, 0, len(k.machines))
	for id := range k.machines {
		ids = append(ids, id)
	}
	k.mu.Unlock()
	sort.Strings(ids)
	var errs []error
	for _, id := range ids {
		if err := k.Halt(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("halt %s: %w", id, err))
		}
	}
	k.mu.Lock()
	ids = ids[:0]
	for id := range k.fronts {
		ids = append(ids, id)
	}
	k.mu.Unlock()
	for _, id := range ids {
		k.CloseFront(id)
	}
	k.cancel()
	return errors.Join(errs...)
}
