package template

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/inmem"
)

// The shell around decide, against the in-memory store and container
// (inmem: the conditional-write semantics of the Azure adapters).

// ubuntuSeed is Microsoft's Ubuntu sample template (API 2019-05-01-preview).
const ubuntuSeed = "testdata/seed/ubuntu-shell.json"

const testTemplatesURL = "https://goldenscripts.blob.core.windows.net/templates"

// catalogEnv is a template service on in-memory storage.
type catalogEnv struct {
	t       *testing.T
	s       *Service
	blobs   *inmem.Blobs
	docs    *inmem.Docs
	scripts *mutableChecksums
	planned *plannedListener
	now     time.Time
}

func newCatalogEnv(t *testing.T) *catalogEnv {
	t.Helper()
	e := &catalogEnv{t: t, docs: inmem.NewDocs(), planned: &plannedListener{}, now: time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC)}
	e.blobs = inmem.NewBlobs(testTemplatesURL, func() time.Time { return e.now })
	versions := testVersions()
	versions.versions["Canonical/0001-com-ubuntu-server-jammy/22_04-lts-gen2"] = []string{"22.04.202412010"}
	e.scripts = &mutableChecksums{m: map[string]string{}}
	for k, v := range testScripts {
		e.scripts.m[k] = v
	}
	// built as the app builds it (New), so the catalog's tests cover the constructor
	e.s = New(e.blobs, e.docs, ServiceOptions{Container: "templates", ScriptsURL: testScriptsURL, Checksums: e.scripts,
		Versions: versions, Now: func() time.Time { return e.now }, Deployment: corpusDeployment, Listener: e.planned})
	return e
}

func (e *catalogEnv) upload(name string, content []byte) {
	e.t.Helper()
	if _, err := e.blobs.Upload(context.Background(), name, content); err != nil {
		e.t.Fatal(err)
	}
}

func (e *catalogEnv) uploadFile(name, file string) {
	e.t.Helper()
	e.upload(name, []byte(mustRead(e.t, file)))
}

func (e *catalogEnv) event(typ, name string) (string, error) {
	return e.s.HandleBlobEvent(context.Background(), goldenpipe.BlobEvent{ID: "ev", Type: typ,
		Subject: "/blobServices/default/containers/templates/blobs/" + name, URL: testTemplatesURL + "/" + name})
}

func (e *catalogEnv) mustEvent(typ, name string) string {
	e.t.Helper()
	out, err := e.event(typ, name)
	if err != nil {
		e.t.Fatalf("%s %s: %v", typ, name, err)
	}
	return out
}

func (e *catalogEnv) get(name string) Record {
	e.t.Helper()
	rec, err := e.s.Get(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return rec
}

func (e *catalogEnv) keys(prefix string) []string {
	e.t.Helper()
	keys, err := e.docs.Keys(context.Background(), prefix)
	if err != nil {
		e.t.Fatal(err)
	}
	return keys
}

// TestCatalogUpload: an upload renders the template, writes its record
// with the build request and sends it; the same event again changes
// nothing; a delete moves the record to history.
func TestCatalogUpload(t *testing.T) {
	e := newCatalogEnv(t)
	e.uploadFile("ubuntu.json", ubuntuSeed)
	out := e.mustEvent(goldenpipe.BlobCreated, "ubuntu.json")
	if !strings.Contains(out, `template "ubuntu" rendered: fingerprint`) || !strings.Contains(out, "rebuild=true (never built)") {
		t.Errorf("outcome %q", out)
	}
	rec := e.get("ubuntu")
	if !rec.Valid || rec.Pending != nil || rec.Rendered.SourceVersion != "18.04.202401161" || rec.URL != testTemplatesURL+"/ubuntu.json" {
		t.Errorf("record: valid %v pending %+v", rec.Valid, rec.Pending)
	}
	if got := e.planned.heard(); !slices.Equal(got, []string{"ubuntu"}) {
		t.Errorf("requests %v", got)
	}
	if keys := e.keys(PendingPrefix); len(keys) != 0 {
		t.Errorf("pending entries left: %v", keys)
	}
	if out := e.mustEvent(goldenpipe.BlobCreated, "ubuntu.json"); !strings.HasSuffix(out, "already processed") {
		t.Errorf("again: %q", out)
	}
	if got := e.planned.heard(); len(got) != 1 {
		t.Errorf("requests after the same event again: %v", got)
	}
	list, err := e.s.List(context.Background())
	if err != nil || len(list) != 1 || list[0].Name != "ubuntu" {
		t.Errorf("list %v %v", list, err)
	}
	if err := e.blobs.Delete(context.Background(), "ubuntu.json"); err != nil {
		t.Fatal(err)
	}
	if out := e.mustEvent(goldenpipe.BlobDeleted, "ubuntu.json"); out != "template deleted; record removed (kept in history)" {
		t.Errorf("delete: %q", out)
	}
	if _, err := e.s.Get(context.Background(), "ubuntu"); goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		t.Errorf("get after delete: %v", err)
	}
	if keys := e.keys(historyPrefix); len(keys) != 1 {
		t.Errorf("history: %v", keys)
	}
	if out := e.mustEvent(goldenpipe.BlobDeleted, "ubuntu.json"); !strings.HasSuffix(out, "nothing to do") {
		t.Errorf("delete again: %q", out)
	}
}

