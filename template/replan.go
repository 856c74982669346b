package template

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
)

// A script change re-plans the templates that use it as a recorded walk
// over the template records, in name order, from a cursor: the upload's
// invocation walks for ReplanBudget and answers, the monitor's ticks walk
// on from the cursor until every template was seen, and a newer change of
// the same script restarts the walk. No invocation's work grows with the
// number of templates, and a walk lost to a crash is picked up where its
// cursor stands.

// replanPrefix holds the walks in progress, one per changed script.
const replanPrefix = "replans/"

// cursorEvery is how many templates a walk passes between writes of its
// cursor.
const cursorEvery = 25

// Default budgets of a walk: in the upload's invocation, and in a
// monitor tick (every walk in progress shares it).
const (
	DefaultReplanBudget = 2 * time.Second
	DefaultTickBudget   = time.Minute
)

// replan is one walk in progress.
type replan struct {
	Script  string    `json:"script"`
	Changed time.Time `json:"changed"` // when the change was seen; a newer one restarts the walk
	Cursor  string    `json:"cursor"`  // the last template record key passed
	Seen    int       `json:"seen"`    // templates passed
	Planned int       `json:"planned"` // templates that use the script, rendered again
}

func replanKey(script string) string { return replanPrefix + keyOf(script) + ".json" }

// ScriptChanged records the re-planning of the templates that use a
// script (with its new checksum) and walks it for the upload's budget;
// the monitor walks on. An error means the walk was not recorded: the
// change's invocation fails, so it is delivered again.
func (s *Service) ScriptChanged(ctx context.Context, name string) error {
	key := replanKey(name)
	if _, err := s.Docs.Overwrite(ctx, key, replan{Script: name, Changed: s.now()}); err != nil {
		return fmt.Errorf("recording the re-planning of the templates that use %q: %w", name, err)
	}
	budget := s.ReplanBudget
	if budget <= 0 {
		budget = DefaultReplanBudget
	}
	if _, err := s.walk(ctx, key, time.Now().Add(budget), s.ReplanLimit); err != nil {
		// recorded: the monitor carries on from the cursor
		s.log().Warn("re-planning the templates of a changed script stopped; the monitor goes on with it", "script", name, "err", err.Error())
	}
	return nil
}

// ContinueReplans walks every re-planning in progress on, within budget
// (default DefaultTickBudget); it says how far they got.
func (s *Service) ContinueReplans(ctx context.Context, budget time.Duration) (string, error) {
	keys, err := s.Docs.Keys(ctx, replanPrefix)
	if err != nil || len(keys) == 0 {
		return "", err
	}
	if budget <= 0 {
		budget = DefaultTickBudget
	}
	deadline := time.Now().Add(budget)
	var out []string
	for _, k := range keys {
		if !time.Now().Before(deadline) {
			out = append(out, fmt.Sprintf("%d more re-planning(s) wait for the next tick", len(keys)-len(out)))
			break
		}
		note, err := s.walk(ctx, k, deadline, s.ReplanLimit)
		if err != nil {
			return strings.Join(out, "; "), err
		}
		out = append(out, note)
	}
	return strings.Join(out, "; "), nil
}

// walk goes on with a re-planning from its cursor until every template
// was passed (then the walk is removed), the deadline passes, or limit
// templates were passed (0: no limit). Its cursor is written with the
// walk's ETag: a newer change of the script (which restarts the walk) or
// another instance walking it ends this one.
func (s *Service) walk(ctx context.Context, key string, deadline time.Time, limit int) (string, error) {
	var w replan
	etag, err := s.Docs.Get(ctx, key, &w)
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	keys, err := s.Docs.Keys(ctx, recordPrefix)
	if err != nil {
		return "", err
	}
	sort.Strings(keys)
	start := sort.SearchStrings(keys, w.Cursor)
	if start < len(keys) && keys[start] == w.Cursor {
		start++
	}
	save := func(done bool) (bool, error) {
		var err error
		if done {
			err = s.Docs.Delete(ctx, key, etag)
		} else {
			etag, err = s.Docs.Put(ctx, key, w, etag)
		}
		if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
			return false, nil // restarted by a newer change, or walked by another instance
		}
		return err == nil, err
	}
	versions := &Resolver{Lister: s.Versions}
	passed := 0
	for _, k := range keys[start:] {
		if !time.Now().Before(deadline) || limit > 0 && passed >= limit || ctx.Err() != nil {
			if _, err := save(false); err != nil {
				return "", err
			}
			return fmt.Sprintf("script %q: %d of %d templates passed, %d re-planned; going on at the next tick", w.Script, w.Seen, len(keys), w.Planned), nil
		}
		if err := s.replanOne(ctx, k, w.Script, versions, &w); err != nil {
			if _, serr := save(false); serr != nil {
				return "", serr
			}
			return "", err
		}
		w.Cursor, w.Seen = k, w.Seen+1
		passed++
		if passed%cursorEvery == 0 {
			if ok, err := save(false); !ok {
				return "", err
			}
		}
	}
	if _, err := save(true); err != nil {
		return "", err
	}
	return fmt.Sprintf("script %q: every template passed, %d re-planned", w.Script, w.Planned), nil
}

// replanOne renders a template again when it uses the script, and tells
// the listeners when it now needs a build.
func (s *Service) replanOne(ctx context.Context, key, script string, versions *Resolver, w *replan) error {
	var rec Record
	if _, err := s.Docs.Get(ctx, key, &rec); err != nil {
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			return nil // deleted since the listing
		}
		return err
	}
	if !rec.usesScript(script) {
		return nil
	}
	if _, err := s.update(ctx, key, func(r *Record) error {
		r.Stale, r.StaleReason = true, fmt.Sprintf("script %q changed", script)
		return nil
	}); err != nil {
		return fmt.Errorf("marking template %q stale: %w", rec.Name, err)
	}
	if _, err := s.Reconcile(ctx, rec.Blob, versions, true); err != nil {
		return fmt.Errorf("rendering template %q again: %w", rec.Name, err)
	}
	w.Planned++
	return s.notify(ctx, rec.Name)
}

// usesScript reports whether a template refers to a script: its
// rendering's, or (an invalid template has none, and a fixed script must
// make it valid again) the names its steps refer to.
func (r Record) usesScript(script string) bool {
	if r.Rendered != nil {
		if _, ok := r.Rendered.Scripts[script]; ok {
			return true
		}
	}
	return slices.Contains(r.Scripts, script)
}
