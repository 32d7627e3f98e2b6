package config

import (
	"debug/elf"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/providers"
)

// Source returns an input's value by its action-input name ("timeout-minutes")
// and whether it was given at all.
type Source func(name string) (value string, set bool)

// MapSource reads inputs from a map (tests, flags already parsed).
func MapSource(m map[string]string) Source {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// Options are what Load knows beyond the inputs.
type Options struct {
	// Providers are the registered provider names. When set, the provider
	// input must be one of them.
	Providers []string
	// Mode, when set, is the mode (the CLI's subcommand, or the action's
	// mode as the CLI read it) and the mode input is not consulted.
	Mode string
	// Provider, when set, is the provider when the input gives none (the
	// post step reads it from its saved state).
	Provider string
	// Getenv supplies fallbacks: GITHUB_TOKEN, GITHUB_API_URL,
	// GITHUB_SERVER_URL and GITHUB_REPOSITORY. Nil means none.
	Getenv func(key string) string
	// Check, when set, checks a provider's own inputs by the provider's
	// rules (providers.Registry.Check); run and up call it for the chosen
	// provider. Nil: only the inputs config knows are checked.
	Check func(provider string, o providers.Options) error
	// HeadSHA is the commit under test as the CLI read it from the event
	// (the pull request's head, not the merge commit); the default of ref
	// and head-sha.
	HeadSHA string
	// PullRequest is the event's pull request number, the default of
	// pull-request; 0 when there is none.
	PullRequest int
}

func (o Options) env(key string) string {
	if o.Getenv == nil {
		return ""
	}
	return o.Getenv(key)
}

// Load reads every input from src, applies defaults and validates them.
func Load(src Source) (*Run, error) { return LoadWith(src, Options{}) }

// LoadWith is Load with what the CLI knows: the registered providers and the
// environment. Every bad input is reported, as *InputError values joined
// with errors.Join; errors.As finds the first.
func LoadWith(src Source, opt Options) (*Run, error) {
	l := newLoader(src)
	// The token's fallback is filled before any input is checked: fail
	// redacts the secret inputs' values (holdsSecret), and a token that only
	// the environment holds, pasted into another input, must be one of them.
	if l.get("github-token") == "" {
		l.set("github-token", strings.TrimSpace(opt.env("GITHUB_TOKEN")))
	}
	r := &Run{}

	if opt.Mode != "" {
		l.set("mode", opt.Mode)
	}
	r.Mode = l.oneOf("mode", Modes())
	if opt.Provider != "" && l.get("provider") == "" {
		l.set("provider", opt.Provider)
	}
	l.provider(r, opt.Providers)
	r.Lane = l.oneOf("lane", lanes)
	l.key(r)
	r.Display = l.display()

	r.Out = l.out()
	r.TimeoutMinutes = l.whole("timeout-minutes", 1, 7*24*60, "a positive whole number of minutes, at most 10080 (e.g. 90)")
	r.TeardownBudget = l.teardownBudget(r.Mode)
	r.ReadyTimeout = l.duration("ready-timeout")
	r.StepTimeout = l.duration("step-timeout")
	r.TTL = l.duration("ttl")
	// The bounds of disk-gb; an adapter may refuse more at preflight (aws: a
	// size below the image's root snapshot).
	r.DiskGB = l.whole("disk-gb", MinDiskGB, MaxDiskGB, fmt.Sprintf("a whole number of GB from %d to %d (e.g. 50)", MinDiskGB, MaxDiskGB))
	l.budgets(r)

	r.Image = l.word("image", "an image name or id without spaces")
	r.Region = l.word("region", "a region name like us-east-1")
	r.Zone = l.word("zone", "a zone name like us-east-1a")
	r.InstanceType = l.word("instance-type", "an instance type like c8i.2xlarge")
	r.Market = l.oneOf("market", markets)
	r.SpotFailover = l.boolean("spot-failover")
	l.candidates(r)
	l.spotFailover(r)

	r.AllowSSHFromAnywhere = l.boolean("allow-ssh-from-anywhere")
	r.InsecureHostKey = l.boolean("insecure-host-key")
	l.sourceCIDR(r)
	r.MaxCostUSD = l.cost("max-cost")
	r.ProbeBinary = l.probeBinary()

	l.github(r, opt)
	r.Comment = l.boolean("comment")
	r.MatrixFile = l.get("matrix-file")
	if r.Mode == ModeReport && r.MatrixFile != "" {
		l.matrixFile(r.MatrixFile)
	}
	l.expect(r)

	l.endpoints()
	l.providerInputs(r, opt)
	l.checkout(r, opt)
	l.suite(r)

	r.Inputs = map[string]string{}
	for name, v := range l.values {
		if v != "" {
			r.Inputs[name] = v
		}
	}
	r.Warnings = l.warnings(r)
	l.redactErrors()
	if err := errors.Join(l.errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// LoadGitHub reads and checks, as LoadWith does, only the inputs that say
// whether and where a leg reports to GitHub: github-token (or GITHUB_TOKEN),
// github-api-url, github-repository, pull-request, head-sha, check-run-id
// and comment. The Run it returns holds those alone. A leg refused for
// another input still reports its refusal with them; one refused for one of
// these reports nothing, so an error here means: do not report.
func LoadGitHub(src Source, opt Options) (*Run, error) {
	l := newLoader(src)
	if l.get("github-token") == "" {
		l.set("github-token", strings.TrimSpace(opt.env("GITHUB_TOKEN")))
	}
	r := &Run{}
	l.github(r, opt)
	r.Comment = l.boolean("comment")
	l.endpoint("github-api-url")
	l.redactErrors()
	if err := errors.Join(l.errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// The range of the disk-gb input, in GB: at least the Ubuntu images' 8 GB
// root snapshot, at most EBS gp3's 16384 GiB.
const (
	MinDiskGB = 8
	MaxDiskGB = 16384
)

var (
	markets    = []string{"on-demand", "spot"}
	lanes      = []string{LaneAuto, LaneKVM, LaneNoKVM}
	ghRepoForm = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	refForm    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]*$`)
)

// loader holds the inputs while they are parsed and collects every error.
type loader struct {
	table  map[string]Input
	values map[string]string // value, or the default when empty
	// givenEmpty are the inputs the source says were given, as "": a
	// flag such as --out "$UNSET". The action's INPUT_* source never says
	// so (the runner sets every declared input, empty or not).
	givenEmpty map[string]bool
	errs       []error
}

func newLoader(src Source) *loader {
	l := &loader{table: map[string]Input{}, values: map[string]string{}, givenEmpty: map[string]bool{}}
	for _, in := range Inputs() {
		l.table[in.Name] = in
		v, set := src(in.Name)
		v = strings.TrimSpace(v)
		if set && v == "" {
			l.givenEmpty[in.Name] = true
		}
		if !set || v == "" {
			v = in.Default
		}
		l.values[in.Name] = v
	}
	return l
}

// get returns an input's value. Names come from the table; an unknown name
// is a bug in this package.
func (l *loader) get(name string) string {
	if _, ok := l.table[name]; !ok {
		panic("config: no input " + name)
	}
	return l.values[name]
}

func (l *loader) set(name, value string) {
	l.get(name)
	l.values[name] = value
}

// fail records bad input. The value is redacted for secret inputs and for
// anything that looks like a key or holds a secret input's value, pasted
// into the wrong input.
func (l *loader) fail(name, value, expected string, cause error) {
	if l.table[name].Secret || providers.LooksLikeKey(value) || l.holdsSecret(value) {
		if value != "" {
			value = "***"
		}
	} else {
		value = shorten(value)
	}
	l.errs = append(l.errs, &InputError{Input: name, Value: value, Expected: expected, Err: cause})
}

// minSecretMatch is the least length of a secret, or of a line of one,
// that holdsSecret looks for: shorter strings (a key's last line, a test
// token like "us") match unrelated values by chance and would hide them.
const minSecretMatch = 8

// holdsSecret reports whether value holds a secret input's value, or a
// line of one: a token pasted into the wrong input, whose error must not
// echo it.
func (l *loader) holdsSecret(value string) bool {
	if value == "" {
		return false
	}
	for name, in := range l.table {
		secret := strings.TrimSpace(l.values[name])
		if !in.Secret || len(secret) < minSecretMatch {
			continue
		}
		if strings.Contains(value, secret) {
			return true
		}
		for _, line := range strings.Split(secret, "\n") {
			// A key's armour is no secret, and looksLikeKey finds it.
			line = strings.TrimSpace(line)
			if len(line) >= minSecretMatch && !strings.HasPrefix(line, "-----") && strings.Contains(value, line) {
				return true
			}
		}
	}
	return false
}

// redactErrors replaces a secret input's value, and each line of one, with
// *** in the errors recorded without fail: a suite file's field errors
// quote the file (a token pasted there as a timeout, or as a key), and the
// bad input error is printed, annotated and put in the job summary before
// any secret is masked. An error that quotes no secret is kept as it is.
func (l *loader) redactErrors() {
	for i, err := range l.errs {
		if !l.holdsSecret(err.Error()) {
			continue
		}
		var ie *InputError
		if !errors.As(err, &ie) {
			l.errs[i] = errors.New(l.redact(err.Error()))
			continue
		}
		masked := *ie
		masked.Value = l.redact(masked.Value)
		if masked.Err != nil {
			masked.Err = errors.New(l.redact(masked.Err.Error()))
		}
		l.errs[i] = &masked
	}
}

// redact replaces in s what holdsSecret looks for with ***.
func (l *loader) redact(s string) string {
	var secrets []string
	for name, in := range l.table {
		secret := strings.TrimSpace(l.values[name])
		if !in.Secret || len(secret) < minSecretMatch {
			continue
		}
		secrets = append(secrets, secret)
		for _, line := range strings.Split(secret, "\n") {
			if line = strings.TrimSpace(line); len(line) >= minSecretMatch && !strings.HasPrefix(line, "-----") {
				secrets = append(secrets, line)
			}
		}
	}
	// Longest first: a whole secret before the lines it holds.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, "***")
	}
	return s
}

func (l *loader) oneOf(name string, allowed []string) string {
	v := l.get(name)
	if !slices.Contains(allowed, v) {
		l.fail(name, v, orList(allowed), nil)
	}
	return v
}

func orList(items []string) string {
	switch len(items) {
	case 0:
		return "nothing"
	case 1:
		return items[0]
	case 2:
		return items[0] + " or " + items[1]
	}
	return "one of " + strings.Join(items, ", ")
}

func (l *loader) boolean(name string) bool {
	switch v := l.get(name); v {
	case "true", "True", "TRUE":
		return true
	case "false", "False", "FALSE", "":
		return false
	default:
		l.fail(name, v, "true or false", nil)
		return false
	}
}

var wholeNumber = regexp.MustCompile(`^[0-9]+$`)

func (l *loader) whole(name string, lo, hi int, expected string) int {
	v := l.get(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if !wholeNumber.MatchString(v) || err != nil || n < lo || n > hi {
		l.fail(name, v, expected, nil)
		return 0
	}
	return n
}

func (l *loader) duration(name string) time.Duration {
	v := l.get(name)
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		// 0s has the form; the rule it breaks is that it must be positive.
		l.fail(name, v, "a positive duration like 90m or 1h30m", nil)
		return 0
	}
	return d
}

// MinTeardownBudget is the least teardown-budget run and up accept. A
// cloud teardown terminates the host, waits until it is gone and deletes
// its firewall group, which takes longer than seconds; from the CLI no post
// step finishes a teardown cut short, so a shorter budget would leave a
// billed host behind. down gives its teardown at least this much whatever
// the input says.
const MinTeardownBudget = time.Minute

// teardownBudget is the teardown-budget input: a positive duration, and in
// run and up at least MinTeardownBudget. 0 when refused, so the checks
// against timeout-minutes do not add a second error about the same value.
func (l *loader) teardownBudget(mode string) time.Duration {
	if mode == ModeRun || mode == ModeUp {
		// 0s and negative budgets too: their fix is the same minimum.
		v := l.get("teardown-budget")
		if d, err := time.ParseDuration(v); err == nil && d < MinTeardownBudget {
			l.fail("teardown-budget", v, "a duration of at least 1m, e.g. 5m", nil)
			return 0
		}
	}
	return l.duration("teardown-budget")
}

// out is the directory results and state go to: created if missing, so an
// existing file there is refused before anything starts, not after.
func (l *loader) out() string {
	if l.givenEmpty["out"] {
		// Most likely a script's unset variable: the default, the current
		// directory's mvm-verify-out, is not what it meant.
		l.errs = append(l.errs, &InputError{Input: "out", GivenEmpty: true,
			Expected: "a directory path (omit it for the default " + l.table["out"].Default + ")"})
		return ""
	}
	v := l.get("out")
	if v == "" {
		return ""
	}
	if fi, err := os.Stat(v); err == nil && !fi.IsDir() {
		// Not "created if missing": down reads it and creates nothing.
		l.fail("out", v, "a directory, not a file", nil)
	}
	return v
}

// word is a free-form name that must not contain spaces.
func (l *loader) word(name, expected string) string {
	v := l.get(name)
	if strings.ContainsFunc(v, isSpaceOrQuote) {
		l.fail(name, v, expected, nil)
	}
	return v
}

// MaxDisplayLen is the most characters (runes) of the display input. Any
// character is allowed (the matrix escapes each), but escaping can grow one
// to 14 bytes ("$" as <span>$</span>), and a display of thousands would
// leave its row no room in the PR comment: refused here, naming display,
// not at report time.
const MaxDisplayLen = 100

func (l *loader) display() string {
	v := l.get("display")
	if utf8.RuneCountInString(v) > MaxDisplayLen {
		l.fail("display", v, fmt.Sprintf("at most %d characters of text for the matrix's Provider column (e.g. AWS)", MaxDisplayLen), nil)
	}
	return v
}

func isSpaceOrQuote(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '"' || r == '\''
}

func (l *loader) cost(name string) float64 {
	v := l.get(name)
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(strings.TrimPrefix(v, "$"), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		l.fail(name, v, "an amount in USD like 5 or 2.50", nil)
		return 0
	}
	return f
}

// file checks that an input names an existing regular file.
func (l *loader) file(name, what string) string {
	v := l.get(name)
	if v == "" {
		return ""
	}
	fi, err := os.Stat(v)
	switch {
	case err != nil:
		l.fail(name, v, what, err)
	case !fi.Mode().IsRegular():
		l.fail(name, v, what+", not "+fi.Mode().Type().String(), nil)
	}
	return v
}

// probeBinary checks the probe-binary input before anything is created:
// every host is Linux, so it must be a Linux ELF executable. Whether its
// architecture matches the host is known only once the host answers.
func (l *loader) probeBinary() string {
	const expected = "a Linux (ELF) build of mvm-verify for the host's architecture"
	n := len(l.errs)
	path := l.file("probe-binary", expected)
	if path == "" || len(l.errs) > n {
		return path
	}
	f, err := elf.Open(path)
	if err != nil {
		l.fail("probe-binary", path, expected, errors.New("not an ELF file"))
		return path
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		l.fail("probe-binary", path, expected, fmt.Errorf("an ELF %s, not an executable", f.Type))
	}
	return path
}

// matrixFile checks the docs file report rewrites before anything is
// written: a file with exactly one pair of markers, start before end.
func (l *loader) matrixFile(path string) {
	expected := fmt.Sprintf("a markdown file with %s … %s", matrix.DocsStart, matrix.DocsEnd)
	if n := len(l.errs); l.file("matrix-file", expected) == "" || len(l.errs) > n {
		return
	}
	content, err := os.ReadFile(path)
	if err != nil {
		l.fail("matrix-file", path, expected, err)
		return
	}
	if _, _, err := matrix.DocsRegion(content); err != nil {
		l.fail("matrix-file", path, expected, err)
	}
}

// expect reads the row keys report waits for; each is a row key as the
// legs' key input makes them.
func (l *loader) expect(r *Run) {
	v := l.get("expect")
	r.Expect = splitList(v)
	for _, k := range r.Expect {
		if !matrix.ValidKey(k) {
			l.fail("expect", v, "row keys like aws,gcp,hetzner-no-kvm, comma or newline separated "+
				"(each lowercase letters, digits, - and _; at most 63)", nil)
			return
		}
	}
}

func (l *loader) provider(r *Run, known []string) {
	r.Provider = l.get("provider")
	names := slices.Sorted(slices.Values(known))
	expected := "a provider name"
	if len(names) > 0 {
		expected = orList(names)
	}
	switch {
	case r.Provider == "":
		// down finds the provider in the state of up; report works
		// across providers.
		if r.Mode == ModeRun || r.Mode == ModeUp {
			l.fail("provider", "", expected, nil)
		}
	case len(names) > 0 && !slices.Contains(names, r.Provider):
		l.fail("provider", r.Provider, expected, nil)
	case len(names) == 0 && !providers.ValidName(r.Provider):
		l.fail("provider", r.Provider, "a provider name like aws (lowercase letters, digits and -)", nil)
	}
}

func (l *loader) key(r *Run) {
	r.Key = l.get("key")
	if r.Key == "" && r.Provider != "" {
		r.Key = providers.Label(r.Provider)
		if r.Lane == LaneNoKVM {
			r.Key += "-" + LaneNoKVM
		}
		l.set("key", r.Key)
		return
	}
	if r.Key != "" && !matrix.ValidKey(r.Key) {
		l.fail("key", r.Key, "a key like aws or hetzner-no-kvm (lowercase letters, digits, - and _; at most 63)", nil)
	}
}

// budgets checks the timeouts against each other in run and up, the modes
// whose cycle splits timeout-minutes into work and teardown: the work must
// leave the teardown budget inside the job, and the host must outlive the
// job (a host the run boots: ttl does not apply to local or ssh). report
// has no teardown (its GitHub calls are bounded by timeout-minutes alone,
// which whole already keeps at a minute or more) and down's teardown is
// bounded by teardown-budget (at least a minute), not timeout-minutes, so
// neither is held to teardown-budget here: a report job with
// timeout-minutes: 5 is fine.
func (l *loader) budgets(r *Run) {
	if r.TimeoutMinutes == 0 || r.TeardownBudget == 0 || (r.Mode != ModeRun && r.Mode != ModeUp) {
		return
	}
	timeout := time.Duration(r.TimeoutMinutes) * time.Minute
	if r.Deadline() < time.Minute {
		l.fail("timeout-minutes", strconv.Itoa(r.TimeoutMinutes),
			fmt.Sprintf("more minutes than teardown-budget (%s) plus at least one minute of work", r.TeardownBudget), nil)
	}
	// Only a host the run boots expires at the TTL: local's and ssh's
	// machines stay, so a timeout-minutes past the default 3h is no
	// conflict there (ttl does not apply to them).
	if r.TTL != 0 && r.TTL <= timeout && l.table["ttl"].AppliesTo(r.Mode, r.Provider) {
		l.fail("ttl", l.get("ttl"), fmt.Sprintf("a duration longer than timeout-minutes (%s), so the host does not destroy itself mid-run", timeout), nil)
	}
}

func (l *loader) sourceCIDR(r *Run) {
	v := l.get("ssh-source-cidr")
	if v == "" {
		if r.AllowSSHFromAnywhere {
			r.SSHSourceCIDR = "0.0.0.0/0"
			l.set("ssh-source-cidr", r.SSHSourceCIDR)
		}
		return
	}
	// A CIDR only: a bare address is refused, the error saying to add /32
	// (IPv4) or /128 (IPv6). An IPv4-mapped range (::ffff:…) is judged,
	// and kept, as the IPv4 range it names.
	p, err := providers.ParseSourceCIDR(v, r.AllowSSHFromAnywhere)
	if err != nil {
		l.adopt(err)
		return
	}
	r.SSHSourceCIDR = p.String()
	l.set("ssh-source-cidr", r.SSHSourceCIDR)
}

func (l *loader) github(r *Run, opt Options) {
	r.GitHubToken = l.get("github-token") // or GITHUB_TOKEN, filled by LoadWith
	if strings.ContainsFunc(r.GitHubToken, isSpaceOrQuote) {
		l.fail("github-token", r.GitHubToken, "a token without spaces or quotes", nil)
	}
	r.GitHubAPIURL = cmpOr(l.get("github-api-url"), opt.env("GITHUB_API_URL"), "https://api.github.com")
	l.set("github-api-url", r.GitHubAPIURL)

	r.GitHubRepo = cmpOr(l.get("github-repository"), opt.env("GITHUB_REPOSITORY"))
	l.set("github-repository", r.GitHubRepo)
	if r.GitHubRepo != "" && !ghRepoForm.MatchString(r.GitHubRepo) {
		l.fail("github-repository", r.GitHubRepo, "owner/name like tinylabscom/mvm", nil)
	}
	if v := l.get("pull-request"); v != "" {
		r.PullRequest = l.whole("pull-request", 1, math.MaxInt32, "a pull request number like 42")
	} else {
		r.PullRequest = opt.PullRequest
	}
	r.HeadSHA = cmpOr(l.get("head-sha"), opt.HeadSHA)
	l.set("head-sha", r.HeadSHA)
	if r.HeadSHA != "" && !matrix.ValidSHA(r.HeadSHA) {
		l.fail("head-sha", r.HeadSHA, "a full commit SHA (40 lowercase hex digits)", nil)
	}
	if v := l.get("check-run-id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if !wholeNumber.MatchString(v) || err != nil || n <= 0 {
			l.fail("check-run-id", v, "the job's check run id, digits only, like 41234567890 (the job.check_run_id expression)", nil)
			return
		}
		r.CheckRunID = n
	}
}

func cmpOr(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// endpoints checks every URL-valued input.
func (l *loader) endpoints() {
	for _, in := range Inputs() {
		name := in.Name
		if strings.HasSuffix(name, "-endpoint") || name == "github-api-url" {
			l.endpoint(name)
		}
	}
}

// endpoint checks one URL-valued input.
func (l *loader) endpoint(name string) {
	v := l.get(name)
	if v == "" {
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		l.fail(name, v, "an http(s) URL like https://api.example.com", nil)
	}
}

// spotFailover refuses spot-failover when no candidate is on the spot
// market: there would be nothing to fail over from, and the user who asked
// for it most likely meant market: spot. A list that mixes markets is
// fine — the spot entries get their on-demand twins. Where the input is not
// read (local, ssh; down, report) it is not checked.
func (l *loader) spotFailover(r *Run) {
	if !r.SpotFailover || len(r.Candidates) == 0 || !l.table["spot-failover"].AppliesTo(r.Mode, r.Provider) {
		return
	}
	if slices.ContainsFunc(r.Candidates, func(c providers.Candidate) bool { return c.Market == "spot" }) {
		return
	}
	expected := "false when market is on-demand (set market: spot, or give a candidates entry market: spot, to fail over from spot to on-demand)"
	if l.get("candidates") != "" {
		expected = "false when no candidates entry is on the spot market (give an entry market: spot, or set market: spot, to fail over from spot to on-demand)"
	}
	l.fail("spot-failover", l.get("spot-failover"), expected, nil)
}

// providerInputs checks the chosen provider's own inputs in the modes that
// start a leg, with the provider's rules (Options.Check, the registry's
// providers.Entry.Check): one rule per input, in the adapter that reads
// it, reported here with every other bad input before anything starts.
// down builds its provider from the inputs up saved, and the factory
// checks them then, with the same rules.
func (l *loader) providerInputs(r *Run, opt Options) {
	if r.Mode != ModeRun && r.Mode != ModeUp || r.Provider == "" {
		return
	}
	if r.Provider == "ssh" {
		l.keyFileSecret(r)
	}
	if opt.Check == nil {
		return
	}
	err := opt.Check(r.Provider, providers.Options{
		Input:          func(name string) string { return l.values[name] },
		Getenv:         opt.Getenv,
		Candidates:     r.Candidates,
		CandidateInput: r.CandidateInput,
	})
	failed := map[string]bool{}
	for _, e := range l.errs {
		var ie *InputError
		if errors.As(e, &ie) {
			failed[ie.Name()] = true
		}
	}
	for _, e := range unjoin(err) {
		var ie *InputError
		if errors.As(e, &ie) {
			// An input refused here already (market, a candidates entry
			// the list's own parser refused) is reported once.
			name := ie.Name()
			if base, _, _ := strings.Cut(name, "["); failed[name] || failed[base] {
				continue
			}
			failed[name] = true
		}
		l.adopt(e)
	}
}

// adopt records a refusal made outside config (by a provider's rules) as
// config's own: an *InputError's value is redacted and shortened as fail
// does; another error is kept as it is.
func (l *loader) adopt(err error) {
	var ie *InputError
	if !errors.As(err, &ie) {
		l.errs = append(l.errs, err)
		return
	}
	l.fail(ie.Name(), ie.Value, ie.Expected, ie.Err)
}

// unjoin lists the errors errors.Join put together; err alone otherwise.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// keyFileSecret keeps the key in ssh-private-key-file among the run's
// secrets, so that it is masked like ssh-private-key wherever it shows.
// Whether it is a key is the ssh provider's to check.
func (l *loader) keyFileSecret(r *Run) {
	f := l.get("ssh-private-key-file")
	if f == "" || providers.LooksLikeKey(f) {
		return
	}
	if data, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(data)) != "" {
		r.extraSecrets = append(r.extraSecrets, string(data))
	}
}

// isRepoURL accepts what git clone takes: a URL with a scheme, scp-like
// user@host:path, or an absolute path; nothing the shell would interpret.
func isRepoURL(s string) bool {
	if s == "" || strings.HasPrefix(s, "-") || strings.ContainsAny(s, " \t\r\n\"'$`\\;&|<>(){}*?") {
		return false
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		return scheme != "" && rest != ""
	}
	if strings.HasPrefix(s, "/") {
		return true
	}
	at, colon := strings.Index(s, "@"), strings.Index(s, ":")
	return at > 0 && colon > at+1 && colon < len(s)-1
}

// What the suite checks out at a terminal, where no workflow names a
// repository or a commit.
const (
	DefaultRepository = "https://github.com/tinylabscom/mvm"
	DefaultRef        = "main"
)

// checkout resolves what the suite checks out. Both values are pasted into
// shell commands, so their form is strict.
func (l *loader) checkout(r *Run, opt Options) {
	r.Repository = l.get("repository")
	if r.Repository == "" {
		server, repo := opt.env("GITHUB_SERVER_URL"), opt.env("GITHUB_REPOSITORY")
		switch {
		case server != "" && repo != "":
			r.Repository = strings.TrimSuffix(server, "/") + "/" + repo
		case opt.env("GITHUB_ACTIONS") != "true":
			// At a terminal there is no workflow repository; mvm itself is
			// what the built-in suite verifies.
			r.Repository = DefaultRepository
		}
		if r.Repository != "" {
			l.set("repository", r.Repository)
		}
	}
	if r.Repository != "" && !isRepoURL(r.Repository) {
		l.fail("repository", r.Repository, "a git URL like https://github.com/tinylabscom/mvm", nil)
	}
	r.Ref = l.get("ref")
	switch {
	case r.Ref != "":
	case opt.HeadSHA != "":
		r.Ref = opt.HeadSHA
	case opt.env("GITHUB_ACTIONS") != "true":
		r.Ref = DefaultRef
	}
	if r.Ref != "" {
		l.set("ref", r.Ref)
	}
	if r.Ref != "" && (!refForm.MatchString(r.Ref) || strings.Contains(r.Ref, "..")) {
		l.fail("ref", r.Ref, "a commit SHA or ref name", nil)
	}
}

// suite loads the suite in the modes that run it, fills in step timeouts and
// replaces its variables.
func (l *loader) suite(r *Run) {
	r.SuitePath = l.get("suite")
	if r.Mode != ModeRun && r.Mode != ModeUp {
		return
	}
	s := DefaultSuite()
	if r.SuitePath != "" {
		var err error
		if s, err = LoadSuite(r.SuitePath); err != nil {
			var pathErr *os.PathError
			if errors.As(err, &pathErr) {
				l.fail("suite", r.SuitePath, "a readable suite YAML file", pathErr)
			} else {
				l.errs = append(l.errs, &InputError{Input: "suite", Value: r.SuitePath, Err: err})
			}
			return
		}
	}
	for i := range s.Steps {
		if s.Steps[i].Timeout == 0 {
			s.Steps[i].Timeout = r.StepTimeout
		}
	}
	expanded, err := s.Expand(Vars{Repo: r.Repository, Ref: r.Ref})
	if err != nil {
		l.errs = append(l.errs, err)
		return
	}
	r.Suite = expanded
}

// warnings lists what the user should hear about before the run: suite
// steps that cannot see a skip, and the safety switches that are on. Inputs
// given that this mode or provider does not read are the CLI's to report
// (Input.NotApplying): in the action a matrix passes every leg the same
// inputs, so there they say nothing.
func (l *loader) warnings(r *Run) []string {
	var out []string
	if r.Suite != nil {
		for _, st := range r.Suite.Steps {
			if st.Parse == ParseLibtest && !strings.Contains(st.Run, "--show-output") && !strings.Contains(st.Run, "--nocapture") {
				out = append(out, fmt.Sprintf("suite step %q is parsed as libtest without --show-output: a gated test that "+
					"prints skipped and returns would read as passed; end its cargo test with -- --show-output", st.Name))
			}
		}
	}
	if r.Provider == "local" && r.SuitePath == "" && r.Suite != nil {
		out = append(out, localBuiltInWarning(r.Suite))
	}
	switch {
	case !r.InsecureHostKey:
	case r.Provider == "ssh" && l.get("ssh-known-host") != "":
		// The key given is pinned (run and up refuse the pair).
	case r.Provider == "ssh":
		out = append(out, "insecure-host-key is true: the host's key is not checked, so a machine in the middle could read the run")
	default:
		// The providers that create the host report the key it was booted
		// with; only one that reports none is connected to unchecked.
		out = append(out, "insecure-host-key is true: a host whose key the provider does not report is connected to "+
			"unchecked, so a machine in the middle could read the run")
	}
	if r.AllowSSHFromAnywhere {
		out = append(out, "allow-ssh-from-anywhere is true: tcp/22 of the host is open to "+cmpOr(r.SSHSourceCIDR, "0.0.0.0/0"))
	}
	return out
}

// localBuiltInWarning says what the built-in suite does to this machine
// when provider local runs it: local is this machine, and its teardown
// undoes what it set up itself, never the suite's packages or what its
// bootstrap did, since it cannot tell what was there before. The run goes
// ahead (it is the quick start's one command); the user hears once, before
// anything starts, what stays and how to avoid it. What it names comes
// from the suite, so it stays true as the built-in suite changes.
func localBuiltInWarning(s *Suite) string {
	var b strings.Builder
	b.WriteString("provider local without --suite runs the built-in suite on this machine, as root")
	if len(s.Packages) > 0 {
		fmt.Fprintf(&b, ": it apt-get installs %d packages (%s)", len(s.Packages), strings.Join(s.Packages, ", "))
	}
	if len(s.Bootstrap) > 0 {
		sep := " and"
		if len(s.Packages) == 0 {
			sep = ":"
		}
		fmt.Fprintf(&b, "%s runs %d bootstrap commands", sep, len(s.Bootstrap))
		if paths := s.WrittenPaths(); len(paths) > 0 {
			fmt.Fprintf(&b, " that write %s among other things", strings.Join(paths, ", "))
		}
	}
	b.WriteString("; local's teardown does not undo packages or what the bootstrap did. " +
		"To leave this machine as it is, run with --suite examples/quickstart.yml (it installs nothing)")
	return b.String()
}

// splitList splits a comma- or newline-separated input into its items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
