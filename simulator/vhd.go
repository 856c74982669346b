package simulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"github.com/google/uuid"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Staging makes the VHDs of simulated runs: sparse page blobs in a staging
// account, as Image Builder leaves them in its staging resource group, with
// data pages at the start, the middle and the end (the footer).
type Staging struct {
	Container *container.Client
	// Logs is the packerlogs container (nil: Log writes nothing).
	Logs *container.Client
	// Size of each VHD; default 64 MiB (a multiple of 512).
	Size int64
}

// VHD writes the VHD of a run output and returns its URL (no SAS).
func (s *Staging) VHD(ctx context.Context, template, runOutput string) (string, error) {
	if _, err := s.Container.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return "", fmt.Errorf("creating the staging container: %w", err)
	}
	size := s.Size
	if size <= 0 {
		size = 64 << 20
	}
	name := template + "-" + runOutput + ".vhd"
	pb := s.Container.NewPageBlobClient(name)
	if _, err := pb.Create(ctx, size, nil); err != nil {
		return "", fmt.Errorf("creating the staging VHD: %w", err)
	}
	for _, page := range SparsePages(name, size) {
		if _, err := pb.UploadPages(ctx, nopCloser{bytes.NewReader(page.Data)}, blob.HTTPRange{Offset: page.Offset, Count: int64(len(page.Data))}, nil); err != nil {
			return "", fmt.Errorf("writing the staging VHD: %w", err)
		}
	}
	return pb.URL(), nil
}

// Page is data written at an offset of a page blob.
type Page struct {
	Offset int64
	Data   []byte
}

// SparsePages returns the data pages of a simulated VHD: 64 KiB at the
// start and in the middle, and a 512-byte footer at the end.
func SparsePages(seed string, size int64) []Page {
	fill := func(tag string, n int) []byte {
		out := make([]byte, 0, n)
		for i := 0; len(out) < n; i++ {
			h := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d", seed, tag, i)))
			out = append(out, h[:]...)
		}
		return out[:n]
	}
	footer := fill("footer", 512)
	copy(footer, "conectix") // a VHD footer's cookie
	pages := []Page{{0, fill("start", 64<<10)}}
	if mid := (size / 2) &^ 511; mid >= 64<<10 && mid+64<<10 <= size-512 {
		pages = append(pages, Page{mid, fill("middle", 64<<10)})
	}
	return append(pages, Page{size - 512, footer})
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// Log writes the customization.log of a run into the staging account's
// packerlogs container as Image Builder lays it out, under a folder named
// by the run's operation GUID (packerlogs/<guid>/customization.log, with
// validation.log beside it when the template validates), ending as the
// run will. It returns the log's URL, which Image Builder puts in a failed
// run's message.
func (s *Staging) Log(ctx context.Context, template string, outcome Outcome, validates bool) (string, error) {
	logs := s.Logs
	if logs == nil {
		return "", nil
	}
	if _, err := logs.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return "", err
	}
	guid := uuid.NewString()
	var b bytes.Buffer
	fmt.Fprintf(&b, "PACKER OUT Build 'azure-arm' is starting for %s\n", template)
	for _, p := range phases {
		fmt.Fprintf(&b, "PACKER OUT ==> azure-arm: %s\n", p)
		if p == "Customizing" && outcome.PackerError != "" {
			break // a customizer failed: Packer stops there
		}
	}
	for _, l := range outcome.Log { // the steps that ran (customizer.go)
		fmt.Fprintf(&b, "%s\n", l)
	}
	switch {
	case outcome.State == "Failed" && outcome.PackerError != "":
		fmt.Fprintf(&b, "PACKER OUT Build 'azure-arm' errored after 12 minutes: %s\n", outcome.PackerError)
		fmt.Fprintf(&b, "PACKER ERR ==> Some builds didn't complete successfully and had errors:\n")
		fmt.Fprintf(&b, "PACKER OUT --> azure-arm: %s\n", outcome.PackerError)
		fmt.Fprintf(&b, "PACKER ERR ==> Builds finished but no artifacts were created.\n")
	case outcome.State == "Failed":
		fmt.Fprintf(&b, "PACKER ERR ==> azure-arm: %s\n", outcome.Message)
		fmt.Fprintf(&b, "PACKER OUT Build 'azure-arm' errored after 12 minutes: %s\n", outcome.Message)
	default:
		fmt.Fprintf(&b, "PACKER OUT Build 'azure-arm' finished\n")
	}
	log := logs.NewBlockBlobClient(guid + "/customization.log")
	if _, err := log.UploadBuffer(ctx, b.Bytes(), nil); err != nil {
		return "", err
	}
	if validates {
		v := fmt.Sprintf("PACKER OUT ==> azure-arm: Running validation for %s\nPACKER OUT validation finished\n", template)
		if _, err := logs.NewBlockBlobClient(guid+"/validation.log").UploadBuffer(ctx, []byte(v), nil); err != nil {
			return "", err
		}
	}
	return logs.URL() + "/" + guid + "/customization.log", nil // as Image Builder writes it: slashes, not %2F
}
