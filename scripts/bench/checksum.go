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
	"runtime"
	"slices"
	"strconv"
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

// benchChecksum hashes a 1 GiB blob in Azurite in the same run with the
// handler (a real process, invoked as the host would) and three peers:
// `curl <sas-url> | openssl dgst -sha256`, `curl <sas-url> | sha256sum`, and
// a raw download (the handler's own ranged reader, with the same chunks and
// parallelism, into nothing, in a process of its own).
//
// Azurite stands in for Azure Storage, which serves from machines of its
// own. On a machine of two cores it competes for them with the client being
// measured, and how much of the hashing overlaps the download then depends on
// the scheduler more than on the client. So every round measures each of the
// four twice: once with Azurite on CPU 0 and every client on the others (the
// "separate" placement, the one the targets are for: the server's CPU is not
// the client's, as in Azure), and once with everything on every CPU
// ("shared", printed with that suffix).
//
// Azurite serves about 1 GiB/s when it starts, and a third of that once it
// has served some 8 GiB, whoever reads (BENCHMARKS.md has the figures). So
// each placement of each round starts Azurite again on the same data and
// port, warms it with one unmeasured download, and then measures the four:
// every peer meets a server in the same state.
func benchChecksum(ctx context.Context, w *workspace) error {
	location := filepath.Join(w.dir, "azurite")
	az, err := azurite.Start(ctx, azurite.Options{Location: location})
	if err != nil {
		return err
	}
	defer func() { az.Stop() }()
	port, err := strconv.Atoi(az.BlobEndpoint[strings.LastIndex(az.BlobEndpoint, ":")+1:])
	if err != nil {
		return err
	}
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

	// the handler, as the Functions host runs it
	h, err := startHandler(ctx, w, "Scripts="+conn, "State="+conn, "AIB_SIMULATOR=true", "SCRIPTS_CONTAINER="+scripts, "STATE_CONTAINER="+state)
	if err != nil {
		return err
	}
	defer h.stop()
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

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cb := &checksumBench{h: h, body: body, docs: docs, sasURL: sasURL, self: self, conn: conn, scripts: scripts, name: name}

	placements := []placement{{name: "shared"}}
	if n := runtime.NumCPU(); n >= 2 {
		placements = append([]placement{{name: "separate", server: "0", clients: fmt.Sprintf("1-%d", n-1)}}, placements...)
	} else {
		fmt.Fprintln(os.Stderr, "# one CPU: Azurite and the clients share it; the separate placement is not measured")
	}
	// rounds of the four, one after the other, so a noisy moment weighs on
	// every one of a round alike; the ratios are taken within each round.
	// The handler and the raw download swap places every other round.
	rounds := max(repeats, 5)
	res := map[string]*checksumRounds{}
	for r := 0; r < rounds; r++ {
		for _, pl := range placements {
			az.Stop()
			if az, err = azurite.Start(ctx, azurite.Options{Location: location, Port: port}); err != nil {
				return fmt.Errorf("starting Azurite again: %w", err)
			}
			if err := pl.apply(az.Pid(), h.cmd.Process.Pid); err != nil {
				return err
			}
			m := res[pl.name]
			if m == nil {
				m = &checksumRounds{}
				res[pl.name] = m
			}
			if err := cb.round(ctx, r, pl, m); err != nil {
				return err
			}
		}
	}
	rss, err := peakRSS(h.cmd.Process.Pid)
	if err != nil {
		return err
	}
	printChecksumFigures(placements, res)
	figure("checksum_1gib_goldenpipe_peak_rss_mib", rss, "MiB (target <= 32)")
	return nil
}

// checksumBench is what the checksum bench's rounds run: the handler and
// its event, the state store, the blob's SAS URL, and the raw-download
// peer (this program, -raw-download).
type checksumBench struct {
	h                  *handlerProcess
	body               []byte
	docs               *azure.Store
	sasURL, self, conn string
	scripts, name      string
}

