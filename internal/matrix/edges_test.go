package matrix

import "testing"

// A string of exactly n runes (several bytes each here) fits in n and is
// kept whole; one rune more is cut.
func TestTruncateAtExactlyN(t *testing.T) {
	s := "ab✅—é" // 5 runes, 10 bytes
	if got := Truncate(s, 5); got != s {
		t.Errorf("Truncate(%q, 5) = %q, want it whole", s, got)
	}
	if got := Truncate(s, 4); got != "ab✅…" {
		t.Errorf("Truncate(%q, 4) = %q, want %q", s, got, "ab✅…")
	}
}

// Every status reads as its own symbol in the table; a check not run is a
// dash, not the "?" of a status the table does not know.
func TestStatusSymbols(t *testing.T) {
	for s, want := range map[Status]string{
		Pass: "✅", Fail: "❌", Pending: "⏳", NA: "n/a", NotRun: "—", Unknown: "?", Status("bogus"): "?",
	} {
		if got := s.Symbol(); got != want {
			t.Errorf("%q.Symbol() = %q, want %q", s, got, want)
		}
	}
}

// A URL with an http(s) scheme but no host (opaque, or an empty
// authority) is not a job link.
func TestLinkableNeedsAHost(t *testing.T) {
	for _, s := range []string{"https:evil.example/x", "https:///o/r/actions/runs/1", "http:/o/r"} {
		if linkable(s) {
			t.Errorf("linkable(%q) = true, want false: it has no host", s)
		}
	}
}

// "www." autolinks in any case, so every case is broken up.
func TestEscapeBreaksWWWAnyCase(t *testing.T) {
	in := "see WWW.evil.example, Www.x.example and wWw.y.example"
	want := `see WWW\.evil.example, Www\.x.example and wWw\.y.example`
	if got := Escape(in); got != want {
		t.Errorf("Escape(%q) = %q, want %q", in, got, want)
	}
}
