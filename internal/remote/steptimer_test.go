package remote

import (
	"bytes"
	"sync"
	"time"
)

// afterOutput is a command's live Stdout and the StepTimer of the Client
// that runs it: the timeout's clock starts only once the output holds
// want. A test that checks what a timeout does to a command that has got
// somewhere (printed, started its children, set its traps) then does not
// depend on the command getting there within the timeout on a loaded host.
type afterOutput struct {
	want string
	seen chan struct{}
	once sync.Once
	mu   sync.Mutex
	buf  []byte
}

func newAfterOutput(want string) *afterOutput {
	return &afterOutput{want: want, seen: make(chan struct{})}
}

func (a *afterOutput) Write(p []byte) (int, error) {
	a.mu.Lock()
	a.buf = append(a.buf, p...)
	hit := bytes.Contains(a.buf, []byte(a.want))
	a.mu.Unlock()
	if hit {
		a.once.Do(func() { close(a.seen) })
	}
	return len(p), nil
}

// options sets o's StepTimer to a.timer.
func (a *afterOutput) options(o DialOptions) DialOptions {
	o.StepTimer = a.timer
	return o
}

// timer fires d after want was seen.
func (a *afterOutput) timer(d time.Duration) (<-chan time.Time, func()) {
	fired := make(chan time.Time, 1)
	stop := make(chan struct{})
	var once sync.Once
	go func() {
		select {
		case <-a.seen:
		case <-stop:
			return
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case now := <-t.C:
			fired <- now
		case <-stop:
		}
	}()
	return fired, func() { once.Do(func() { close(stop) }) }
}
