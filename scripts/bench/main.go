// Command bench runs the benchmarks of `make bench` and prints one figure per
// line ("name value"). Each figure that has a peer is measured in the same
// run as the peer, on the same data, and reported as a ratio too.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe/app"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
)

type bench struct {
	name string
	run  func(ctx context.Context, w *workspace) error
}

var benches = []bench{
	{"checksum", benchChecksum},
	{"nightly", benchNightly},
	{"rescue", benchRescue},
	{"monitor", benchMonitor},
	{"scale", benchScale},
	{"burst-tick", benchBurstTick},
	{"burst", benchBurst1000},
	{"burst-10k", benchBurst10000},
}

// workspace is what the benchmarks share: a temp folder and the built binary.
type workspace struct {
	dir     string
	handler string
}

func main() {
	only := flag.String("only", "", "run only the benchmarks of these names (comma-separated)")
	runs := flag.Int("runs", 3, "runs of each timed command (the median is reported)")
	flag.BoolVar(&oneAzurite, "one-azurite", false, "run blob and table storage in one Azurite process (the peer of SeparateServices)")
	rawPeer := flag.Bool("raw-download", false, "be the checksum's raw-download peer (the benchmark starts it)")
	flag.Parse()
	repeats = *runs
	if *rawPeer {
		if err := rawDownload(); err != nil {
			fmt.Fprintln(os.Stderr, "bench -raw-download:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var repeats = 3

// oneAzurite runs the app's storage in one Azurite process (-one-azurite):
// the peer of the benches' default, blob and table storage as two.
var oneAzurite bool

func run(only string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "goldenpipe-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	w := &workspace{dir: dir, handler: filepath.Join(dir, "goldenpipe")}
	// the handler as the host starts it, with the in-process bus and the
	// simulator that the production binary does not link (devrun -handler)
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", w.handler, "./scripts/devrun")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the handler: %w", err)
	}
	for _, b := range benches {
		if only != "" && !slices.Contains(strings.Split(only, ","), b.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "# %s\n", b.name)
		if err := b.run(ctx, w); err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
	}
	return nil
}

// localApp starts an Azurite of its own and loads the app's settings
// pointed at it (the in-process bus, the simulator), with extra settings;
// stop ends Azurite.
func localApp(ctx context.Context, extra map[string]string) (az *azurite.Server, conn string, s config.Settings, err error) {
	// blob and table storage as two processes, as Azure serves them from
	// separate front ends (internal/azurite: SeparateServices)
	if az, err = azurite.Start(ctx, azurite.Options{SeparateServices: !oneAzurite}); err != nil {
		return nil, "", s, err
	}
	conn = az.ConnectionString(azurite.Account{})
	values := map[string]string{"Scripts": conn, "State": conn, "ServiceBus": "inprocess", "AIB_SIMULATOR": "true"}
	for k, v := range extra {
		values[k] = v
	}
	if s, err = config.Load(config.MapLookup(values)); err != nil {
		az.Stop()
		return nil, "", s, err
	}
	return az, conn, s, nil
}

// stateStore is the app's state store for settings, as the app makes it.
func stateStore(s config.Settings) (*azure.Store, error) {
	blobs, err := azure.NewBlobService(s.State)
	if err != nil {
		return nil, err
	}
	tables, err := azure.NewTableService(s.State)
	if err != nil {
		return nil, err
	}
	if err := azure.EnsureContainer(context.Background(), blobs, s.StateContainer); err != nil {
		return nil, err
	}
	return azure.NewStore(blobs, tables, s.StateContainer, app.StateKinds), nil
}

// handlerProcess is the handler started as the Functions host starts it,
// with the in-process bus and the simulator (devrun -handler).
type handlerProcess struct {
	cmd  *exec.Cmd
	base string
}

// startHandler starts the handler on a free port with the given settings
// and waits until it answers /api/health; stop ends it.
func startHandler(ctx context.Context, w *workspace, settings ...string) (*handlerProcess, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, w.handler, "-handler")
	cmd.Env = append(append(os.Environ(), fmt.Sprintf("FUNCTIONS_CUSTOMHANDLER_PORT=%d", port), "ServiceBus=inprocess", "LOG_LEVEL=warn"), settings...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &handlerProcess{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	if err := waitHTTP(ctx, h.base+"/api/health"); err != nil {
		h.stop()
		return nil, err
	}
	return h, nil
}

func (h *handlerProcess) stop() { _ = h.cmd.Process.Kill(); _ = h.cmd.Wait() }

// figure prints one result line.
func figure(name string, v float64, unit string) {
	fmt.Printf("%s %.3f %s\n", name, v, unit)
}

// median times fn repeats times and returns the median duration.
func median(fn func() error) (time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < repeats; i++ {
		start := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], nil
}

// peakRSS returns a process's peak resident set (VmHWM) in MiB.
func peakRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb); err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
