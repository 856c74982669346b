package handlers

import (
	"context"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/host"
)

// scriptUploaded handles Event Grid blob events of the scripts container.
// The blob's bytes never come through the host: the domain reads them.
func scriptUploaded(svc BlobEvents) host.Func { return onBlobEvent(svc, "script event handled") }

// onBlobEvent decodes an Event Grid blob event and hands it to svc.
func onBlobEvent(svc BlobEvents, done string) host.Func {
	return func(ctx context.Context, inv *host.Invocation) (host.Result, error) {
		ev, err := blobEvent(inv, "event")
		if err != nil {
			return host.Result{}, err
		}
		outcome, err := svc.HandleBlobEvent(ctx, ev)
		if err == nil {
			inv.Log.Info(done, "eventId", ev.ID, "subject", ev.Subject, "outcome", outcome)
		}
		return host.Result{}, err
	}
}

// blobEvent decodes an Event Grid storage blob event.
func blobEvent(inv *host.Invocation, binding string) (goldenpipe.BlobEvent, error) {
	raw, err := inv.Binding(binding)
	if err != nil {
		return goldenpipe.BlobEvent{}, err
	}
	ev, err := host.DecodeEventGrid(raw)
	if err != nil {
		return goldenpipe.BlobEvent{}, goldenpipe.Wrap(goldenpipe.EINVALID, err, "decoding the event failed")
	}
	out := goldenpipe.BlobEvent{ID: ev.ID, Type: ev.EventType, Topic: ev.Topic, Subject: ev.Subject, Time: ev.EventTime.Time}
	if ev.EventType != goldenpipe.BlobCreated && ev.EventType != goldenpipe.BlobDeleted {
		return out, nil // the domain acknowledges and logs other types
	}
	data, err := host.DecodeStorageBlobEventData(ev.Data)
	if err != nil {
		return goldenpipe.BlobEvent{}, goldenpipe.Wrap(goldenpipe.EINVALID, err, "decoding the data of event %s failed", ev.ID)
	}
	out.URL, out.ETag, out.Sequencer = data.URL, data.ETag, data.Sequencer
	out.ContentLength, out.API = int64(data.ContentLength), data.API
	return out, nil
}
