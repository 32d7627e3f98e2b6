package providers

import "sync"

// MemJournal keeps the records in memory and, when OnRecord is set, also
// passes each one on as it arrives (the CLI persists them to action state
// that way). It is safe for concurrent use; the zero value is ready.
type MemJournal struct {
	// OnRecord, when set, is called with each record, under the journal's
	// lock so records reach it in order.
	OnRecord func(Resource)

	mu      sync.Mutex
	records []Resource
}

// Record appends r and passes it to OnRecord.
func (j *MemJournal) Record(r Resource) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.records = append(j.records, r)
	if j.OnRecord != nil {
		j.OnRecord(r)
	}
}

// Records returns a copy of everything recorded so far, oldest first.
func (j *MemJournal) Records() []Resource {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Resource(nil), j.records...)
}

// JournalFunc adapts a function to a Journal.
type JournalFunc func(Resource)

// Record calls f(r).
func (f JournalFunc) Record(r Resource) { f(r) }

// discardJournal is used when a caller passes a nil Journal, so adapters
// can always call Record.
type discardJournal struct{}

func (discardJournal) Record(Resource) {}

// OrDiscard returns j, or a journal that drops records when j is nil.
func OrDiscard(j Journal) Journal {
	if j == nil {
		return discardJournal{}
	}
	return j
}
