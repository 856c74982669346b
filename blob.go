package goldenpipe

import "time"

// BlobVersion is one version of a blob, as storage reports it.
type BlobVersion struct {
	ETag         string // without surrounding quotes
	Size         int64
	LastModified time.Time
}

// CopyState is what storage reports of a destination blob and the last
// server-side copy into it.
type CopyState struct {
	Exists      bool
	Status      string // pending, success, failed, aborted ("" when never a copy target)
	ID          string
	Copied      int64
	Total       int64
	Description string // never holds a SAS
	Length      int64
	Metadata    map[string]string
}

// Copy statuses (x-ms-copy-status).
const (
	CopyPending = "pending"
	CopySuccess = "success"
	CopyFailed  = "failed"
	CopyAborted = "aborted"
)
