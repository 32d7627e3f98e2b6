package config

import (
	"fmt"
	"slices"
	"strings"
)

// Modes: what a run of mvm-verify does. The action takes it from the input
// "mode"; the CLI from its subcommand.
const (
	ModeRun    = "run"    // provision, verify, tear down
	ModeUp     = "up"     // provision and leave the host running
	ModeDown   = "down"   // tear down a leg, found by tag
	ModeReport = "report" // merge the legs' rows into the matrix
)

// Modes lists every mode, in the order the docs show them.
func Modes() []string {
	return []string{ModeRun, ModeUp, ModeDown, ModeReport}
}

// Input is one action input. The same name is the CLI flag --<name> and the
// environment variable INPUT_<NAME> (uppercased, hyphens kept).
type Input struct {
	Name        string
	Default     string
	Description string
	// ActionDefault, when set, is the default written into action.yml instead
	// of Default: an expression GitHub evaluates (e.g. "${{ github.token }}").
	// The CLI falls back to Default.
	ActionDefault string
	// DocDefault, when set, is what the docs' Default column shows for an
	// input with no Default that a provider fills in itself (from its
	// environment or its own choice), instead of a "—" that reads as none.
	DocDefault string
	// Secret inputs are masked and never appear in errors or logs.
	Secret bool
	// Providers the input applies to; empty means every provider.
	Providers []string
	// NotProviders are providers the input does not apply to, for inputs
	// of every provider that creates a cloud host: a list of the clouds
	// would miss the next one added.
	NotProviders []string
	// Modes the input applies to; empty means every mode.
	Modes []string
}

// AppliesTo reports whether the input is read in mode for provider; an empty
// provider matches every input.
func (in Input) AppliesTo(mode, provider string) bool {
	return in.NotApplying(mode, provider) == ""
}

// NotApplying says why the input is not read in mode for provider, e.g.
// "does not apply to provider local (it is for ssh)"; "" when it is read.
// An empty provider matches every input.
func (in Input) NotApplying(mode, provider string) string {
	switch {
	case len(in.Modes) > 0 && !slices.Contains(in.Modes, mode):
		return fmt.Sprintf("does not apply to %s (it is for %s)", mode, strings.Join(in.Modes, ", "))
	case provider == "":
		return ""
	case len(in.Providers) > 0 && !slices.Contains(in.Providers, provider):
		return fmt.Sprintf("does not apply to provider %s (it is for %s)", provider, strings.Join(in.Providers, ", "))
	case slices.Contains(in.NotProviders, provider):
		return fmt.Sprintf("does not apply to provider %s (it is for providers that create a cloud host, not %s)",
			provider, strings.Join(in.NotProviders, " or "))
	}
	return ""
}

// Output is one action output.
type Output struct {
	Name        string
	Description string
	// Modes are the modes that set it; the docs and action.yml say so,
	// since a workflow reading an output another mode sets gets "".
	Modes []string
}

// Status values of the "status" output.
const (
	StatusVerified   = "verified"
	StatusFailed     = "failed"
	StatusError      = "error"
	StatusIncomplete = "incomplete"
	StatusCancelled  = "cancelled"
	StatusTimedOut   = "timed-out"
	StatusUp         = "up"
)

