package app

import (
	"context"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
)

// TestUpgradeFromBlobListsFinishesBuildsInFlight: a build requested under
// the layout before the tables (its in-flight marker and list entries as
// blobs of the state container) is moved by the monitor's first tick and
// followed to its end; the old blobs are gone, the lists show it, and a
// second pass of the migration moves nothing.
func TestUpgradeFromBlobListsFinishesBuildsInFlight(t *testing.T) {
	h := newHarnessTuned(t, "upgrade", fastSimulator(), nil, noBuildOnUpload)
	store, ok := h.ports.buildDocs.Documents.(*azure.Store)
	if !ok {
		t.Fatalf("the app's state is %T, not the table-backed store", buildsDocs(h.a))
	}
	h.avdTemplate("avd", []byte("Write-Host upgrade\r\n"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
	h.invoke("BuildRequested", serviceBusBody(`{"template":"avd"}`, "m-upgrade"))
	ctx := context.Background()
	// the old layout: what the request wrote to the lists, as blobs
	moved := 0
	for _, prefix := range []string{azure.BuildKeyActive, azure.BuildKeyByTime, azure.BuildKeyByTemplate + "avd/"} {
		keys, err := store.Keys(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			var doc map[string]any
			if _, err := store.Get(ctx, k, &doc); err != nil {
				t.Fatal(err)
			}
			if _, err := store.Blobs().Overwrite(ctx, k, doc); err != nil {
				t.Fatal(err)
			}
			if err := store.Delete(ctx, k, ""); err != nil {
				t.Fatal(err)
			}
			moved++
		}
	}
	if moved != 3 {
		t.Fatalf("the request wrote %d list documents, want 3 (marker, two entries)", moved)
	}
	list := h.monitorUntilDone("avd")
	if len(list) != 1 || list[0].State != builds.StateSucceeded {
		t.Fatalf("after the upgrade: %+v", list)
	}
	for _, prefix := range []string{azure.BuildKeyActive, azure.BuildKeyByTime, azure.BuildKeyByTemplate + "avd/"} {
		if left, err := store.Blobs().Keys(ctx, prefix); err != nil || len(left) != 0 {
			t.Errorf("blobs left under %s: %v %v", prefix, left, err)
		}
	}
	// done once: the list documents and a dirty mark for each template and
	// checksum record (their summaries come with their next read)
	done, n, err := store.Migrate(ctx, time.Now().Add(time.Minute))
	if err != nil || !done || n < moved {
		t.Fatalf("the migration: done %v, moved %d in all (want at least %d), %v", done, n, moved, err)
	}
	if done, again, err := store.Migrate(ctx, time.Now().Add(time.Minute)); err != nil || !done || again != n {
		t.Errorf("the migration again: done %v, moved %d in all, was %d (%v)", done, again, n, err)
	}
}
