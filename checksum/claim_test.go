package checksum_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/checksum"
)

// second is another process on the same storage: its own service, blob
// reads counted apart, the same catalog.
func (e *env) second(docs goldenpipe.Documents) (*checksum.Service, *countingBlobs, *listener) {
	b := &countingBlobs{Blobs: azure.NewBlobs(e.svc, e.scripts)}
	l := &listener{}
	cat := e.catalog
	if docs != nil {
		cat = checksum.NewCatalog(docs)
	}
	return &checksum.Service{Blobs: b, Catalog: cat, Hasher: checksum.Hasher{ChunkSize: testChunk}, Container: e.scripts,
		Listeners: []checksum.ChangeListener{l}}, b, l
}

// 50 duplicate events of one script version over two processes make one
// download: the second process, finding the version claimed, does not
// download; its events fail as conflicts, and delivered again they find
// the checksum in the catalog.
func TestDuplicateEventsOverTwoProcessesMakeOneDownload(t *testing.T) {
	e := newEnv(t, checksum.Hasher{ChunkSize: testChunk})
	data := random(6 * testChunk)
	e.upload("hot.ps1", data)
	b, blobsB, listenerB := e.second(nil)

	// process A's download is held until process B's events are done
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e.blobs.beforeRead = func(n int64) error {
		once.Do(func() { close(entered) })
		select {
		case <-release:
			return nil
		case <-time.After(30 * time.Second):
			return errors.New("held too long")
		}
	}
	ev := e.event(goldenpipe.BlobCreated, "hot.ps1")
	var wgA sync.WaitGroup
	errsA := make(chan error, 25)
	for i := 0; i < 25; i++ {
		wgA.Add(1)
		go func() {
			defer wgA.Done()
			if _, err := e.service.HandleBlobEvent(context.Background(), ev); err != nil {
				errsA <- err
			}
		}()
	}
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("process A never downloaded")
	}
	var wgB sync.WaitGroup
	var mu sync.Mutex
	var redeliver int
	for i := 0; i < 25; i++ {
		wgB.Add(1)
		go func() {
			defer wgB.Done()
			_, err := b.HandleBlobEvent(context.Background(), ev)
			switch {
			case goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT && strings.Contains(err.Error(), "being hashed by another instance"):
				mu.Lock()
				redeliver++
				mu.Unlock()
			case err != nil:
				t.Errorf("process B: %v", err)
			}
		}()
	}
	wgB.Wait()
	close(release)
	wgA.Wait()
	close(errsA)
	for err := range errsA {
		t.Errorf("process A: %v", err)
	}
	// Event Grid delivers B's failed events again
	for i := 0; i < redeliver; i++ {
		out, err := b.HandleBlobEvent(context.Background(), ev)
		if err != nil || !strings.Contains(out, "no download") {
			t.Errorf("redelivered to B: %q %v", out, err)
		}
	}
	e.wantSum("hot.ps1", data)
	if downloads := (e.blobs.reads.Load() + blobsB.reads.Load()) / 6; downloads != 1 || blobsB.reads.Load() != 0 {
		t.Errorf("%d downloads (A read %d chunks, B %d), want 1", downloads, e.blobs.reads.Load(), blobsB.reads.Load())
	}
	if redeliver != 25 {
		t.Errorf("%d of B's events were turned back, want 25 (A held the claim throughout)", redeliver)
	}
	if n := len(e.listener.changes) + len(listenerB.changes); n != 1 {
		t.Errorf("%d changes heard, want 1", n)
	}
}

// claimsOutliveTheProcess is the state store of a process killed while
// hashing: its claim is never released.
type claimsOutliveTheProcess struct{ goldenpipe.Documents }

func (c claimsOutliveTheProcess) Delete(ctx context.Context, key, ifMatch string) error {
	if strings.HasPrefix(key, "checksum-claims/") {
		return errors.New("the process was killed")
	}
	return c.Documents.Delete(ctx, key, ifMatch)
}

// A claimant that dies leaves its claim; the event delivered again finds
// it fresh (a conflict, delivered again later) and, once its lease ran
// out, takes it over and hashes.
func TestAClaimOfADeadProcessRunsOut(t *testing.T) {
	e := newEnv(t, checksum.Hasher{ChunkSize: testChunk})
	data := random(2 * testChunk)
	e.upload("s.ps1", data)
	docs := azure.NewDocStore(e.svc, "state"+strings.TrimPrefix(e.scripts, "scripts"))
	dead, deadBlobs, _ := e.second(claimsOutliveTheProcess{docs})
	deadBlobs.beforeRead = func(int64) error { return errors.New("the process was killed") }
	dead.Hasher.Backoff = 1
	ev := e.event(goldenpipe.BlobCreated, "s.ps1")
	if _, err := dead.HandleBlobEvent(context.Background(), ev); err == nil {
		t.Fatal("the dying process hashed")
	}

	now := time.Now()
	e.service.Now = func() time.Time { return now }
	if _, err := e.service.HandleBlobEvent(context.Background(), ev); goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		t.Fatalf("within the lease: %v, want a conflict", err)
	}
	if e.blobs.reads.Load() != 0 {
		t.Errorf("downloaded within the lease")
	}
	e.service.Now = func() time.Time { return now.Add(checksum.ClaimLease + time.Minute) }
	if out := e.handle(ev); !strings.Contains(out, "hashed version") {
		t.Errorf("after the lease: %q", out)
	}
	e.wantSum("s.ps1", data)
}
