package ghreport

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// seedRows are the seed document's rows as the matrix model holds them.
func seedRows() []matrix.Row {
	mk := func(key, provider string, pre matrix.Status, live matrix.Cell, sec matrix.Cell, notes string) matrix.Row {
		r := matrix.Row{Key: key, Provider: provider, Notes: notes}
		r.Set(matrix.Preflight, pre, "")
		r.Set(matrix.LiveCycle, live.Status, live.Text)
		r.Set(matrix.SeccompProbe, sec.Status, sec.Text)
		return r
	}
	pending := matrix.Cell{Status: matrix.Pending, Text: "pending"}
	unknown := matrix.Cell{Status: matrix.Unknown}
	return []matrix.Row{
		mk("hetzner-no-kvm", "Hetzner", matrix.Pass, matrix.Cell{Status: matrix.NA, Text: "(no KVM tier)"}, matrix.Cell{Status: matrix.NA}, "Runs the no-KVM lane only"),
		mk("gcp", "GCP", matrix.Pass, matrix.Cell{Status: matrix.Pass, Text: "verified 2026-05-06"}, matrix.Cell{Status: matrix.Pass, Text: "pass"}, "$0.10 / 25 min, n2-standard-4"),
		mk("aws", "AWS", matrix.Pass, matrix.Cell{Status: matrix.Pass, Text: "verified 2026-05-06"}, matrix.Cell{Status: matrix.Pass, Text: "pass"}, "$2.50 / 35 min, c5.metal"),
		mk("azure", "Azure", matrix.NotRun, pending, unknown, "Needs az CLI install"),
		mk("vultr", "Vultr", matrix.NotRun, pending, unknown, "Needs vultr-cli + token"),
		mk("latitude", "Latitude.sh", matrix.Fail, pending, unknown, "Needs LATITUDE_API_TOKEN"),
		mk("equinix", "Equinix Metal", matrix.NotRun, pending, unknown, "Needs metal CLI + token"),
		mk("ovh", "OVH", matrix.Fail, pending, unknown, "Needs three OVH_* env vars"),
	}
}

func readSeed(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/seed-matrix.md")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSeedRowsReproduceTheSeedTable(t *testing.T) {
	seed := readSeed(t)
	got, err := RewriteDocsTable(seed, seedRows())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, seed) {
		t.Errorf("the seed's own rows do not render to the seed's table:\n%s", got)
	}
}

func TestRewriteDocsTableChangesOnlyTheTable(t *testing.T) {
	seed := readSeed(t)
	rows := seedRows()
	rows[3].Set(matrix.Preflight, matrix.Pass, "")
	rows[3].Set(matrix.LiveCycle, matrix.Fail, "")
	rows[3].Notes = "seccomp_apply: 2 failed | see log"
	got, err := RewriteDocsTable(seed, rows)
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(seed, []byte(DocsStart)) + len(DocsStart)
	end := bytes.Index(seed, []byte(DocsEnd))
	tail := len(seed) - end
	if !bytes.Equal(got[:start], seed[:start]) {
		t.Error("bytes before the start marker changed")
	}
	if !bytes.Equal(got[len(got)-tail:], seed[end:]) {
		t.Error("bytes from the end marker on changed")
	}
	inner := string(got[start : len(got)-tail])
	if want := "\n" + matrix.Table(rows); inner != want {
		t.Errorf("between the markers:\n%q\nwant\n%q", inner, want)
	}
	if !strings.Contains(inner, "| Azure | ✅ | ❌ | ? | seccomp_apply: 2 failed \\| see log |") {
		t.Errorf("new Azure row missing:\n%s", inner)
	}
	checkGolden(t, "seed-matrix.rewritten.md", got)
}

func TestRewriteDocsTableErrors(t *testing.T) {
	for name, tt := range map[string]struct{ content, want string }{
		"no markers":    {"# Matrix\n\n| a |\n", "no " + DocsStart},
		"no end marker": {DocsStart + "\n| a |\n", "no " + DocsEnd},
		"reversed":      {DocsEnd + "\n" + DocsStart + "\n", "comes before"},
		"two start":     {DocsStart + DocsStart + DocsEnd, "2 " + DocsStart},
		"two end":       {DocsStart + DocsEnd + DocsEnd, "2 " + DocsEnd},
	} {
		_, err := RewriteDocsTable([]byte(tt.content), seedRows())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tt.want)
		}
	}
}

func TestRewriteDocsTableSeedWithoutMarkers(t *testing.T) {
	seed := string(readSeed(t))
	unmarked := strings.ReplaceAll(strings.ReplaceAll(seed, DocsStart+"\n", ""), DocsEnd+"\n", "")
	_, err := RewriteDocsTable([]byte(unmarked), seedRows())
	if err == nil || !strings.Contains(err.Error(), "put "+DocsStart+" and "+DocsEnd) {
		t.Errorf("seed without markers: error %v, want one saying where the markers go", err)
	}
}

func TestRewriteDocsTableKeepsLineEndingsAndFillsEmptyRegion(t *testing.T) {
	crlf := []byte("# M\r\n" + DocsStart + "\r\nold\r\n" + DocsEnd + "\r\ntail\r\n")
	got, err := RewriteDocsTable(crlf, seedRows()[:1])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(got, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("bare LF in a CRLF file:\n%q", got)
	}
	empty := []byte("x " + DocsStart + DocsEnd + " y")
	got, err = RewriteDocsTable(empty, seedRows()[:1])
	if err != nil {
		t.Fatal(err)
	}
	if want := "x " + DocsStart + "\n" + matrix.Table(seedRows()[:1]) + DocsEnd + " y"; string(got) != want {
		t.Errorf("empty region:\n%q\nwant\n%q", got, want)
	}
}

// The docs table the example workflow keeps true: the file its docs job
// names exists and has the markers, so that job's report can rewrite it.
func TestRepositoryDocsMatrixIsRewritable(t *testing.T) {
	workflow, err := os.ReadFile(filepath.Join("..", "..", ".github", "workflows", "verify.yml"))
	if err != nil {
		t.Fatal(err)
	}
	const file = "docs/verification-matrix.md"
	if !strings.Contains(string(workflow), "matrix-file: "+file) {
		t.Fatalf("verify.yml does not rewrite %s", file)
	}
	content, err := os.ReadFile(filepath.Join("..", "..", file))
	if err != nil {
		t.Fatal(err)
	}
	got, err := RewriteDocsTable(content, seedRows())
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if !strings.HasPrefix(string(got), string(content[:strings.Index(string(content), DocsStart)])) {
		t.Errorf("the intro of %s changed", file)
	}
}
