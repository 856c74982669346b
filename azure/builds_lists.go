package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
)

// PutInLine puts a waiting build in the line (idempotent), keyed by its
// request time, with the summary of the record version etag names (""
// before it is written).
func (s *Builds[B, S]) PutInLine(ctx context.Context, b B, etag string) error {
	h, sum := b.BuildHead(), b.BuildSummary()
	if _, err := s.docs.Overwrite(ctx, lineKey(h.ID, h.RequestedAt), buildEntry[S]{ID: h.ID, ETag: etag, Build: &sum}); err != nil {
		return fmt.Errorf("putting build %s in the line: %w", h.ID, err)
	}
	return nil
}

// OutOfLine takes the entry of build id requested at at out of the line.
func (s *Builds[B, S]) OutOfLine(ctx context.Context, id string, at time.Time) error {
	return s.docs.Delete(ctx, lineKey(id, at), "")
}

// Line reads a page of at most n entries of the line, oldest request
// first, from token ("" for its head), and the next page's token.
func (s *Builds[B, S]) Line(ctx context.Context, token string, n int) ([]goldenpipe.Queued[S], string, error) {
	items, next, err := s.docs.ListPage(ctx, BuildKeyLine, token, n)
	if err != nil {
		return nil, "", err
	}
	return queued[S](items, BuildKeyLine), next, nil
}

// CountLine counts the line by its keys alone, at most n; more says it
// has more.
func (s *Builds[B, S]) CountLine(ctx context.Context, n int) (int, bool, error) {
	keys, next, err := s.docs.KeysPage(ctx, BuildKeyLine, "", n)
	if err != nil {
		return 0, false, err
	}
	return len(keys), next != "", nil
}

// FileDue files a finished build still in flight in the due list, to be
// looked at again at at.
func (s *Builds[B, S]) FileDue(ctx context.Context, id string, at time.Time, etag string) error {
	_, err := s.docs.Overwrite(ctx, dueKey(id, at), buildEntry[S]{ID: id, ETag: etag})
	return err
}

// Undue takes the entry of build id due at at out of the due list.
func (s *Builds[B, S]) Undue(ctx context.Context, id string, at time.Time) error {
	return s.docs.Delete(ctx, dueKey(id, at), "")
}

// Due reads the first n entries of the due list, soonest first.
func (s *Builds[B, S]) Due(ctx context.Context, n int) ([]goldenpipe.Queued[S], error) {
	items, _, err := s.docs.ListPage(ctx, BuildKeyDue, "", n)
	if err != nil {
		return nil, err
	}
	return queued[S](items, BuildKeyDue), nil
}

// queued reads the entries of the line or the due list (an entry whose
// key does not parse is left out).
func queued[S any](items []goldenpipe.Listed, prefix string) []goldenpipe.Queued[S] {
	out := make([]goldenpipe.Queued[S], 0, len(items))
	for _, it := range items {
		id, at, ok := parseAsc(it.Key, prefix)
		if !ok {
			continue
		}
		q := goldenpipe.Queued[S]{ID: id, At: at}
		var e buildEntry[S]
		if it.Summary != nil && json.Unmarshal(it.Summary, &e) == nil {
			q.Build = e.Build
		}
		out = append(out, q)
	}
	return out
}

// Ledger reads the admission ledger and its ETag (empty and "" when none
// was written).
func (s *Builds[B, S]) Ledger(ctx context.Context) (goldenpipe.Ledger, string, error) {
	var l goldenpipe.Ledger
	etag, err := s.docs.Get(ctx, buildKeyAdmission, &l)
	if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return l, "", err
	}
	return l, etag, nil
}

// PutLedger writes the admission ledger over the version etag names (""
// when none was); ECONFLICT when another pass wrote it first.
func (s *Builds[B, S]) PutLedger(ctx context.Context, l goldenpipe.Ledger, etag string) error {
	_, err := s.docs.Put(ctx, buildKeyAdmission, l, etag)
	return err
}

