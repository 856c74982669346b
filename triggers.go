package goldenpipe

import "time"

// Blob event types this app handles.
const (
	BlobCreated = "Microsoft.Storage.BlobCreated"
	BlobDeleted = "Microsoft.Storage.BlobDeleted"
)

// BlobEvent is a storage blob event as Event Grid told it. Its contents are a
// hint, never the truth: consumers read the blob itself (its ETag, its bytes)
// before they act.
type BlobEvent struct {
	ID            string    // the event id (for logs and de-duplication)
	Type          string    // BlobCreated or BlobDeleted (others are ignored)
	Topic         string    // the storage account's resource id
	Subject       string    // /blobServices/default/containers/<c>/blobs/<name>
	Time          time.Time // when the event happened
	URL           string    // the blob's URL
	ETag          string    // the blob's ETag after the operation (BlobCreated)
	Sequencer     string    // orders events for one blob (compare as text)
	ContentLength int64
	API           string // PutBlob, PutBlockList, CopyBlob, DeleteBlob, ...
}

// Tick is one run of a timer.
type Tick struct {
	Scheduled time.Time // when the host invoked it (sys.UtcNow)
	Last      time.Time // the previous occurrence, zero when unknown
	PastDue   bool      // the host ran it late
}

// Message is one Service Bus message as delivered to the app (what
// BuildRequested is invoked with).
type Message struct {
	ID            string
	Body          []byte
	DeliveryCount int
	CorrelationID string
	ContentType   string
	EnqueuedTime  time.Time
}
