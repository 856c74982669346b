package handlers

import (
	"context"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/host"
)

// buildRequested takes a build request from the %BUILD_QUEUE% queue. The host
// completes the message on a 2xx answer and abandons it otherwise.
func buildRequested(svc BuildRequests) host.Func {
	return func(ctx context.Context, inv *host.Invocation) (host.Result, error) {
		raw, err := inv.Binding("message")
		if err != nil {
			return host.Result{}, err
		}
		m, err := host.DecodeServiceBus(raw, inv.Metadata)
		if err != nil {
			return host.Result{}, goldenpipe.Wrap(goldenpipe.EINVALID, err, "decoding the message failed")
		}
		msg := goldenpipe.Message{ID: m.MessageID, Body: m.Body, DeliveryCount: m.DeliveryCount,
			CorrelationID: m.CorrelationID, ContentType: m.ContentType, EnqueuedTime: m.EnqueuedTime.Time}
		outcome, err := svc.Request(ctx, msg)
		if err == nil {
			inv.Log.Info("build request handled", "messageId", m.MessageID, "deliveryCount", m.DeliveryCount, "outcome", outcome)
		}
		return host.Result{}, err
	}
}
