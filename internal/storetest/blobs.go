package storetest

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/checksum"
	"github.com/goldenpipe/goldenpipe/template"
)

// BlobReader is a container as the services read it: template.Blobs (of
// which checksum.Blobs is a part), and Versions and Fetch, which
// azure.Blobs adds.
type BlobReader interface {
	template.Blobs
	Versions(ctx context.Context) (map[string]goldenpipe.BlobVersion, error)
	Fetch(ctx context.Context, blobURL string) ([]byte, error)
}

var _ checksum.Blobs = BlobReader(nil)

// BlobFixture is an empty container to read, and what a user does to it.
type BlobFixture struct {
	Blobs  BlobReader
	Upload func(t *testing.T, name string, content []byte)
	Delete func(t *testing.T, name string)
}

// BlobOptions say where a container answers otherwise than Azure.
type BlobOptions struct {
	// GoneReadsAsChanged: a read conditioned on the ETag of a blob deleted
	// since answers 412 ConditionNotMet (ECONFLICT) where Azure answers 404
	// BlobNotFound (ENOTFOUND): Azurite does (Azure/Azurite#2751, "Blob
	// HEAD and GET return 412 instead of 404 for a missing blob with
	// If-Match", which shows Azure's 404; RFC 9110 13.2.1: preconditions
	// are ignored when the request would otherwise not succeed).
	GoneReadsAsChanged bool
}

// RunBlobs runs the contract of a container the services read; newBlobs
// returns an empty container of its own for each test.
func RunBlobs(t *testing.T, newBlobs func(t *testing.T) BlobFixture) {
	RunBlobsWith(t, BlobOptions{}, newBlobs)
}

// RunBlobsWith is RunBlobs for a container that answers as o says.
func RunBlobsWith(t *testing.T, o BlobOptions, newBlobs func(t *testing.T) BlobFixture) {
	t.Run("Versions", func(t *testing.T) { testBlobVersions(t, o, newBlobs(t)) })
	t.Run("Ranges", func(t *testing.T) { testBlobRanges(t, newBlobs(t)) })
	t.Run("Listing", func(t *testing.T) { testBlobListing(t, newBlobs(t)) })
	t.Run("Fetch", func(t *testing.T) { testBlobFetch(t, newBlobs(t)) })
}

func readRange(t *testing.T, b BlobReader, name, etag string, off, count int64) (string, error) {
	t.Helper()
	rc, err := b.OpenRange(context.Background(), name, etag, off, count)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return string(got), nil
}

func testBlobVersions(t *testing.T, o BlobOptions, f BlobFixture) {
	ctx := context.Background()
	b := f.Blobs
	name := "scripts/install.ps1"
	if _, err := b.Properties(ctx, name); code(err) != goldenpipe.ENOTFOUND {
		t.Fatalf("Properties of a missing blob: %v, want ENOTFOUND", err)
	}
	before := time.Now().Add(-time.Hour)
	f.Upload(t, name, []byte("Write-Host one"))
	v1, err := b.Properties(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if v1.ETag == "" || strings.ContainsAny(v1.ETag, `"`) || v1.Size != 14 || v1.LastModified.Before(before) || v1.LastModified.Location() != time.UTC {
		t.Fatalf("version %+v: want an unquoted ETag, size 14, a UTC time of now", v1)
	}
	if got, err := readRange(t, b, name, v1.ETag, 0, v1.Size); err != nil || got != "Write-Host one" {
		t.Fatalf("reading the version: %q %v", got, err)
	}
	f.Upload(t, name, []byte("Write-Host two!"))
	v2, err := b.Properties(ctx, name)
	if err != nil || v2.ETag == v1.ETag || v2.Size != 15 {
		t.Fatalf("after a new upload: %+v %v (was %+v)", v2, err, v1)
	}
	if _, err := readRange(t, b, name, v1.ETag, 0, 4); code(err) != goldenpipe.ECONFLICT {
		t.Fatalf("reading a replaced version: %v, want ECONFLICT", err)
	}
	f.Delete(t, name)
	gone := goldenpipe.ENOTFOUND
	if o.GoneReadsAsChanged {
		gone = goldenpipe.ECONFLICT
	}
	if _, err := readRange(t, b, name, v2.ETag, 0, 4); code(err) != gone {
		t.Fatalf("reading a deleted blob: %v, want %s", err, gone)
	}
	if _, err := b.Properties(ctx, name); code(err) != goldenpipe.ENOTFOUND {
		t.Fatalf("Properties of a deleted blob: %v, want ENOTFOUND", err)
	}
}

func testBlobRanges(t *testing.T, f BlobFixture) {
	b := f.Blobs
	content := "0123456789abcdefghij"
	f.Upload(t, "r.bin", []byte(content))
	v, err := b.Properties(context.Background(), "r.bin")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		off, count int64
		want       string
	}{
		{0, 20, content},
		{0, 0, content}, // the SDK's "to the end"
		{0, 1, "0"},
		{5, 5, "56789"},
		{15, 100, "fghij"}, // cut at the end
		{19, 1, "j"},
		{10, 0, "abcdefghij"},
	}
	for _, c := range cases {
		got, err := readRange(t, b, "r.bin", v.ETag, c.off, c.count)
		if err != nil || got != c.want {
			t.Errorf("range %d+%d: %q %v, want %q", c.off, c.count, got, err, c.want)
		}
	}
}

