package app

import (
	"context"
	"io"

	"github.com/goldenpipe/goldenpipe"
)

// notReady stands in for pipeline stages that are not built yet. It answers
// EUNAVAILABLE, never success, so the host redelivers events and messages
// instead of losing them, and API callers get 503 with the reason.
type notReady struct{}

func errNotReady(stage string) error {
	return goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "%s is not available in this version", stage)
}

func (notReady) HandleBlobEvent(context.Context, goldenpipe.BlobEvent) (string, error) {
	return "", errNotReady("script checksums")
}
func (notReady) Nightly(context.Context, goldenpipe.Tick) (string, error) {
	return "", errNotReady("nightly rebuild")
}
func (notReady) Request(context.Context, goldenpipe.Message) (string, error) {
	return "", errNotReady("build requests")
}
func (notReady) Tick(context.Context, goldenpipe.Tick) (string, error) {
	return "", errNotReady("build monitor")
}
func (notReady) List(context.Context) ([]goldenpipe.Checksum, error) {
	return nil, errNotReady("checksum catalog")
}
func (notReady) Get(context.Context, string) (goldenpipe.Checksum, error) {
	return goldenpipe.Checksum{}, errNotReady("checksum catalog")
}
func (notReady) WriteSHA256SUMS(context.Context, io.Writer) error {
	return errNotReady("checksum catalog")
}
