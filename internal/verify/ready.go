package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/internal/waits"
)

// The ready phase: reach the host over SSH, check it, and bootstrap it
// or wait for cloud-init's ready marker; then make the suite's user.

// ready connects over SSH with the pinned host key, then waits for the ready
// marker cloud-init writes last (hosts we booted), or bootstraps the host
// over SSH (hosts we did not).
//
// ready-timeout bounds all of it; running out names that input and what
// was still awaited (SSH, the marker, a bootstrap command).
func (c *cycle) ready(ctx context.Context) error {
	rctx, cancel := context.WithTimeoutCause(ctx, c.plan.ReadyTimeout,
		&limitError{what: "the ready phase", input: "ready-timeout", limit: c.plan.ReadyTimeout})
	defer cancel()
	err := c.connectAndWait(rctx)
	dialErr := err
	var limit *limitError
	if err != nil && ctx.Err() == nil && errors.As(context.Cause(rctx), &limit) {
		// The error of whatever was cut off reads as a bare deadline;
		// the limit, and what it cut off, say more.
		l := *limit
		l.detail = c.readyWaiting
		err = &l
	}
	var de *dialError
	if err != nil && ctx.Err() == nil && errors.As(dialErr, &de) && c.existingHost() {
		c.mu.Lock()
		c.res.CouldNotStart = true
		c.mu.Unlock()
		return c.notReached(de.err, err)
	}
	return err
}

// dialError is SSH never getting into the host: no command ran there.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// existingHost says whether the host is one the provider did not create
// (ssh) and the run has created nothing: SSH failing to get in then means
// the leg could not start, not that a host failed.
func (c *cycle) existingHost() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.plan.Info.Creates && c.plan.HostInputs.Host != "" && len(c.res.Created) == 0
}

// notReached is why SSH did not get into an existing host, naming the
// input to fix: dialErr is the dial's error, err the phase's (the same, or
// the ready-timeout that cut the dial off).
func (c *cycle) notReached(dialErr, err error) error {
	in := c.plan.HostInputs
	h := c.host
	quote := func(name string) string { return fmt.Sprintf("input %q", name) }
	var msg string
	var dnsErr *net.DNSError
	switch {
	case errors.Is(dialErr, remote.ErrHostKeyMismatch) && in.KnownHost != "":
		msg = fmt.Sprintf("%s: expected the host key %s:%d presents; it presented another", quote(in.KnownHost), h.Address, h.Port)
	case errors.Is(dialErr, remote.ErrAuth):
		key := "the private key"
		if in.Key != "" {
			key = "the key in " + quote(in.Key)
		}
		msg = fmt.Sprintf("%s: got %q, expected a user %s:%d lets in with %s (the host refused them)",
			quote(in.User), h.User, h.Address, h.Port, key)
	case errors.As(dialErr, &dnsErr):
		msg = fmt.Sprintf("%s: got %q, expected a host name or IP address this machine can resolve", quote(in.Host), h.Address)
	case errors.Is(dialErr, syscall.ECONNREFUSED):
		msg = fmt.Sprintf("%s: got \"%d\", expected the port sshd listens on at %s (nothing does there: connection refused; or %s names another host)",
			quote(in.Port), h.Port, h.Address, quote(in.Host))
	default:
		msg = fmt.Sprintf("%s: got %q, expected a host that answers SSH on port %d (%s)", quote(in.Host), h.Address, h.Port, quote(in.Port))
	}
	// err's text only: a ready-timeout it wraps would make the phase's
	// error read as that limit alone, without the input.
	return fmt.Errorf("could not start, nothing was run on the host: %s: %s", msg, err.Error())
}

