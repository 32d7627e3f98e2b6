package matrix

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Merge folds incoming rows into existing ones by Key and returns the result
// in table order. No row is ever dropped: a key present on either side is
// present in the result.
//
// For a key on both sides the winner is, in order of precedence:
//   - the row for headSHA (the commit the matrix is about) over a row for
//     any other commit, so a late leg of an older push never overwrites a
//     newer result;
//   - a leg's own row over a stand-in (FromStatus, Placeholder);
//   - the row with the later UpdatedAt;
//   - on a tie, the incoming row.
//
// An empty headSHA makes every row current.
func Merge(existing, incoming []Row, headSHA string) []Row {
	out := make([]Row, 0, len(existing)+len(incoming))
	index := map[string]int{}
	add := func(r Row) {
		if i, ok := index[r.Key]; ok {
			if wins(r, out[i], headSHA) {
				out[i] = r
			}
			return
		}
		index[r.Key] = len(out)
		out = append(out, r)
	}
	for _, r := range existing {
		add(r)
	}
	for _, r := range incoming {
		add(r)
	}
	Sort(out, nil)
	return out
}

// wins reports whether candidate replaces current.
func wins(candidate, current Row, headSHA string) bool {
	if a, b := IsCurrent(candidate, headSHA), IsCurrent(current, headSHA); a != b {
		return a
	}
	if a, b := candidate.Source.rank(), current.Source.rank(); a != b {
		return a > b
	}
	return !candidate.UpdatedAt.Before(current.UpdatedAt)
}

// IsCurrent reports whether the row is about headSHA. With no headSHA every
// row is current; a row without a SHA is never current for a known one.
func IsCurrent(r Row, headSHA string) bool {
	return headSHA == "" || r.HeadSHA == headSHA
}

// providerOrder is the seed document's row order; lanes of one provider
// ("hetzner-no-kvm") sort with it.
var providerOrder = []string{"hetzner", "gcp", "aws", "azure", "vultr", "latitude", "equinix", "ovh", "ssh", "local", "qemu"}

// Sort puts rows in table order: keys listed in order first, in that order;
// then the seed document's provider order; then by key.
func Sort(rows []Row, order []string) {
	rank := func(key string) (int, int) {
		if i := slices.Index(order, key); i >= 0 {
			return 0, i
		}
		for i, p := range providerOrder {
			if key == p || strings.HasPrefix(key, p+"-") || strings.HasPrefix(key, p+"_") {
				return 1, i
			}
		}
		return 2, 0
	}
	slices.SortStableFunc(rows, func(a, b Row) int {
		ga, ia := rank(a.Key)
		gb, ib := rank(b.Key)
		if ga != gb {
			return ga - gb
		}
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a.Key, b.Key)
	})
}

// displayNames are the seed document's provider names.
var displayNames = map[string]string{
	"hetzner": "Hetzner", "gcp": "GCP", "aws": "AWS", "azure": "Azure", "vultr": "Vultr",
	"latitude": "Latitude.sh", "equinix": "Equinix Metal", "ovh": "OVH",
	"ssh": "SSH", "local": "Local", "qemu": "QEMU",
}

// DisplayName names a row key for people when the leg did not say: the seed
// document's name for a known provider ("latitude" → "Latitude.sh", with the
// lane in parentheses for "hetzner-no-kvm"), else the key itself.
func DisplayName(key string) string {
	for _, p := range providerOrder {
		if key == p {
			return displayNames[p]
		}
		if lane, ok := strings.CutPrefix(key, p+"-"); ok && lane != "" {
			return displayNames[p] + " (" + lane + ")"
		}
	}
	return key
}

// Truncate cuts s to at most n runes, marking a cut with "…".
func Truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// ValidSHA reports whether s is a full commit SHA as Git and GitHub write
// it: 40 lowercase hex digits, or 64 in a SHA-256 repository. An
// abbreviated, uppercase or symbolic one (HEAD, main) is not: commit
// statuses are posted to, and rows matched on, the full SHA.
func ValidSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ShortSHA is the 7-character form of a commit SHA.
func ShortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
