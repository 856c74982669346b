package goldenpipe

import "time"

// BuildStage is where a build is, as the build store files it: waiting
// for a slot (in the line), in flight (holding a slot), or finished (its
// after-steps in the due list until its marker goes).
type BuildStage int

// Build stages.
const (
	BuildWaiting BuildStage = iota + 1
	BuildInFlight
	BuildFinished
)

// BuildHead is what the build store reads of a build record to file it:
// its id, its template, when it was requested and finished, its stage.
type BuildHead struct {
	ID          string
	Template    string
	RequestedAt time.Time
	FinishedAt  time.Time
	Stage       BuildStage
}

// BuildRecord is a build record as its store sees it: a JSON document that
// says how it is filed and what its lists show of it (S, its summary).
type BuildRecord[S any] interface {
	BuildHead() BuildHead
	BuildSummary() S
}

// BuildSummary is what the lists show of a build: it names the request
// time its entries are filed under.
type BuildSummary interface {
	Requested() time.Time
}

// BuildVersion is a build record read with its ETag, and the ETag of the
// record version its in-flight marker summarizes (Summarized; the record's
// own when it has no marker).
type BuildVersion[B any] struct {
	Build      B
	ETag       string
	Summarized string
}

// BuildMarker is a build's in-flight marker: written before the build's
// record on every path (At), with the summary of the record version ETag
// names (nil, "" before the record is written).
type BuildMarker[S any] struct {
	ID    string
	At    time.Time
	ETag  string
	Build *S
}

// Queued is a build's entry in the line (At: its request time) or in the
// due list (At: when it is looked at again), with its summary when the
// entry carries one.
type Queued[S any] struct {
	ID    string
	At    time.Time
	Build *S
}