// connectAndWait is the ready phase within its limit.
func (c *cycle) connectAndWait(ctx context.Context) error {
	signer := c.keys.Client
	if len(c.host.PrivateKeyPEM) > 0 {
		s, err := remote.ParsePrivateKey(c.host.PrivateKeyPEM)
		if err != nil {
			return fmt.Errorf("the private key for %s: %w", c.host.Address, err)
		}
		signer = s
	}
	if err := c.checkHostKey(); err != nil {
		return err
	}
	target := remote.Target{
		Addr:     c.host.Address,
		Port:     c.host.Port,
		User:     c.host.User,
		Signer:   signer,
		HostKey:  c.host.HostKey,
		Insecure: c.host.HostKey == "" && c.plan.InsecureHostKey,
	}
	if target.Insecure {
		// A progress line, not another warning: the configuration warned
		// about insecure-host-key once, before anything started.
		fmt.Fprintf(c.out, "   host key of %s is not pinned (insecure-host-key): the connection can be intercepted\n", c.host.Address)
	}
	// A host booting with our user data refuses our key until cloud-init
	// has written it, so its auth failures are expected for a while.
	budget := 3
	if c.host.CloudInit {
		budget = 30
	}
	lastReport := time.Time{}
	c.readyWaiting = fmt.Sprintf("waiting for SSH on %s:%d", c.host.Address, c.host.Port)
	// A host that already exists is not booting: refused connections or a
	// name that does not resolve will not go away by waiting out
	// ready-timeout, so the dial gives up on them sooner.
	dctx, giveUp := ctx, context.CancelCauseFunc(nil)
	if c.existingHost() {
		dctx, giveUp = context.WithCancelCause(ctx)
		defer giveUp(nil)
	}
	var unreachableSince time.Time
	dial := c.plan.Dial
	if dial == nil {
		dial = remote.Dial
	}
	opts := remote.DialOptions{
		InitialBackoff:  c.plan.DialBackoff,
		HandshakeBudget: budget,
		Logger:          c.plan.log(),
		Progress: func(attempt int, err error) {
			if giveUp != nil {
				switch now := c.plan.now(); {
				case !unreachable(err):
					unreachableSince = time.Time{}
				case unreachableSince.IsZero():
					unreachableSince = now
				case now.Sub(unreachableSince) >= c.plan.UnreachableLimit:
					giveUp(fmt.Errorf("refused or not resolved at every attempt for %s: the host exists and is not booting, so ready-timeout is not waited out",
						shortDuration(c.plan.UnreachableLimit)))
				}
			}
			c.readyWaiting = fmt.Sprintf("waiting for SSH on %s:%d (attempt %d: %v)", c.host.Address, c.host.Port, attempt, err)
			if now := c.plan.now(); now.Sub(lastReport) >= 30*time.Second {
				lastReport = now
				fmt.Fprintf(c.out, "   waiting for SSH on %s:%d (attempt %d: %v)\n", c.host.Address, c.host.Port, attempt, err)
			}
		},
	}
	client, err := dial(dctx, target, opts)
	if err != nil {
		return &dialError{fmt.Errorf("ssh %s@%s:%d: %w", target.User, target.Addr, target.Port, err)}
	}
	c.client = client
	c.cleanups.pushConn("close ssh", func(context.Context) error {
		// c.client is another connection once a lost one was redialed.
		c.client.Close()
		client.Close()
		return nil
	})

	if c.host.ReadyMarker != "" {
		// A connection lost while the host boots is dialed again until
		// ready-timeout, as the first was, once reconnecting with the
		// same keys within remote's reconnect limit failed. Only to a
		// pinned host key: under insecure-host-key that dial would trust
		// whatever answers, not the machine first reached.
		var again func(context.Context) (*remote.Client, error)
		if !target.Insecure {
			again = func(ctx context.Context) (*remote.Client, error) {
				opts.HandshakeBudget = 3
				return dial(ctx, target, opts)
			}
		}
		err = c.waitMarker(ctx, again)
		if err == nil && c.host.CloudInit {
			err = c.waitBooted(ctx, again)
		}
	} else {
		err = c.bootstrapOverSSH(ctx)
	}
	if err != nil {
		return err
	}
	return c.checkSudo(ctx)
}

