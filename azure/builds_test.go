package azure

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/inmem"
)

// buildRec is a build record as the store sees one: what it files it by, and
// its summary.
type buildRec struct {
	ID          string    `json:"id"`
	Template    string    `json:"template"`
	RequestedAt time.Time `json:"requestedAt"`
	Stage       int       `json:"stage"`
}

type buildRecSummary struct {
	ID          string    `json:"id"`
	RequestedAt time.Time `json:"requestedAt"`
}

func (r buildRec) BuildHead() goldenpipe.BuildHead {
	return goldenpipe.BuildHead{ID: r.ID, Template: r.Template, RequestedAt: r.RequestedAt, Stage: goldenpipe.BuildStage(r.Stage)}
}
func (r buildRec) BuildSummary() buildRecSummary {
	return buildRecSummary{ID: r.ID, RequestedAt: r.RequestedAt}
}
func (s buildRecSummary) Requested() time.Time { return s.RequestedAt }

// buildCalls counts the documents' calls (n).
type buildCalls struct {
	goldenpipe.Documents
	n int
}

func (c *buildCalls) count(key string) string { c.n++; return key }

func (c *buildCalls) Get(ctx context.Context, key string, v any) (string, error) {
	return c.Documents.Get(ctx, c.count(key), v)
}
func (c *buildCalls) Put(ctx context.Context, key string, v any, ifMatch string) (string, error) {
	return c.Documents.Put(ctx, c.count(key), v, ifMatch)
}
func (c *buildCalls) KeysPage(ctx context.Context, prefix, marker string, max int) ([]string, string, error) {
	return c.Documents.KeysPage(ctx, c.count(prefix), marker, max)
}
func (c *buildCalls) ListPage(ctx context.Context, prefix, marker string, max int) ([]goldenpipe.Listed, string, error) {
	return c.Documents.ListPage(ctx, c.count(prefix), marker, max)
}

// migrate runs a tick's migrations ticks times.
func migrate(t *testing.T, s *Builds[buildRec, buildRecSummary], ticks int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for tick := 0; tick < ticks; tick++ {
		if _, err := s.MigrateLine(context.Background(), deadline); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MigrateLists(context.Background(), deadline); err != nil {
			t.Fatal(err)
		}
	}
}

// Once both migrations are done, a store does not read their record
// again: a tick's migrations then cost nothing.
func TestBuildMigrationsAreNotReadOnceDone(t *testing.T) {
	ctx := context.Background()
	docs := &buildCalls{Documents: inmem.NewDocs()}
	now := time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC)
	s := NewBuilds[buildRec, buildRecSummary](docs, func() time.Time { return now })
	old := buildRec{ID: "old-1", Template: "old", RequestedAt: now.Add(-time.Hour), Stage: int(goldenpipe.BuildFinished)}
	if _, err := s.Create(ctx, old); err != nil { // recorded before the lists
		t.Fatal(err)
	}
	migrate(t, s, 1)
	page, _, err := s.Page(ctx, "old", "", 10)
	if err != nil || len(page) != 1 || page[0].ID != "old-1" {
		t.Fatalf("the old build's list after the migration: %v %v", page, err)
	}
	docs.n = 0
	migrate(t, s, 3)
	if docs.n != 0 {
		t.Errorf("three ticks' migrations after both were done made %d storage calls, want 0", docs.n)
	}
	// another process on the same documents reads the record once
	migrate(t, NewBuilds[buildRec, buildRecSummary](docs, nil), 3)
	if docs.n != 1 {
		t.Errorf("a new process's three ticks made %d storage calls, want 1 (the migrations' record)", docs.n)
	}
}

// The line is oldest request first, and an entry taken out is gone.
func TestBuildLineIsInRequestOrder(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC)
	s := NewBuilds[buildRec, buildRecSummary](inmem.NewDocs(), func() time.Time { return now })
	for i, id := range []string{"c", "a", "b"} {
		r := buildRec{ID: id, Template: id, RequestedAt: now.Add(time.Duration(i) * time.Second), Stage: int(goldenpipe.BuildWaiting)}
		if err := s.Announce(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	line, next, err := s.Line(ctx, "", 10)
	if err != nil || next != "" || len(line) != 3 {
		t.Fatalf("line %v %q %v", line, next, err)
	}
	var ids []string
	for _, q := range line {
		ids = append(ids, q.ID)
		if q.Build != nil && q.Build.ID != q.ID { // a listing that holds the entry (a table kind) carries its summary
			t.Errorf("entry %s carries summary %+v", q.ID, q.Build)
		}
	}
	if !slices.Equal(ids, []string{"c", "a", "b"}) {
		t.Errorf("line %v, want request order c a b", ids)
	}
	if err := s.OutOfLine(ctx, "a", line[1].At); err != nil {
		t.Fatal(err)
	}
	if n, more, err := s.CountLine(ctx, 10); err != nil || n != 2 || more {
		t.Errorf("after a left: %d in line (more %v), %v", n, more, err)
	}
}

// The due list is soonest first, and an entry taken out is gone.
func TestBuildDueListIsSoonestFirst(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC)
	s := NewBuilds[buildRec, buildRecSummary](inmem.NewDocs(), func() time.Time { return now })
	for _, d := range []struct {
		id string
		at time.Duration
	}{{"late", time.Hour}, {"soon", time.Minute}} {
		if err := s.FileDue(ctx, d.id, now.Add(d.at), ""); err != nil {
			t.Fatal(err)
		}
	}
	due, err := s.Due(ctx, 10)
	if err != nil || len(due) != 2 || due[0].ID != "soon" || !due[0].At.Equal(now.Add(time.Minute)) {
		t.Fatalf("due %+v %v", due, err)
	}
	if err := s.Undue(ctx, "soon", due[0].At); err != nil {
		t.Fatal(err)
	}
	if due, _ = s.Due(ctx, 10); len(due) != 1 || due[0].ID != "late" {
		t.Errorf("due after soon left: %+v", due)
	}
}

// The ledger's write is conditional on the ETag it was read at.
func TestBuildLedgerWriteIsConditional(t *testing.T) {
	ctx := context.Background()
	s := NewBuilds[buildRec, buildRecSummary](inmem.NewDocs(), nil)
	l, etag, err := s.Ledger(ctx)
	if err != nil || etag != "" || len(l.Holders) != 0 {
		t.Fatalf("no ledger yet: %+v %q %v", l, etag, err)
	}
	if err := s.PutLedger(ctx, goldenpipe.Ledger{Holders: []string{"c"}}, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.PutLedger(ctx, goldenpipe.Ledger{Holders: []string{"b"}}, ""); goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		t.Errorf("a second pass writing the ledger it read absent: %v, want ECONFLICT", err)
	}
}