// Inputs returns the table of every input, in the order action.yml and the
// docs list them. Each call returns a fresh slice.
func Inputs() []Input {
	var (
		provisioning = []string{ModeRun, ModeUp}
		placement    = []string{ModeRun, ModeUp, ModeDown}
		leg          = []string{ModeRun, ModeUp, ModeDown}
		reporting    = []string{ModeRun, ModeUp, ModeDown, ModeReport}
		teardown     = []string{ModeRun, ModeUp, ModeDown}
		// noCloud are the providers that create no cloud host: local uses
		// this machine and ssh an existing one, so where a host is placed,
		// its size and image, its firewall, its cost and its lifetime (ttl)
		// mean nothing there.
		noCloud = []string{"local", "ssh"}
	)
	endpoint := func(provider, api string) Input {
		return Input{
			Name:        provider + "-endpoint",
			Description: api + " endpoint override (tests, emulators); empty: the provider's public API.",
			Providers:   []string{provider},
			Modes:       placement,
		}
	}
	return []Input{
		{
			Name:    "mode",
			Default: ModeRun,
			Description: "What to do: run (provision, verify, tear down), up (provision and leave the host running), " +
				"down (tear down a leg), report (merge the legs' rows into the matrix).",
		},
		{
			Name: "provider",
			Description: "Where the host comes from: aws (a cloud provider; `mvm-verify providers` lists them all), ssh (an existing host) " +
				"or local (this machine, from the CLI; in the Docker action the machine would be the action's container). " +
				"Required in run and up; down reads it from up's state.",
			Modes: placement,
		},
		{
			Name:    "lane",
			Default: "auto",
			Description: "kvm (the host must have KVM; local refuses it at preflight, exit 2, on a machine without usable KVM), " +
				"no-kvm (steps that need KVM read n/a, for types without KVM such " +
				"as Hetzner Cloud) or auto (no-kvm when the provider offers only that — local on a machine without usable KVM — else kvm).",
			Modes: leg,
		},
		{
			Name: "key",
			Description: "Matrix row key; legs with the same key share a row. Default: the provider, with -no-kvm " +
				"appended on the no-kvm lane. Lowercase letters, digits, - and _, at most 63 characters. down reads it from " +
				"the state in out and refuses another.",
			Modes: leg,
		},
		{
			Name:        "display",
			Description: fmt.Sprintf("Text of the matrix's Provider column (e.g. AWS), at most %d characters; default: the provider's display name.", MaxDisplayLen),
			Modes:       provisioning,
		},
		{
			Name: "suite",
			Description: "Path of a suite YAML file (user, packages, bootstrap, uploads, steps); empty: the built-in mvm " +
				"suite, internal/config/default-suite.yml (with provider local it runs on this machine, after a warning naming what it " +
				"installs and writes: local's teardown does not undo packages or bootstrap effects; examples/quickstart.yml installs nothing).",
			Modes: provisioning,
		},
		{
			Name: "repository",
			Description: "Git URL the suite checks out (${MVM_REPO}); default: this workflow's repository (outside Actions: " +
				"https://github.com/tinylabscom/mvm).",
			ActionDefault: "${{ github.server_url }}/${{ github.repository }}",
			Modes:         provisioning,
		},
		{
			Name: "ref",
			Description: "Commit the suite checks out (${MVM_REF}); default: the pull request's head SHA, else the commit pushed " +
				"(outside Actions: main).",
			ActionDefault: "${{ github.event.pull_request.head.sha || github.sha }}",
			Modes:         provisioning,
		},
		{
			Name:    "out",
			Default: "./mvm-verify-out",
			Description: "Directory for summary.md, result.json and the step logs (report: matrix.md and matrix.json); from the CLI also the leg's state (host/host.json) that down reads, so it must not hold another leg's. " +
				"An explicit --out \"\" is refused rather than read as the default.",
		},
		{
			Name:    "timeout-minutes",
			Default: "90",
			Description: "Minutes the whole step may take, GitHub reporting included (2 min are kept for the final " +
				"report, enough to wait out a GitHub rate limit); in run and up, work stops early enough to leave teardown-budget " +
				"for teardown. With GitHub reporting on (comment: true), that holds when timeout-minutes is at least " +
				"teardown-budget plus 3 min; below that (the least accepted is teardown-budget plus 1 min) the work and " +
				"teardown still get teardown-budget plus 1 min, and the final report gets what is left of the limit, at least 10 s " +
				"(a status it could not post is posted by the post step). down is not bounded by it: its teardown gets teardown-budget " +
				"(at least 1 min), then up to 2 min to report. Keep the job's timeout-minutes above it by at least " +
				"teardown-budget plus 2 min, the post step's most.",
		},
		{
			Name:    "teardown-budget",
			Default: "5m",
			Description: "Time kept back for teardown and the leak check (a duration like 5m). At least 1m in run and up: " +
				"a cloud teardown (terminate, wait, delete the firewall group) takes longer, and from the CLI no post step " +
				"finishes one cut short; down's teardown gets at least 1m whatever is given.",
			Modes: teardown,
		},
		{
			Name:    "ready-timeout",
			Default: "30m",
			Description: "How long a new host may take to answer SSH and finish cloud-init (a duration like 30m). A host you bring " +
				"(ssh) that refuses the connection, or whose name does not resolve, at every attempt for a minute is given up on sooner.",
			Modes: provisioning,
		},
		{
			Name:        "step-timeout",
			Default:     "60m",
			Description: "Timeout of a suite step that sets none (a duration like 60m).",
			Modes:       []string{ModeRun},
		},
		{
			Name:    "ttl",
			Default: "3h",
			// No janitor yet (DESIGN plans one): the text says what
			// happens at the TTL today.
			Description: "Lifetime of a host the run boots (not local or ssh, whose machines stay), in case no teardown " +
				"comes: cloud-init's runcmd, which runs once the host has booted and installed its packages, schedules " +
				"shutdown -h +TTL, so the TTL counts from then, not from launch, and the host outlives its expires-at tag " +
				"(created-at plus TTL) by its boot and package install; on AWS, InstanceInitiatedShutdownBehavior=terminate " +
				"makes that shutdown a termination. What outlives the host, such as its security group, is deleted by the " +
				"post step or down (a janitor deleting expired resources is planned, not built yet). Must be longer than " +
				"timeout-minutes.",
			Modes:        provisioning,
			NotProviders: noCloud,
		},
		{
			Name:    "disk-gb",
			Default: "50",
			Description: "Root disk size in GB, from 8 (the Ubuntu image's own size) to 16384 (EBS gp3's largest). " +
				"The default is 50: 10 GB and 8 GB disks ran out mid-build.",
			Modes:        provisioning,
			NotProviders: noCloud,
		},
		{
			Name:         "image",
			Description:  "Image override (e.g. an AMI id); empty: the provider's default Ubuntu 24.04 image (on AWS, amd64 or arm64 as the probe binary is).",
			Modes:        provisioning,
			NotProviders: noCloud,
		},
		{
			Name:         "region",
			DocDefault:   "aws: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`",
			Description:  "Region of the host, and the region of candidates that name none; default (aws): AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.",
			Modes:        placement,
			NotProviders: noCloud,
		},
		{
			Name:         "zone",
			Description:  "Zone of the host, and the zone of candidates in its region that name none; empty: the provider's choice.",
			Modes:        placement,
			NotProviders: noCloud,
		},
		{
			Name:       "instance-type",
			DocDefault: "aws: `c8i.large`",
			Description: "Instance type (e.g. c8i.2xlarge), and the type of candidates that name none; empty: the " +
				"provider's default KVM-capable type (aws: c8i.large). The host runs the probe binary, so its architecture must match " +
				"(a Graviton type such as c6g.metal needs an arm64 probe-binary).",
			Modes:        provisioning,
			NotProviders: noCloud,
		},
		{
			Name:         "market",
			Default:      "on-demand",
			Description:  "on-demand or spot, and the market of candidates that name none.",
			Modes:        provisioning,
			NotProviders: noCloud,
		},
		{
			Name: "candidates",
			Description: "Ordered fallback list as YAML or JSON, e.g. [{region: us-east-1, type: c8i.2xlarge}, {region: " +
				"us-east-2, type: m8i.2xlarge, market: spot}]; keys region, zone, type (or its alias instance-type, not both in one " +
				"entry), market. One candidate is a list of " +
				"one, in [ ]. Capacity and quota errors move on to the next; throttling and 5xx errors are retried on the " +
				"same candidate (4 times, backing off), then move on as capacity errors do.",
			Modes:        placement,
			NotProviders: noCloud,
		},
		{
			Name:    "spot-failover",
			Default: "false",
			Description: "true: after a spot candidate, try the same region, zone and type on-demand before the next candidate. " +
				"Refused (exit 2) when no candidate ends up on the spot market, as when market is on-demand and no candidates " +
				"entry says market: spot.",
			Modes:        provisioning,
			NotProviders: noCloud,
		},
		{
			Name:         "max-cost",
			Description:  "Refuse to start when the leg's estimated cost exceeds this many USD (e.g. 5 or 2.50); empty: no limit.",
			Modes:        provisioning,
			NotProviders: noCloud,
		},
		{
			Name: "ssh-source-cidr",
			Description: "Source range allowed to reach tcp/22 (e.g. 203.0.113.7/32); default: the runner's egress IP. " +
				"Wider than /24 (IPv4) or /64 (IPv6) only with allow-ssh-from-anywhere: true.",
			Modes:        provisioning,
			NotProviders: noCloud,
		},
		{
			Name:         "allow-ssh-from-anywhere",
			Default:      "false",
			Description:  "true opens tcp/22 to 0.0.0.0/0, or to a range in ssh-source-cidr wider than /24 (IPv4) or /64 (IPv6); off unless you opt in.",
			Modes:        provisioning,
			NotProviders: noCloud,
		},
		{
			Name: "insecure-host-key",
			Description: "true accepts any host key (with a warning), for an ssh host whose key you cannot give in " +
				"ssh-known-host; refused together with ssh-known-host.",
			Default: "false",
			Modes:   provisioning,
		},
		{
			Name:        "probe-binary",
			Description: "Path of a linux mvm-verify binary uploaded to run the host probe; default: the running executable.",
			Modes:       provisioning,
		},
		{
			Name: "github-token",
			Description: "Token for commit statuses and the PR comment (statuses: write, pull-requests: write); " +
				"default: GITHUB_TOKEN.",
			ActionDefault: "${{ github.token }}",
			Secret:        true,
			Modes:         reporting,
		},
		{
			Name: "github-api-url",
			Description: "GitHub API URL; default: GITHUB_API_URL, else https://api.github.com. A bare host (no path) " +
				"other than an api.* one, such as https://ghe.example.com, is taken for a GitHub Enterprise Server and " +
				"called under /api/v3/ (https://ghe.example.com/api/v3/); api.github.com, api.SUBDOMAIN.ghe.com and a URL " +
				"with a path are called as given.",
			Modes: reporting,
		},
		{
			Name:        "github-repository",
			Description: "Repository the statuses and the PR comment go to, as owner/name; default: GITHUB_REPOSITORY.",
			Modes:       reporting,
		},
		{
			Name:        "pull-request",
			Description: "Number of the pull request whose comment holds the matrix; default: the event's pull request, none on push.",
			Modes:       reporting,
		},
		{
			Name: "head-sha",
			Description: "Commit the statuses and the matrix are about (40 hex digits); default: the pull request's head " +
				"from the event (pull_request and pull_request_target alike, a fork's included), on a push to a branch the " +
				"branch's new head (the event's after), else GITHUB_SHA (on a tag push the tagged commit); with a pull-request other than the event's, that pull request's current " +
				"head. report: when the pull request's head is another commit (head-sha given, or a newer push since " +
				"the event), the matrix is this commit's (a notice says so) and the comment, which follows the pull " +
				"request's head, is left alone. On events without a pull request (issue_comment, workflow_run), " +
				"GITHUB_SHA is the default branch's commit: give the commit under test here.",
			Modes: reporting,
		},
		{
			// No expression in the text: GitHub evaluates ${{ }} in
			// action.yml descriptions, and job is no context there.
			Name: "check-run-id",
			Description: "This job's check run id (digits), so a leg's commit status links its job's page without an API " +
				"call: pass the job.check_run_id expression. Empty: the job is looked up among the run's jobs " +
				"(needs actions: read), else the status links the workflow run.",
			Modes: leg,
		},
		{
			Name:    "comment",
			Default: "true",
			Description: "Report to GitHub: a leg's commit status on the head SHA and its row in one sticky pull request " +
				"comment; in report mode, the final comment. false: job summary (and report's files) only. On a " +
				"pull_request event from a fork the token is read-only, so the job summary only, with a notice; " +
				"pull_request_target runs with the base repository's token, so a fork's pull request is reported as any other.",
			Modes: reporting,
		},
		{
			Name:        "matrix-file",
			Description: "report: a markdown file whose matrix table, between the mvm-verify markers, is rewritten.",
			Modes:       []string{ModeReport},
		},
		{
			Name: "expect",
			Description: "report: the row keys every leg reports (comma or newline separated, e.g. the matrix's providers), " +
				"so a leg that never reported still shows as ?. Without it such a leg has no row at all (the run's jobs do " +
				"not tell the keys), and report says so in a notice.",
			Modes: []string{ModeReport},
		},
		{
			Name:        "ssh-host",
			Description: "Host name or IP address of the existing host.",
			Providers:   []string{"ssh"},
			Modes:       leg,
		},
		{
			Name:        "ssh-port",
			Default:     "22",
			Description: "SSH port of ssh-host.",
			Providers:   []string{"ssh"},
			Modes:       leg,
		},
		{
			Name:        "ssh-user",
			Description: "User to log in as on ssh-host; default: the suite's user.",
			Providers:   []string{"ssh"},
			Modes:       leg,
		},
		{
			Name:        "ssh-private-key",
			Description: "Private key for ssh-host, unencrypted OpenSSH or PEM; pass it from a secret.",
			Secret:      true,
			Providers:   []string{"ssh"},
			Modes:       leg,
		},
		{
			Name:        "ssh-private-key-file",
			Description: "Path of the private key for ssh-host, instead of ssh-private-key.",
			Providers:   []string{"ssh"},
			Modes:       leg,
		},
		{
			Name: "ssh-known-host",
			Description: "Public key ssh-host must present (\"ssh-ed25519 AAAA…\" or a known_hosts line); required unless " +
				"insecure-host-key is true, and refused with it.",
			Providers: []string{"ssh"},
			Modes:     leg,
		},
		{
			Name:        "local-state-dir",
			Description: "Directory for the local provider's per-leg state (sshd, what it changed), the same for main and post; an absolute path to a directory owned by the user running mvm-verify, not writable by group or others and not a symlink (made 0700 when missing); default: $RUNNER_TEMP/mvm-verify-local (with -UID appended when not root), else /var/lib/mvm-verify/local for root and $XDG_STATE_HOME/mvm-verify/local (~/.local/state/mvm-verify/local) for others.",
			Providers:   []string{"local"},
			Modes:       placement,
		},
		endpoint("aws", "AWS API (EC2, STS and SSM alike)"),
		{
			Name: "aws-role-to-assume",
			Description: "ARN of an IAM role to assume through GitHub OIDC (needs permissions: id-token: write, and a trust " +
				"policy letting GitHub's OIDC provider, audience sts.amazonaws.com, call sts:AssumeRoleWithWebIdentity); its " +
				"sessions are renewed as they expire and minted again in the post step. Session credentials from " +
				"aws-actions/configure-aws-credentials are not: the post step uses the same ones, which expire after its " +
				"role-duration-seconds (default 1 hour with OIDC, 6 hours for a role assumed with an IAM user's keys; an IAM " +
				"user's own keys do not expire), so for runs near an hour use this input or a longer role-duration-seconds.",
			Providers: []string{"aws"},
			Modes:     placement,
		},
		{
			Name:        "subnet-id",
			Description: "AWS subnet to launch in; default: the default VPC's subnet in the zone.",
			Providers:   []string{"aws"},
			Modes:       provisioning,
		},
	}
}

