package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/apitest"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/simulator"
)

const rescueVHDSize = 1 << 30

var benchStaging = azurite.Account{Name: "aibstaging", Key: "Z29sZGVucGlwZSBsb2NhbCBzdGFnaW5nIGFjY291bnQga2V5IChub3QgYSBzZWNyZXQp"}

// benchRescue rescues 1 and then 10 VHDs of 1 GiB (dense: every page
// written) at once, each with its own handler process, and reports the
// handler's peak RSS and the bytes it read, against the VHD bytes moved.
func benchRescue(ctx context.Context, w *workspace) error {
	az, err := azurite.Start(ctx, azurite.Options{Location: filepath.Join(w.dir, "azurite-rescue"), Accounts: []azurite.Account{benchStaging}})
	if err != nil {
		return err
	}
	defer az.Stop()
	stagingSvc, err := azure.NewBlobService(config.StorageConnection{Name: "staging", ConnectionString: az.ConnectionString(benchStaging)})
	if err != nil {
		return err
	}
	if err := azure.EnsureContainer(ctx, stagingSvc, "vhds"); err != nil {
		return err
	}
	vhds := stagingSvc.NewContainerClient("vhds")
	start := time.Now()
	var urls []string
	for i := 0; i < 11; i++ {
		u, err := denseVHD(ctx, vhds, fmt.Sprintf("vhd-%02d.vhd", i), uint64(i))
		if err != nil {
			return err
		}
		urls = append(urls, u)
	}
	fmt.Fprintf(os.Stderr, "# 11 staging VHDs of 1 GiB written in %s\n", time.Since(start).Round(time.Second))

	one, err := rescueRun(ctx, w, az, "one", urls[:1])
	if err != nil {
		return err
	}
	ten, err := rescueRun(ctx, w, az, "ten", urls[1:])
	if err != nil {
		return err
	}
	figure("rescue_1x1gib_seconds", one.elapsed.Seconds(), "s")
	figure("rescue_10x1gib_seconds", ten.elapsed.Seconds(), "s (10 concurrent builds and copies)")
	figure("rescue_1x1gib_handler_peak_rss_mib", one.rss, "MiB")
	figure("rescue_10x1gib_handler_peak_rss_mib", ten.rss, "MiB")
	figure("rescue_rss_ratio_10_vs_1", ten.rss/one.rss, "(target: constant, ~1.0)")
	figure("rescue_10x1gib_vhd_bytes_copied", float64(ten.copied), "bytes, verified at the destination")
	figure("rescue_10x1gib_handler_bytes_read", float64(ten.read), "bytes the handler read from sockets and files, all calls included")
	figure("rescue_handler_bytes_read_per_vhd_byte", float64(ten.read)/float64(ten.copied), "(target: 0 VHD bytes through the handler)")
	return nil
}

// denseVHD writes a 1 GiB page blob, every page, and returns its URL.
func denseVHD(ctx context.Context, c *container.Client, name string, seed uint64) (string, error) {
	pb := c.NewPageBlobClient(name)
	if _, err := pb.Create(ctx, rescueVHDSize, nil); err != nil {
		return "", err
	}
	const chunk = 4 << 20
	errs := make([]error, rescueVHDSize/chunk)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range errs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			buf := make([]byte, chunk)
			rng := rand.NewChaCha8([32]byte{byte(seed), byte(i), byte(i >> 8)})
			_, _ = rng.Read(buf)
			_, errs[i] = pb.UploadPages(ctx, rsc{bytes.NewReader(buf)}, blob.HTTPRange{Offset: int64(i) * chunk, Count: chunk}, nil)
		}()
	}
	wg.Wait()
	return pb.URL(), errors.Join(errs...)
}

type rsc struct{ *bytes.Reader }

func (rsc) Close() error { return nil }

type rescueResult struct {
	elapsed time.Duration
	rss     float64
	read    int64
	copied  int64
}

