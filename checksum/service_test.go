package checksum_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/checksum"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/internal/azurite/azuritetest"
)

var az *azurite.Server

func TestMain(m *testing.M) { os.Exit(azuritetest.Run(m, &az)) }

// countingBlobs is the real scripts container with counters and an optional
// hook before each ranged read (fault injection).
type countingBlobs struct {
	*azure.Blobs
	reads      atomic.Int64
	beforeRead func(n int64) error
	wrapBody   func(n int64, body io.ReadCloser) io.ReadCloser
}

func (c *countingBlobs) OpenRange(ctx context.Context, name, etag string, off, count int64) (io.ReadCloser, error) {
	n := c.reads.Add(1)
	if c.beforeRead != nil {
		if err := c.beforeRead(n); err != nil {
			return nil, err
		}
	}
	body, err := c.Blobs.OpenRange(ctx, name, etag, off, count)
	if err == nil && c.wrapBody != nil {
		body = c.wrapBody(n, body)
	}
	return body, err
}

// failingBody fails with a transport error after limit bytes.
type failingBody struct {
	io.ReadCloser
	left int
}

func (f *failingBody) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errors.New("connection reset by peer")
	}
	if len(p) > f.left {
		p = p[:f.left]
	}
	n, err := f.ReadCloser.Read(p)
	f.left -= n
	return n, err
}

type listener struct {
	mu      sync.Mutex
	changes []checksum.Change
}

func (l *listener) ScriptChanged(_ context.Context, c checksum.Change) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, c)
	return nil
}

type env struct {
	t        *testing.T
	svc      *service.Client
	scripts  string
	state    string // the catalog's container
	blobs    *countingBlobs
	catalog  *checksum.Catalog
	service  *checksum.Service
	listener *listener
}

var containerSeq atomic.Int64

func newEnv(t *testing.T, h checksum.Hasher) *env {
	t.Helper()
	svc, err := azure.NewBlobService(config.StorageConnection{Name: "test", ConnectionString: az.ConnectionString(azurite.Account{})})
	if err != nil {
		t.Fatal(err)
	}
	n := containerSeq.Add(1)
	scripts, state := fmt.Sprintf("scripts%d", n), fmt.Sprintf("state%d", n)
	for _, c := range []string{scripts, state} {
		if err := azure.EnsureContainer(context.Background(), svc, c); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, svc: svc, scripts: scripts, state: state, listener: &listener{}}
	e.blobs = &countingBlobs{Blobs: azure.NewBlobs(svc, scripts)}
	e.catalog = checksum.NewCatalog(azure.NewDocStore(svc, state))
	e.service = &checksum.Service{Blobs: e.blobs, Catalog: e.catalog, Hasher: h, Container: scripts, Listeners: []checksum.ChangeListener{e.listener}}
	return e
}

func (e *env) upload(name string, b []byte) {
	e.t.Helper()
	if _, err := e.svc.NewContainerClient(e.scripts).NewBlockBlobClient(name).UploadBuffer(context.Background(), b, nil); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) remove(name string) {
	e.t.Helper()
	if _, err := e.svc.NewContainerClient(e.scripts).NewBlobClient(name).Delete(context.Background(), nil); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) event(typ, name string) goldenpipe.BlobEvent {
	return goldenpipe.BlobEvent{ID: "ev-" + name, Type: typ,
		Subject: "/blobServices/default/containers/" + e.scripts + "/blobs/" + name, URL: e.blobs.URL(name)}
}

func (e *env) handle(ev goldenpipe.BlobEvent) string {
	e.t.Helper()
	out, err := e.service.HandleBlobEvent(context.Background(), ev)
	if err != nil {
		e.t.Fatalf("HandleBlobEvent(%s): %v", ev.Subject, err)
	}
	return out
}

