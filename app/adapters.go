package app

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/checksum"
	"github.com/goldenpipe/goldenpipe/template"
)

// staleMarker tells the template catalog of checksum changes.
type staleMarker struct{ templates *template.Service }

func (m staleMarker) ScriptChanged(ctx context.Context, c checksum.Change) error {
	return m.templates.ScriptChanged(ctx, c.Name)
}

// StateKinds are the kinds of state the store keeps in Table storage
// (azure.Store): the builds' lists, and the summaries of templates and
// checksums. The in-flight markers come first, so the migration from
// blobs moves them before anything else.
var StateKinds = []azure.TableKind{
	{Prefix: builds.KeyActive, Table: "active"},
	{Prefix: builds.KeyLine, Table: "buildsline", Bucket: tableBucket},
	{Prefix: builds.KeyDue, Table: "buildsdue", Bucket: tableBucket},
	{Prefix: builds.KeyByTime, Table: "buildsbytime", Bucket: tableBucket},
	{Prefix: builds.KeyByTemplate, Table: "buildsbytemplate", Partitioned: true},
	{Prefix: builds.KeyRejectedByTime, Table: "rejectedbytime", Bucket: tableBucket},
	{Prefix: template.RecordPrefix, Table: "templates", Summaries: true, Bucket: 1, Summarize: azure.SummaryOf[template.Record]()},
	{Prefix: checksum.CurrentPrefix, Table: "checksums", Summaries: true, Summarize: azure.SummaryOf[goldenpipe.Checksum]()},
}

// tableBucket is how many hex digits of a time-ordered key (16 digits of
// nanoseconds) make its partition and table: 2^48 ns, about 3.3 days.
// Templates (keys of hex digits of a hash) are spread over 16 tables by
// their first digit; checksums (one per script, a few hundred) share one.
const tableBucket = 4

// migrationBudget bounds the store's one-time migration in one tick.
const migrationBudget = 30 * time.Second

// migrator is the store's one-time move of blobs to tables.
type migrator interface {
	Migrate(ctx context.Context, deadline time.Time) (done bool, moved int, err error)
}

// monitor is the BuildMonitor tick: the store's one-time migration (once
// done, one read), the builds in flight, the build requests template
// records carry and were not sent (a crash after the record's write), then
// the re-planning of templates after script changes, each within its
// budget.
type monitor struct {
	builds    *builds.Service
	templates *template.Service
	store     migrator
}

func (m monitor) Tick(ctx context.Context, t goldenpipe.Tick) (string, error) {
	prefix := ""
	if done, moved, err := m.store.Migrate(ctx, time.Now().Add(migrationBudget)); err != nil {
		return "", fmt.Errorf("moving the lists to tables: %w", err)
	} else if !done {
		prefix = fmt.Sprintf("moving the lists to tables: %d moved so far, more on the next tick; ", moved)
	}
	out, err := m.builds.Tick(ctx, t)
	out = prefix + out
	if err != nil {
		return out, err
	}
	pending, perr := m.templates.SendPending(ctx, template.DefaultPendingLimit)
	if pending != "" {
		out += "; " + pending
	}
	replans, err := m.templates.ContinueReplans(ctx, template.DefaultTickBudget)
	if replans != "" {
		out += "; " + replans
	}
	if err == nil && perr != nil {
		err = fmt.Errorf("sending pending build requests: %w", perr)
	}
	return out, err
}

// secretsRestorer is Image Builder as the builds see it: a template's
// body, whose record holds stand-ins for the SAS signatures and keys the
// user wrote (goldenpipe.RedactSecrets), gets them back from the template
// file just before it is sent, and nowhere else.
type secretsRestorer struct {
	builds.ImageBuilder
	templates *template.Service
	builds    *builds.Service
}

func (r secretsRestorer) Create(ctx context.Context, name string, body []byte) error {
	if !bytes.Contains(body, []byte(goldenpipe.SecretPrefix)) {
		return r.ImageBuilder.Create(ctx, name, body)
	}
	inFlight, err := r.builds.InFlight(ctx)
	if err != nil {
		return err
	}
	for _, b := range inFlight {
		if b.AIBName != name {
			continue
		}
		body, err := r.templates.RestoreSecrets(ctx, b.Template, body)
		if err != nil {
			return err
		}
		return r.ImageBuilder.Create(ctx, name, body)
	}
	return goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no build in flight creates Image Builder template %s: its secrets cannot be read", name)
}
