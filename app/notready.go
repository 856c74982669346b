package app

import (
	"context"

	"github.com/goldenpipe/goldenpipe"
)

// notReady stands in for pipeline stages that are not built yet. It answers
// EUNAVAILABLE, never success, so the host redelivers events and messages
// instead of losing them, and API callers get 503 with the reason.
type notReady struct{}

func errNotReady(stage string) error {
	return goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "%s is not available in this version", stage)
}

func (notReady) Request(context.Context, goldenpipe.Message) (string, error) {
	return "", errNotReady("build requests")
}
func (notReady) Tick(context.Context, goldenpipe.Tick) (string, error) {
	return "", errNotReady("build monitor")
}