// checkSudo asks once, with the host ready, whether the login user may
// sudo without a password. Steps run as the suite's user through `sudo -n
// -iu USER bash -lc` (DESIGN §5), the login user included, so that they
// start from the same fresh login whichever user the provider logs in as.
// A host we did not boot whose login user is the suite's user may have no
// such sudo: steps then run in that user's own login shell (`bash -lc`),
// which is said in the log and the summary rather than failed, since the
// suite needs nothing that sudo would give it.
func (c *cycle) checkSudo(ctx context.Context) error {
	start := time.Now()
	ok, err := c.client.CheckSudo(ctx)
	c.addRemote(time.Since(start)) // a remote command, like every other
	if err != nil {
		return err
	}
	if ok || c.plan.User != "" && c.plan.User != c.host.User {
		// A suite's user other than the login user needs sudo anyway:
		// its commands fail with sudo's own message.
		return nil
	}
	user := c.host.User
	c.plan.log().Debug("no passwordless sudo; steps run without it", "user", user, "host", c.host.Address)
	c.notice(fmt.Sprintf("%s has no passwordless sudo on %s: steps run in its own login shell (bash -lc), not through sudo -n -iu %s", user, c.host.Address, user))
	return nil
}

// notice says something about how the leg ran that is no failure: in the
// live output (an Actions notice there) and the summary's notices.
func (c *cycle) notice(note string) {
	prefix := "   note: "
	if c.plan.Actions {
		prefix = "::notice::"
	}
	fmt.Fprintf(c.out, "%s%s\n", prefix, note)
	c.mu.Lock()
	c.res.Notices = append(c.res.Notices, note)
	c.mu.Unlock()
}

// unreachable says whether a dial's error is the host refusing the
// connection or its name not resolving: what waiting does not fix on a
// host that exists.
func unreachable(err error) bool {
	var dnsErr *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &dnsErr) && dnsErr.IsNotFound)
}

// checkHostKey decides, before anything connects, whether the host's key
// can be pinned. A host booted from our user data must present the run's
// own host key: the provider reporting any other is a bug, and trusting it
// would pin whatever answered. Any other host without a key is refused
// unless the user chose insecure-host-key: a provider's omission must not
// turn into an unpinned connection.
func (c *cycle) checkHostKey() error {
	name := c.plan.Provider.Name()
	if c.host.CloudInit && c.keys != nil {
		if !sameKey(c.host.HostKey, c.keys.HostPublic) {
			got := "none"
			if fp, err := remote.Fingerprint(c.host.HostKey); err == nil {
				got = fp
			} else if c.host.HostKey != "" {
				got = "one that does not parse"
			}
			want, _ := remote.Fingerprint(c.keys.HostPublic)
			return fmt.Errorf("provider %s booted %s from the run's user data but reports host key %s, not the run's own %s: "+
				"refusing to connect, nothing was run on the host (a bug in the provider: a host booted from our user data presents the key the run generated)",
				name, c.host.Address, got, want)
		}
		return nil
	}
	if c.host.HostKey == "" && !c.plan.InsecureHostKey {
		return fmt.Errorf("provider %s returned %s without a host key, so the host key is unknown and the connection cannot be pinned: "+
			"refusing to connect, nothing was run on the host (expected the provider to report the host's key, or insecure-host-key: true to accept any)",
			name, c.host.Address)
	}
	return nil
}

// sameKey says whether two authorized_keys lines hold the same key,
// whatever their comments.
func sameKey(a, b string) bool {
	ka, err := remote.ParseAuthorizedKey("host key", a)
	if err != nil {
		return false
	}
	kb, err := remote.ParseAuthorizedKey("host key", b)
	if err != nil {
		return false
	}
	return bytes.Equal(ka.Marshal(), kb.Marshal())
}

