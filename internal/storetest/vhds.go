package storetest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
)

// VHDFixture is a staging account holding VHDs and a container they are
// copied into, as the builds' VHD rescue uses them (builds.VHDSource,
// builds.VHDDestination).
type VHDFixture struct {
	Source      builds.VHDSource
	Destination builds.VHDDestination
	// PutVHD writes a page blob of size bytes with pages (offset → data,
	// 512-byte aligned) in the staging account and returns its URL.
	PutVHD func(t *testing.T, name string, size int64, pages map[int64][]byte) string
	// Read returns the content of a blob of the destination container.
	Read func(t *testing.T, name string) []byte
	// Advance moves the storage's clock on (an in-memory account's copy
	// proceeds with it); nil: copies proceed on their own.
	Advance func(d time.Duration)
}

// RunVHDs runs the contract of the VHD rescue's storage: a server-side
// copy out of the staging account with a read-only SAS, observed through
// Properties until it is no longer pending (Microsoft Learn, Copy Blob:
// "poll the destination blob's properties"; x-ms-copy-status, -id,
// -progress), then checked as the builds check it (status, id, length,
// metadata) and byte for byte. newFixture returns an empty one for each
// test.
func RunVHDs(t *testing.T, newFixture func(t *testing.T) VHDFixture) {
	t.Run("SourceProperties", func(t *testing.T) { testVHDSource(t, newFixture(t)) })
	t.Run("Copy", func(t *testing.T) { testVHDCopy(t, newFixture(t)) })
	t.Run("MissingSource", func(t *testing.T) { testVHDMissingSource(t, newFixture(t)) })
}

// vhdPages are the sparse pages of a small VHD: data at the start and a
// footer ("conectix") in the last 512 bytes.
func vhdPages(size int64) map[int64][]byte {
	start := bytes.Repeat([]byte("start of the disk "), 4096)[:64<<10]
	footer := append([]byte("conectix"), bytes.Repeat([]byte{0xAB}, 504)...)
	return map[int64][]byte{0: start, size - 512: footer}
}

func testVHDSource(t *testing.T, f VHDFixture) {
	ctx := context.Background()
	const size = 1 << 20
	u := f.PutVHD(t, "IT_rg_tpl_1/avd-win11-vhd.vhd", size, vhdPages(size))
	v, err := f.Source.Properties(ctx, u)
	if err != nil || v.ETag == "" || strings.Contains(v.ETag, `"`) || v.Size != size {
		t.Fatalf("Properties(%s) = %+v %v: want an unquoted ETag and %d bytes", u, v, err, size)
	}
	missing := strings.Replace(u, "avd-win11-vhd.vhd", "none.vhd", 1)
	if _, err := f.Source.Properties(ctx, missing); code(err) != goldenpipe.ENOTFOUND {
		t.Fatalf("Properties of a missing VHD: %v, want ENOTFOUND", err)
	}
	signed, expiry, err := f.Source.SignRead(ctx, u, 6*time.Hour)
	if err != nil || !strings.HasPrefix(signed, u+"?") || !strings.Contains(signed, "sig=") || !strings.Contains(signed, "sp=r") {
		t.Fatalf("SignRead = %s %v: want the URL with a read-only SAS", goldenpipe.RedactSAS(signed), err)
	}
	if d := time.Until(expiry); f.Advance == nil && (d < 5*time.Hour || d > 7*time.Hour) {
		t.Errorf("the SAS expires in %s, asked 6 h", d)
	}
}

func testVHDCopy(t *testing.T, f VHDFixture) {
	ctx := context.Background()
	const size = 1 << 20
	pages := vhdPages(size)
	src := f.PutVHD(t, "IT_rg_tpl_2/avd-win11-vhd.vhd", size, pages)
	before, err := f.Source.Properties(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	name := "avd-win11/b1/avd-win11-vhd.vhd"
	if st, err := f.Destination.Properties(ctx, name); err != nil || st.Exists {
		t.Fatalf("Properties of a copy never made: %+v %v, want none and no error", st, err)
	}
	if u := f.Destination.URL(name); !strings.HasSuffix(u, "/avd-win11/b1/avd-win11-vhd.vhd") || strings.Contains(u, "?") {
		t.Errorf("URL(%s) = %s: want the name's slashes kept, no SAS", name, u)
	}
	signed, _, err := f.Source.SignRead(ctx, src, 6*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	md := map[string]string{"goldenpipe_build": "b1", "goldenpipe_source_etag": before.ETag}
	id, err := f.Destination.StartCopy(ctx, name, signed, md)
	if err != nil || id == "" {
		t.Fatalf("StartCopy: %q %v", id, err)
	}
	st := waitCopy(t, f, name)
	if st.Status != goldenpipe.CopySuccess || st.ID != id || st.Length != size || !st.Exists {
		t.Fatalf("the copy ended %+v, want success, id %s, %d bytes", st, id, size)
	}
	if st.Metadata["goldenpipe_build"] != "b1" || st.Metadata["goldenpipe_source_etag"] != before.ETag {
		t.Errorf("the copy's metadata %v, want %v", st.Metadata, md)
	}
	got := f.Read(t, name)
	want := make([]byte, size)
	for off, p := range pages {
		copy(want[off:], p)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the copy's %d bytes differ from the source's", len(got))
	}
	// aborting a copy that is no longer pending changes nothing
	if err := f.Destination.Abort(ctx, name, id); err != nil {
		t.Errorf("Abort of a finished copy: %v", err)
	}
	if again, err := f.Destination.Properties(ctx, name); err != nil || again.Status != goldenpipe.CopySuccess || again.Length != size {
		t.Errorf("after Abort of a finished copy: %+v %v", again, err)
	}
	if after, err := f.Source.Properties(ctx, src); err != nil || after.ETag != before.ETag {
		t.Errorf("the source changed with the copy: %+v %v", after, err)
	}
}

// waitCopy observes the copy into name until it is no longer pending:
// moving the clock on where the fixture has one, else polling with a
// deadline.
func waitCopy(t *testing.T, f VHDFixture, name string) goldenpipe.CopyState {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := f.Destination.Properties(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != goldenpipe.CopyPending {
			return st
		}
		if st.Total > 0 && (st.Copied < 0 || st.Copied > st.Total) {
			t.Fatalf("copy progress %d/%d", st.Copied, st.Total)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the copy into %s is still pending: %+v", name, st)
		}
		if f.Advance != nil {
			f.Advance(time.Second)
		}
	}
}

func testVHDMissingSource(t *testing.T, f VHDFixture) {
	ctx := context.Background()
	src := f.PutVHD(t, "IT_rg_tpl_3/x.vhd", 4096, nil)
	signed, _, err := f.Source.SignRead(ctx, strings.Replace(src, "x.vhd", "gone.vhd", 1), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Destination.StartCopy(ctx, "gone/x.vhd", signed, nil); err == nil {
		if st := waitCopy(t, f, "gone/x.vhd"); st.Status == goldenpipe.CopySuccess {
			t.Fatalf("a copy of a VHD that does not exist succeeded: %+v", st)
		}
	} else if strings.Contains(err.Error(), "sig=") {
		t.Errorf("the error shows the SAS: %v", err)
	}
}
