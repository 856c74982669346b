package inmem

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/clock"
	"github.com/goldenpipe/goldenpipe/internal/storetest"
)

// accounts returns a staging account and a destination account that reads
// from it, on one fake clock, copies moving rate bytes a second.
func accounts(rate int64) (*Account, *Account, *clock.Fake) {
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	staging, dst := NewAccount("aibstaging", c.Now), NewAccount("goldenvhds", c.Now)
	dst.CopyRate = rate
	dst.ReadsFrom(staging)
	return staging, dst, c
}

func TestVHDsContract(t *testing.T) {
	storetest.RunVHDs(t, func(t *testing.T) storetest.VHDFixture {
		staging, dst, c := accounts(256 << 10) // a 1 MiB VHD copies in 4 s of the clock
		vhds := dst.Container("vhds")
		return storetest.VHDFixture{
			Source: staging, Destination: vhds, Advance: c.Advance,
			PutVHD: func(t *testing.T, name string, size int64, pages map[int64][]byte) string {
				dir, file, _ := strings.Cut(name, "/")
				u, err := staging.PutPageBlob(context.Background(), "vhds", dir+"/"+file, size, pages)
				if err != nil {
					t.Fatal(err)
				}
				return u
			},
			Read: func(t *testing.T, name string) []byte {
				b, err := dst.Read(context.Background(), vhds.URL(name))
				if err != nil {
					t.Fatal(err)
				}
				return b
			},
		}
	})
}

// A copy from another account needs a SAS the source account signed, valid
// now, for reading (Copy Blob: "authorized via a shared access signature").
func TestVHDCopyNeedsTheSourcesSAS(t *testing.T) {
	ctx := context.Background()
	staging, dst, c := accounts(0)
	other := NewAccount("other", c.Now)
	u, err := staging.PutPageBlob(ctx, "vhds", "a.vhd", 1024, nil)
	if err != nil {
		t.Fatal(err)
	}
	good, _, err := staging.SignRead(ctx, u, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged, _, _ := other.SignRead(ctx, strings.Replace(u, staging.URL(), other.URL(), 1), time.Hour)
	forged = strings.Replace(forged, other.URL(), staging.URL(), 1)
	cases := []struct {
		name, source, code string
	}{
		{"no SAS", u, goldenpipe.EFORBIDDEN},
		{"signed by another key", forged, goldenpipe.EFORBIDDEN},
		{"write instead of read", strings.Replace(good, "sp=r", "sp=w", 1), goldenpipe.EFORBIDDEN},
		{"an account out of reach", strings.Replace(good, staging.URL(), other.URL(), 1), goldenpipe.EFORBIDDEN},
	}
	dsts := dst.Container("c")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dsts.StartCopy(ctx, tc.name, tc.source, nil)
			if goldenpipe.ErrorCode(err) != tc.code || strings.Contains(err.Error(), "sig=") {
				t.Fatalf("StartCopy: %v, want %s and no SAS in the error", err, tc.code)
			}
			if st, _ := dsts.Properties(ctx, tc.name); st.Exists {
				t.Errorf("a refused copy left a blob: %+v", st)
			}
		})
	}
	c.Advance(2 * time.Hour)
	if _, err := dsts.StartCopy(ctx, "late", good, nil); goldenpipe.ErrorCode(err) != goldenpipe.EFORBIDDEN {
		t.Errorf("a copy with an expired SAS: %v, want EFORBIDDEN", err)
	}
}

// A copy is pending, with progress in whole pages, until the clock has
// moved it all; one pending copy per destination; Abort leaves the blob
// empty with its metadata; a source changed during the copy fails it.
func TestVHDCopyIsAsynchronous(t *testing.T) {
	ctx := context.Background()
	staging, dst, c := accounts(1024) // bytes a second
	u, err := staging.PutPageBlob(ctx, "vhds", "a.vhd", 4096, map[int64][]byte{0: make([]byte, 512)})
	if err != nil {
		t.Fatal(err)
	}
	sas, _, _ := staging.SignRead(ctx, u, time.Hour)
	vhds := dst.Container("vhds")
	id, err := vhds.StartCopy(ctx, "a.vhd", sas, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(1700 * time.Millisecond) // 1740 bytes: 3 whole pages
	st, _ := vhds.Properties(ctx, "a.vhd")
	if st.Status != goldenpipe.CopyPending || st.Copied != 1536 || st.Total != 4096 || st.ID != id {
		t.Fatalf("after 1.7 s at 1 KiB/s: %+v, want pending 1536/4096", st)
	}
	if _, err := vhds.StartCopy(ctx, "a.vhd", sas, nil); goldenpipe.ErrorCode(err) != goldenpipe.ECONFLICT {
		t.Errorf("a second copy while one is pending: %v, want ECONFLICT", err)
	}
	if err := vhds.Abort(ctx, "a.vhd", "another-id"); err != nil {
		t.Fatal(err)
	}
	if st, _ := vhds.Properties(ctx, "a.vhd"); st.Status != goldenpipe.CopyPending {
		t.Fatalf("Abort with another copy's id stopped the copy: %+v", st)
	}
	if err := vhds.Abort(ctx, "a.vhd", id); err != nil {
		t.Fatal(err)
	}
	st, _ = vhds.Properties(ctx, "a.vhd")
	if st.Status != goldenpipe.CopyAborted || st.Length != 0 || st.Metadata["k"] != "v" || !st.Exists {
		t.Fatalf("after Abort: %+v, want aborted, empty, its metadata kept", st)
	}

	// the source changes while a copy is pending: the copy fails
	if _, err := vhds.StartCopy(ctx, "a.vhd", sas, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := staging.PutPageBlob(ctx, "vhds", "a.vhd", 4096, nil); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	if st, _ := vhds.Properties(ctx, "a.vhd"); st.Status != goldenpipe.CopyFailed || st.Length != 0 || strings.Contains(st.Description, "sig=") {
		t.Fatalf("a copy whose source changed: %+v, want failed", st)
	}
}

// Page blobs are 512-byte aligned; a bad write changes nothing.
func TestPageBlobAlignment(t *testing.T) {
	ctx := context.Background()
	a := NewAccount("acct", nil)
	for _, tc := range []struct {
		size  int64
		pages map[int64][]byte
	}{
		{1000, nil},
		{1024, map[int64][]byte{100: make([]byte, 512)}},
		{1024, map[int64][]byte{0: make([]byte, 100)}},
		{1024, map[int64][]byte{512: make([]byte, 1024)}},
	} {
		if _, err := a.PutPageBlob(ctx, "c", "x.vhd", tc.size, tc.pages); goldenpipe.ErrorCode(err) != goldenpipe.EINVALID {
			t.Errorf("size %d: %v, want EINVALID", tc.size, err)
		}
	}
	if _, err := a.Properties(ctx, a.URL()+"/c/x.vhd"); goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		t.Errorf("a refused write left a blob: %v", err)
	}
}
