package builds

import (
	"context"
	"time"
)

// The builds are listed newest first, a page at a time, from lists of
// small entries the store keeps (every build, and the builds of each
// template), written before the build's record (as the in-flight marker
// is), so a record never lacks one, and refreshed with each write of it;
// an entry whose record does not exist, or whose record was requested at
// another time (a request that lost its race), is skipped when read.

// refresh refreshes the summaries of a build just written (its record's
// new ETag): its list entries and, while it is marked in flight, its
// marker. A crash before it leaves a summary behind its record: the
// monitor refreshes the markers whose ETag is not their record's, and the
// last step of a finished build publishes it before its marker goes.
func (s *Service) refresh(ctx context.Context, b *Build, etag string, marked bool) error {
	return s.Store.Publish(ctx, *b, etag, marked)
}

// Page returns one page of builds' summaries, newest first: of one
// template, or of all ("" template), from token ("" for the first page),
// with the next page's token ("" after the last): one listing, whatever
// the history holds.
func (s *Service) Page(ctx context.Context, template, token string, top int) ([]Summary, string, error) {
	return s.Store.Page(ctx, template, token, top)
}

// IndexOld lists the builds recorded before the lists existed (the
// store's migration) until it is done or the deadline, for tools.
func (s *Service) IndexOld(ctx context.Context, deadline time.Time) (string, error) {
	return s.Store.MigrateLists(ctx, deadline)
}