// waitMarker polls for the marker, failing early if cloud-init reports an
// error before writing it. A lost connection is dialed again (runReady).
func (c *cycle) waitMarker(ctx context.Context, again func(context.Context) (*remote.Client, error)) error {
	check := fmt.Sprintf(`test -e %s && echo ready; command -v cloud-init >/dev/null && cloud-init status 2>/dev/null | head -1 || true`, remote.Quote(c.host.ReadyMarker))
	lastReport := c.plan.now()
	c.readyWaiting = "waiting for the ready marker " + c.host.ReadyMarker
	for {
		res, err := c.runReady(ctx, remote.RunSpec{Command: check, NoProfile: true, Timeout: time.Minute}, again)
		if err != nil {
			return fmt.Errorf("check ready marker: %w", err)
		}
		out := string(res.Output)
		if s := c.oneLine(res.Output, 200); s != "" {
			c.readyWaiting = fmt.Sprintf("waiting for the ready marker %s (%s)", c.host.ReadyMarker, s)
		}
		if strings.Contains(out, "ready") {
			return nil
		}
		if c.host.CloudInit && strings.Contains(out, "status: error") {
			return fmt.Errorf("cloud-init reported an error (status: error) before writing the ready marker %s: part of the user data failed (see the collected cloud-init status and cloud-init-output.log)", c.host.ReadyMarker)
		}
		if now := c.plan.now(); now.Sub(lastReport) >= time.Minute {
			lastReport = now
			fmt.Fprintf(c.out, "   waiting for cloud-init (%s)\n", strings.TrimSpace(out))
		}
		if err := c.wait(ctx, c.plan.ReadyPoll); err != nil {
			return fmt.Errorf("wait for cloud-init to finish: %w", err)
		}
	}
}

// runReady runs a command of the ready phase, which may be asked again:
// on a connection lost meanwhile it reconnects with the same keys
// (reconnect, within remote's reconnect limit), then, while ready-timeout
// lasts, dials as at first with again, and runs the command again. again
// is nil when the host key is not pinned (insecure-host-key): a fresh
// dial would then trust whatever answers at the address, so the phase
// fails instead, saying so. A host still booting may drop a connection
// (sshd restarted by a package's configuration, a network reconfigured);
// that is no failure of the host.
//
// After each reconnect it pauses before asking again, the ready poll
// interval at first and twice as long after each further one, up to
// readyRedialMaxPause: a host that drops every new connection at once
// (sshd restarting again and again, a flapping network) is then asked at
// that pace until ready-timeout, not as fast as it accepts connections,
// with a progress line each time.
func (c *cycle) runReady(ctx context.Context, spec remote.RunSpec, again func(context.Context) (*remote.Client, error)) (remote.ExecResult, error) {
	pause := c.plan.ReadyPoll
	for {
		res, err := c.client.Run(ctx, spec)
		c.addRemote(res.Duration)
		lost := c.client.Lost()
		if err == nil || ctx.Err() != nil || lost == nil || errors.Is(lost, remote.ErrUnresponsive) {
			return res, err
		}
		waiting := c.readyWaiting
		c.readyWaiting = fmt.Sprintf("reconnecting to %s:%d after %v (was %s)", c.host.Address, c.host.Port, lost, waiting)
		if rerr := c.reconnectFor(ctx, "to wait for the host to be ready"); rerr != nil {
			if ctx.Err() != nil {
				return res, rerr
			}
			if again == nil {
				return res, fmt.Errorf("%w; not dialed again until ready-timeout: the host key of %s is not pinned (insecure-host-key), "+
					"so a fresh dial would trust whatever machine answers there now, not the one first reached", rerr, c.host.Address)
			}
			fresh, derr := again(ctx)
			if derr != nil {
				return res, fmt.Errorf("%w; dialing again until ready-timeout failed too: %w", rerr, derr)
			}
			old := c.client
			c.client = fresh
			old.Close()
			fmt.Fprintf(c.out, "   %v; connected again to wait for the host to be ready\n", lost)
		}
		c.readyWaiting = fmt.Sprintf("pausing %s before asking %s:%d again after a lost connection (was %s)",
			shortDuration(pause), c.host.Address, c.host.Port, waiting)
		if err := c.wait(ctx, pause); err != nil {
			return res, fmt.Errorf("%w; reconnected, then waiting to ask again: %w", lost, err)
		}
		pause = min(2*pause, max(readyRedialMaxPause, c.plan.ReadyPoll))
		c.readyWaiting = waiting
	}
}

