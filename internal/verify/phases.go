package verify

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/libtest"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/probe"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/internal/waits"
	"github.com/tinylabscom/mvm-verify/providers"
)

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
	client, err := dial(dctx, target, remote.DialOptions{
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
	})
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
		err = c.waitMarker(ctx)
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
	note := fmt.Sprintf("%s has no passwordless sudo on %s: steps run in its own login shell (bash -lc), not through sudo -n -iu %s", user, c.host.Address, user)
	prefix := "   note: "
	if c.plan.Actions {
		prefix = "::notice::"
	}
	fmt.Fprintf(c.out, "%s%s\n", prefix, note)
	c.plan.log().Debug("no passwordless sudo; steps run without it", "user", user, "host", c.host.Address)
	c.mu.Lock()
	c.res.Notices = append(c.res.Notices, note)
	c.mu.Unlock()
	return nil
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

// waitMarker polls for the marker, failing early if cloud-init reports an error.
func (c *cycle) waitMarker(ctx context.Context) error {
	check := fmt.Sprintf(`test -e %s && echo ready; command -v cloud-init >/dev/null && cloud-init status 2>/dev/null | head -1 || true`, remote.Quote(c.host.ReadyMarker))
	lastReport := c.plan.now()
	c.readyWaiting = "waiting for the ready marker " + c.host.ReadyMarker
	for {
		res, err := c.client.Run(ctx, remote.RunSpec{Command: check, Timeout: time.Minute})
		c.addRemote(res.Duration)
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
			return errors.New("cloud-init reported an error (see the collected cloud-init log)")
		}
		if now := c.plan.now(); now.Sub(lastReport) >= time.Minute {
			lastReport = now
			fmt.Fprintf(c.out, "   waiting for cloud-init (%s)\n", strings.TrimSpace(out))
		}
		if err := waits.Sleep(ctx, c.plan.ReadyPoll); err != nil {
			return fmt.Errorf("wait for cloud-init to finish: %w", err)
		}
	}
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

// bootstrapFailed starts the line the bootstrap script prints when it
// ends with an error, naming the entry it was in.
const bootstrapFailed = "mvm-verify: bootstrap entry "

// bootstrapScript is the bootstrap as cloud-init's runcmd script would be:
// set -e, then the entries one after the other. Before each entry the
// script notes which one runs, and an exit trap prints it when the script
// fails, so the error can name the entry.
func bootstrapScript(entries []string) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	fmt.Fprintf(&b, "trap 'st=$?; [ $st -eq 0 ] || echo \"%s$mvm_verify_entry of %d failed (exit $st)\" >&2' EXIT\n", bootstrapFailed, len(entries))
	for i, e := range entries {
		fmt.Fprintf(&b, "mvm_verify_entry=%d\n%s\n", i+1, e)
	}
	return b.String()
}

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
	res, err := c.client.Run(ctx, remote.RunSpec{Command: "id -u " + remote.Quote(user), Timeout: time.Minute})
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
	res, err = c.client.Run(ctx, remote.RunSpec{Command: createUserScript(user), AsUser: "root", Timeout: 5 * time.Minute})
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

// createdUserMarker records on the host that we created the user, so the
// teardown never removes an account it did not make.
func createdUserMarker(user string) string {
	return "/var/lib/mvm-verify/created-user-" + user
}

func sudoersDropIn(user string) string {
	return "/etc/sudoers.d/90-mvm-verify-" + user
}

func createUserScript(user string) string {
	return fmt.Sprintf(`set -e
u=%s
install -d -m 0755 /var/lib/mvm-verify
touch %s
useradd --create-home --shell /bin/bash --user-group "$u"
for g in sudo kvm; do
  if getent group "$g" >/dev/null; then usermod -aG "$g" "$u"; fi
done
tmp=$(mktemp)
# The leg's marker survives sudo, so what a step starts as root is found
# and stopped at teardown with the rest.
printf '%%s ALL=(ALL) NOPASSWD:ALL
Defaults:%%s env_keep += "%s"
' "$u" "$u" >"$tmp"
chmod 0440 "$tmp"
if command -v visudo >/dev/null; then visudo -cqf "$tmp"; fi
mv "$tmp" %s
`, remote.Quote(user), remote.Quote(createdUserMarker(user)), legMarkerVar, remote.Quote(sudoersDropIn(user)))
}