// TestCatalogIgnores: events the catalog does not act on.
func TestCatalogIgnores(t *testing.T) {
	e := newCatalogEnv(t)
	tests := []struct {
		typ, blob, want string
	}{
		{goldenpipe.BlobCreated, "readme.txt", `ignored: template blob "readme.txt" does not end in .json`},
		{"Microsoft.Storage.BlobTierChanged", "a.json", "ignored: event type"},
	}
	for _, tt := range tests {
		t.Run(tt.blob, func(t *testing.T) {
			out, err := e.event(tt.typ, tt.blob)
			if err != nil || !strings.HasPrefix(out, tt.want) {
				t.Errorf("%q %v, want %q", out, err, tt.want)
			}
		})
	}
	if out, err := e.s.Reconcile(context.Background(), "readme.txt", &Resolver{}, false); err != nil || !strings.HasPrefix(out, "ignored:") {
		t.Errorf("reconcile: %q %v", out, err)
	}
}

// TestCatalogRequestNotLost: a build request that could not be sent stays
// in the record and its index; the event's redelivery sends it, or the
// monitor's SendPending does.
func TestCatalogRequestNotLost(t *testing.T) {
	for _, via := range []string{"redelivery", "monitor"} {
		t.Run(via, func(t *testing.T) {
			e := newCatalogEnv(t)
			e.uploadFile("ubuntu.json", ubuntuSeed)
			e.planned.err = goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "the bus is down")
			if _, err := e.event(goldenpipe.BlobCreated, "ubuntu.json"); err == nil || !strings.Contains(err.Error(), "the bus is down") {
				t.Fatalf("err = %v", err)
			}
			if rec := e.get("ubuntu"); rec.Pending == nil || len(e.keys(PendingPrefix)) != 1 {
				t.Fatalf("pending %+v, entries %v", rec.Pending, e.keys(PendingPrefix))
			}
			if via == "monitor" {
				if _, err := e.s.SendPending(context.Background(), 0); err == nil {
					t.Error("SendPending with the bus down: no error")
				}
			}
			e.planned.err = nil
			switch via {
			case "redelivery":
				if out := e.mustEvent(goldenpipe.BlobCreated, "ubuntu.json"); !strings.Contains(out, "sending the build request of ubuntu, not sent before") {
					t.Errorf("outcome %q", out)
				}
			case "monitor":
				if out, err := e.s.SendPending(context.Background(), 0); err != nil || out != "1 pending build request(s) sent" {
					t.Errorf("SendPending: %q %v", out, err)
				}
			}
			if rec := e.get("ubuntu"); rec.Pending != nil || len(e.keys(PendingPrefix)) != 0 || len(e.planned.heard()) != 1 {
				t.Errorf("pending %+v, entries %v, requests %v", rec.Pending, e.keys(PendingPrefix), e.planned.heard())
			}
		})
	}
}

