// Package blobwatch gives a local run the blob events Azure would send.
//
// In Azure, Event Grid delivers Microsoft.Storage.BlobCreated and
// BlobDeleted for the scripts and templates containers. Azurite has no
// Event Grid, so a Watcher lists a container on every Poll and, for each
// blob that appeared, changed (a new ETag) or disappeared since the last
// Poll, delivers the event in Event Grid's schema
// (https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage).
// Any tool that writes to Azurite (Storage Explorer, az storage blob upload,
// azcopy, the SDKs) therefore triggers the app as Azure would.
//
// Delivery is at least once: the first Poll delivers every blob already
// there (changes made while nothing ran), and an event whose delivery fails
// is delivered again on the next Poll. The app is idempotent per ETag.
package blobwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/google/uuid"

	"github.com/goldenpipe/goldenpipe"
)

// Watcher turns a container's changes into Event Grid blob events. It is
// not safe for concurrent Polls.
type Watcher struct {
	Container *container.Client
	// Topic is the storage account's resource id, as Event Grid names it.
	Topic string
	// Deliver hands one event (its JSON) to the function; an error means
	// "deliver it again".
	Deliver func(ctx context.Context, event json.RawMessage) error
	Now     func() time.Time

	seen map[string]blob
	seq  uint64
}

type blob struct {
	etag        string
	contentType string
	blobType    string
}

// Event is a blob event in Event Grid's schema.
type Event struct {
	ID              string    `json:"id"`
	Topic           string    `json:"topic"`
	Subject         string    `json:"subject"`
	EventType       string    `json:"eventType"`
	EventTime       time.Time `json:"eventTime"`
	Data            EventData `json:"data"`
	DataVersion     string    `json:"dataVersion"`
	MetadataVersion string    `json:"metadataVersion"`
}

// EventData is the data of a blob event; a BlobDeleted has no eTag or
// contentLength.
type EventData struct {
	API                string            `json:"api"`
	ClientRequestID    string            `json:"clientRequestId"`
	RequestID          string            `json:"requestId"`
	ETag               string            `json:"eTag,omitempty"`
	ContentType        string            `json:"contentType"`
	ContentLength      *int64            `json:"contentLength,omitempty"`
	BlobType           string            `json:"blobType"`
	URL                string            `json:"url"`
	Sequencer          string            `json:"sequencer"`
	StorageDiagnostics map[string]string `json:"storageDiagnostics"`
}

// Poll lists the container once and delivers the events of what changed
// since the last Poll. It returns the number of events delivered.
func (w *Watcher) Poll(ctx context.Context) (int, error) {
	if w.seen == nil {
		w.seen = map[string]blob{}
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	listed := map[string]bool{}
	delivered := 0
	var failed error
	pager := w.Container.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return delivered, fmt.Errorf("listing %s: %w", w.Container.URL(), err)
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil || item.Properties == nil || item.Properties.ETag == nil {
				continue
			}
			name := *item.Name
			listed[name] = true
			b := blob{etag: string(*item.Properties.ETag), contentType: str(item.Properties.ContentType), blobType: "BlockBlob"}
			if item.Properties.BlobType != nil {
				b.blobType = string(*item.Properties.BlobType)
			}
			if old, ok := w.seen[name]; ok && old.etag == b.etag {
				continue
			}
			length := int64(0)
			if item.Properties.ContentLength != nil {
				length = *item.Properties.ContentLength
			}
			ev := w.event(goldenpipe.BlobCreated, name, b, now())
			ev.Data.API, ev.Data.ETag, ev.Data.ContentLength = "PutBlob", b.etag, &length
			if err := w.deliver(ctx, ev); err != nil {
				failed = err
				continue
			}
			w.seen[name] = b
			delivered++
		}
	}
	for name, b := range w.seen {
		if listed[name] {
			continue
		}
		ev := w.event(goldenpipe.BlobDeleted, name, b, now())
		ev.Data.API = "DeleteBlob"
		if err := w.deliver(ctx, ev); err != nil {
			failed = err
			continue
		}
		delete(w.seen, name)
		delivered++
	}
	return delivered, failed
}

// Watch polls every interval until ctx ends, reporting failures to report.
func (w *Watcher) Watch(ctx context.Context, every time.Duration, report func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := w.Poll(ctx); err != nil && ctx.Err() == nil && report != nil {
			report(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Watcher) event(typ, name string, b blob, at time.Time) Event {
	w.seq++
	containerName := path.Base(w.Container.URL())
	return Event{
		ID: uuid.NewString(), Topic: w.Topic, EventType: typ, EventTime: at.UTC(),
		Subject: "/blobServices/default/containers/" + containerName + "/blobs/" + name,
		Data: EventData{ClientRequestID: uuid.NewString(), RequestID: uuid.NewString(), ContentType: b.contentType, BlobType: b.blobType,
			URL: blobURL(w.Container.URL(), name), Sequencer: fmt.Sprintf("%032x", w.seq),
			StorageDiagnostics: map[string]string{"batchId": uuid.NewString()}},
		MetadataVersion: "1",
	}
}

func (w *Watcher) deliver(ctx context.Context, ev Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if err := w.Deliver(ctx, b); err != nil {
		return fmt.Errorf("%s %s: %w", ev.EventType, ev.Subject, err)
	}
	return nil
}

// blobURL is the blob's URL as Event Grid writes it: path segments escaped,
// the slashes between them kept.
func blobURL(containerURL, name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.TrimSuffix(containerURL, "/") + "/" + strings.Join(parts, "/")
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