// readyRedialMaxPause caps runReady's pause between reconnects.
const readyRedialMaxPause = 30 * time.Second

// wait waits d, or until ctx ends (waits.Sleep; tests set sleep to see
// the waits instead).
func (c *cycle) wait(ctx context.Context, d time.Duration) error {
	if c.sleep != nil {
		return c.sleep(ctx, d)
	}
	return waits.Sleep(ctx, d)
}

// waitBooted asks a host we booted, once its ready marker exists, what
// the marker cannot say (DESIGN §1.3): whether cloud-init finished without
// an error, since runcmd writes the marker even when a module before it
// (the suite's packages) failed; and whether systemd finished booting, so
// that the suite does not race services still starting. Both waits are
// bounded by ready-timeout.
func (c *cycle) waitBooted(ctx context.Context, again func(context.Context) (*remote.Client, error)) error {
	c.readyWaiting = "waiting for cloud-init status --wait to finish (the ready marker exists)"
	hb := startHeartbeat(c.out, nil, c.plan.Actions, "cloud-init status --wait", c.plan.Heartbeat)
	res, err := c.runReady(ctx, remote.RunSpec{Command: "cloud-init status --wait", NoProfile: true}, again)
	hb.Stop()
	if err != nil {
		return fmt.Errorf("wait for cloud-init (cloud-init status --wait): %w", err)
	}
	if err := c.cloudInitVerdict(res); err != nil {
		return err
	}
	c.readyWaiting = "waiting for systemctl is-system-running --wait to finish (cloud-init finished)"
	hb = startHeartbeat(c.out, nil, c.plan.Actions, "systemctl is-system-running --wait", c.plan.Heartbeat)
	res, err = c.runReady(ctx, remote.RunSpec{Command: systemCheck, NoProfile: true}, again)
	hb.Stop()
	if err != nil {
		return fmt.Errorf("wait for the system to boot (systemctl is-system-running --wait): %w", err)
	}
	return c.systemVerdict(res)
}

// cloudInitVerdict reads `cloud-init status --wait`: "status: error" or
// exit status 1 is an error cloud-init did not recover from; exit status
// 2 (cloud-init 23.4 and later) errors it recovered from ("degraded"),
// which the suite may not mind, so they are a notice. Older cloud-init
// exits 0 or 1 only.
func (c *cycle) cloudInitVerdict(res remote.ExecResult) error {
	status := ""
	// Host output, masked as all of it is before it reaches an error.
	for _, l := range strings.Split(remote.MaskString(string(res.Output), c.secrets()), "\n") {
		// --wait prints a dot per poll, then a newline, then the status.
		if l = strings.TrimSpace(strings.TrimLeft(l, ".")); strings.HasPrefix(l, "status:") {
			status = strings.Join(strings.Fields(l), " ")
		}
	}
	const logs = "see the collected cloud-init status and cloud-init-output.log"
	switch {
	case res.ExitCode == 1 || status == "status: error":
		if status == "" {
			status = c.oneLine(res.Output, 200)
		}
		return fmt.Errorf("cloud-init finished with an error (%s; cloud-init status --wait exited %d) although the ready marker %s exists: "+
			"a part of the user data failed, such as installing the suite's packages (%s)", status, res.ExitCode, c.host.ReadyMarker, logs)
	case res.ExitCode == 2 && status != "":
		c.notice(fmt.Sprintf("cloud-init finished with errors it recovered from (%s, degraded: cloud-init status --wait exited 2); %s", status, logs))
		return nil
	case res.ExitCode == 0 && status != "":
		return nil
	}
	return fmt.Errorf("cloud-init status --wait exited %d without a status (%s): expected \"status: done\"", res.ExitCode, c.oneLine(res.Output, 300))
}

// systemCheck prints systemd's state once it has finished booting
// ("state: running"), with the failed units of a degraded system
// ("failed: UNIT"), or that the host has no systemctl.
const systemCheck = `command -v systemctl >/dev/null 2>&1 || { echo 'state: systemctl: command not found'; exit 0; }
state=$(systemctl is-system-running --wait 2>&1)
echo "state: $(printf '%s' "$state" | tr '\n' ' ')"
if [ "$state" = degraded ]; then
  systemctl --failed --no-legend --plain 2>/dev/null | while read -r unit _; do echo "failed: $unit"; done
fi
exit 0`