// TestSendPendingDropsOldEntries: an index entry whose record carries no
// request is dropped once past the grace, kept before; a page limit leaves
// the rest for the next tick.
func TestSendPendingDropsOldEntries(t *testing.T) {
	e := newCatalogEnv(t)
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := e.docs.Overwrite(ctx, pendingKey(n), pendingEntry{Name: n, Fingerprint: "f", At: e.now}); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := e.s.SendPending(ctx, 2); err != nil || out != "more wait for the next tick" || len(e.keys(PendingPrefix)) != 3 {
		t.Errorf("young entries: %q %v %v", out, err, e.keys(PendingPrefix))
	}
	e.now = e.now.Add(pendingGrace + time.Second)
	if _, err := e.s.SendPending(ctx, 0); err != nil || len(e.keys(PendingPrefix)) != 0 {
		t.Errorf("old entries: %v %v", err, e.keys(PendingPrefix))
	}
	if out, err := e.s.SendPending(ctx, 0); out != "" || err != nil {
		t.Errorf("nothing pending: %q %v", out, err)
	}
}

// TestRecordBuild: a successful build is recorded and planned again; an
// older one changes nothing; an unknown template is no error.
func TestRecordBuild(t *testing.T) {
	e := newCatalogEnv(t)
	e.s.Listeners = nil
	e.uploadFile("ubuntu.json", ubuntuSeed)
	e.mustEvent(goldenpipe.BlobCreated, "ubuntu.json")
	rec := e.get("ubuntu")
	ctx := context.Background()
	sum := BuildSummary{BuildID: "b2", Fingerprint: rec.Rendered.Fingerprint, SourceVersion: rec.Rendered.SourceVersion,
		Scripts: rec.Rendered.Scripts, FinishedAt: e.now}
	if err := e.s.RecordBuild(ctx, "ubuntu", sum); err != nil {
		t.Fatal(err)
	}
	if rec := e.get("ubuntu"); rec.LastBuild == nil || rec.LastBuild.BuildID != "b2" || rec.Plan.Rebuild || rec.Plan.Reason != "up to date with build b2" {
		t.Errorf("after the build: %+v %+v", rec.LastBuild, rec.Plan)
	}
	older := sum
	older.BuildID, older.FinishedAt = "b1", e.now.Add(-time.Hour)
	if err := e.s.RecordBuild(ctx, "ubuntu", older); err != nil {
		t.Fatal(err)
	}
	if rec := e.get("ubuntu"); rec.LastBuild.BuildID != "b2" {
		t.Errorf("an older build replaced the newer: %s", rec.LastBuild.BuildID)
	}
	if err := e.s.RecordBuild(ctx, "nobody", sum); err != nil {
		t.Errorf("unknown template: %v", err)
	}
}

