package matrix

import (
	"strings"
	"testing"
)

func TestTableWith(t *testing.T) {
	cur := Row{Key: "aws", Provider: "AWS", HeadSHA: "aaaaaaaaa", JobURL: "https://github.com/o/r/actions/runs/1", Notes: "a long note here"}
	cur.Set(LiveCycle, Pass, "")
	old := Row{Key: "gcp", HeadSHA: "bbbbbbbbb", JobURL: "https://github.com/o/r/actions/runs/0", Notes: "old"}
	old.Set(LiveCycle, Fail, "")
	got := TableWith([]Row{cur, old}, TableOptions{HeadSHA: "aaaaaaaaa", NoteLimit: 6, LinkJobs: true})
	for _, want := range []string{
		"| [AWS](https://github.com/o/r/actions/runs/1) | ? | ✅ | ? | a lon… |",
		"| GCP | ? | ? | ? | no re… |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if TableWith([]Row{cur}, TableOptions{}) != Table([]Row{cur}) {
		t.Error("TableWith with no options differs from Table")
	}
}

func TestLinkable(t *testing.T) {
	for url, want := range map[string]bool{
		"https://github.com/o/r/actions/runs/1/attempts/2": true,
		"http://ghe.local/o/r/actions/runs/1":              true,
		"javascript:alert(1)":                              false,
		"https://x/a) [y](https://evil":                    false,
		"https://x/a|b":                                    false,
		"":                                                 false,
	} {
		if got := linkable(url); got != want {
			t.Errorf("linkable(%q) = %v, want %v", url, got, want)
		}
	}
}