// rescueRun builds len(vhds) templates with a handler process, each of
// whose runs yields one of vhds, and waits until every VHD is rescued.
func rescueRun(ctx context.Context, w *workspace, az *azurite.Server, prefix string, vhds []string) (rescueResult, error) {
	conn := az.ConnectionString(azurite.Account{})
	svc, err := azure.NewBlobService(config.StorageConnection{Name: "b", ConnectionString: conn})
	if err != nil {
		return rescueResult{}, err
	}
	for _, c := range []string{prefix + "-scripts", prefix + "-templates"} {
		if err := azure.EnsureContainer(ctx, svc, c); err != nil {
			return rescueResult{}, err
		}
	}
	sim := &simulator.Server{Images: simulator.NewImages(), Builder: simulator.NewImageBuilder()}
	sim.Builder.CreateDuration, sim.Builder.PhaseDuration = 100*time.Millisecond, 100*time.Millisecond
	var mu sync.Mutex
	next := 0
	sim.Builder.VHDOutput = func(context.Context, string, string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		u := vhds[next%len(vhds)]
		next++
		return u, nil
	}
	arm := httptest.NewServer(sim)
	defer arm.Close()

	h, err := startHandler(ctx, w, "Scripts="+conn, "State="+conn, "AIB_SIMULATOR="+arm.URL, "MAX_CONCURRENT_BUILDS=10",
		"SCRIPTS_CONTAINER="+prefix+"-scripts", "TEMPLATES_CONTAINER="+prefix+"-templates", "STATE_CONTAINER="+prefix+"-state",
		"VHD_DESTINATION="+az.BlobEndpoint+"/devstoreaccount1/"+prefix+"-vhds", "VhdStorage="+conn, "StagingStorage="+az.ConnectionString(benchStaging))
	if err != nil {
		return rescueResult{}, err
	}
	defer h.stop()
	cmd, base := h.cmd, h.base
	post := func(function string, body any) error {
		b, _ := json.Marshal(body)
		resp, err := http.Post(base+"/"+function, "application/json", bytes.NewReader(b))
		if err != nil {
			return err
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %d %s", function, resp.StatusCode, out)
		}
		return nil
	}
	readBefore, err := bytesRead(cmd.Process.Pid)
	if err != nil {
		return rescueResult{}, err
	}
	started := time.Now()
	for i := range vhds {
		name := fmt.Sprintf("%s-%02d", prefix, i)
		tpl := fmt.Sprintf(`{"location": "westeurope", "identity": {"type": "UserAssigned", "userAssignedIdentities": {"/subscriptions/0b1e7c5e-6a0e-4a3c-9b8f-2d4c6e8a0f11/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib": {}}},
  "properties": {"source": {"type": "PlatformImage", "publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest"},
    "customize": [{"type": "Shell", "name": "step", "inline": ["echo %d"]}], "distribute": [{"type": "VHD", "runOutputName": "vhd"}]}}`, i)
		if _, err := svc.NewContainerClient(prefix+"-templates").NewBlockBlobClient(name+".json").UploadBuffer(ctx, []byte(tpl), nil); err != nil {
			return rescueResult{}, err
		}
		event := map[string]any{"Data": map[string]any{"event": map[string]any{"id": name, "eventType": "Microsoft.Storage.BlobCreated",
			"subject": "/blobServices/default/containers/" + prefix + "-templates/blobs/" + name + ".json",
			"data":    map[string]any{"url": svc.NewContainerClient(prefix + "-templates").NewBlobClient(name + ".json").URL()}}}, "Metadata": map[string]any{}}
		if err := post("TemplateUploaded", event); err != nil {
			return rescueResult{}, err
		}
	}
	timer := map[string]any{"Data": map[string]any{"timer": map[string]any{"Schedule": map[string]any{}, "ScheduleStatus": nil, "IsPastDue": false}}, "Metadata": map[string]any{}}
	deadline := time.Now().Add(20 * time.Minute)
	var list []builds.Build
	for time.Now().Before(deadline) {
		_ = post("BuildMonitor", timer)
		list = nil
		if code := apitest.Get(base+"/api/builds", &list); code != http.StatusOK {
			return rescueResult{}, fmt.Errorf("GET /api/builds: %d", code)
		}
		done := len(list) == len(vhds)
		for _, b := range list {
			if b.State == builds.StateRescueFailed || b.State == builds.StateFailed {
				return rescueResult{}, fmt.Errorf("build %v", b)
			}
			done = done && b.State == builds.StateSucceeded
		}
		if done {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	elapsed := time.Since(started)
	var copied int64
	for _, b := range list {
		for _, c := range b.Rescue {
			if c.State != builds.CopyVerified {
				return rescueResult{}, fmt.Errorf("build %s: VHD %s is %s", b.ID, c.RunOutputName, c.State)
			}
			copied += c.SourceLength
		}
	}
	if copied != int64(len(vhds))*rescueVHDSize {
		return rescueResult{}, fmt.Errorf("%d bytes rescued, want %d", copied, int64(len(vhds))*rescueVHDSize)
	}
	rss, err := peakRSS(cmd.Process.Pid)
	if err != nil {
		return rescueResult{}, err
	}
	readAfter, err := bytesRead(cmd.Process.Pid)
	if err != nil {
		return rescueResult{}, err
	}
	return rescueResult{elapsed: elapsed, rss: rss, read: readAfter - readBefore, copied: copied}, nil
}

// bytesRead returns rchar from /proc/<pid>/io: every byte the process read
// through read syscalls, sockets included.
func bytesRead(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "rchar:"); ok {
			var n int64
			_, err := fmt.Sscan(strings.TrimSpace(rest), &n)
			return n, err
		}
	}
	return 0, fmt.Errorf("no rchar in /proc/%d/io", pid)
}
