package verify_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/internal/sshd"
	"github.com/tinylabscom/mvm-verify/internal/summary"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// secretsUser is the suite's user in the user data; the test host makes it
// a real account on this machine, so the name is this test's own.
const secretsUser = "mvmv-secrets"

// TestCycleKeepsItsSecretsOutOfEverything runs whole cycles in process
// against a provider that boots its hosts from the user data the cycle
// renders, as a cloud does, and keeps the request the cycle gave it. Every
// stream and document the cycle produces or the CLI renders from it is
// captured: the live progress, the log at debug level (JSON and text), each
// OnProgress and OnVerdict snapshot as result.json and summary.md would
// hold it, the final result.json, summary.md, row and status outputs, the
// step and collected logs, and what the journals would save to the action
// state. None may hold the user data or a private key in any form it could
// leak in: the user data's distinctive lines, the host private key's body
// lines, the base64 of the whole user data and of each key (as a []byte
// marshals), and their JSON-escaped forms, whole or cut short.
//
// The client private key is serialized only for a host `up` keeps
// (Result.ClientKeyPEM, which the CLI writes to a 0600 file): in a run it
// exists only in memory, as a signer that prints its fingerprint. So the
// run case looks for the host key and the user data, and the kept case for
// the client key too, after checking it is the one the host accepts.
//
// Checked against mutations of the cycle, each reported: the request's
// user data logged at debug level (as a []byte: base64 in JSON, quoted in
// text), the host key's PEM printed to the progress (masked but for its
// armour), a slice of the user data's base64 in a notice (result.json and
// summary.md), and the kept host's client key logged.
func TestCycleKeepsItsSecretsOutOfEverything(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("test hosts run sshd and create users: run the tests as root (CI does)")
	}
	if _, err := sshd.FindBinary(); err != nil {
		t.Fatalf("%v: install Debian's openssh-server", err)
	}
	t.Run("run with a failing step, in Actions", func(t *testing.T) {
		p := newUserDataHosts(t)
		plan, capt := secretsPlan(t, p)
		plan.Actions = true
		plan.Steps = []verify.Step{
			{Name: "hello", Run: `echo "hello from $(id -un)"`, Column: matrix.LiveCycle},
			{Name: "fails", Run: "echo about to fail; exit 3", Column: matrix.SeccompProbe},
		}
		res := verify.Run(context.Background(), plan)
		if res.Outcome != verify.Failed || !strings.Contains(res.FirstFailure, "fails") {
			t.Fatalf("outcome %s, first failure %q; want failed at the step fails\n%s", res.Outcome, res.FirstFailure, capt.out)
		}
		// The host let the user data's user in with the run's key, and
		// the first step ran as it.
		if len(res.Steps) != 2 || res.Steps[0].Status != matrix.Pass || !strings.Contains(res.Steps[0].Output, "hello from "+secretsUser) {
			t.Fatalf("steps %+v, want hello passed as %s", res.Steps, secretsUser)
		}
		req := p.only(t)
		needles := secretNeedles(t, req, nil)
		checkNoLeak(t, capt.artifacts(t, res), needles, req, nil)
		if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
			t.Errorf("hosts left after the run: %v", left)
		}
	})
	t.Run("host kept by up", func(t *testing.T) {
		p := newUserDataHosts(t)
		plan, capt := secretsPlan(t, p)
		plan.KeepHost = true
		plan.Steps = []verify.Step{{Name: "hello", Run: "true", Column: matrix.LiveCycle}}
		res := verify.Run(context.Background(), plan)
		if !res.Kept {
			t.Fatalf("outcome %s, first failure %q; want the host kept\n%s", res.Outcome, res.FirstFailure, capt.out)
		}
		req := p.only(t)
		// The exported key is the run's client key: its public half is
		// the one the user data authorizes, and the kept host takes it
		// (which is also how `down` undoes the cycle's changes there).
		signer, err := remote.ParsePrivateKey(res.ClientKeyPEM)
		if err != nil {
			t.Fatalf("the kept host's client key does not parse: %v", err)
		}
		if got := remote.AuthorizedKey(signer.PublicKey()); got != req.ClientAuthorizedKey {
			t.Fatalf("the kept host's client key is %s, want the run's %s", got, req.ClientAuthorizedKey)
		}
		h := res.Host
		c, err := remote.Dial(context.Background(), remote.Target{Addr: h.Address, Port: h.Port, User: h.User, Signer: signer, HostKey: h.HostKey},
			remote.DialOptions{InitialBackoff: 10 * time.Millisecond})
		if err != nil {
			t.Fatalf("log in to the kept host with its client key: %v", err)
		}
		if err := verify.UndoOnHost(context.Background(), c, res.HostCleanups); err != nil {
			t.Errorf("undo the cycle's changes on the kept host: %v", err)
		}
		c.Close()
		if _, err := p.Destroy(context.Background(), plan.Identity); err != nil {
			t.Errorf("destroy the kept host: %v", err)
		}

		needles := secretNeedles(t, req, res.ClientKeyPEM)
		checkNoLeak(t, capt.artifacts(t, res), needles, req, res.ClientKeyPEM)
	})
}

