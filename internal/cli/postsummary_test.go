package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/providers"
)

// TestUnsummarizedLeg: the post step writes the row of a leg whose main
// step saved its verdict but not its summary (killed in its teardown) to
// the job summary, as main would have, with a note that main was killed,
// and failed when the post step's own teardown failed; it writes nothing
// for a leg main summarized, one without a verdict (abandonedSummary's)
// and one kept by up.
func TestUnsummarizedLeg(t *testing.T) {
	id := providers.Identity{RunID: "7", Key: "local"}
	row := matrix.Row{Key: "local", Provider: "Local"}
	row.Set(matrix.Preflight, matrix.Pass, "")
	row.Set(matrix.LiveCycle, matrix.Pass, "verified 2026-11-29")
	data, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	verified := map[string]string{"STATE_outcome": "verified", "STATE_row": string(data)}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		state    map[string]string
		code     int
		want     []string // in the row, all of them
		wantNone bool
	}{
		{name: "killed in its teardown", state: verified, code: ExitOK,
			want: []string{"Local", "✅ verified", "main step killed during its teardown, before its summary"}},
		{name: "post's teardown failed", state: verified, code: ExitFailed,
			want: []string{"❌", "teardown failed", "teardown by the post step failed", "main step killed during its teardown"}},
		{name: "killed after its teardown", state: with(verified, "STATE_"+teardownEndedKey, "true"), code: ExitOK,
			want: []string{"✅ verified", "main step killed after its teardown, before its summary"}},
		{name: "row unusable", state: with(verified, "STATE_row", `{"key": "lo`), code: ExitOK,
			want: []string{"✅", "main step ended verified", "main step killed during its teardown"}},
		{name: "summary written", state: with(verified, "STATE_"+summaryWrittenKey, "true"), wantNone: true},
		{name: "no verdict", state: map[string]string{}, wantNone: true},
		{name: "kept by up", state: map[string]string{"STATE_outcome": "up", "STATE_row": string(data)}, wantNone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			get := func(k string) string { return tc.state[k] }
			sum := unsummarized(get, &config.Run{}, id, tc.code)
			if tc.wantNone {
				if sum != "" {
					t.Errorf("summary %q, want none", sum)
				}
				return
			}
			var line string
			for _, l := range strings.Split(sum, "\n") {
				if strings.HasPrefix(l, "| Local |") {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("no row for Local in:\n%s", sum)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("row %q lacks %q", line, w)
				}
			}
			if tc.code != ExitOK && strings.Contains(line, "✅ verified") {
				t.Errorf("row %q stays green after the post step's teardown failed", line)
			}
		})
	}
}