// wantSum asserts the catalog holds the sha256 of b (computed here with
// crypto/sha256) for the current version of the blob.
func (e *env) wantSum(name string, b []byte) goldenpipe.Checksum {
	e.t.Helper()
	rec, err := e.catalog.Get(context.Background(), name)
	if err != nil {
		e.t.Fatalf("catalog.Get(%q): %v", name, err)
	}
	sum := sha256.Sum256(b)
	if rec.SHA256 != hex.EncodeToString(sum[:]) || rec.Size != int64(len(b)) {
		e.t.Fatalf("%q: catalog has %s (%d bytes), want %x (%d bytes)", name, rec.SHA256, rec.Size, sum, len(b))
	}
	props, err := e.blobs.Properties(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	if rec.ETag != props.ETag || !rec.LastModified.Equal(props.LastModified) || rec.ComputedAt.IsZero() {
		e.t.Fatalf("%q: record bound to %s/%v, blob is %s/%v", name, rec.ETag, rec.LastModified, props.ETag, props.LastModified)
	}
	if rec.Name != name || strings.Contains(rec.URL, "?") || rec.URL != e.blobs.URL(name) || !strings.Contains(rec.URL, "/"+e.scripts+"/") {
		e.t.Fatalf("%q: record name/url = %q %q", name, rec.Name, rec.URL)
	}
	return rec
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

const testChunk = 64 << 10

func TestChecksumOfContents(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty.ps1", nil},
		{"one-byte.sh", []byte{'x'}},
		{"all-256-byte-values.bin", all},
		{"chunk-minus-1.bin", random(testChunk - 1)},
		{"chunk.bin", random(testChunk)},
		{"chunk-plus-1.bin", random(testChunk + 1)},
		{"two-chunks-minus-1.bin", random(2*testChunk - 1)},
		{"two-chunks.bin", random(2 * testChunk)},
		{"two-chunks-plus-1.bin", random(2*testChunk + 1)},
		{"many-chunks.bin", random(10*testChunk + 7)},
		{"Install Teams.ps1", []byte("Write-Host 'teams'\r\n")},
		{"avd/언어 팩/ünïcödé 설치.ps1", []byte("# unicode\n")},
		{"avd/apps/deep/folder/install.ps1", []byte("echo deep\n")},
		{"name with %20 and + and #.sh", []byte("echo odd\n")},
	}
	e := newEnv(t, checksum.Hasher{ChunkSize: testChunk, Parallel: 3})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			e.upload(tt.name, tt.data)
			e.handle(e.event(goldenpipe.BlobCreated, tt.name))
			e.wantSum(tt.name, tt.data)
		})
	}
	t.Run("list has every script", func(t *testing.T) {
		list, err := e.catalog.List(context.Background())
		if err != nil || len(list) != len(tests) {
			t.Fatalf("List: %d records, %v; want %d", len(list), err, len(tests))
		}
	})
}

func TestChecksumOf100MiB(t *testing.T) {
	e := newEnv(t, checksum.Hasher{})
	data := random(100 << 20)
	e.upload("installers/office.zip", data)
	e.handle(e.event(goldenpipe.BlobCreated, "installers/office.zip"))
	e.wantSum("installers/office.zip", data)
	if got, want := e.blobs.reads.Load(), int64(4); got != want {
		t.Errorf("%d ranged reads of 32 MiB, want %d", got, want)
	}
}

func TestBlobDeletedBeforeEventIsProcessed(t *testing.T) {
	e := newEnv(t, checksum.Hasher{ChunkSize: testChunk})
	e.upload("gone.ps1", []byte("soon gone"))
	e.remove("gone.ps1")
	out := e.handle(e.event(goldenpipe.BlobCreated, "gone.ps1"))
	if !strings.Contains(out, "does not exist") || e.blobs.reads.Load() != 0 {
		t.Errorf("outcome %q after %d reads", out, e.blobs.reads.Load())
	}
	if _, err := e.catalog.Get(context.Background(), "gone.ps1"); goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		t.Errorf("catalog entry for a deleted blob: %v", err)
	}
}