// userDataHosts is a cloud as far as the cycle can tell: Create boots a
// real sshd test host configured from the request's user data alone (its
// users, their keys and the host key, as cloud-init would set them up),
// touches the ready marker the user data's last runcmd would, and keeps
// the request.
type userDataHosts struct {
	t     *testing.T
	mu    sync.Mutex
	reqs  []providers.Request
	hosts map[string]*testhost.Host // by run
}

func newUserDataHosts(t *testing.T) *userDataHosts {
	p := &userDataHosts{t: t, hosts: map[string]*testhost.Host{}}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, h := range p.hosts {
			h.Stop(context.Background()) //nolint:errcheck // a host a failed test left
		}
	})
	return p
}

func (p *userDataHosts) Name() string                                       { return "userdata-hosts" }
func (p *userDataHosts) Preflight(context.Context, providers.Request) error { return nil }

func (p *userDataHosts) Create(ctx context.Context, req providers.Request, j providers.Journal) (*providers.Host, error) {
	kept := req
	kept.UserData = bytes.Clone(req.UserData)
	kept.HostKeyPEM = bytes.Clone(req.HostKeyPEM)
	p.mu.Lock()
	p.reqs = append(p.reqs, kept)
	p.mu.Unlock()

	opts, err := testhost.OptionsFromUserData(req.UserData)
	if err != nil {
		return nil, err
	}
	opts.Cloud = true // booted from user data: cloud-init ran, systemd booted it
	h, err := testhost.Boot(ctx, opts)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.hosts[req.Identity.Run()] = h
	p.mu.Unlock()
	j.Record(providers.Resource{Provider: p.Name(), Kind: "host", ID: h.Addr(), Tags: req.Identity.Tags()})
	// The "host" is this machine: its ready marker outlives it.
	p.t.Cleanup(func() { os.Remove(req.ReadyMarker) })
	if err := os.MkdirAll(filepath.Dir(req.ReadyMarker), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(req.ReadyMarker, nil, 0o644); err != nil {
		return nil, err
	}
	return &providers.Host{Address: h.Addr(), Port: h.Port(), User: req.User, HostKey: req.HostKey,
		Type: "test", CloudInit: true, ReadyMarker: req.ReadyMarker}, nil
}

func (p *userDataHosts) Destroy(ctx context.Context, id providers.Identity) (providers.Report, error) {
	p.mu.Lock()
	h := p.hosts[id.Run()]
	delete(p.hosts, id.Run())
	p.mu.Unlock()
	if h == nil {
		return providers.Report{}, nil
	}
	return providers.Report{Deleted: []providers.Resource{{Kind: "host", ID: h.Addr()}}}, h.Stop(ctx)
}

func (p *userDataHosts) List(_ context.Context, f providers.Filter) ([]providers.Resource, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []providers.Resource
	for run, h := range p.hosts {
		if f.Run == "" || run == f.Run {
			out = append(out, providers.Resource{Kind: "host", ID: h.Addr()})
		}
	}
	return out, nil
}

// only is the one request Create was given. It checks the capture holds
// what the search needs: user data rendered in this run, holding the host
// key block of the request, and keys that are the request's own.
func (p *userDataHosts) only(t *testing.T) providers.Request {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reqs) != 1 {
		t.Fatalf("Create was called %d times, want once", len(p.reqs))
	}
	req := p.reqs[0]
	ud := string(req.UserData)
	if !strings.HasPrefix(ud, "#cloud-config\n") {
		t.Fatalf("the captured user data is not a #cloud-config document (%d bytes)", len(ud))
	}
	body := pemBody(req.HostKeyPEM)
	if len(body) == 0 || !strings.Contains(string(req.HostKeyPEM), "BEGIN OPENSSH PRIVATE KEY") {
		t.Fatal("the captured request holds no host private key")
	}
	for _, l := range body {
		if !strings.Contains(ud, l) {
			t.Fatal("the captured user data does not hold the request's host private key")
		}
	}
	if !strings.Contains(ud, req.ClientAuthorizedKey) || !strings.Contains(ud, req.HostKey) {
		t.Fatal("the captured user data does not hold the request's client key and host public key")
	}
	return req
}

