package providers

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Tag keys every taggable resource carries. GCE labels allow only lowercase
// [a-z0-9_-], so the keys and the values matched on stay in that set.
const (
	TagMarker    = "mvm-verify"     // always "1"
	TagRun       = "mvm-verify-run" // "<run id>-<attempt>"
	TagJob       = "mvm-verify-job"
	TagKey       = "mvm-verify-key" // the matrix key
	TagLeg       = "mvm-verify-leg" // random per leg: legs of one matrix job share run, job and key
	TagCreatedAt = "created-at"     // unix seconds
	TagExpiresAt = "expires-at"     // unix seconds
)

// Identity names one verification leg. Everything a leg creates is tagged
// with it, so teardown and the post step (and the janitor DESIGN plans,
// not built yet) find resources by lookup rather than from memory.
type Identity struct {
	Repo       string    `json:"repo"`
	RunID      string    `json:"run_id"`
	RunAttempt string    `json:"run_attempt"`
	Job        string    `json:"job"`
	Key        string    `json:"key"` // matrix key, e.g. "aws" or "aws-c8i"
	HeadSHA    string    `json:"head_sha,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Leg is random, chosen once per leg in the main step and saved with
	// the rest of the identity. Every leg of a matrix job has the same
	// GITHUB_JOB, and legs may share a key, so without it two legs would
	// have the same tags and name and tear down each other's resources.
	// Label-safe ([a-z0-9]). Empty matches any leg (identities saved
	// before legs were told apart).
	Leg string `json:"leg,omitempty"`
}

// Run is the run tag value: "<run id>-<attempt>", label-safe.
func (id Identity) Run() string {
	attempt := id.RunAttempt
	if attempt == "" {
		attempt = "1"
	}
	return Label(id.RunID + "-" + attempt)
}

// Name is the deterministic resource name for this leg: "mvmv-" plus a hash
// of repo, run, attempt, job, key and leg. It is lowercase, starts with a
// letter, is at most 30 characters and is the same in the main and the post
// step, so it can be saved to state before the create call and used as an
// idempotency token (AWS ClientToken).
func (id Identity) Name() string {
	parts := []string{id.Repo, id.RunID, id.Run(), id.Job, id.Key}
	if id.Leg != "" {
		parts = append(parts, id.Leg)
	}
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	name := "mvmv-"
	if k := strings.Trim(Label(id.Key)[:min(len(Label(id.Key)), 8)], "-_"); k != "" {
		name += k + "-"
	}
	return name + hex.EncodeToString(h[:])[:16]
}

// Tags returns the tag set every resource of this leg carries.
func (id Identity) Tags() map[string]string {
	tags := map[string]string{
		TagMarker:    "1",
		TagRun:       id.Run(),
		TagJob:       Label(id.Job),
		TagKey:       Label(id.Key),
		TagCreatedAt: strconv.FormatInt(id.CreatedAt.Unix(), 10),
		TagExpiresAt: strconv.FormatInt(id.ExpiresAt.Unix(), 10),
	}
	if id.Leg != "" {
		tags[TagLeg] = Label(id.Leg)
	}
	return tags
}

// Filter selects exactly this leg's resources: its run, key and leg.
func (id Identity) Filter() Filter {
	return Filter{Run: id.Run(), Key: id.Key, Leg: id.Leg}
}

// Matches reports whether a resource's tags belong to this leg.
func (id Identity) Matches(tags map[string]string) bool {
	return tags[TagMarker] == "1" && tags[TagRun] == id.Run() && tags[TagKey] == Label(id.Key) &&
		(id.Leg == "" || tags[TagLeg] == Label(id.Leg))
}

// Match reports whether tags satisfy the filter.
func (f Filter) Match(tags map[string]string) bool {
	if tags[TagMarker] != "1" {
		return false
	}
	if f.Run != "" && tags[TagRun] != f.Run {
		return false
	}
	if f.Key != "" && tags[TagKey] != Label(f.Key) {
		return false
	}
	if f.Leg != "" && tags[TagLeg] != Label(f.Leg) {
		return false
	}
	if !f.ExpiredBefore.IsZero() {
		exp, err := strconv.ParseInt(tags[TagExpiresAt], 10, 64)
		if err != nil || !time.Unix(exp, 0).Before(f.ExpiredBefore) {
			return false
		}
	}
	return true
}

var nonLabel = regexp.MustCompile(`[^a-z0-9_-]+`)

// Label lowercases s and replaces every run of characters outside
// [a-z0-9_-] with "-", trimmed to 63 characters (GCE's label limit).
func Label(s string) string {
	s = nonLabel.ReplaceAllString(strings.ToLower(s), "-")
	s = strings.Trim(s, "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	return s
}