// TestCatalogSeveralTemplates: a file holding several templates writes
// them all and its index; back to one, the others go to history and the
// index is deleted.
func TestCatalogSeveralTemplates(t *testing.T) {
	e := newCatalogEnv(t)
	e.s.Listeners = nil
	two := inDeployment(t, linuxBase, `{"name": "[format('jammy-{0}', parameters('stages')[copyIndex()])]",
	  "copy": {"name": "stages", "count": "[length(parameters('stages'))]"}}`, `{"stages": {"type": "array", "defaultValue": ["test", "prod"]}}`)
	e.upload("jammy.json", two)
	e.mustEvent(goldenpipe.BlobCreated, "jammy.json")
	if recs := e.keys(recordPrefix); len(recs) != 2 || len(e.keys(filePrefix)) != 1 {
		t.Fatalf("records %v, indexes %v", recs, e.keys(filePrefix))
	}
	// the refresh finds the file's templates by its index
	recs, err := e.s.Refresh(context.Background())
	if err != nil || len(recs) != 2 || recs[0].Name != "jammy.jammy-prod" || recs[1].Name != "jammy.jammy-test" {
		t.Fatalf("refresh: %v %v", recs, err)
	}
	e.upload("jammy.json", inDeployment(t, linuxBase, `{"name": "jammy"}`, ""))
	e.mustEvent(goldenpipe.BlobCreated, "jammy.json")
	if recs := e.keys(recordPrefix); len(recs) != 1 || len(e.keys(filePrefix)) != 0 || len(e.keys(historyPrefix)) != 2 {
		t.Errorf("records %v, indexes %v, history %v", recs, e.keys(filePrefix), e.keys(historyPrefix))
	}
	if rec := e.get("jammy"); !rec.Valid {
		t.Errorf("jammy: %v", rec.Problems)
	}
	// the file deleted: its index is read, every template goes
	e.upload("jammy.json", two)
	e.mustEvent(goldenpipe.BlobCreated, "jammy.json")
	if err := e.blobs.Delete(context.Background(), "jammy.json"); err != nil {
		t.Fatal(err)
	}
	e.mustEvent(goldenpipe.BlobDeleted, "jammy.json")
	if recs := e.keys(recordPrefix); len(recs) != 0 || len(e.keys(filePrefix)) != 0 {
		t.Errorf("after delete: records %v, indexes %v", recs, e.keys(filePrefix))
	}
}

// racingDocs lets another writer in before the conditional writes of
// existing documents under prefix (the first times of them): the write
// loses its race.
type racingDocs struct {
	goldenpipe.Documents
	prefix string
	times  int
	raced  int
}

func (d *racingDocs) race(ctx context.Context, key string) {
	if strings.HasPrefix(key, d.prefix) && d.raced < d.times {
		d.raced++
		var v any // the same document written again: a new ETag
		if _, err := d.Documents.Get(ctx, key, &v); err == nil {
			_, _ = d.Documents.Overwrite(ctx, key, v)
		}
	}
}

func (d *racingDocs) Put(ctx context.Context, key string, v any, ifMatch string) (string, error) {
	d.race(ctx, key)
	return d.Documents.Put(ctx, key, v, ifMatch)
}

func (d *racingDocs) Delete(ctx context.Context, key, ifMatch string) error {
	d.race(ctx, key)
	return d.Documents.Delete(ctx, key, ifMatch)
}

// TestCatalogLostRace: a conditional write that loses its race observes
// the file again and wins the next time; one that always loses is
// ECONFLICT, and the event is delivered again.
func TestCatalogLostRace(t *testing.T) {
	for _, tt := range []struct {
		name   string
		prefix string
		times  int
		code   string
	}{
		{"the record, once", recordPrefix, 1, ""},
		{"the record, always", recordPrefix, 100, goldenpipe.ECONFLICT},
		{"the file index, once", filePrefix, 1, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newCatalogEnv(t)
			e.s.Listeners = nil
			stages := func(list string) []byte {
				return inDeployment(t, linuxBase, `{"name": "[format('jammy-{0}', parameters('stages')[copyIndex()])]",
				  "copy": {"name": "stages", "count": "[length(parameters('stages'))]"}}`, `{"stages": {"type": "array", "defaultValue": `+list+`}}`)
			}
			e.upload("jammy.json", stages(`["test", "prod"]`))
			e.mustEvent(goldenpipe.BlobCreated, "jammy.json")
			e.upload("jammy.json", stages(`["test", "prod", "dev"]`))
			racing := &racingDocs{Documents: e.docs, prefix: tt.prefix, times: tt.times}
			e.s.Docs = racing
			_, err := e.event(goldenpipe.BlobCreated, "jammy.json")
			if goldenpipe.ErrorCode(err) != tt.code || racing.raced == 0 {
				t.Fatalf("err = %v (raced %d), want code %q", err, racing.raced, tt.code)
			}
			if tt.code == "" {
				if rec := e.get("jammy.jammy-test"); !rec.Valid {
					t.Errorf("record: %+v", rec)
				}
			}
		})
	}
	// a record deleted with its blob while another writer changed it
	e := newCatalogEnv(t)
	e.uploadFile("ubuntu.json", ubuntuSeed)
	e.mustEvent(goldenpipe.BlobCreated, "ubuntu.json")
	if err := e.blobs.Delete(context.Background(), "ubuntu.json"); err != nil {
		t.Fatal(err)
	}
	e.s.Docs = &racingDocs{Documents: e.docs, prefix: recordPrefix, times: 1}
	if out := e.mustEvent(goldenpipe.BlobDeleted, "ubuntu.json"); !strings.Contains(out, "record removed") {
		t.Errorf("delete: %q", out)
	}
}

