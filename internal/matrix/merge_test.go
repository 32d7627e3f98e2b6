package matrix

import (
	"slices"
	"testing"
	"time"
)

func row(key, sha string, at int, src Source, live Status) Row {
	r := Row{Key: key, HeadSHA: sha, UpdatedAt: time.Unix(int64(at), 0), Source: src}
	r.Set(LiveCycle, live, "")
	return r
}

func TestMerge(t *testing.T) {
	const head, old = "new", "old"
	tests := []struct {
		name               string
		existing, incoming []Row
		want               map[string]Status // key → live-cycle status of the winner
	}{
		{
			name:     "disjoint keys are all kept",
			existing: []Row{row("aws", head, 1, FromLeg, Pass)},
			incoming: []Row{row("gcp", head, 1, FromLeg, Fail)},
			want:     map[string]Status{"aws": Pass, "gcp": Fail},
		},
		{
			name:     "newer row of the same commit wins",
			existing: []Row{row("aws", head, 1, FromLeg, Pending)},
			incoming: []Row{row("aws", head, 2, FromLeg, Pass)},
			want:     map[string]Status{"aws": Pass},
		},
		{
			name:     "older row of the same commit loses",
			existing: []Row{row("aws", head, 2, FromLeg, Pass)},
			incoming: []Row{row("aws", head, 1, FromLeg, Pending)},
			want:     map[string]Status{"aws": Pass},
		},
		{
			name:     "older commit never replaces the head commit, however recent",
			existing: []Row{row("aws", head, 1, FromLeg, Pending)},
			incoming: []Row{row("aws", old, 99, FromLeg, Fail)},
			want:     map[string]Status{"aws": Pending},
		},
		{
			name:     "head commit replaces an older commit",
			existing: []Row{row("aws", old, 99, FromLeg, Fail)},
			incoming: []Row{row("aws", head, 1, FromLeg, Pending)},
			want:     map[string]Status{"aws": Pending},
		},
		{
			name:     "the leg's own row beats a newer rebuilt one",
			existing: []Row{row("aws", head, 1, FromLeg, Pass)},
			incoming: []Row{row("aws", head, 5, FromStatus, Fail)},
			want:     map[string]Status{"aws": Pass},
		},
		{
			name:     "a rebuilt row beats a placeholder",
			existing: []Row{row("aws", head, 5, Placeholder, Unknown)},
			incoming: []Row{row("aws", head, 1, FromStatus, Pass)},
			want:     map[string]Status{"aws": Pass},
		},
		{
			name:     "rows of legs that never reported again stay",
			existing: []Row{row("azure", head, 1, FromLeg, Pending), row("ovh", old, 1, FromLeg, Pass)},
			incoming: []Row{row("aws", head, 2, FromLeg, Pass)},
			want:     map[string]Status{"azure": Pending, "ovh": Pass, "aws": Pass},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Merge(tt.existing, tt.incoming, head)
			if len(got) != len(tt.want) {
				t.Fatalf("Merge returned %d rows, want %d: %+v", len(got), len(tt.want), got)
			}
			for _, r := range got {
				if want, ok := tt.want[r.Key]; !ok || r.Cell(LiveCycle).Status != want {
					t.Errorf("row %s: live cycle %s, want %s", r.Key, r.Cell(LiveCycle).Status, want)
				}
			}
		})
	}
}

func TestMergeIsOrderIndependentForDistinctTimes(t *testing.T) {
	a := []Row{row("aws", "h", 1, FromLeg, Pending), row("gcp", "h", 3, FromLeg, Pass)}
	b := []Row{row("aws", "h", 2, FromLeg, Pass), row("gcp", "h", 2, FromLeg, Pending), row("ovh", "h", 1, FromLeg, Fail)}
	ab, ba := Merge(a, b, "h"), Merge(b, a, "h")
	if !slices.EqualFunc(ab, ba, func(x, y Row) bool { return x.Key == y.Key && x.UpdatedAt.Equal(y.UpdatedAt) }) {
		t.Fatalf("Merge(a, b) = %+v\nMerge(b, a) = %+v", ab, ba)
	}
}

func TestSort(t *testing.T) {
	rows := []Row{{Key: "zeta"}, {Key: "ovh"}, {Key: "aws"}, {Key: "hetzner-no-kvm"}, {Key: "gcp"}, {Key: "alpha"}, {Key: "latitude"}}
	Sort(rows, nil)
	var keys []string
	for _, r := range rows {
		keys = append(keys, r.Key)
	}
	want := []string{"hetzner-no-kvm", "gcp", "aws", "latitude", "ovh", "alpha", "zeta"}
	if !slices.Equal(keys, want) {
		t.Errorf("Sort = %v, want the seed's order %v", keys, want)
	}
	Sort(rows, []string{"ovh", "zeta"})
	if rows[0].Key != "ovh" || rows[1].Key != "zeta" || rows[2].Key != "hetzner-no-kvm" {
		t.Errorf("Sort with order = %v, want ovh, zeta first", rows)
	}
}

func TestDisplayName(t *testing.T) {
	for key, want := range map[string]string{
		"latitude": "Latitude.sh", "equinix": "Equinix Metal", "hetzner-no-kvm": "Hetzner (no-kvm)", "custom": "custom",
	} {
		if got := DisplayName(key); got != want {
			t.Errorf("DisplayName(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate("ab✅cdef", 4); got != "ab✅…" {
		t.Errorf("Truncate = %q", got)
	}
	if got := Truncate("short", 10); got != "short" {
		t.Errorf("Truncate = %q", got)
	}
	if got := Truncate("x", 0); got != "" {
		t.Errorf("Truncate to 0 = %q", got)
	}
}

// TestMergeTieIncomingWins: rows alike in commit, source and UpdatedAt are
// settled for the incoming row, as Merge documents: what the caller merges
// in now replaces what was stored at the same instant.
func TestMergeTieIncomingWins(t *testing.T) {
	for _, src := range []Source{FromLeg, FromStatus, Placeholder} {
		existing := []Row{row("aws", "h", 5, src, Pending)}
		incoming := []Row{row("aws", "h", 5, src, Pass)}
		got := Merge(existing, incoming, "h")
		if len(got) != 1 || got[0].Cell(LiveCycle).Status != Pass {
			t.Errorf("source %v: merged %+v, want the incoming row (live cycle %s)", src, got, Pass)
		}
	}
	// Without a head SHA every row is current; the tie rule still holds.
	got := Merge([]Row{row("aws", "", 5, FromLeg, Fail)}, []Row{row("aws", "", 5, FromLeg, Pass)}, "")
	if len(got) != 1 || got[0].Cell(LiveCycle).Status != Pass {
		t.Errorf("no head SHA: merged %+v, want the incoming row", got)
	}
}