// captured is everything a cycle wrote or handed out while it ran.
type captured struct {
	out       *syncBuffer // live progress (Plan.Out)
	log       *syncBuffer // the log, JSON and text, at debug level
	mu        sync.Mutex
	snapshots []artifact // OnProgress and OnVerdict, rendered as the CLI would
}

type artifact struct{ name, text string }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// secretsPlan is a leg on p whose every output is captured.
func secretsPlan(t *testing.T, p providers.Provider) (verify.Plan, *captured) {
	capt := &captured{out: &syncBuffer{}, log: &syncBuffer{}}
	now := time.Now()
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	plan := verify.Plan{
		Provider: p, Display: "Secrets", User: secretsUser, Lane: "kvm",
		Identity: providers.Identity{RunID: strconv.FormatInt(now.UnixNano(), 10), Key: "secrets", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		TTL:      time.Hour, ReadyPoll: 10 * time.Millisecond, DialBackoff: 10 * time.Millisecond,
		Packages:  []string{"jq"},
		Bootstrap: []string{"echo bootstrapped"},
		Out:       capt.out,
		Logger:    slog.New(slog.NewMultiHandler(slog.NewJSONHandler(capt.log, opts), slog.NewTextHandler(capt.log, opts))),
	}
	snapshot := func(what string) func(*verify.Result) {
		return func(r *verify.Result) {
			data, err := json.Marshal(r)
			if err != nil {
				t.Errorf("encode the %s result: %v", what, err)
			}
			capt.mu.Lock()
			defer capt.mu.Unlock()
			n := len(capt.snapshots)
			capt.snapshots = append(capt.snapshots,
				artifact{fmt.Sprintf("%s result %d", what, n), string(data)},
				artifact{fmt.Sprintf("%s summary %d", what, n), summary.Markdown(r)},
				artifact{fmt.Sprintf("%s row %d", what, n), mustJSON(t, r.Row())})
		}
	}
	plan.OnProgress, plan.OnVerdict = snapshot("progress"), snapshot("verdict")
	plan.Journal = providers.JournalFunc(func(r providers.Resource) {
		capt.mu.Lock()
		defer capt.mu.Unlock()
		capt.snapshots = append(capt.snapshots, artifact{"journal", mustJSON(t, r)})
	})
	plan.HostJournal = hostJournal(func(h verify.HostInfo, pending []verify.HostCleanup) {
		capt.mu.Lock()
		defer capt.mu.Unlock()
		capt.snapshots = append(capt.snapshots, artifact{"host journal", mustJSON(t, map[string]any{"host": h, "pending": pending})})
	})
	return plan, capt
}

type hostJournal func(verify.HostInfo, []verify.HostCleanup)

func (f hostJournal) PendingHostCleanups(h verify.HostInfo, pending []verify.HostCleanup) {
	f(h, pending)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	return string(data)
}

// artifacts are the captured streams and what the CLI makes of res:
// result.json, summary.md, the status and row outputs, the step and
// collected logs. It checks each of the kinds was captured, so that an
// empty capture cannot pass as no leak.
func (c *captured) artifacts(t *testing.T, res *verify.Result) []artifact {
	t.Helper()
	indented, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatalf("encode the result: %v", err)
	}
	out := []artifact{
		{"progress", c.out.String()}, {"log", c.log.String()},
		{"result.json", string(indented)}, {"summary.md", summary.Markdown(res)},
		{"status output", string(res.Outcome)}, {"row output", mustJSON(t, res.Row())},
	}
	for _, s := range res.Steps {
		out = append(out, artifact{"step log " + s.Name, s.Output})
	}
	for _, l := range res.Collected {
		out = append(out, artifact{"collected " + l.Name, l.Text})
	}
	c.mu.Lock()
	out = append(out, c.snapshots...)
	c.mu.Unlock()
	kinds := map[string]bool{}
	for _, a := range out {
		if a.text != "" {
			kinds[strings.Fields(a.name)[0]] = true
		}
	}
	for _, k := range []string{"progress", "log", "result.json", "summary.md", "journal"} {
		if !kinds[k] {
			t.Errorf("nothing captured of %s: the search would prove nothing there", k)
		}
	}
	if !res.Kept && (!kinds["verdict"] || !kinds["step"]) {
		t.Error("no verdict snapshot or step log captured for a run")
	}
	return out
}

