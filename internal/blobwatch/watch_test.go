package blobwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/host"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/internal/azurite/azuritetest"
)

var (
	az  *azurite.Server
	seq atomic.Int64
)

func TestMain(m *testing.M) { os.Exit(azuritetest.Run(m, &az)) }

// got is what the function received: the event as the app's own decoder
// reads it (the same path as the host's payload).
type got struct {
	typ, subject, etag, url, sequencer string
	length                             int64
}

// TestWatcherDeliversWhatAzureWould: blobs written with the plain SDK
// (any tool) become Event Grid events; nothing changed, nothing sent; an
// overwrite is one BlobCreated with the new ETag; a delete one BlobDeleted;
// a failed delivery is delivered again.
func TestWatcherDeliversWhatAzureWould(t *testing.T) {
	ctx := context.Background()
	client, err := azblob.NewClientFromConnectionString(az.ConnectionString(azurite.Account{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("watch%d-%d", os.Getpid(), seq.Add(1))
	if _, err := client.CreateContainer(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	var events []got
	fail := false
	w := &Watcher{Container: client.ServiceClient().NewContainerClient(name),
		Topic: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/devstoreaccount1",
		Deliver: func(_ context.Context, raw json.RawMessage) error {
			if fail {
				return errors.New("the function answered 500")
			}
			ev, err := host.DecodeEventGrid(raw)
			if err != nil {
				t.Fatalf("the app cannot decode %s: %v", raw, err)
			}
			d, err := host.DecodeStorageBlobEventData(ev.Data)
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, got{ev.EventType, ev.Subject, d.ETag, d.URL, d.Sequencer, int64(d.ContentLength)})
			return nil
		}}
	poll := func(want int) []got {
		t.Helper()
		events = nil
		n, err := w.Poll(ctx)
		if (err != nil) != fail || n != want || len(events) != want {
			t.Fatalf("Poll: %d delivered, %v; events %+v; want %d", n, err, events, want)
		}
		return events
	}
	upload := func(blob, body string) string {
		t.Helper()
		resp, err := client.UploadBuffer(ctx, name, blob, []byte(body), nil)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Trim(string(*resp.ETag), `"`) // Event Grid's eTag has no quotes
	}

	// a blob already there when the watch starts is delivered (at least once)
	e1 := upload("avd/install-apps.ps1", "Write-Host apps\n")
	first := poll(1)[0]
	if first.typ != goldenpipe.BlobCreated || first.subject != "/blobServices/default/containers/"+name+"/blobs/avd/install-apps.ps1" ||
		first.etag != e1 || first.length != 16 || !strings.HasSuffix(first.url, "/devstoreaccount1/"+name+"/avd/install-apps.ps1") {
		t.Errorf("created = %+v (etag %s)", first, e1)
	}
	poll(0)

	e2 := upload("avd/install-apps.ps1", "Write-Host apps v2\n")
	upload("win11.json", "{}")
	ev := poll(2)
	if ev[0].etag != e2 || ev[0].sequencer <= first.sequencer {
		t.Errorf("overwrite = %+v", ev[0])
	}

	if _, err := client.DeleteBlob(ctx, name, "win11.json", nil); err != nil {
		t.Fatal(err)
	}
	fail = true
	poll(0)
	fail = false
	if ev := poll(1)[0]; ev.typ != goldenpipe.BlobDeleted || !strings.HasSuffix(ev.subject, "/blobs/win11.json") || ev.etag != "" {
		t.Errorf("deleted = %+v", ev)
	}
	poll(0)
}