// round warms Azurite with one unmeasured raw download, then measures
// the four with the placement's CPUs (r: the round, which decides whether
// the handler or the raw download goes first).
func (cb *checksumBench) round(ctx context.Context, r int, pl placement, m *checksumRounds) error {
	if _, err := cb.raw(ctx, pl.clients); err != nil {
		return fmt.Errorf("warming Azurite: %w", err)
	}
	dOpenSSL, opensslSum, err := cb.peer(ctx, "openssl dgst -sha256", pl.clients)
	if err != nil {
		return err
	}
	dSha, shaSum, err := cb.peer(ctx, "sha256sum", pl.clients)
	if err != nil {
		return err
	}
	if shaSum != opensslSum {
		return fmt.Errorf("the peers disagree: openssl %s, sha256sum %s", opensslSum, shaSum)
	}
	var dOurs, dRaw time.Duration
	var logs string
	for i := range 2 {
		if (i+r)%2 == 0 {
			dOurs, logs, err = cb.ours(ctx)
		} else {
			dRaw, err = cb.raw(ctx, pl.clients)
		}
		if err != nil {
			return err
		}
	}
	if !strings.Contains(logs, opensslSum) {
		return fmt.Errorf("the handler's sha256 differs from openssl's %s: %s", opensslSum, logs)
	}
	m.add(dOurs, dRaw, dOpenSSL, dSha)
	fmt.Fprintf(os.Stderr, "# round %d, %s: goldenpipe %.3f s, raw %.3f s, openssl %.3f s, sha256sum %.3f s\n",
		r+1, pl.name, dOurs.Seconds(), dRaw.Seconds(), dOpenSSL.Seconds(), dSha.Seconds())
	return nil
}

// peer runs `curl <sas-url> | tool` with its CPUs (a taskset list; ""
// leaves them all) and returns its time and the sha256 it printed.
func (cb *checksumBench) peer(ctx context.Context, tool, cpus string) (time.Duration, string, error) {
	// the SAS URL goes through the environment, not the command line
	start := time.Now()
	cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", `curl -sSf "$SAS_URL" | `+tool)
	cmd.Env = append(os.Environ(), "SAS_URL="+cb.sasURL)
	pinned(cmd, cpus)
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

// ours has the handler hash the blob (ScriptUploaded) and returns its
// time and answer.
func (cb *checksumBench) ours(ctx context.Context) (time.Duration, string, error) {
	// forget the previous run's record so every run downloads and hashes
	keys, err := cb.docs.Keys(ctx, "checksums/")
	if err != nil {
		return 0, "", err
	}
	for _, k := range keys {
		if err := cb.docs.Delete(ctx, k, ""); err != nil {
			return 0, "", err
		}
	}
	start := time.Now()
	resp, err := http.Post(cb.h.base+"/ScriptUploaded", "application/json", bytes.NewReader(cb.body))
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

// raw runs the raw-download peer with its CPUs and returns its time.
func (cb *checksumBench) raw(ctx context.Context, cpus string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, cb.self, "-raw-download")
	cmd.Env = append(os.Environ(), "BENCH_RAW_CONNECTION="+cb.conn, "BENCH_RAW_CONTAINER="+cb.scripts, "BENCH_RAW_BLOB="+cb.name)
	cmd.Stderr = os.Stderr
	pinned(cmd, cpus)
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("the raw download: %w", err)
	}
	return time.ParseDuration(strings.TrimSpace(string(out)))
}

// printChecksumFigures prints each placement's figures (the first's
// without a suffix).
func printChecksumFigures(placements []placement, res map[string]*checksumRounds) {
	for _, pl := range placements {
		m, suffix := res[pl.name], ""
		if pl.name != placements[0].name {
			suffix = "_" + pl.name + "_cpus"
		}
		where := "Azurite on CPU " + pl.server + ", the clients on CPUs " + pl.clients
		if pl.server == "" {
			where = "Azurite and the clients on every CPU"
		}
		figure("checksum_1gib_raw_download_seconds"+suffix, med(m.raw), "s, median (same reader, chunks and parallelism, no hashing); "+where)
		figure("checksum_1gib_ratio_vs_raw_download"+suffix, med(m.vsRaw), "median of the rounds' ratios (target <= 1.10); "+spread(m.vsRaw))
		figure("checksum_1gib_goldenpipe_seconds"+suffix, med(m.ours), "s, median; "+spread(m.ours))
		figure("checksum_1gib_curl_openssl_seconds"+suffix, med(m.openssl), "s, median; "+spread(m.openssl))
		figure("checksum_1gib_curl_sha256sum_seconds"+suffix, med(m.sha256sum), "s, median")
		figure("checksum_1gib_goldenpipe_mib_per_second"+suffix, float64(checksumBlobSize>>20)/med(m.ours), "MiB/s")
		figure("checksum_1gib_ratio_vs_curl_openssl"+suffix, med(m.vsOpenSSL), "median of the rounds' ratios (target <= 1.0); "+spread(m.vsOpenSSL))
	}
}