func TestBlobDeletedRemovesEntryKeepsHistory(t *testing.T) {
	e := newEnv(t, checksum.Hasher{ChunkSize: testChunk})
	data := []byte("Set-ItemProperty ...")
	e.upload("cfg.ps1", data)
	e.handle(e.event(goldenpipe.BlobCreated, "cfg.ps1"))
	rec := e.wantSum("cfg.ps1", data)
	e.remove("cfg.ps1")
	out := e.handle(e.event(goldenpipe.BlobDeleted, "cfg.ps1"))
	if !strings.Contains(out, "checksum removed") {
		t.Errorf("outcome %q", out)
	}
	if _, err := e.catalog.Get(context.Background(), "cfg.ps1"); goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		t.Fatalf("entry still there: %v", err)
	}
	hist, err := e.catalog.History(context.Background(), "cfg.ps1")
	if err != nil || len(hist) != 1 || hist[0].SHA256 != rec.SHA256 || hist[0].Reason != "deleted" {
		t.Fatalf("history = %+v, %v", hist, err)
	}
	// a re-delivered BlobDeleted changes nothing
	if out := e.handle(e.event(goldenpipe.BlobDeleted, "cfg.ps1")); !strings.Contains(out, "nothing to do") {
		t.Errorf("redelivered delete: %q", out)
	}
	if n := len(e.listener.changes); n != 2 || e.listener.changes[1].New != nil {
		t.Errorf("listener heard %d changes, want created then deleted: %+v", n, e.listener.changes)
	}
}

func TestBlobOverwrittenWhileHashed(t *testing.T) {
	e := newEnv(t, checksum.Hasher{ChunkSize: testChunk, Parallel: 2})
	v1, v2 := random(8*testChunk), random(5*testChunk+3)
	e.upload("race.bin", v1)
	var once sync.Once
	e.blobs.beforeRead = func(n int64) error {
		if n == 3 { // mid-hash: someone uploads a new version
			once.Do(func() { e.upload("race.bin", v2) })
		}
		return nil
	}
	e.handle(e.event(goldenpipe.BlobCreated, "race.bin"))
	e.wantSum("race.bin", v2)
}

func TestDuplicateAndOutOfOrderEvents(t *testing.T) {
	e := newEnv(t, checksum.Hasher{ChunkSize: testChunk})
	v1, v2 := []byte("version one"), []byte("version two, longer")
	e.upload("s.ps1", v1)
	old := e.event(goldenpipe.BlobCreated, "s.ps1")
	old.ETag, old.Sequencer = "0xOLD", "0001"
	e.upload("s.ps1", v2)
	newer := e.event(goldenpipe.BlobCreated, "s.ps1")
	newer.Sequencer = "0002"

	e.handle(newer)
	e.wantSum("s.ps1", v2)
	reads := e.blobs.reads.Load()
	for _, ev := range []goldenpipe.BlobEvent{old, newer, newer} { // late older event, duplicates
		if out := e.handle(ev); !strings.Contains(out, "no download") {
			t.Errorf("outcome %q, want no download", out)
		}
	}
	if e.blobs.reads.Load() != reads {
		t.Errorf("duplicates caused %d downloads", e.blobs.reads.Load()-reads)
	}
	e.wantSum("s.ps1", v2)
	if n := len(e.listener.changes); n != 1 {
		t.Errorf("listener heard %d changes, want 1", n)
	}
}

func TestConcurrentEventsForOneBlob(t *testing.T) {
	e := newEnv(t, checksum.Hasher{ChunkSize: testChunk})
	data := random(6 * testChunk)
	e.upload("hot.ps1", data)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.service.HandleBlobEvent(context.Background(), e.event(goldenpipe.BlobCreated, "hot.ps1")); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.wantSum("hot.ps1", data)
	if passes := e.blobs.reads.Load() / 6; passes >= 20 {
		t.Errorf("%d full downloads for 20 concurrent events", passes)
	}
	hist, _ := e.catalog.History(context.Background(), "hot.ps1")
	if len(hist) != 0 || len(e.listener.changes) != 1 {
		t.Errorf("history %d entries, %d changes heard; want 0 and 1", len(hist), len(e.listener.changes))
	}
}

