package remote

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestKillTermsTheCommandsOwnGroupFirst: a command stopped at its timeout
// or by a cancel gets TERM before KILL in its own process group, where
// OpenSSH's signal request lands: a shell there that holds a lock file and
// removes it on TERM (a login profile's `pyenv rehash`, whose lock, left
// behind, makes every later login wait a minute) gets to remove it. A
// child that ignores TERM is still killed, also one that dropped the
// command's marker from its environment: it is in the command's process
// group, whose own shell has died of the TERM by the time it is KILLed,
// so a KILL through the session reaches no one.
func TestKillTermsTheCommandsOwnGroupFirst(t *testing.T) {
	f := newFixture(t)
	for i, cancelled := range []bool{false, true} {
		name := "timeout"
		if cancelled {
			name = "cancel"
		}
		t.Run(name, func(t *testing.T) {
			dir, err := os.MkdirTemp(f.scratch, "lock-")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			lock := filepath.Join(dir, "lock")
			pid := strconv.Itoa(os.Getpid() % 100)
			holder, stubborn, unmarked := "sleep 64."+strconv.Itoa(i)+"1"+pid, "sleep 64."+strconv.Itoa(i)+"2"+pid, "sleep 64."+strconv.Itoa(i)+"3"+pid
			// Both children stay in the command's process group: no setsid.
			cmd := "bash -c " + Quote("trap 'rm -f "+lock+"' EXIT; touch "+lock+"; "+holder) + " & " +
				"bash -c " + Quote("trap '' TERM; "+stubborn) + " & " +
				"env -u " + markerVar + " bash -c " + Quote("trap '' TERM; "+unmarked) + " & " +
				"until [ -e " + lock + " ]; do sleep 0.05; done; echo started; wait"
			seen := newAfterOutput("started\n")
			c := f.dial(t, seen.options(fast()))
			spec := RunSpec{Command: cmd, Stdout: seen}
			ctx, cancel := context.WithCancel(testContext(t))
			defer cancel()
			if cancelled {
				go func() {
					select {
					case <-seen.seen:
						cancel()
					case <-ctx.Done():
					}
				}()
			} else {
				spec.Timeout = 300 * time.Millisecond
			}
			res, err := c.Run(ctx, spec)
			if cancelled && !errors.Is(err, context.Canceled) || !cancelled && (err != nil || !res.TimedOut) {
				t.Fatalf("result %+v, err %v; want it stopped by the %s", res, err, name)
			}
			remoteGone(t, c, stubborn)
			remoteGone(t, c, unmarked)
			remoteGone(t, c, holder)
			if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the lock file is left (stat: %v): the shell holding it was killed without a TERM", err)
			}
		})
	}
}
