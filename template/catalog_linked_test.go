package template

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goldenpipe/goldenpipe"
)

// linkedEnv is a catalog holding Microsoft Learn's relative-path shape:
// main.json (with its parameters file) links linked/aib-image.json.
func linkedEnv(t *testing.T) *catalogEnv {
	t.Helper()
	e := newCatalogEnv(t)
	e.s.Listeners = nil
	shapes := filepath.Join("testdata", "shapes")
	e.uploadFile("main.json", filepath.Join(shapes, "linked-image-template.json"))
	e.uploadFile("main.parameters.json", filepath.Join(shapes, "linked-image-template.parameters.json"))
	e.uploadFile("linked/aib-image.json", filepath.Join(shapes, "linked", "aib-image.json"))
	return e
}

func (e *catalogEnv) linkers(blob string) []string {
	e.t.Helper()
	var idx linkIndex
	_, err := e.docs.Get(context.Background(), linksKey(blob), &idx)
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return idx.By
}

// TestCatalogLinked: the linking template is rendered with the linked
// one and records it; the reverse index names the linker and the linked
// file's record says it is linked; a change of the linked file renders
// the linker again; the linker deleted, the linked file is a template
// file of its own again.
func TestCatalogLinked(t *testing.T) {
	e := linkedEnv(t)
	ctx := context.Background()
	e.mustEvent(goldenpipe.BlobCreated, "main.json")
	main := e.get("main")
	ver, _ := e.blobs.Properties(ctx, "linked/aib-image.json")
	if !main.Valid || !slices.Equal(main.Linked, []LinkedBlob{{Blob: "linked/aib-image.json", ETag: ver.ETag}}) || main.ParametersBlob != "main.parameters.json" {
		t.Fatalf("main: valid %v %v linked %+v", main.Valid, main.Problems, main.Linked)
	}
	if by := e.linkers("linked/aib-image.json"); !slices.Equal(by, []string{"main.json"}) {
		t.Errorf("linked by %v", by)
	}
	if rec := e.get("linked/aib-image"); rec.Kind != KindLinked || !slices.Equal(rec.LinkedBy, []string{"main.json"}) {
		t.Errorf("linked file: kind %q by %v", rec.Kind, rec.LinkedBy)
	}
	// the linked file changes: the linker is rendered again with it
	e.upload("linked/aib-image.json", []byte(strings.Replace(mustRead(t, filepath.Join("testdata", "shapes", "linked", "aib-image.json")), "echo hello", "echo again", 1)))
	e.mustEvent(goldenpipe.BlobCreated, "linked/aib-image.json")
	ver, _ = e.blobs.Properties(ctx, "linked/aib-image.json")
	if main := e.get("main"); main.Linked[0].ETag != ver.ETag || !strings.Contains(string(main.Rendered.JSON), "echo again") {
		t.Errorf("main after the linked change: %+v", main.Linked)
	}
	// a refresh with nothing changed writes nothing and keeps both
	counted := &countingDocs{Documents: e.docs, prefix: recordPrefix}
	e.s.Docs = counted
	recs, err := e.s.Refresh(ctx)
	if err != nil || len(recs) != 2 || counted.writes.Load() != 0 {
		t.Errorf("refresh: %d records, %d writes, %v", len(recs), counted.writes.Load(), err)
	}
	e.s.Docs = e.docs
	// the linker deleted: the linked file is reconciled as a file of its own
	for _, b := range []string{"main.json", "main.parameters.json"} {
		if err := e.blobs.Delete(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	e.mustEvent(goldenpipe.BlobDeleted, "main.json")
	if by := e.linkers("linked/aib-image.json"); len(by) != 0 {
		t.Errorf("still linked by %v", by)
	}
	if rec := e.get("linked/aib-image"); rec.Kind == KindLinked || rec.Valid {
		t.Errorf("linked file after its linker went: kind %q valid %v", rec.Kind, rec.Valid)
	}
}

// TestCatalogLinkedMissing: a linked file that does not exist is a
// problem of the linker, recorded with no version; its upload renders
// the linker again, valid.
func TestCatalogLinkedMissing(t *testing.T) {
	e := linkedEnv(t)
	ctx := context.Background()
	if err := e.blobs.Delete(ctx, "linked/aib-image.json"); err != nil {
		t.Fatal(err)
	}
	e.mustEvent(goldenpipe.BlobCreated, "main.json")
	main := e.get("main")
	if main.Valid || !slices.Equal(main.Linked, []LinkedBlob{{Blob: "linked/aib-image.json"}}) ||
		!strings.Contains(problemText(main.Problems), `no blob "linked/aib-image.json" in the templates container`) {
		t.Fatalf("main: %v %+v", main.Problems, main.Linked)
	}
	if out := e.mustEvent(goldenpipe.BlobCreated, "main.json"); !strings.Contains(out, "already processed") {
		t.Errorf("again: %q", out)
	}
	e.uploadFile("linked/aib-image.json", filepath.Join("testdata", "shapes", "linked", "aib-image.json"))
	e.mustEvent(goldenpipe.BlobCreated, "linked/aib-image.json")
	if main := e.get("main"); !main.Valid {
		t.Errorf("main once its linked file exists: %v", main.Problems)
	}
}

// TestCatalogLinkedStorageErrors: a linked blob that cannot be read, or a
// reverse index that cannot be written, fails the event with what was
// being done.
func TestCatalogLinkedStorageErrors(t *testing.T) {
	tests := []struct {
		name string
		set  func(e *catalogEnv)
		want string
	}{
		{"linked properties", func(e *catalogEnv) { e.s.Blobs = failingBlobs{e.blobs, "linked/", "properties"} }, `reading the templates "main.json" links`},
		{"linked read", func(e *catalogEnv) { e.s.Blobs = failingBlobs{e.blobs, "linked/", "read"} }, `reading the templates "main.json" links`},
		{"reverse index write", func(e *catalogEnv) { e.s.Docs = failingDocs{e.docs, linksPrefix, "put"} }, "the store is down"},
		{"reverse index read", func(e *catalogEnv) { e.s.Docs = failingDocs{e.docs, linksPrefix, "get"} }, `reading which templates link "main.json"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := linkedEnv(t)
			tt.set(e)
			if _, err := e.event(goldenpipe.BlobCreated, "main.json"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// the linked file changes while it is read: observed again
	e := linkedEnv(t)
	e.s.Blobs = &changingBlobs{Blobs: e.blobs, blob: "linked/aib-image.json",
		content: []byte(strings.Replace(mustRead(t, filepath.Join("testdata", "shapes", "linked", "aib-image.json")), "echo hello", "echo changed", 1))}
	e.mustEvent(goldenpipe.BlobCreated, "main.json")
	if main := e.get("main"); !strings.Contains(string(main.Rendered.JSON), "echo changed") {
		t.Errorf("main rendered with the old linked file")
	}
	// a linker that the refresh reconciles while the reverse index races
	e = linkedEnv(t)
	e.mustEvent(goldenpipe.BlobCreated, "main.json")
	racing := &racingDocs{Documents: e.docs, prefix: linksPrefix, times: 1}
	e.s.Docs = racing
	if err := e.blobs.Delete(context.Background(), "main.json"); err != nil {
		t.Fatal(err)
	}
	e.mustEvent(goldenpipe.BlobDeleted, "main.json")
	if by := e.linkers("linked/aib-image.json"); len(by) != 0 || racing.raced != 1 {
		t.Errorf("linked by %v after a lost race (raced %d)", by, racing.raced)
	}
}

// TestEditLinksKeepsRacing: a reverse index that changes at every try is
// ECONFLICT.
func TestEditLinksKeepsRacing(t *testing.T) {
	e := linkedEnv(t)
	e.mustEvent(goldenpipe.BlobCreated, "main.json")
	e.s.Docs = &racingDocs{Documents: e.docs, prefix: linksPrefix, times: 100}
	err := e.s.editLinks(context.Background(), e.s.eventRun(nil, false), "linked/aib-image.json", func(idx *linkIndex) { idx.By = append(idx.By, "other.json") })
	if goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		t.Errorf("err = %v", err)
	}
}

func mustRead(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