func TestTransientReadErrors(t *testing.T) {
	e := newEnv(t, checksum.Hasher{ChunkSize: testChunk, Backoff: 1})
	data := random(3 * testChunk)
	e.upload("flaky.bin", data)
	e.blobs.beforeRead = func(n int64) error {
		if n <= 2 {
			return goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "injected 503")
		}
		return nil
	}
	e.handle(e.event(goldenpipe.BlobCreated, "flaky.bin"))
	e.wantSum("flaky.bin", data)

	// a body that breaks mid-way is resumed from the exact byte reached
	e.upload("broken.bin", data)
	e.blobs.beforeRead = nil
	before := e.blobs.reads.Load()
	e.blobs.wrapBody = func(n int64, body io.ReadCloser) io.ReadCloser {
		if n == before+2 {
			return &failingBody{ReadCloser: body, left: 1000}
		}
		return body
	}
	e.handle(e.event(goldenpipe.BlobCreated, "broken.bin"))
	e.wantSum("broken.bin", data)
	if got := e.blobs.reads.Load() - before; got != 4 {
		t.Errorf("%d opens for 3 chunks with one broken body, want 4", got)
	}
	e.blobs.wrapBody = nil

	e.upload("down.bin", data)
	e.blobs.beforeRead = func(int64) error { return goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "injected 503") }
	_, err := e.service.HandleBlobEvent(context.Background(), e.event(goldenpipe.BlobCreated, "down.bin"))
	if goldenpipe.ErrorCode(err) != goldenpipe.EUNAVAILABLE {
		t.Fatalf("err = %v, want EUNAVAILABLE (the invocation fails; Event Grid redelivers)", err)
	}
	if _, err := e.catalog.Get(context.Background(), "down.bin"); goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		t.Errorf("a failed hash left a record: %v", err)
	}
}

func TestBadEventsChangeNothing(t *testing.T) {
	e := newEnv(t, checksum.Hasher{ChunkSize: testChunk})
	e.upload("ok.ps1", []byte("fine"))
	e.upload("other/x.ps1", []byte("x"))
	good := e.event(goldenpipe.BlobCreated, "ok.ps1")
	tests := []struct {
		name string
		mut  func(ev *goldenpipe.BlobEvent)
		want string
	}{
		{"subject not a blob", func(ev *goldenpipe.BlobEvent) { ev.Subject = "/providers/Microsoft.Storage/x" }, "is not a blob subject"},
		{"subject without blob", func(ev *goldenpipe.BlobEvent) { ev.Subject = "/blobServices/default/containers/" + e.scripts }, "names no container and blob"},
		{"no url", func(ev *goldenpipe.BlobEvent) { ev.URL = "" }, "is not a URL"},
		{"url of another account", func(ev *goldenpipe.BlobEvent) {
			ev.URL = "https://evil.blob.core.windows.net/" + e.scripts + "/ok.ps1"
		}, "not the scripts account"},
		{"url of another container", func(ev *goldenpipe.BlobEvent) { ev.URL = strings.Replace(ev.URL, "/"+e.scripts+"/", "/templates/", 1) }, "is not in container"},
		{"subject/url mismatch", func(ev *goldenpipe.BlobEvent) { ev.URL = e.blobs.URL("other/x.ps1") }, `subject names blob "ok.ps1" but url names "other/x.ps1"`},
		{"path traversal", func(ev *goldenpipe.BlobEvent) {
			ev.Subject = "/blobServices/default/containers/" + e.scripts + "/blobs/../state1/checksums/x"
		}, `".." path segment`},
		{"dot segment", func(ev *goldenpipe.BlobEvent) {
			ev.Subject = "/blobServices/default/containers/" + e.scripts + "/blobs/a/./b"
		}, `"." path segment`},
		{"empty segment", func(ev *goldenpipe.BlobEvent) {
			ev.Subject = "/blobServices/default/containers/" + e.scripts + "/blobs//etc/passwd"
		}, "empty path segment"},
		{"control character", func(ev *goldenpipe.BlobEvent) {
			ev.Subject = "/blobServices/default/containers/" + e.scripts + "/blobs/a\nb"
		}, "control character"},
		{"backslash", func(ev *goldenpipe.BlobEvent) {
			ev.Subject = "/blobServices/default/containers/" + e.scripts + `/blobs/..\x`
		}, "backslash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := good
			tt.mut(&ev)
			out, err := e.service.HandleBlobEvent(context.Background(), ev)
			if goldenpipe.ErrorCode(err) != goldenpipe.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("= %q, %v; want EINVALID containing %q", out, err, tt.want)
			}
		})
	}
	list, err := e.catalog.List(context.Background())
	if err != nil || len(list) != 0 || e.blobs.reads.Load() != 0 {
		t.Fatalf("bad events changed the catalog (%d records, %v) or read blobs (%d)", len(list), err, e.blobs.reads.Load())
	}
	t.Run("ignored types and containers", func(t *testing.T) {
		ev := good
		ev.Type = "Microsoft.Storage.BlobTierChanged"
		if out := e.handle(ev); !strings.HasPrefix(out, "ignored: event type") {
			t.Errorf("outcome %q", out)
		}
		ev = good
		ev.Subject = "/blobServices/default/containers/templates/blobs/avd.json"
		if out := e.handle(ev); !strings.HasPrefix(out, "ignored: container") {
			t.Errorf("outcome %q", out)
		}
	})
}