func removeUserScript(user string) string {
	return fmt.Sprintf(`u=%s
m=%s
[ -e "$m" ] || exit 0
rm -f %s
pkill -KILL -u "$u" || true
# userdel refuses while the killed processes are still exiting.
for i in $(seq 50); do
  id -u "$u" >/dev/null 2>&1 || break
  userdel --remove "$u" 2>/dev/null || sleep 0.1
done
if id -u "$u" >/dev/null 2>&1; then userdel --remove "$u"; exit 1; fi
rm -f "$m"
`, remote.Quote(user), remote.Quote(createdUserMarker(user)), remote.Quote(sudoersDropIn(user)))
}

// oneLine is the host's output for an error: masked, one line, at most
// max bytes.
func (c *cycle) oneLine(out []byte, max int) string {
	s := strings.Join(strings.Fields(remote.MaskString(string(out), c.secrets())), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// probe uploads this program to the host and runs its probe as the suite's
// user. The lane is already decided (Run resolves auto from what the
// provider offers); the probe confirms it: on the kvm lane a host without
// usable KVM fails the KVM check.
func (c *cycle) probe(ctx context.Context) error {
	f, err := os.Open(c.plan.ProbeBinary)
	if err != nil {
		if c.plan.ProbeBinaryInput != "" {
			return fmt.Errorf("input %q: open probe binary: %w", c.plan.ProbeBinaryInput, err)
		}
		return fmt.Errorf("open probe binary: %w", err)
	}
	defer f.Close()
	uname, err := c.hostUname(ctx)
	if err != nil {
		return err
	}
	if err := checkProbePlatform(c.plan.ProbeBinary, c.plan.ProbeBinaryInput, uname); err != nil {
		return err
	}
	if err := checkProbeLinking(c.plan.ProbeBinary, c.plan.ProbeBinaryInput, c.host.Address); err != nil {
		return err
	}
	dir := c.host.WorkDir // the provider's, which its Destroy removes
	if dir == "" {
		dir = "/tmp/mvm-verify-" + c.plan.Identity.Name()
	}
	bin := dir + "/mvm-verify"
	if c.host.WorkDir == "" {
		c.pushHostCleanup(HostCleanup{Name: "remove probe binary", Command: "rm -rf " + remote.Quote(dir)}, dir)
	}
	uctx, cancel := withLimit(ctx, "the upload of the probe binary", c.plan.UploadTimeout)
	defer cancel()
	hb := startHeartbeat(c.out, nil, c.plan.Actions, "upload of the probe binary", c.plan.Heartbeat)
	err = c.client.Upload(uctx, f, bin, 0o755)
	hb.Stop()
	if err != nil {
		return fmt.Errorf("upload probe binary: %w", err)
	}
	c.probeBin = bin
	res, err := c.client.Run(ctx, remote.RunSpec{Command: remote.Quote(bin) + " probe --json", AsUser: c.plan.User, Timeout: 2 * time.Minute})
	if err != nil {
		return fmt.Errorf("run probe: %w", err)
	}
	c.addRemote(res.Duration)
	rep, err := probeReport(res.Output)
	if err != nil {
		return fmt.Errorf("probe exited %d with output that is not its JSON report: %s", res.ExitCode, c.oneLine(res.Output, 200))
	}
	c.mu.Lock()
	c.res.Probe = &rep
	lane := c.res.Lane
	c.mu.Unlock()
	fmt.Fprintf(c.out, "   lane %s (host probe: %s)\n", lane, rep.Lane)
	return kvmCheck(lane, rep)
}

// hostUname is what `uname -sm` prints on the host: from the provider when
// it knows (a session costs a round trip and a shell), else asked.
func (c *cycle) hostUname(ctx context.Context) (string, error) {
	if c.host.Uname != "" {
		return c.host.Uname, nil
	}
	res, err := c.client.Run(ctx, remote.RunSpec{Command: "uname -sm", Timeout: time.Minute})
	c.addRemote(res.Duration)
	if err != nil {
		return "", fmt.Errorf("ask the host for its platform: %w", err)
	}
	if !res.OK() {
		return "", fmt.Errorf("uname -sm on the host exited %d: %.200q", res.ExitCode, res.Output)
	}
	return lastLine(res.Output), nil
}

// probeReport finds the probe's JSON report in its output. The output is
// stdout and stderr together, and a login shell may print before the
// command runs (a startup file's complaint, a motd): the report is the
// first object that decodes from the start of a line.
func probeReport(out []byte) (probe.Report, error) {
	var err error = errors.New("no JSON object in the output")
	for i := 0; i < len(out); {
		if out[i] == '{' {
			var rep probe.Report
			// A startup file's own JSON would decode too, as an empty
			// report: the probe's always names its lane.
			if err = json.NewDecoder(bytes.NewReader(out[i:])).Decode(&rep); err == nil && rep.Lane != "" {
				return rep, nil
			}
			if err == nil {
				err = errors.New("a JSON object without the report's lane")
			}
		}
		next := bytes.IndexByte(out[i:], '\n')
		if next < 0 {
			break
		}
		i += next + 1
	}
	return probe.Report{}, err
}

// lastLine is the last non-empty line of out: what a command printed
// after anything its login shell printed first.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// kvmCheck fails a kvm-lane host whose probe found no usable KVM, saying
// why KVM is unusable and only that: the probe's other findings (cgroup,
// tun) are in its table and are not what failed here.
func kvmCheck(lane string, rep probe.Report) error {
	if lane != probe.LaneKVM || rep.Lane == probe.LaneKVM {
		return nil
	}
	why := strings.Join(rep.KVMProblems(), "; ")
	if why == "" {
		why = "the probe found no usable KVM"
	}
	return fmt.Errorf("KVM check: the kvm lane needs usable KVM and this host has none (%s); expected a host with KVM, or lane no-kvm", why)
}

// suite uploads the suite's files and runs every step. A failed step does
// not stop the next: one expensive cycle should report every failure.
func (c *cycle) suite(ctx context.Context) error {
	// Steps may leave processes behind, or outlive a killed main: on a
	// host we did not create, the teardown (or the post step) kills what
	// carries the mark. A provider that created the host ends them with
	// it (local kills the leg's cgroup; a cloud host is deleted), so the
	// extra round trip is spared there.
	if len(c.plan.Steps) > 0 && !c.plan.Info.Creates {
		var b [16]byte
		_, _ = rand.Read(b[:])
		c.legToken = hex.EncodeToString(b[:])
		// As root where the cycle may, so what a step started through
		// sudo is stopped too; else as the suite's user, its own only.
		killAs := c.plan.User
		if c.rootOnHost || c.host.User == "root" {
			killAs = "root"
		}
		c.pushHostCleanup(HostCleanup{Name: "stop the suite's processes", Command: killLegScript(c.legToken), AsUser: killAs},
			"the suite's processes")
	}
	for _, u := range c.plan.Uploads {
		if err := c.upload(ctx, u); err != nil {
			if ctx.Err() == nil && errors.Is(err, remote.ErrConnectionLost) {
				return c.suiteLost(c.plan.Steps, err)
			}
			return err
		}
	}
	var failed []string
	for i, st := range c.plan.Steps {
		if ctx.Err() != nil {
			c.markNotRun(c.plan.Steps[i:], "cancelled")
			return ctx.Err()
		}
		if lost := c.client.Lost(); lost != nil {
			// Gone between steps: nothing more runs over it.
			return c.suiteLost(c.plan.Steps[i:], lost)
		}
		sr, lost := c.step(ctx, st)
		c.stepLine(sr)
		c.mu.Lock()
		c.res.Steps = append(c.res.Steps, sr)
		if sr.Status == matrix.Fail {
			c.res.fail("%s: %s", sr.Name, sr.Reason)
		}
		c.mu.Unlock()
		c.progress()
		if lost != nil {
			return c.suiteLost(c.plan.Steps[i+1:], fmt.Errorf("step %q: %s", st.Name, sr.Reason))
		}
		if sr.Status == matrix.Fail {
			failed = append(failed, st.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d steps failed: %s", len(failed), len(c.plan.Steps), strings.Join(failed, ", "))
	}
	return nil
}

func (c *cycle) upload(ctx context.Context, u Upload) error {
	f, err := os.Open(u.Src)
	if err != nil {
		return fmt.Errorf("upload %s: %w", u.Src, err)
	}
	defer f.Close()
	mode := u.Mode
	if mode == 0 {
		mode = 0o644
	}
	dst := u.Dst
	if !path.IsAbs(dst) {
		dst = "/home/" + c.plan.User + "/" + dst
	}
	ctx, cancel := withLimit(ctx, "the upload of "+u.Src, c.plan.UploadTimeout)
	defer cancel()
	if c.hostOutlives() {
		// The machine stays: the teardown removes the file, and the
		// directories made for it, or puts back the file it replaced.
		if err := c.prepareUpload(ctx, u.Src, dst); err != nil {
			return err
		}
	}
	hb := startHeartbeat(c.out, nil, c.plan.Actions, "upload of "+u.Src, c.plan.Heartbeat)
	err = c.client.Upload(ctx, f, dst, mode)
	hb.Stop()
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", u.Src, dst, err)
	}
	return nil
}

// suiteLost ends the suite on a lost SSH connection: the steps in rest
// are not run, and the leg reads errored (the infrastructure failed), not
// as steps that failed. why is the phase's error.
func (c *cycle) suiteLost(rest []Step, why error) error {
	c.markNotRun(rest, "SSH connection lost")
	var names []string
	for _, st := range rest {
		fmt.Fprintf(c.out, "   - %s: not run (SSH connection lost)\n", st.Name)
		names = append(names, st.Name)
	}
	c.mu.Lock()
	c.res.ConnectionLost = why.Error()
	c.mu.Unlock()
	c.progress()
	if len(names) == 0 {
		return why
	}
	return fmt.Errorf("%w; not run: %s", why, strings.Join(names, ", "))
}

func (c *cycle) markNotRun(steps []Step, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range steps {
		c.res.Steps = append(c.res.Steps, StepResult{Name: st.Name, Column: st.Column, Status: matrix.NotRun, Reason: reason})
	}
}

// step runs one step and reads its verdict. lost is set when the SSH
// connection was lost under the step: the step then has no verdict
// (unknown), its reason saying so.
func (c *cycle) step(ctx context.Context, st Step) (_ StepResult, lost *remote.LostError) {
	sr := StepResult{Name: st.Name, Column: st.Column}
	if st.NeedsKVM && c.res.Lane == "no-kvm" {
		sr.Status, sr.Reason = matrix.NA, "needs KVM; this is the no-KVM lane"
		return sr, nil
	}
	timeout := st.Timeout
	if timeout <= 0 {
		timeout = DefaultStepTimeout
	}
	env := map[string]string{}
	if c.probeBin != "" {
		env["MVM_VERIFY_BIN"] = c.probeBin // steps may run the probe themselves
	}
	for k, v := range st.Env {
		env[k] = v
	}
	if c.legToken != "" {
		env[legMarkerVar] = c.legToken
	}
	res, err := c.runStreamed(ctx, st.Name, remote.RunSpec{Command: st.Run, AsUser: c.plan.User, Timeout: timeout, Env: env})
	sr.Duration, sr.ExitCode, sr.Output = res.Duration, res.ExitCode, string(res.Output)
	c.addRemote(res.Duration)
	switch {
	case err != nil && ctx.Err() == nil && errors.As(err, &lost):
		// The host's sshd or the network went away: no verdict on the
		// step, and no failure of it.
		sr.Status, sr.Reason = matrix.Unknown, fmt.Sprintf("SSH connection to %s lost during step: %v", lost.Addr, lost.Cause)
		return sr, lost
	case err != nil:
		sr.Status, sr.Reason = matrix.Fail, describe(ctx, err)
		if ctx.Err() != nil {
			sr.Status = matrix.NotRun
		}
		return sr, nil
	case res.TimedOut:
		sr.Status, sr.Reason = matrix.Fail, "timed out after "+timeout.String()
		return sr, nil
	}
	if st.Parse == "libtest" {
		sum := libtest.Parse(res.Output)
		sr.Tests = &sum
		v, why := sum.Verdict(res.ExitCode)
		sr.Status, sr.Reason = verdictStatus(v), why
		return sr, nil
	}
	if res.ExitCode == 0 {
		sr.Status = matrix.Pass
	} else {
		sr.Status, sr.Reason = matrix.Fail, fmt.Sprintf("exit status %d", res.ExitCode)
	}
	return sr, nil
}

// stepLine prints the step's verdict as it ends, after its output's group
// is closed: a step that printed nothing shows too, and in Actions the
// line stays visible with the group collapsed.
func (c *cycle) stepLine(sr StepResult) {
	switch sr.Status {
	case matrix.Pass:
		tests := ""
		if sr.Tests != nil {
			tests = fmt.Sprintf(", %d passed", sr.Tests.Passed)
		}
		fmt.Fprintf(c.out, "   ✓ %s (%s%s)\n", sr.Name, sr.Duration.Round(time.Millisecond), tests)
	case matrix.Fail:
		fmt.Fprintf(c.out, "   ✗ %s: %s\n", sr.Name, sr.Reason)
	case matrix.NA:
		fmt.Fprintf(c.out, "   - %s: n/a (no KVM)\n", sr.Name)
	case matrix.Unknown:
		fmt.Fprintf(c.out, "   ? %s: %s\n", sr.Name, sr.Reason)
	default:
		fmt.Fprintf(c.out, "   - %s: not run (%s)\n", sr.Name, cmp.Or(sr.Reason, "no verdict"))
	}
}

func verdictStatus(v libtest.Verdict) matrix.Status {
	switch v {
	case libtest.Pass:
		return matrix.Pass
	case libtest.Fail:
		return matrix.Fail
	}
	return matrix.NotRun
}

// runStreamed runs a command with its output live under a group named name.
func (c *cycle) runStreamed(ctx context.Context, name string, spec remote.RunSpec) (remote.ExecResult, error) {
	w := remote.NewStepWriter(c.out, name, c.plan.Actions)
	hb := startHeartbeat(c.out, w, c.plan.Actions, name, c.plan.Heartbeat)
	spec.Stdout = hb
	res, err := c.client.Run(ctx, spec)
	hb.Stop()
	w.Close()
	res.Output = []byte(remote.MaskString(string(res.Output), c.secrets()))
	return res, err
}

func (c *cycle) secrets() []string {
	s := append([]string{}, c.plan.Secrets...)
	if c.keys != nil {
		s = append(s, c.keys.Secrets()...)
	}
	return s
}

// addRemote counts time spent inside a remote command. Every command the
// cycle runs on the host counts (checks, probe, steps, collect, host-side
// cleanups), so a leg's duration minus RemoteTime is the cycle's own
// overhead, which bench/overhead.sh measures.
func (c *cycle) addRemote(d time.Duration) {
	c.mu.Lock()
	c.res.RemoteTime += d
	c.mu.Unlock()
}

// collect fetches log excerpts that explain the host: its boot (cloud-init,
// where we booted it), its kernel and system logs, which say why KVM or a
// sandbox failed, and its console where the provider has one. It never
// fails the leg: a missing log is noted instead.
func (c *cycle) collect(ctx context.Context) error {
	var collected []Log
	if c.connected() {
		// A connection lost under the suite is redialed: its logs are
		// what explain that.
		if err := c.reconnect(ctx); err != nil {
			collected = append(collected, Log{Name: "host logs", Text: "(not collected: " + describe(ctx, err) + ")"})
		}
	}
	if c.connected() && c.client.Lost() == nil {
		for _, l := range collectCommands(c.host.CloudInit) {
			res, err := c.client.Run(ctx, remote.RunSpec{Command: l.Text, AsUser: "root", Timeout: collectTimeout})
			c.addRemote(res.Duration)
			text := remote.MaskString(string(res.Output), c.secrets())
			switch {
			case err != nil:
				text = "(not collected: " + describe(ctx, err) + ")"
			case res.TimedOut:
				text += fmt.Sprintf("\n(cut off: not finished within %s)", collectTimeout)
			}
			collected = append(collected, Log{Name: l.Name, Text: text})
		}
	}
	if cr, ok := c.plan.Provider.(providers.ConsoleReader); ok && c.host.ID != "" {
		text, err := cr.Console(ctx, c.host)
		if err != nil {
			text = "(not collected: " + describe(ctx, err) + ")"
		}
		collected = append(collected, Log{Name: "console", Text: remote.MaskString(text, c.secrets())})
	}
	c.mu.Lock()
	c.res.Collected = collected
	c.mu.Unlock()
	return nil
}

// collectTimeout bounds each log command: a log is a help, not worth
// holding the teardown for.
const collectTimeout = 30 * time.Second

// collectCommands are the logs collect fetches, each a command whose output
// is the log. A host we did not boot may lack systemd or deny the kernel
// log; the commands say so in the log rather than fail.
func collectCommands(cloudInit bool) []Log {
	var logs []Log
	if cloudInit {
		logs = append(logs,
			Log{Name: "cloud-init status", Text: "cloud-init status --long 2>&1"},
			Log{Name: "cloud-init-output.log", Text: "tail -n 200 /var/log/cloud-init-output.log 2>&1"},
		)
	}
	return append(logs,
		Log{Name: "kernel log", Text: "dmesg 2>&1 | tail -n 100"},
		Log{Name: "journal", Text: "if command -v journalctl >/dev/null; then journalctl -b --no-pager -n 200 -p warning 2>&1; else echo 'no systemd journal on this host'; fi"},
	)
}

// connectionLost says why host-side cleanups cannot run: the connection
// was lost and reconnecting failed, or it was closed by us after a signal
// (a host that stopped answering), so trying would only wait for a dead
// host. A connection lost otherwise is redialed first (reconnect).
func (c *cycle) connectionLost(ctx context.Context) error {
	if err := c.reconnect(ctx); err != nil {
		return fmt.Errorf("not done: %w", err)
	}
	if err := c.client.Err(); err != nil {
		return fmt.Errorf("not done, the SSH connection was closed: %w", err)
	}
	return nil
}

// reconnect makes c.client usable again for what the run still owes the
// host (its logs, the host-side cleanups) when the connection was lost:
// it redials with the same client key, to the host key the lost
// connection was made to (pinned, or under insecure-host-key the one
// first accepted), within ctx and remote's RedialLimit. Collect calls it
// first, perhaps with little of its budget left: a redial its ctx cut
// short is tried again by the host cleanups, with theirs, while a host
// that refused, or did not answer within the limit, is not waited for
// again. A connection we closed on a host that answered neither a kill
// nor a keepalive after a signal is not redialed: the cancel budget has
// no time to wait for it again. The error names the lost connection, and
// why reconnecting failed.
func (c *cycle) reconnect(ctx context.Context) error {
	lost := c.client.Lost()
	if lost == nil || errors.Is(lost, remote.ErrUnresponsive) {
		return nil
	}
	fresh, err := c.client.Redial(ctx)
	if err != nil {
		return err
	}
	old := c.client
	c.client = fresh
	old.Close()
	fmt.Fprintf(c.out, "   %v; reconnected with the same keys for the logs and cleanups\n", lost)
	c.plan.log().Debug("SSH connection lost; reconnected", "host", c.host.Address, "cause", lost)
	return nil
}

// teardown unwinds the cleanups (destroying by tag) and then checks that
// nothing tagged with the run is left. After a signal the provider's
// destroy goes first and the host-side cleanups get a second each: on a
// provider that creates its hosts they are moot once the host is gone, so
// their failures are noted, not counted. On a host the run did not create
// (ssh) they are all the teardown there is, and share what is left of the
// budget, a second each at least.
func (c *cycle) teardown(ctx context.Context) error {
	var hostBudget time.Duration
	skipHost := false
	uctx := ctx
	if c.cancelled {
		hostBudget = hostCleanupBudget
		// A host we created is gone once destroyed: cleaning up on it
		// could only time out.
		skipHost = c.plan.Info.Creates
		// Keep a slice of the cancel budget for the leak check, by the
		// rule the CLI's post and down follow too: the destroy sees the
		// earlier deadline and hands what it cannot confirm in time to
		// whoever sweeps later. A provider that creates nothing (ssh)
		// tags nothing, so its leak check has nothing to list: there the
		// host-side cleanups are the whole teardown (the suite's user
		// with passwordless sudo among them), and a slice kept from them
		// would only go unused while a slow host's removal of that user
		// runs out of time.
		if c.plan.Info.Creates {
			var cancel context.CancelFunc
			uctx, cancel = providers.ReserveLeakCheck(ctx, c.plan.Provider, c.plan.Identity)
			defer cancel()
		}
	}
	var err, hostErr error
	var skipped []string
	outlives := c.host != nil && c.host.Outlives
	if !c.cancelled && c.plan.Info.Creates && !outlives {
		// A signal during this unwind, whose host-side cleanups come
		// before the destroy, stops them as skipHost would have: they
		// could use up the cut teardown, and the destroy removes the
		// host with whatever they would have undone.
		c.cleanups.late = c.lateSignal
	}
	if c.cancelled && outlives {
		err, hostErr = c.cleanups.unwindHostFirst(uctx, c.plan.log(), hostBudget)
	} else {
		err, hostErr, skipped = c.cleanups.unwind(uctx, c.plan.log(), hostBudget, skipHost, !c.plan.Info.Creates)
	}
	if len(skipped) > 0 && !c.cancelled {
		fmt.Fprintf(c.out, "   stopped by the signal, for the destroy that removes the host: %s\n", strings.Join(skipped, ", "))
	} else if len(skipped) > 0 {
		fmt.Fprintf(c.out, "   skipped on the destroyed host: %s\n", strings.Join(skipped, ", "))
	}
	if hostErr != nil {
		if c.plan.Info.Creates && !outlives {
			fmt.Fprintf(c.out, "   after destroying the host: %s\n", describe(ctx, hostErr))
		} else {
			err = errors.Join(err, hostErr)
		}
	}
	if c.res.Phase(PhaseProvision) == nil {
		return err
	}
	c.mu.Lock()
	deferred := c.res.TeardownDeferred
	c.mu.Unlock()
	if deferred {
		// What is still being deleted would read as a leak.
		fmt.Fprintf(c.out, "   leak check not run: the deletes were issued but not all confirmed in time; %s\n", c.laterSweep())
		return err
	}
	lctx := ctx
	if dl, ok := ctx.Deadline(); ok && c.signalled() {
		// End before the phase's own deadline, so running out of time
		// reads as deferred rather than as a failed teardown.
		var cancel context.CancelFunc
		lctx, cancel = context.WithDeadline(ctx, dl.Add(-leakCheckMargin))
		defer cancel()
	}
	leaks, lerr := providers.LeakCheck(lctx, c.plan.Provider, c.plan.Identity)
	if errors.Is(lerr, providers.ErrLeakCheckUnconfirmed) {
		// Nothing listed, but not for long enough to trust it in a run
		// this young: like a deferred destroy, the run is not marked
		// torn down, so the post step sweeps and checks again.
		c.mu.Lock()
		c.res.TeardownDeferred = true
		c.mu.Unlock()
		fmt.Fprintf(c.out, "   %s; %s\n", providers.Message(lerr), c.laterSweep())
		return err
	}
	if lerr != nil && c.signalled() && lctx.Err() != nil {
		c.mu.Lock()
		c.res.TeardownDeferred = true
		c.mu.Unlock()
		fmt.Fprintf(c.out, "   leak check not finished: out of time after the signal; %s\n", c.laterSweep())
		return err
	}
	if lerr != nil {
		return errors.Join(err, fmt.Errorf("leak check: %w", lerr))
	}
	if len(leaks) > 0 {
		c.mu.Lock()
		c.res.Leaks = leaks
		c.mu.Unlock()
		var ids []string
		for _, l := range leaks {
			ids = append(ids, l.Kind+" "+l.ID)
		}
		return errors.Join(err, fmt.Errorf("leak check: still present after teardown: %s", strings.Join(ids, ", ")))
	}
	return err
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = remote.Quote(s)
	}
	return out
}