// UpdateLedger changes the admission ledger (read, fn, conditional write,
// again on a lost race); fn returning docstore.ErrUnchanged writes
// nothing.
func (s *Builds[B, S]) UpdateLedger(ctx context.Context, fn func(*goldenpipe.Ledger) error) error {
	_, err := docstore.Update(ctx, s.docs, buildKeyAdmission, fn)
	return err
}

// recentBuilds lists the newest finished builds, newest first, with their
// summaries (Builds nil in a list begun before summaries).
type recentBuilds[S any] struct {
	IDs    []string `json:"ids"`
	Builds []S      `json:"builds,omitempty"`
}

// AddRecent puts a finished build, with its summary, at the head of the
// recent builds (at most recentKept).
func (s *Builds[B, S]) AddRecent(ctx context.Context, b B) error {
	id := b.BuildHead().ID
	_, err := docstore.Update(ctx, s.docs, buildKeyRecent, func(r *recentBuilds[S]) error {
		ids, sums := []string{id}, []S{b.BuildSummary()}
		// each id's summary is at its place (a list begun before
		// summaries has none: the list reads the records)
		known := map[string]int{}
		if len(r.Builds) == len(r.IDs) {
			for i, x := range r.IDs {
				known[x] = i
			}
		}
		for _, x := range r.IDs {
			if x != id && len(ids) < recentKept {
				ids = append(ids, x)
				if i, ok := known[x]; ok && sums != nil {
					sums = append(sums, r.Builds[i])
				} else {
					sums = nil
				}
			}
		}
		r.IDs, r.Builds = ids, sums
		return nil
	})
	return err
}

// Recent returns the summaries of up to n finished builds, newest first:
// one read (a list begun before summaries has its records read).
func (s *Builds[B, S]) Recent(ctx context.Context, n int) ([]S, error) {
	var r recentBuilds[S]
	if _, err := s.docs.Get(ctx, buildKeyRecent, &r); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return nil, err
	}
	if len(r.Builds) == len(r.IDs) {
		return r.Builds[:min(n, len(r.Builds))], nil
	}
	if len(r.IDs) > n {
		r.IDs = r.IDs[:n]
	}
	keys := make([]string, len(r.IDs))
	for i, id := range r.IDs {
		keys[i] = BuildRecordKey(id)
	}
	list, err := docstore.ReadAll[B](ctx, s.docs, keys, func(a, b B) bool { return a.BuildHead().FinishedAt.After(b.BuildHead().FinishedAt) })
	if err != nil {
		return nil, err
	}
	out := make([]S, len(list))
	for i := range list {
		out[i] = list[i].BuildSummary()
	}
	return out, nil
}

// inFlightView is what the overview shows of the builds in flight, as the
// monitor's last tick left them: the first of them and how many there
// are. Since is when it last changed.
type inFlightView[S any] struct {
	Since time.Time `json:"since"`
	Total int       `json:"total"`
	Shown []S       `json:"shown"`
}

// InFlightView reads the view of the builds in flight the monitor last
// recorded: up to n of the builds shown, and their total; recorded is
// false before any was.
func (s *Builds[B, S]) InFlightView(ctx context.Context, n int) (shown []S, total int, recorded bool, err error) {
	var v inFlightView[S]
	_, err = s.docs.Get(ctx, buildKeyInFlightView, &v)
	switch goldenpipe.ErrorCode(err) {
	case "":
		return v.Shown[:min(n, len(v.Shown))], v.Total, true, nil
	case goldenpipe.ENOTFOUND:
		return nil, 0, false, nil
	}
	return nil, 0, false, err
}

