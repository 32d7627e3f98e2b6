package matrix

import (
	"strings"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	r := Row{Key: "aws", Provider: "AWS", Notes: "a | b --> <!-- c\nd", HeadSHA: "abc", UpdatedAt: time.Date(2026, 5, 6, 1, 2, 3, 456789, time.UTC), Source: FromStatus}
	r.Set(LiveCycle, Pass, "verified 2026-05-06")
	enc, err := EncodeState(State{HeadSHA: "abc", Rows: []Row{r}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(enc, "-->") != 1 || !strings.HasSuffix(enc, "-->") || strings.Contains(enc, "\n") {
		t.Fatalf("encoded state must be one HTML comment on one line: %q", enc)
	}
	body := "<!-- mvm-verify:matrix -->\n| table |\n" + enc + "\n"
	st, found, err := DecodeState(body)
	if err != nil || !found {
		t.Fatalf("DecodeState: found=%v err=%v", found, err)
	}
	got := st.Rows[0]
	if st.HeadSHA != "abc" || got.Notes != r.Notes || !got.UpdatedAt.Equal(r.UpdatedAt) || got.Source != FromStatus || got.Cell(LiveCycle) != r.Cell(LiveCycle) {
		t.Errorf("round trip changed the row: %+v, want %+v", got, r)
	}
}

func TestDecodeStateErrors(t *testing.T) {
	if _, found, err := DecodeState("no state here"); found || err != nil {
		t.Errorf("body without state: found=%v err=%v, want not found, no error", found, err)
	}
	for name, body := range map[string]string{
		"unterminated": "<!-- mvm-verify:state v1 abc",
		"bad base64":   "<!-- mvm-verify:state v1 !!! -->",
		"newer":        "<!-- mvm-verify:state v9 e30= -->",
		"bad json":     "<!-- mvm-verify:state v1 bm90IGpzb24= -->",
		"row no key":   "<!-- mvm-verify:state v1 eyJyb3dzIjpbe31dfQ== -->",
	} {
		if _, found, err := DecodeState(body); !found || err == nil {
			t.Errorf("%s: found=%v err=%v, want found with an error", name, found, err)
		}
	}
}