// systemVerdict reads systemCheck's output. A running or degraded system
// has finished booting: degraded (a unit failed) is a notice naming the
// units, since a failed unit the suite does not use is no failure of the
// host. A system still starting, in maintenance or stopping has not; and
// a host without systemd (offline, no systemctl) is said, not failed:
// nothing there can say when it finished booting.
func (c *cycle) systemVerdict(res remote.ExecResult) error {
	var state string
	var failed []string
	for _, l := range strings.Split(remote.MaskString(string(res.Output), c.secrets()), "\n") {
		if v, ok := strings.CutPrefix(l, "state: "); ok && state == "" {
			state = strings.TrimSpace(v)
		} else if v, ok := strings.CutPrefix(l, "failed: "); ok {
			failed = append(failed, strings.TrimSpace(v))
		}
	}
	switch state {
	case "running":
		return nil
	case "degraded":
		units := "none listed by systemctl --failed"
		if len(failed) > 0 {
			units = strings.Join(failed, ", ")
		}
		c.notice(fmt.Sprintf("systemd reports %s degraded after booting: failed units: %s", c.host.Address, units))
		return nil
	case "initializing", "starting", "maintenance", "stopping":
		return fmt.Errorf("the system did not finish booting: systemctl is-system-running --wait reports %q, expected running or degraded", state)
	}
	if state == "" {
		state = c.oneLine(res.Output, 200)
	}
	c.notice(fmt.Sprintf("could not tell whether systemd finished booting %s (systemctl is-system-running --wait: %s): a host without systemd?", c.host.Address, state))
	return nil
}

// bootstrapOverSSH does for a host we did not boot what cloud-init would:
// the suite's user, packages and bootstrap commands, as root. The bootstrap
// runs as cloud-init runs its runcmd: every entry in order in one /bin/sh
// script under set -e, from /, so a failing command ends it there and the
// suite means the same on every provider.
func (c *cycle) bootstrapOverSSH(ctx context.Context) error {
	if err := c.ensureSuiteUser(ctx); err != nil {
		return err
	}
	if len(c.plan.Packages) > 0 {
		c.readyWaiting = "installing the suite's packages"
		cmd := "DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q " + strings.Join(quoteAll(c.plan.Packages), " ")
		res, err := c.runStreamed(ctx, "packages", remote.RunSpec{Command: cmd, AsUser: "root", Timeout: c.plan.ReadyTimeout})
		if err != nil {
			return fmt.Errorf("install the suite's packages: %w", err)
		}
		if res.ExitCode != 0 {
			return packagesFailure(res, c.secrets())
		}
	}
	if len(c.plan.Bootstrap) == 0 {
		return nil
	}
	c.readyWaiting = "running the bootstrap"
	cmd := "cd / && exec /bin/sh -c " + remote.Quote(bootstrapScript(c.plan.Bootstrap))
	res, err := c.runStreamed(ctx, "bootstrap", remote.RunSpec{Command: cmd, AsUser: "root", Timeout: c.plan.ReadyTimeout})
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if res.ExitCode != 0 {
		return errors.New(remote.MaskString(bootstrapFailure(c.plan.Bootstrap, res).Error(), c.secrets()))
	}
	return nil
}