// RecordInFlightView records the view of the builds in flight (at most
// inFlightViewed of them are kept) when it changed.
func (s *Builds[B, S]) RecordInFlightView(ctx context.Context, shown []S, total int) error {
	if len(shown) > inFlightViewed {
		shown = shown[:inFlightViewed]
	}
	if len(shown) == 0 {
		shown = nil
	}
	_, err := docstore.Update(ctx, s.docs, buildKeyInFlightView, func(v *inFlightView[S]) error {
		old, _ := json.Marshal(v.Shown)
		now, _ := json.Marshal(shown)
		if !v.Since.IsZero() && v.Total == total && string(old) == string(now) {
			return docstore.ErrUnchanged
		}
		v.Since, v.Total, v.Shown = s.clock(), total, shown
		return nil
	})
	return err
}

// Reject records a refused request message under id (its message id), and
// its entry in the rejections' list, newest first (written before it).
func (s *Builds[B, S]) Reject(ctx context.Context, id string, rej goldenpipe.Rejection) error {
	key := BuildKeyRejected + hashOf(id)[:32] + ".json"
	if err := s.indexRejection(ctx, key, &rej); err != nil {
		return err
	}
	if _, err := s.docs.Overwrite(ctx, key, rej); err != nil {
		return fmt.Errorf("recording the rejected message %s: %w", rej.MessageID, err)
	}
	return nil
}

// indexRejection writes a rejection's entry: it names the rejection's key
// and time; a redelivered message's rejection is written again with a new
// time, and the older entry, naming another time, is dropped when read.
func (s *Builds[B, S]) indexRejection(ctx context.Context, key string, rej *goldenpipe.Rejection) error {
	entry := BuildKeyRejectedByTime + newestFirst(rej.At) + "-" + strings.TrimSuffix(strings.TrimPrefix(key, BuildKeyRejected), ".json")
	// the entry holds the rejection (a page is one listing), or, when it
	// is too large for the list, names it
	_, err := s.docs.Overwrite(ctx, entry, buildEntry[S]{ID: key, Rejection: rej})
	if goldenpipe.ErrorCode(err) == goldenpipe.EINVALID {
		_, err = s.docs.Overwrite(ctx, entry, buildEntry[S]{ID: key})
	}
	if err != nil {
		return fmt.Errorf("indexing a rejected message: %w", err)
	}
	return nil
}

// Rejected returns the newest n refused messages from their list: it
// reads what it answers, whatever was rejected before (the rejections
// recorded before the list are listed by the first call: migrateRejected).
func (s *Builds[B, S]) Rejected(ctx context.Context, n int) ([]goldenpipe.Rejection, error) {
	if err := s.migrateRejected(ctx); err != nil {
		return nil, err
	}
	entries, _, err := s.docs.ListPage(ctx, BuildKeyRejectedByTime, "", n)
	if err != nil {
		return nil, err
	}
	out := make([]goldenpipe.Rejection, 0, len(entries))
	var keys []string
	var ats []int64
	var slots []int
	for _, e := range listedEntries[S](entries, BuildKeyRejectedByTime) {
		if e.whole && e.doc.Rejection != nil {
			if e.doc.Rejection.At.UTC().UnixNano() == e.at {
				out = append(out, *e.doc.Rejection)
			}
			continue
		}
		key := e.doc.ID
		if key == "" {
			key = BuildKeyRejected + e.id + ".json"
		}
		keys, ats, slots = append(keys, key), append(ats, e.at), append(slots, len(out))
		out = append(out, goldenpipe.Rejection{})
	}
	if len(keys) == 0 {
		return out, nil
	}
	found, _, err := docstore.ReadAllVersioned[goldenpipe.Rejection](ctx, s.docs, keys)
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]goldenpipe.Rejection, len(found))
	for _, f := range found {
		byKey[f.Key] = f.Value
	}
	drop := map[int]bool{}
	for i, k := range keys {
		if r, ok := byKey[k]; ok && r.At.UTC().UnixNano() == ats[i] {
			out[slots[i]] = r
		} else {
			drop[slots[i]] = true
		}
	}
	kept := out[:0]
	for i, r := range out {
		if !drop[i] {
			kept = append(kept, r)
		}
	}
	return kept, nil
}
