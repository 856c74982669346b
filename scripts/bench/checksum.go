package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/checksum"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
)

const checksumBlobSize = 1 << 30

// benchChecksum hashes a 1 GiB blob in Azurite three ways, in the same run:
// the handler (a real process, invoked as the host would), and the peers
// `curl <sas-url> | openssl dgst -sha256` and `curl <sas-url> | sha256sum`.
func benchChecksum(ctx context.Context, w *workspace) error {
	az, err := azurite.Start(ctx, azurite.Options{Location: filepath.Join(w.dir, "azurite")})
	if err != nil {
		return err
	}
	defer az.Stop()
	conn := az.ConnectionString(azurite.Account{})
	svc, err := azure.NewBlobService(config.StorageConnection{Name: "bench", ConnectionString: conn})
	if err != nil {
		return err
	}
	const scripts, state, name = "scripts", "bench-state", "installers/1gib.bin"
	for _, c := range []string{scripts, state} {
		if err := azure.EnsureContainer(ctx, svc, c); err != nil {
			return err
		}
	}
	blob := svc.NewContainerClient(scripts).NewBlockBlobClient(name)
	src := io.LimitReader(rand.NewChaCha8([32]byte{1}), checksumBlobSize)
	if _, err := blob.UploadStream(ctx, src, &blockblob.UploadStreamOptions{BlockSize: 8 << 20, Concurrency: 4}); err != nil {
		return fmt.Errorf("uploading the 1 GiB blob: %w", err)
	}
	cred, err := service.NewSharedKeyCredential(config.AzuriteAccount, config.AzuriteKey)
	if err != nil {
		return err
	}
	q, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().Add(time.Hour),
		Permissions: (&sas.BlobPermissions{Read: true}).String(), ContainerName: scripts, BlobName: name}.SignWithSharedKey(cred)
	if err != nil {
		return err
	}
	sasURL := blob.URL() + "?" + q.Encode()

	// the peers; the SAS URL goes through the environment, not the command line
	peer := func(tool string) (time.Duration, string, error) {
		start := time.Now()
		cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", `curl -sSf "$SAS_URL" | `+tool)
		cmd.Env = append(os.Environ(), "SAS_URL="+sasURL)
		b, err := cmd.Output()
		d := time.Since(start)
		if err != nil {
			return 0, "", fmt.Errorf("%s: %w", tool, err)
		}
		for _, f := range strings.Fields(string(b)) {
			if len(f) == 64 {
				return d, f, nil
			}
		}
		return 0, "", fmt.Errorf("%s printed no sha256: %q", tool, b)
	}

	// the handler, as the Functions host runs it
	h, err := startHandler(ctx, w, "Scripts="+conn, "State="+conn, "AIB_SIMULATOR=true", "SCRIPTS_CONTAINER="+scripts, "STATE_CONTAINER="+state)
	if err != nil {
		return err
	}
	defer h.stop()
	cmd, base := h.cmd, h.base
	event := map[string]any{"Data": map[string]any{"event": map[string]any{
		"id": "bench", "eventType": "Microsoft.Storage.BlobCreated", "subject": "/blobServices/default/containers/" + scripts + "/blobs/" + name,
		"eventTime": time.Now().UTC().Format(time.RFC3339), "topic": "bench", "dataVersion": "", "metadataVersion": "1",
		"data": map[string]any{"api": "PutBlockList", "url": blob.URL(), "contentLength": checksumBlobSize, "blobType": "BlockBlob"},
	}}, "Metadata": map[string]any{}}
	body, _ := json.Marshal(event)
	docs, err := stateStore(config.Settings{State: config.StorageConnection{Name: "bench", ConnectionString: conn, TableURL: az.TableEndpoint + "/"}, StateContainer: state})
	if err != nil {
		return err
	}
	ours := func() (time.Duration, string, error) {
		// forget the previous run's record so every run downloads and hashes
		keys, err := docs.Keys(ctx, "checksums/")
		if err != nil {
			return 0, "", err
		}
		for _, k := range keys {
			if err := docs.Delete(ctx, k, ""); err != nil {
				return 0, "", err
			}
		}
		start := time.Now()
		resp, err := http.Post(base+"/ScriptUploaded", "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode != 200 {
			return 0, "", fmt.Errorf("invocation answered %d: %s", resp.StatusCode, b)
		}
		return d, string(b), nil
	}
	// the raw-download peer: the handler's own ranged reader, with the same
	// chunks and parallelism, into a hash that does nothing
	blobs := azure.NewBlobs(svc, scripts)
	ver, err := blobs.Properties(ctx, name)
	if err != nil {
		return err
	}
	raw := func() (time.Duration, error) {
		start := time.Now()
		_, err := checksum.Hasher{NewHash: func() hash.Hash { return nopHash{} }}.Sum(ctx, blobs, name, ver)
		return time.Since(start), err
	}

	// rounds of the four, one after the other, so a noisy moment weighs on
	// every one of a round alike; the ratios are taken within each round
	rounds := max(repeats, 5)
	var vsOpenSSL, vsRaw, tOurs, tRaw, tOpenSSL, tSha []float64
	for r := 0; r < rounds; r++ {
		dOpenSSL, opensslSum, err := peer("openssl dgst -sha256")
		if err != nil {
			return err
		}
		dSha, shaSum, err := peer("sha256sum")
		if err != nil {
			return err
		}
		if shaSum != opensslSum {
			return fmt.Errorf("the peers disagree: openssl %s, sha256sum %s", opensslSum, shaSum)
		}
		dOurs, logs, err := ours()
		if err != nil {
			return err
		}
		if !strings.Contains(logs, opensslSum) {
			return fmt.Errorf("the handler's sha256 differs from openssl's %s: %s", opensslSum, logs)
		}
		dRaw, err := raw()
		if err != nil {
			return fmt.Errorf("the raw download: %w", err)
		}
		vsOpenSSL = append(vsOpenSSL, dOurs.Seconds()/dOpenSSL.Seconds())
		vsRaw = append(vsRaw, dOurs.Seconds()/dRaw.Seconds())
		tOurs, tRaw, tOpenSSL, tSha = append(tOurs, dOurs.Seconds()), append(tRaw, dRaw.Seconds()), append(tOpenSSL, dOpenSSL.Seconds()), append(tSha, dSha.Seconds())
	}
	rss, err := peakRSS(cmd.Process.Pid)
	if err != nil {
		return err
	}
	med := func(v []float64) float64 { c := slices.Clone(v); slices.Sort(c); return c[len(c)/2] }
	spread := func(v []float64) string {
		return fmt.Sprintf("over %d rounds: min %.3f, max %.3f", len(v), slices.Min(v), slices.Max(v))
	}
	figure("checksum_1gib_raw_download_seconds", med(tRaw), "s, median (same reader, chunks and parallelism, no hashing)")
	figure("checksum_1gib_ratio_vs_raw_download", med(vsRaw), "median of the rounds' ratios (target <= 1.10); "+spread(vsRaw))
	figure("checksum_1gib_goldenpipe_seconds", med(tOurs), "s, median; "+spread(tOurs))
	figure("checksum_1gib_curl_openssl_seconds", med(tOpenSSL), "s, median; "+spread(tOpenSSL))
	figure("checksum_1gib_curl_sha256sum_seconds", med(tSha), "s, median")
	figure("checksum_1gib_goldenpipe_mib_per_second", float64(checksumBlobSize>>20)/med(tOurs), "MiB/s")
	figure("checksum_1gib_ratio_vs_curl_openssl", med(vsOpenSSL), "median of the rounds' ratios (target <= 1.0); "+spread(vsOpenSSL))
	figure("checksum_1gib_goldenpipe_peak_rss_mib", rss, "MiB (target <= 32)")
	return nil
}

// nopHash is a hash.Hash that hashes nothing.
type nopHash struct{}

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }
func (nopHash) Sum(b []byte) []byte         { return b }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return 0 }
func (nopHash) BlockSize() int              { return 64 }

func waitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer within 30 s", url)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
