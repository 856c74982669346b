package goldenpipe

import (
	"encoding/json"
	"time"
)

// Checksum is the catalog's record of one script: its sha256, bound to the
// exact bytes of one version of the blob (its ETag).
type Checksum struct {
	Name         string    `json:"name"`         // blob name in the scripts container
	URL          string    `json:"url"`          // blob URL, without any SAS
	SHA256       string    `json:"sha256"`       // 64 lowercase hex digits
	Size         int64     `json:"size"`         // bytes hashed
	ETag         string    `json:"etag"`         // the version hashed
	LastModified time.Time `json:"lastModified"` // the blob's, for that version
	ComputedAt   time.Time `json:"computedAt"`   // when the hash was computed
	Sequencer    string    `json:"sequencer,omitempty"`
	// Findings are the golden-image practices the script breaks (domain
	// join, generalizing itself, antivirus left on), read from its first
	// Scanned bytes by the download that hashed it.
	Findings []Finding `json:"findings,omitempty"`
	Scanned  int64     `json:"scanned,omitempty"`
}

// checksumFindingsKept bounds the findings a checksum's summary carries.
const checksumFindingsKept = 10

// Summary is what the list of checksums shows: the record with at most
// its first checksumFindingsKept findings.
func (c Checksum) Summary() Checksum {
	if len(c.Findings) > checksumFindingsKept {
		c.Findings = c.Findings[:checksumFindingsKept]
	}
	return c
}

// DocSummary implements Summarizer: the record as the list shows it.
func (c Checksum) DocSummary() ([]byte, error) { return json.Marshal(c.Summary()) }