// packagesFailure is a failed package install's error with apt's own
// reason, its last E: lines ("E: Unable to locate package …", a failed
// fetch), which would otherwise be in the live log only: the exit status
// (100 for any error) says nothing. Masked as all host output is.
func packagesFailure(res remote.ExecResult, secrets []string) error {
	msg := fmt.Sprintf("installing the suite's packages exited %d", res.ExitCode)
	var errs []string
	// Masked before it is cut, so no part of a secret is left either.
	for _, l := range strings.Split(remote.MaskString(string(res.Output), secrets), "\n") {
		// apt redraws progress with \r: the line is what follows the last.
		l = l[strings.LastIndexByte(strings.TrimRight(l, "\r"), '\r')+1:]
		if l = strings.Join(strings.Fields(l), " "); strings.HasPrefix(l, "E: ") {
			errs = append(errs, l)
		}
	}
	if len(errs) > aptErrorLines {
		errs = errs[len(errs)-aptErrorLines:]
	}
	if len(errs) > 0 {
		reason := strings.Join(errs, "; ")
		if r := []rune(reason); len(r) > aptErrorMax {
			reason = string(r[:aptErrorMax]) + "…"
		}
		msg += ": " + reason
	}
	return errors.New(msg)
}

// How much of apt's errors a failed install's error keeps: enough for a
// few unknown packages, short enough for the matrix's Notes.
const (
	aptErrorLines = 3
	aptErrorMax   = 300
)

// bootstrapFailure names the entry the failed bootstrap ended in, from the
// trap's line: the last one, as an entry may print anything before it.
func bootstrapFailure(entries []string, res remote.ExecResult) error {
	if res.TimedOut {
		return fmt.Errorf("bootstrap: timed out")
	}
	out := string(res.Output)
	if i := strings.LastIndex(out, bootstrapFailed); i >= 0 {
		var n int
		if _, err := fmt.Sscanf(out[i+len(bootstrapFailed):], "%d", &n); err == nil && n >= 1 && n <= len(entries) {
			first, _, more := strings.Cut(strings.TrimSpace(entries[n-1]), "\n")
			if more {
				first += " …"
			}
			if r := []rune(first); len(r) > 120 {
				first = string(r[:120]) + "…"
			}
			return fmt.Errorf("bootstrap entry %d of %d (%s) failed with exit status %d; set -e ended the bootstrap there, as cloud-init would",
				n, len(entries), first, res.ExitCode)
		}
	}
	return fmt.Errorf("bootstrap exited %d", res.ExitCode)
}

// ensureSuiteUser creates the suite's user on a host we did not boot, when
// it is not the login user and does not exist yet, as cloud-init would:
// a home, bash, passwordless sudo, and the sudo and kvm groups where the
// host has them. The teardown removes what was created, and only that: a
// marker file records that the user is ours.
func (c *cycle) ensureSuiteUser(ctx context.Context) error {
	user, login := c.plan.User, c.host.User
	if user == "" || user == login {
		return nil
	}
	res, err := c.client.Run(ctx, remote.RunSpec{Command: "id -u " + remote.Quote(user), NoProfile: true, Timeout: time.Minute})
	c.addRemote(res.Duration)
	if err != nil {
		return fmt.Errorf("check for the suite's user %q: %w", user, err)
	}
	if res.OK() {
		return nil
	}
	fmt.Fprintf(c.out, "   creating the suite's user %s (removed at teardown)\n", user)
	c.readyWaiting = "creating the suite's user " + user
	c.pushHostCleanup(HostCleanup{
		Name: "remove suite user " + user,
		// Without the marker nothing was created, and the login user may
		// not even have the sudo the removal would need.
		If:      "test -e " + remote.Quote(createdUserMarker(user)),
		Command: removeUserScript(user),
		AsUser:  "root",
	}, "user "+user)
	res, err = c.client.Run(ctx, remote.RunSpec{Command: createUserScript(user), AsUser: "root", NoProfile: true, Timeout: 5 * time.Minute})
	c.addRemote(res.Duration)
	if err != nil {
		return fmt.Errorf("create the suite's user %q: %w", user, err)
	}
	if res.OK() {
		c.rootOnHost = true
	}
	if !res.OK() {
		return fmt.Errorf("the suite's user %q does not exist on %s and the login user %q (ssh-user) could not create it as root (exit %d: %s): "+
			"expected %q to have passwordless sudo, or the suite's user to exist on the host, or ssh-user set to the suite's user",
			user, c.host.Address, login, res.ExitCode, c.oneLine(res.Output, 300), login)
	}
	return nil
}