func TestSHA256SUMSIsAcceptedBySha256sum(t *testing.T) {
	e := newEnv(t, checksum.Hasher{ChunkSize: testChunk})
	files := map[string][]byte{"a.ps1": []byte("a"), "avd/Install Teams.ps1": random(1000), "avd/ü/설치.sh": []byte("#!/bin/sh\n"), "empty": nil}
	dir := t.TempDir()
	for name, b := range files {
		e.upload(name, b)
		e.handle(e.event(goldenpipe.BlobCreated, name))
		p := filepath.Join(dir, filepath.FromSlash(name))
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var sums bytes.Buffer
	if err := e.catalog.WriteSHA256SUMS(context.Background(), &sums); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), sums.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sha256sum", "--strict", "-c", "SHA256SUMS")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Count(string(out), ": OK") != len(files) {
		t.Fatalf("sha256sum -c: %v\n%s\nSHA256SUMS:\n%s", err, out, sums.String())
	}
	// and it fails when a file differs: the check is real
	_ = os.WriteFile(filepath.Join(dir, "a.ps1"), []byte("b"), 0o644)
	if err := cmd2(dir).Run(); err == nil {
		t.Fatal("sha256sum -c accepted a changed file")
	}
}

func cmd2(dir string) *exec.Cmd {
	c := exec.Command("sha256sum", "--strict", "--quiet", "-c", "SHA256SUMS")
	c.Dir = dir
	return c
}