// needle is one form of a secret that must appear nowhere.
type needle struct{ what, text string }

// secretNeedles are the forms the request's secrets (and clientKey, when
// given) could leak in. Left out are needles that the public keys hold (an
// ed25519 private key blob carries its public key, which may line up with
// the base64 of the public one; the host's public key is in result.json by
// design) and those every OpenSSH ed25519 private key holds (its armour,
// the start of its blob), so that each needle names the secret it is of;
// the armour is looked for on its own.
func secretNeedles(t *testing.T, req providers.Request, clientKey []byte) []needle {
	t.Helper()
	other, err := remote.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	generic := strings.Join(encodings(t, string(other.HostPrivatePEM)), "\n")
	var out []needle
	add := func(what, text string) {
		if len(text) < 16 || strings.Contains(req.HostKey, text) || strings.Contains(req.ClientAuthorizedKey, text) ||
			strings.Contains(generic, text) {
			return
		}
		out = append(out, needle{what, text})
	}
	// whole adds s, its base64 as encoding/json writes a []byte (and the
	// URL alphabet), its JSON-escaped and Go-quoted forms, and chunks of
	// each encoded form, so that a leak cut short is found too.
	whole := func(what, s string) {
		add(what, s)
		forms := map[string]string{
			"base64 of " + what:         base64.StdEncoding.EncodeToString([]byte(s)),
			"URL base64 of " + what:     base64.URLEncoding.EncodeToString([]byte(s)),
			"JSON-escaped " + what:      strings.Trim(mustJSON(t, s), `"`),
			"Go-quoted " + what:         strings.Trim(strconv.Quote(s), `"`),
			"base64 in JSON of " + what: strings.Trim(mustJSON(t, []byte(s)), `"`),
		}
		for name, f := range forms {
			add(name, f)
			for i := 0; i+32 <= len(f); i += 32 {
				add(name+", cut short", f[i:i+32])
			}
		}
	}
	key := func(what string, pemData []byte) {
		whole(what, string(pemData))
		body := pemBody(pemData)
		for i, l := range body {
			add(fmt.Sprintf("%s's body line %d", what, i+1), l)
		}
		// The body unwrapped, or wrapped otherwise: in chunks.
		joined := strings.Join(body, "")
		for i := 0; i+24 <= len(joined); i += 12 {
			add(what+" body, wrapped otherwise", joined[i:i+24])
		}
	}
	ud := string(req.UserData)
	whole("user data", ud)
	// The user data's own lines: its structure, the host key block, the
	// root authorized_keys entry and udev rule it writes, its runcmd.
	for l := range strings.Lines(ud) {
		if l = strings.TrimSpace(l); len(l) >= 16 {
			add("user data line", l)
		}
	}
	for _, l := range []string{"#cloud-config", "ed25519_private", "write_files:"} {
		out = append(out, needle{"user data's " + l, l})
	}
	out = append(out, needle{"armour of a private key", "PRIVATE KEY-----"})
	key("host private key", req.HostKeyPEM)
	if clientKey != nil {
		key("client private key", clientKey)
	}
	return out
}

