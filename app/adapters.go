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
	"github.com/goldenpipe/goldenpipe/internal/defaults"
	"github.com/goldenpipe/goldenpipe/template"
)

// pipeline is the event path, one way: a checksum change goes to the
// template catalog (re-planning the templates that use the script), a
// plan that asks for a build goes to the builds. It is handed to the
// checksum and template services at construction, and given the services
// it forwards to once Build made them; no service hears of events from
// one it calls.
type pipeline struct {
	templates *template.Service
	builds    *builds.Service
}

// ScriptChanged re-plans the templates that use the changed script.
func (p *pipeline) ScriptChanged(ctx context.Context, c checksum.Change) error {
	return p.templates.ScriptChanged(ctx, c.Name)
}

// Planned requests the build a template's plan asks for.
func (p *pipeline) Planned(ctx context.Context, rec template.Record) error {
	return p.builds.Planned(ctx, rec)
}

// StateKinds are the kinds of state the store keeps in Table storage
// (azure.Store): the builds' lists (their store's kinds, the in-flight
// markers first, so the migration from blobs moves them before anything
// else), the summaries of templates and checksums, and the templates'
// pending index. A kind is only appended (azure.Store.Migrate moves the
// blobs of kinds in this order, and a deployment whose migration is done
// moves the ones appended since).
//
// The pending index is an entry per template with a build request not yet
// sent: written, then deleted once the request is sent, for every template
// a burst plans. A table's entity is written and deleted at a fixed cost;
// as blobs, the entries made every delete of Azurite's blob service
// rebuild the indices of all its blobs (its LokiJS store's
// removeBatchByPositions flags them dirty; profiled during the 10,000
// templates burst: 56 % of its CPU).
var StateKinds = append(azure.BuildKinds(tableBucket),
	azure.TableKind{Prefix: template.RecordPrefix, Table: "templates", Summaries: true, Bucket: 1, Summarize: azure.SummaryOf[template.Record]()},
	azure.TableKind{Prefix: checksum.CurrentPrefix, Table: "checksums", Summaries: true, Summarize: azure.SummaryOf[goldenpipe.Checksum]()},
	azure.TableKind{Prefix: template.PendingPrefix, Table: "templatepending"},
)

// buildsStore is the builds' store over the app's documents, on the
// clock of the app's builds service (now; nil: the wall clock).
func buildsStore(docs goldenpipe.Documents, now func() time.Time) builds.Store {
	return azure.NewBuilds[builds.Build, builds.Summary](docs, func() time.Time { return defaults.NowUTC(now) })
}

// buildsDocs is the documents the app's builds' store keeps them in.
func buildsDocs(a *App) goldenpipe.Documents {
	return a.Builds.Store.(*azure.Builds[builds.Build, builds.Summary]).Docs()
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