// TestScriptsAreScannedWhileHashed: the download that hashes a script also
// scans its first MiB for the guide's practices, with the script's line, and
// a script with nothing to say records no findings. A domain join past the
// first MiB is not seen, and Scanned says how much was read.
func TestScriptsAreScannedWhileHashed(t *testing.T) {
	e := newEnv(t, checksum.Hasher{ChunkSize: testChunk, Parallel: 3})
	join := []byte("Write-Host 'start'\r\n# Add-Computer -DomainName in a comment\r\nAdd-Computer -DomainName contoso.com -Restart\r\n")
	clean := []byte("Write-Host 'teams'\r\n")
	late := append(bytes.Repeat([]byte("# padding line ........................................\n"), (1<<20)/56+10), []byte("Add-Computer -DomainName contoso.com\n")...)
	// an MSI (compound file header, then NULs) that names its vendor, and the
	// join script as Windows PowerShell 5.1 saves it (UTF-16 LE, with a mark)
	msi := append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0, 0, 0}, []byte("CrowdStrike WindowsSensor\r\n")...)
	utf16le := []byte{0xFF, 0xFE}
	for _, c := range string(join) {
		utf16le = append(utf16le, byte(c), 0)
	}
	for _, tt := range []struct {
		name    string
		data    []byte
		line    int
		scanned int64
	}{
		{"avd/join.ps1", join, 3, int64(len(join))},
		{"avd/teams.ps1", clean, 0, int64(len(clean))},
		{"avd/late.ps1", late, 0, 1 << 20},
		{"installers/WindowsSensor.msi", msi, 0, int64(len(msi))},
		{"avd/join-utf16.ps1", utf16le, 3, int64(len(utf16le))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			e.upload(tt.name, tt.data)
			e.handle(e.event(goldenpipe.BlobCreated, tt.name))
			rec := e.wantSum(tt.name, tt.data)
			if rec.Scanned != tt.scanned {
				t.Errorf("scanned %d bytes, want %d", rec.Scanned, tt.scanned)
			}
			if tt.line == 0 {
				if len(rec.Findings) != 0 {
					t.Errorf("findings %+v", rec.Findings)
				}
				return
			}
			if len(rec.Findings) != 1 || rec.Findings[0].Check != "domain-join" || rec.Findings[0].Line != tt.line {
				t.Errorf("findings %+v", rec.Findings)
			}
		})
	}
}

// countingDocs counts the reads of a document store.
type countingDocs struct {
	goldenpipe.Documents
	gets atomic.Int64
}

func (c *countingDocs) Get(ctx context.Context, key string, v any) (string, error) {
	c.gets.Add(1)
	return c.Documents.Get(ctx, key, v)
}

// propsCounting counts the property reads of the scripts container.
type propsCounting struct {
	*countingBlobs
	props atomic.Int64
}

func (p *propsCounting) Properties(ctx context.Context, name string) (goldenpipe.BlobVersion, error) {
	p.props.Add(1)
	return p.countingBlobs.Properties(ctx, name)
}

// Every template a burst renders asks for its scripts' checksums: a
// version already hashed costs its record and the blob's properties, one
// read each, and no download; a new version is hashed on the spot.
func TestChecksumOfAHashedVersionCostsTwoReads(t *testing.T) {
	e := newEnv(t, checksum.Hasher{ChunkSize: testChunk})
	e.upload("linux/common.sh", []byte("echo v1\n"))
	e.handle(e.event(goldenpipe.BlobCreated, "linux/common.sh"))
	docs := &countingDocs{Documents: azure.NewDocStore(e.svc, e.state)}
	blobs := &propsCounting{countingBlobs: e.blobs}
	svc := &checksum.Service{Blobs: blobs, Catalog: checksum.NewCatalog(docs), Hasher: checksum.Hasher{ChunkSize: testChunk}, Container: e.scripts}
	readsBefore := e.blobs.reads.Load()
	c, err := svc.Checksum(context.Background(), "linux/common.sh")
	if err != nil {
		t.Fatal(err)
	}
	if want := e.wantSum("linux/common.sh", []byte("echo v1\n")); c.SHA256 != want.SHA256 || c.ETag != want.ETag {
		t.Fatalf("checksum %+v, want %+v", c, want)
	}
	if g, p, d := docs.gets.Load(), blobs.props.Load(), e.blobs.reads.Load()-readsBefore; g != 1 || p != 1 || d != 0 {
		t.Fatalf("a hashed version cost %d record reads, %d property reads and %d downloads; want 1, 1, 0", g, p, d)
	}
	// a version uploaded since (its event not yet handled) is hashed now
	e.upload("linux/common.sh", []byte("echo v2\n"))
	c, err = svc.Checksum(context.Background(), "linux/common.sh")
	if want := e.wantSum("linux/common.sh", []byte("echo v2\n")); err != nil || c.SHA256 != want.SHA256 {
		t.Fatalf("checksum of the new version %+v, %v; want %s", c, err, want.SHA256)
	}
}