// TestCatalogBlobChangedWhileRead: the file is observed again, and the
// record holds the version read.
func TestCatalogBlobChangedWhileRead(t *testing.T) {
	e := newCatalogEnv(t)
	e.s.Listeners = nil
	e.upload("jammy.json", []byte(linuxBase))
	newer := inDeployment(t, linuxBase, `{"name": "jammy"}`, "")
	e.s.Blobs = &changingBlobs{Blobs: e.blobs, blob: "jammy.json", content: newer}
	e.mustEvent(goldenpipe.BlobCreated, "jammy.json")
	ver, err := e.blobs.Properties(context.Background(), "jammy.json")
	if err != nil {
		t.Fatal(err)
	}
	if rec := e.get("jammy"); rec.ETag != ver.ETag || rec.Kind != KindDeployment {
		t.Errorf("record of version %s (%s), blob at %s", rec.ETag, rec.Kind, ver.ETag)
	}
}

// failingDocs fails every call on keys under prefix (op: "get", "put",
// "overwrite", "delete", "keys"; "" every one).
type failingDocs struct {
	goldenpipe.Documents
	prefix, op string
}

var errStore = goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "the store is down")

func (d failingDocs) fails(op, key string) bool {
	return strings.HasPrefix(key, d.prefix) && (d.op == "" || d.op == op)
}

func (d failingDocs) Get(ctx context.Context, key string, v any) (string, error) {
	if d.fails("get", key) {
		return "", errStore
	}
	return d.Documents.Get(ctx, key, v)
}

func (d failingDocs) Put(ctx context.Context, key string, v any, ifMatch string) (string, error) {
	if d.fails("put", key) {
		return "", errStore
	}
	return d.Documents.Put(ctx, key, v, ifMatch)
}

func (d failingDocs) Overwrite(ctx context.Context, key string, v any) (string, error) {
	if d.fails("overwrite", key) {
		return "", errStore
	}
	return d.Documents.Overwrite(ctx, key, v)
}

func (d failingDocs) Delete(ctx context.Context, key, ifMatch string) error {
	if d.fails("delete", key) {
		return errStore
	}
	return d.Documents.Delete(ctx, key, ifMatch)
}

func (d failingDocs) Keys(ctx context.Context, prefix string) ([]string, error) {
	if d.fails("keys", prefix) {
		return nil, errStore
	}
	return d.Documents.Keys(ctx, prefix)
}

func (d failingDocs) KeysPage(ctx context.Context, prefix, marker string, max int) ([]string, string, error) {
	if d.fails("keys", prefix) {
		return nil, "", errStore
	}
	return d.Documents.KeysPage(ctx, prefix, marker, max)
}

