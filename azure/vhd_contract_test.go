package azure

import (
	"bytes"
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"

	"github.com/goldenpipe/goldenpipe/internal/storetest"
)

// The VHD rescue's storage (a staging VHD, its read SAS signed with the
// staging account's key, Copy Blob into the destination), as the
// in-memory accounts run it. Azurite copies at once: the suite polls.
func TestVHDsContract(t *testing.T) {
	storetest.RunVHDs(t, func(t *testing.T) storetest.VHDFixture {
		conn, svc, staging := testContainer(t, "vs")
		_, _, dstName := testContainer(t, "vd")
		conn.Name = "StagingStorage"
		src, err := NewVHDSource(nil, &conn)
		if err != nil {
			t.Fatal(err)
		}
		dst := svc.NewContainerClient(dstName)
		return storetest.VHDFixture{
			Source: src, Destination: NewVHDDestinationClient(dst),
			PutVHD: func(t *testing.T, name string, size int64, pages map[int64][]byte) string {
				ctx := context.Background()
				pb := svc.NewContainerClient(staging).NewPageBlobClient(name)
				if _, err := pb.Create(ctx, size, nil); err != nil {
					t.Fatal(err)
				}
				for off, data := range pages {
					r := nopCloser{bytes.NewReader(data)}
					if _, err := pb.UploadPages(ctx, r, blob.HTTPRange{Offset: off, Count: int64(len(data))}, nil); err != nil {
						t.Fatal(err)
					}
				}
				return pb.URL()
			},
			Read: func(t *testing.T, name string) []byte {
				var buf bytes.Buffer
				resp, err := dst.NewBlobClient(name).DownloadStream(context.Background(), nil)
				if err == nil {
					_, err = buf.ReadFrom(resp.Body)
					resp.Body.Close()
				}
				if err != nil {
					t.Fatal(err)
				}
				return buf.Bytes()
			},
		}
	})
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
