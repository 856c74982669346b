package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/internal/clock"
)

// metadataLimit enforces Azure's rule Azurite does not: "The total size of
// the metadata, including both the name and value together, may not exceed
// 8 KB in size" (Blob service REST, Setting and retrieving properties and
// metadata for Blob service resources). A request over it is refused as
// Azure refuses it: 400 with error code MetadataTooLarge, "The size of the
// specified metadata exceeds the maximum size permitted." (Blob service
// error codes). Below the limit the request goes on to Azurite.
type metadataLimit struct {
	checked, refused atomic.Int64
}

func (m *metadataLimit) Do(req *policy.Request) (*http.Response, error) {
	size, has := 0, false
	for k, vs := range req.Raw().Header {
		if name, ok := strings.CutPrefix(strings.ToLower(k), "x-ms-meta-"); ok {
			has = true
			for _, v := range vs {
				size += len(name) + len(v)
			}
		}
	}
	if has {
		m.checked.Add(1)
	}
	if size > 8*1024 {
		m.refused.Add(1)
		body := `<?xml version="1.0" encoding="utf-8"?><Error><Code>MetadataTooLarge</Code><Message>The size of the specified metadata exceeds the maximum size permitted.</Message></Error>`
		h := http.Header{}
		h.Set("x-ms-error-code", "MetadataTooLarge")
		h.Set("Content-Type", "application/xml")
		return &http.Response{StatusCode: http.StatusBadRequest, Status: "400 The size of the specified metadata exceeds the maximum size permitted.",
			Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: req.Raw()}, nil
	}
	return req.Next()
}

// enforcingDestination is the VHD destination on Azurite behind the 8 KiB
// metadata limit.
func enforcingDestination(t *testing.T, h *harness, lim *metadataLimit) *azure.VHDDestination {
	t.Helper()
	name := h.s.VHDDestination[strings.LastIndex(h.s.VHDDestination, "/")+1:]
	c, err := container.NewClientFromConnectionString(h.s.VHDStorage.ConnectionString, name,
		&container.ClientOptions{ClientOptions: azcore.ClientOptions{PerCallPolicies: []policy.Policy{lim}}})
	if err != nil {
		t.Fatal(err)
	}
	d := azure.NewVHDDestinationClient(c)
	if err := d.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d
}

// The double refuses what Azure refuses: 9 KiB of metadata on a copy.
func TestMetadataDoubleRefusesOver8KiB(t *testing.T) {
	h := newHarnessWith(t, "mdlim", fastSimulator())
	lim := &metadataLimit{}
	d := enforcingDestination(t, h, lim)
	src := h.upload(h.s.ScriptsContainer, "x.bin", []byte("x"))
	_, err := d.StartCopy(context.Background(), "big.vhd", src, map[string]string{"goldenpipe_scripts": strings.Repeat("a", 9*1024)})
	if err == nil || !strings.Contains(err.Error(), "MetadataTooLarge") && !strings.Contains(err.Error(), "exceeds the maximum size") || lim.refused.Load() != 1 {
		t.Fatalf("9 KiB of metadata: %v (refused %d)", err, lim.refused.Load())
	}
	if _, err := d.StartCopy(context.Background(), "small.vhd", src, map[string]string{"goldenpipe_build": "b1"}); err != nil {
		t.Fatalf("small metadata: %v", err)
	}
}

// Must show (issue 23): a template with 120 scripts is built and its VHD
// rescued through the enforcing double; the copy's metadata is far under
// 8 KiB (a digest and a count of the scripts), and the full list is in the
// build record. (Its metadata before: every script's name and sha256,
// about 20 KiB here, refused on every attempt: RescueFailed.)
func TestRescueOf120ScriptsKeepsMetadataUnder8KiB(t *testing.T) {
	c := clock.NewFake(time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC))
	o := fastSimulator()
	o.Builder.CreateDuration, o.Builder.PhaseDuration, o.Builder.Now = time.Minute, time.Minute, c.Now
	o.VHDSize = testVHDSize
	h := newHarnessTuned(t, "md120", o, nil, func(tu *Tuning) {
		tu.Now = c.Now
		tu.Builds.BackoffBase, tu.Builds.ReissueAfter, tu.Builds.CopyBackoff = 0, 0, 0
		tu.NoBuildOnUpload = true
	})
	lim := &metadataLimit{}
	h.ports.destination.VHDDestination = enforcingDestination(t, h, lim)

	raw, err := os.ReadFile(filepath.Join("..", "template", "testdata", "seed", "windows-avd-powershell.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl map[string]any
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	var steps []any
	for i := range 120 {
		url := h.upload(h.s.ScriptsContainer, fmt.Sprintf("avd/step-%03d-install-line-of-business-application.ps1", i), []byte(fmt.Sprintf("Write-Host 'step %d'\r\n", i)))
		steps = append(steps, map[string]any{"type": "PowerShell", "name": fmt.Sprintf("step-%03d", i), "scriptUri": url, "runElevated": true})
	}
	tpl["properties"].(map[string]any)["customize"] = steps
	body, _ := json.Marshal(tpl)
	h.upload(h.s.TemplatesContainer, "avd.json", body)
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
	h.invoke("BuildRequested", serviceBusBody(`{"template":"avd","reason":"120 scripts"}`, "m-120"))

	list := h.tickUntil(c, time.Minute, func(list []builds.Build) bool { return len(list) == 1 && builds.Terminal(list[0].State) })
	b := list[0]
	if b.State != builds.StateSucceeded || len(b.Rescue) != 1 || len(b.Scripts) != 120 {
		t.Fatalf("build %s (%s), rescue %+v, %d scripts in the record", b.State, b.Error, b.Rescue, len(b.Scripts))
	}
	if lim.checked.Load() == 0 || lim.refused.Load() != 0 {
		t.Errorf("copies through the double: %d, refused %d", lim.checked.Load(), lim.refused.Load())
	}
	svc, err := azure.NewBlobService(*h.s.VHDStorage)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(b.Rescue[0].Destination, h.s.VHDDestination+"/")
	props, err := svc.NewContainerClient(h.s.VHDDestination[strings.LastIndex(h.s.VHDDestination, "/")+1:]).NewBlobClient(name).GetProperties(context.Background(), &blob.GetPropertiesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	var md bytes.Buffer
	for k, v := range props.Metadata {
		size += len(k) + len(*v)
		fmt.Fprintf(&md, "%s=%s ", k, *v)
	}
	if size == 0 || size > 1024 {
		t.Errorf("the copy's metadata is %d bytes, want far under 8 KiB: %s", size, md.String())
	}
	if !strings.Contains(strings.ToLower(md.String()), "scripts_sha256="+builds.ScriptsDigest(b.Scripts)) || !strings.Contains(strings.ToLower(md.String()), "scripts_count=120") {
		t.Errorf("metadata %s: want the scripts' digest and count", md.String())
	}
}