// TestCatalogStorageErrors: a storage failure fails the event (it is
// delivered again) with what was being done, and writes nothing after it.
func TestCatalogStorageErrors(t *testing.T) {
	tests := []struct {
		name  string
		docs  func(goldenpipe.Documents) goldenpipe.Documents
		blobs func(*inmem.Blobs) Blobs
		want  string
	}{
		{name: "file index read", docs: func(d goldenpipe.Documents) goldenpipe.Documents { return failingDocs{d, filePrefix, "get"} },
			want: `reading the index of template file "ubuntu.json"`},
		{name: "record read", docs: func(d goldenpipe.Documents) goldenpipe.Documents { return failingDocs{d, recordPrefix, "get"} },
			want: `reading the record of template "ubuntu"`},
		{name: "record write", docs: func(d goldenpipe.Documents) goldenpipe.Documents { return failingDocs{d, recordPrefix, "put"} },
			want: `writing the record of template "ubuntu"`},
		{name: "pending index write", docs: func(d goldenpipe.Documents) goldenpipe.Documents { return failingDocs{d, pendingPrefix, "overwrite"} },
			want: `indexing the build request of template "ubuntu"`},
		{name: "reverse link index read", docs: func(d goldenpipe.Documents) goldenpipe.Documents { return failingDocs{d, linksPrefix, "get"} },
			want: `reading which templates link "ubuntu.json"`},
		{name: "blob properties", blobs: func(b *inmem.Blobs) Blobs { return failingBlobs{b, "ubuntu.json", "properties"} },
			want: "the store is down"},
		{name: "parameters properties", blobs: func(b *inmem.Blobs) Blobs { return failingBlobs{b, "ubuntu.parameters.json", "properties"} },
			want: "the store is down"},
		{name: "blob read", blobs: func(b *inmem.Blobs) Blobs { return failingBlobs{b, "ubuntu.json", "read"} },
			want: "the store is down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCatalogEnv(t)
			e.uploadFile("ubuntu.json", ubuntuSeed)
			if tt.docs != nil {
				e.s.Docs = tt.docs(e.docs)
			}
			if tt.blobs != nil {
				e.s.Blobs = tt.blobs(e.blobs)
			}
			_, err := e.event(goldenpipe.BlobCreated, "ubuntu.json")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, errStore) && goldenpipe.ErrorCode(err) != goldenpipe.EUNAVAILABLE {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if keys := e.keys(recordPrefix); len(keys) != 0 && tt.name != "pending index write" {
				t.Errorf("records written: %v", keys)
			}
		})
	}
	// a checksum look-up that fails (not: the script does not exist)
	e := newCatalogEnv(t)
	e.uploadFile("ubuntu.json", ubuntuSeed)
	e.scripts.err = goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "catalog down")
	if _, err := e.event(goldenpipe.BlobCreated, "ubuntu.json"); err == nil || !strings.Contains(err.Error(), `reading the checksum of "linux/hardening.sh"`) {
		t.Errorf("checksum failure: %v", err)
	}
	// a version look-up that fails
	e = newCatalogEnv(t)
	e.uploadFile("ubuntu.json", ubuntuSeed)
	e.s.Versions = failingVersions{}
	if _, err := e.event(goldenpipe.BlobCreated, "ubuntu.json"); err == nil || !strings.Contains(err.Error(), "listing versions of Canonical:UbuntuServer:18.04-LTS") {
		t.Errorf("versions failure: %v", err)
	}
}

type failingVersions struct{}

func (failingVersions) ListVersions(context.Context, string, string, string, string) ([]string, error) {
	return nil, errStore
}

// listOnly is a templates container that lists names only (no versions):
// a refresh reads each blob's properties.
type listOnly struct{ Blobs }