func testBlobListing(t *testing.T, f BlobFixture) {
	ctx := context.Background()
	b := f.Blobs
	if names, err := b.List(ctx); err != nil || len(names) != 0 {
		t.Fatalf("List of an empty container: %q %v", names, err)
	}
	names := []string{"z.json", "a/b.json", "a b.json", "A.json", "a/a.json"}
	for _, n := range names {
		f.Upload(t, n, []byte(n))
	}
	got, err := b.List(ctx)
	want := slices.Sorted(slices.Values(names))
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("List = %q %v, want %q", got, err, want)
	}
	vs, err := b.Versions(ctx)
	if err != nil || len(vs) != len(names) {
		t.Fatalf("Versions: %d %v", len(vs), err)
	}
	for _, n := range names {
		p, err := b.Properties(ctx, n)
		if err != nil || vs[n].ETag != p.ETag || vs[n].Size != p.Size || !vs[n].LastModified.Equal(p.LastModified) {
			t.Errorf("%s listed as %+v, read as %+v (%v)", n, vs[n], p, err)
		}
	}
	f.Delete(t, "a b.json")
	if got, err := b.List(ctx); err != nil || slices.Contains(got, "a b.json") || len(got) != len(names)-1 {
		t.Fatalf("List after a delete: %q %v", got, err)
	}
}

func testBlobFetch(t *testing.T, f BlobFixture) {
	ctx := context.Background()
	b := f.Blobs
	for _, n := range []string{"plain.json", "with space/and ü.json", "deep/er/x.sh"} {
		f.Upload(t, n, []byte("content of "+n))
		u := b.URL(n)
		if !strings.HasPrefix(u, strings.TrimSuffix(b.ContainerURL(), "/")+"/") {
			t.Fatalf("URL(%s) = %s: not in %s", n, u, b.ContainerURL())
		}
		got, err := b.Fetch(ctx, u)
		if err != nil || string(got) != "content of "+n {
			t.Fatalf("Fetch(URL(%s)) = %q %v", n, got, err)
		}
	}
	f.Upload(t, "empty", nil)
	if got, err := b.Fetch(ctx, b.URL("empty")); err != nil || len(got) != 0 {
		t.Fatalf("Fetch of an empty blob: %q %v", got, err)
	}
	for _, u := range []string{b.URL("missing.json"), "https://elsewhere.example/c/plain.json"} {
		if _, err := b.Fetch(ctx, u); code(err) != goldenpipe.ENOTFOUND {
			t.Errorf("Fetch(%s): %v, want ENOTFOUND", u, err)
		}
	}
}