// placement is where a round runs: the CPUs of Azurite and of the clients,
// as taskset lists ("" for every CPU).
type placement struct{ name, server, clients string }

// apply moves Azurite's and the handler's threads to the placement's CPUs
// (the other clients start in them).
func (p placement) apply(azurite, handler int) error {
	for _, pc := range []struct {
		pid  int
		cpus string
	}{{azurite, p.server}, {handler, p.clients}} {
		cpus := pc.cpus
		if cpus == "" {
			cpus = fmt.Sprintf("0-%d", runtime.NumCPU()-1)
		}
		if out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pc.pid)).CombinedOutput(); err != nil {
			return fmt.Errorf("taskset %s on %d: %w: %s", cpus, pc.pid, err, out)
		}
	}
	return nil
}

// pinned makes cmd start on the given CPUs (a taskset list; "" for all).
func pinned(cmd *exec.Cmd, cpus string) {
	if cpus == "" {
		return
	}
	cmd.Args = append([]string{"taskset", "-c", cpus}, cmd.Args...)
	cmd.Path = "taskset"
	if p, err := exec.LookPath("taskset"); err == nil {
		cmd.Path = p
	} else {
		cmd.Err = err
	}
}

// checksumRounds are the four's times and the ratios of each round.
type checksumRounds struct {
	ours, raw, openssl, sha256sum, vsRaw, vsOpenSSL []float64
}

func (m *checksumRounds) add(ours, raw, openssl, sha256sum time.Duration) {
	m.ours, m.raw = append(m.ours, ours.Seconds()), append(m.raw, raw.Seconds())
	m.openssl, m.sha256sum = append(m.openssl, openssl.Seconds()), append(m.sha256sum, sha256sum.Seconds())
	m.vsRaw = append(m.vsRaw, ours.Seconds()/raw.Seconds())
	m.vsOpenSSL = append(m.vsOpenSSL, ours.Seconds()/openssl.Seconds())
}

func med(v []float64) float64 { c := slices.Clone(v); slices.Sort(c); return c[len(c)/2] }

func spread(v []float64) string {
	return fmt.Sprintf("over %d rounds: min %.3f, max %.3f", len(v), slices.Min(v), slices.Max(v))
}

// rawDownload is the raw-download peer's process (bench -raw-download): it
// reads the blob named by its environment with the handler's ranged reader,
// its default chunks and parallelism, into a hash that does nothing, with
// no read-ahead (each buffer is dropped before the next read, the fastest
// way to read into nothing), and prints how long that took.
func rawDownload() error {
	ctx := context.Background()
	svc, err := azure.NewBlobService(config.StorageConnection{Name: "bench", ConnectionString: os.Getenv("BENCH_RAW_CONNECTION")})
	if err != nil {
		return err
	}
	name := os.Getenv("BENCH_RAW_BLOB")
	blobs := azure.NewBlobs(svc, os.Getenv("BENCH_RAW_CONTAINER"))
	start := time.Now()
	ver, err := blobs.Properties(ctx, name)
	if err != nil {
		return err
	}
	peer := checksum.Hasher{NewHash: func() hash.Hash { return nopHash{} }, ReadAhead: -1}
	if _, err := peer.Sum(ctx, blobs, name, ver); err != nil {
		return err
	}
	fmt.Println(time.Since(start))
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