// TestRefresh: the nightly refresh renders every template again, finds
// the records whose blob is gone, writes only what changed, and hands
// back every record; a quiet night writes nothing.
func TestRefresh(t *testing.T) {
	for _, listing := range []string{"versions", "names"} {
		t.Run(listing, func(t *testing.T) {
			e := newCatalogEnv(t)
			e.uploadFile("ubuntu.json", ubuntuSeed)
			e.upload("jammy.json", []byte(linuxBase))
			e.upload("gone.json", []byte(linuxBase))
			e.upload("notes.txt", []byte("not a template"))
			for _, b := range []string{"ubuntu.json", "jammy.json", "gone.json"} {
				e.mustEvent(goldenpipe.BlobCreated, b)
			}
			if err := e.blobs.Delete(context.Background(), "gone.json"); err != nil {
				t.Fatal(err)
			}
			if listing == "names" {
				e.s.Blobs = listOnly{e.blobs}
			}
			heard := len(e.planned.heard())
			counted := &countingDocs{Documents: e.docs, prefix: recordPrefix}
			e.s.Docs = counted
			recs, err := e.s.Refresh(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range recs {
				names = append(names, r.Name)
			}
			if !slices.Equal(names, []string{"jammy", "ubuntu"}) || counted.writes.Load() != 0 {
				t.Errorf("refresh: %v, %d writes", names, counted.writes.Load())
			}
			if keys := e.keys(recordPrefix); len(keys) != 2 || len(e.keys(historyPrefix)) != 1 {
				t.Errorf("records %v, history %v", keys, e.keys(historyPrefix))
			}
			// a new platform image version: planned and written, and not
			// requested by the refresh (its caller reads the plans)
			e.s.Versions.(*fakeVersions).versions["Canonical/UbuntuServer/18.04-LTS"] = []string{"18.04.202501010"}
			counted.writes.Store(0)
			recs, err = e.s.Refresh(context.Background())
			if err != nil || len(recs) != 2 || counted.writes.Load() != 1 || recs[1].Rendered.SourceVersion != "18.04.202501010" || recs[1].Pending != nil {
				t.Errorf("new version: %d records, %d writes, %v", len(recs), counted.writes.Load(), err)
			}
			if len(e.planned.heard()) != heard {
				t.Errorf("the refresh requested builds: %v", e.planned.heard())
			}
		})
	}
}

// TestRefreshErrors: a refresh that cannot list fails with what it
// listed; one template's failure is reported, the others are done.
func TestRefreshErrors(t *testing.T) {
	for _, prefix := range []string{filePrefix, linksPrefix, recordPrefix} {
		t.Run(prefix, func(t *testing.T) {
			e := newCatalogEnv(t)
			e.upload("jammy.json", []byte(linuxBase))
			e.s.Docs = failingDocs{e.docs, prefix, "keys"}
			if _, err := e.s.Refresh(context.Background()); !errors.Is(err, errStore) && goldenpipe.ErrorCode(err) != goldenpipe.EUNAVAILABLE {
				t.Errorf("err = %v", err)
			}
		})
	}
	e := newCatalogEnv(t)
	e.s.Blobs = listOnly{failingList{e.blobs}}
	if _, err := e.s.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "listing the templates container") {
		t.Errorf("list: %v", err)
	}
	e.s.Blobs = failingList{e.blobs}
	if _, err := e.s.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "listing the templates container") {
		t.Errorf("versions: %v", err)
	}
	e = newCatalogEnv(t)
	e.upload("jammy.json", []byte(linuxBase))
	e.upload("ubuntu.json", []byte(linuxBase))
	e.s.Docs = failingDocs{e.docs, recordKey("jammy"), "put"}
	if _, err := e.s.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), `writing the record of template "jammy"`) {
		t.Errorf("one template: %v", err)
	}
	if _, err := e.s.Get(context.Background(), "ubuntu"); err != nil {
		t.Errorf("the other template: %v", err)
	}
}

type failingList struct{ *inmem.Blobs }

func (failingList) List(context.Context) ([]string, error) { return nil, errStore }
func (failingList) Versions(context.Context) (map[string]goldenpipe.BlobVersion, error) {
	return nil, errStore
}

// TestMemoChecksums: a refresh asks each script once, however many
// templates use it.
func TestMemoChecksums(t *testing.T) {
	e := newCatalogEnv(t)
	for _, n := range []string{"a", "b", "c"} {
		e.uploadFile(n+".json", ubuntuSeed)
	}
	before := e.scripts.asks
	if _, err := e.s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if asks := e.scripts.asks - before; asks != 2 {
		t.Errorf("%d checksum look-ups for 3 templates of 2 scripts, want 2", asks)
	}
	m := &memoChecksums{src: e.scripts}
	if _, err := m.Checksum(context.Background(), "none"); goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		t.Errorf("missing script: %v", err)
	}
	if _, err := m.Checksum(context.Background(), "none"); goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		t.Errorf("missing script, remembered: %v", err)
	}
}