// encodings are s and the forms whole and key look for it in.
func encodings(t *testing.T, s string) []string {
	return []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.URLEncoding.EncodeToString([]byte(s)),
		mustJSON(t, s), strconv.Quote(s), strings.Join(pemBody([]byte(s)), "")}
}

// pemBody is the base64 body lines of a PEM block.
func pemBody(pemData []byte) []string {
	var lines []string
	for l := range strings.Lines(string(pemData)) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "-----") {
			lines = append(lines, l)
		}
	}
	return lines
}

// checkNoLeak fails for each needle found in an artifact. It first shows
// the needles find what they are for: the user data and the keys written
// as a careless line of code would (printed, logged or marshaled as a
// []byte or a string, base64 in another alphabet or wrapped, cut short)
// are each found, so a search that finds nothing means something.
func checkNoLeak(t *testing.T, arts []artifact, needles []needle, req providers.Request, clientKey []byte) {
	t.Helper()
	if len(needles) == 0 {
		t.Fatal("no secrets to look for")
	}
	for _, sample := range leakSamples(t, req, clientKey) {
		found := false
		for _, n := range needles {
			found = found || strings.Contains(sample.text, n.text)
		}
		if !found {
			t.Errorf("the search does not find the secrets in %s", sample.name)
		}
	}
	for _, a := range arts {
		var found []string
		for _, n := range needles {
			if strings.Contains(a.text, n.text) && !slices.Contains(found, n.what) {
				found = append(found, n.what)
			}
		}
		if len(found) > 0 {
			// Named by what it is only: the failure log is an artifact too.
			t.Errorf("%s holds secrets: %s", a.name, strings.Join(found, "; "))
		}
	}
}

// leakSamples are the secrets as a careless line of code would write them.
func leakSamples(t *testing.T, req providers.Request, clientKey []byte) []artifact {
	var out []artifact
	logged := func(v any) string {
		var b bytes.Buffer
		slog.New(slog.NewJSONHandler(&b, nil)).Info("request", "v", v)
		slog.New(slog.NewTextHandler(&b, nil)).Info("request", "v", v)
		return b.String()
	}
	middle := func(s string, n int) string { return s[len(s)/3 : min(len(s), len(s)/3+n)] }
	wrap := func(s string, width int) string {
		var b strings.Builder
		for len(s) > width {
			b.WriteString(s[:width] + "\n")
			s = s[width:]
		}
		return b.String() + s
	}
	secret := func(what string, data []byte) {
		b64 := base64.StdEncoding.EncodeToString(data)
		out = append(out,
			artifact{what + " printed", fmt.Sprintf("got %s", data)},
			artifact{what + " logged as a []byte", logged(data)},
			artifact{what + " logged as a string", logged(string(data))},
			artifact{what + " marshaled in a struct", mustJSON(t, struct{ Data []byte }{data})},
			artifact{what + " as a JSON string", mustJSON(t, string(data))},
			artifact{what + " Go-quoted", fmt.Sprintf("%q", data)},
			artifact{what + " base64, cut short", middle(b64, 80)},
			artifact{what + " base64, wrapped at 76", wrap(b64, 76)},
			artifact{what + " URL base64, cut short", middle(base64.URLEncoding.EncodeToString(data), 80)},
			artifact{what + " JSON-escaped, cut short", middle(mustJSON(t, string(data)), 200)},
		)
	}
	secret("user data", req.UserData)
	secret("host private key", req.HostKeyPEM)
	out = append(out, artifact{"host private key body rewrapped at 70", wrap(strings.Join(pemBody(req.HostKeyPEM), ""), 70)})
	if clientKey != nil {
		secret("client private key", clientKey)
		out = append(out, artifact{"client private key body rewrapped at 70", wrap(strings.Join(pemBody(clientKey), ""), 70)})
	}
	return out
}