// Outputs returns the action's outputs, in action.yml order.
func Outputs() []Output {
	leg := []string{ModeRun, ModeUp, ModeDown}
	return []Output{
		{Name: "status", Modes: leg, Description: "The leg's outcome, as result.json has it: verified; failed; error (bad input, " +
			"could not start or could not finish); incomplete (nothing failed but a check was not run, e.g. running 0 tests: " +
			"not a pass); cancelled (a signal); timed-out (the timeout-minutes limit); up (mode up: the host is kept, the " +
			"suite not run). down: the outcome of the result it rewrote, whatever its own exit status (which says whether " +
			"the teardown worked): the run's verdict when it tore down again what a finished run left (failed if a passed " +
			"run's teardown fails again), else error (a host up kept, or a run killed before its result: the leg ended " +
			"without a verdict). Bad input refused while the inputs are read, in any mode, report included (for down also " +
			"an out holding no state to tear down), sets error and, but in report, a bad input's row; no other output."},
		{Name: "row", Modes: leg, Description: "The leg's matrix row as JSON, as result.json has it (after down: with its " +
			"teardown and its note). After bad input, a row as a refused preflight's: Preflight ❌, the rest not run, " +
			"the error (naming the input) as its notes, its key and name from the inputs as given."},
		{Name: "matrix", Modes: []string{ModeReport}, Description: "The merged matrix as JSON: a list of rows, [] when there are none."},
		{Name: "summary-path", Modes: leg, Description: "Path of summary.md in out, the leg's summary as in the job summary; " +
			"unset when it could not be written."},
		{Name: "result-path", Modes: leg, Description: "Path of result.json in out; unset when it could not be written."},
	}
}
