package providers

import "testing"

// TestMemJournalRecordsIsACopy: Records hands out a copy, so a caller that
// edits what it got cannot change what the journal reports afterwards.
func TestMemJournalRecordsIsACopy(t *testing.T) {
	var j MemJournal
	j.Record(Resource{Provider: "aws", Kind: "instance", ID: "i-1"})
	j.Record(Resource{Provider: "aws", Kind: "security-group", ID: "sg-1"})

	got := j.Records()
	got[0].ID = "i-edited"
	got[1] = Resource{}

	again := j.Records()
	if len(again) != 2 || again[0].ID != "i-1" || again[1].ID != "sg-1" || again[1].Kind != "security-group" {
		t.Fatalf("Records after editing an earlier result = %+v, want the two records as recorded (i-1, sg-1)", again)
	}
}
