// Package azurite starts and stops Azurite, the storage emulator, for tests
// and local runs. Azurite is the npm package pinned in package.json,
// installed by `npm ci` into node_modules; nothing is downloaded here.
package azurite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/devstorage"
)

// Account is an extra storage account (AZURITE_ACCOUNTS).
type Account = devstorage.Account

// Options configure Start.
type Options struct {
	// Location is where Azurite persists data; empty keeps it in memory.
	Location string
	// Accounts adds accounts beside devstoreaccount1.
	Accounts []Account
	// Log receives Azurite's output; nil discards it.
	Log io.Writer
	// Port is the blob service's port; 0 takes a free one.
	Port int
	// SeparateServices runs the blob and table services as two processes
	// (azurite-blob and azurite-table, on the same ports) instead of one.
	// Azure serves Blob and Table storage from separate front ends, each
	// with its own scalability targets ("Scalability and performance
	// targets for standard storage accounts", Microsoft Learn); one
	// Azurite serves all of its services on one Node.js thread, so a burst
	// of blob writes there queues every table read behind it. The benches
	// that load both at once use this.
	SeparateServices bool
}

// semiSpaceMiB is the size of each of the two halves of the young
// generation of Azurite's V8 heap (Node's default is 16 MiB). With the
// default, Azurite promotes the short-lived garbage of each request to
// its old generation, which at a few hundred thousand documents holds
// 450 MB alive: V8 then marks it every few seconds, and every request
// waits 200-700 ms (traced with --trace-gc in docs/benchmarks-history.md).
// Larger is not better: during a burst of writes most of what a scavenge
// copies survives (the documents written), so a scavenge of 128 MiB
// halves stood Azurite still for 80-170 ms, of 64 MiB for 50-80 ms
// (traced during the 1,000 templates burst, BENCHMARKS.md), and 64 MiB
// still kept the status page over 100,000 records under its target.
// Real Table and Blob storage have no such pauses, so the emulator's own
// tail is kept out of what the tests and benches measure.
const semiSpaceMiB = 64

// nodeOptions is NODE_OPTIONS for Azurite: the caller's, with the young
// generation's size unless the caller set one.
func nodeOptions(caller string) string {
	if strings.Contains(caller, "--max-semi-space-size") {
		return caller
	}
	return strings.TrimSpace(caller + " --max-semi-space-size=" + strconv.Itoa(semiSpaceMiB))
}

// Server is a running Azurite: its blob service on a port, its table
// service two ports above (as Azurite's own 10000 and 10002), and its queue
// service, which the app does not use, between them.
type Server struct {
	// BlobEndpoint is http://127.0.0.1:<port>, without an account.
	BlobEndpoint string
	// TableEndpoint is http://127.0.0.1:<port+2>, without an account.
	TableEndpoint string
	procs         []*process // one, or the blob's then the table's (SeparateServices)
}

// process is one Azurite process and the channel closed when it exits.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the path of azurite in the repository's node_modules.
func Binary() (string, error) { return binary("azurite") }

// binary returns the path of one of Azurite's commands (azurite,
// azurite-blob, azurite-table) in the repository's node_modules.
func binary(name string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "node_modules", ".bin", name)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("azurite is not installed at %s: run `npm ci` in %s (make test and make run do it)", bin, root)
	}
	return bin, nil
}

// RepoRoot walks up from the working directory to the folder with go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Start runs Azurite's blob service on a free loopback port and waits until
// it answers. Stop it with Stop; if this process dies first, the kernel stops
// it too (parent-death signal), so nothing is left running.
func Start(ctx context.Context, o Options) (*Server, error) {
	if _, err := Binary(); err != nil {
		return nil, err
	}
	var lastErr error
	attempts := 3
	if o.Port != 0 {
		attempts = 1 // the port asked for, or an error
	}
	for attempt := 0; attempt < attempts; attempt++ {
		s, err := start(ctx, o)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(ctx context.Context, o Options) (*Server, error) {
	port := o.Port
	if port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	for _, p := range []int{port, port + 1, port + 2} {
		if !PortFree(p) {
			return nil, fmt.Errorf("port %d on 127.0.0.1 is taken (Azurite needs %d to %d)", p, port, port+2)
		}
	}
	common := []string{"--disableTelemetry", "--skipApiVersionCheck", "--loose"}
	if o.Log == nil {
		// no one reads the access log: Azurite formats and writes a line
		// for every request otherwise (a tenth of its blob service's CPU,
		// profiled during a burst of 10,000 template uploads)
		common = append(common, "--silent")
	}
	blob := []string{"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port)}
	queue := []string{"--queueHost", "127.0.0.1", "--queuePort", strconv.Itoa(port + 1)}
	table := []string{"--tableHost", "127.0.0.1", "--tablePort", strconv.Itoa(port + 2)}
	type run struct {
		bin, dir string // the command, and its folder under o.Location
		args     []string
	}
	runs := []run{{"azurite", "", slices.Concat(blob, queue, table, common)}}
	if o.SeparateServices {
		runs = []run{{"azurite-blob", "blob", slices.Concat(blob, common)}, {"azurite-table", "table", slices.Concat(table, common)}}
	}
	s := &Server{BlobEndpoint: fmt.Sprintf("http://127.0.0.1:%d", port), TableEndpoint: fmt.Sprintf("http://127.0.0.1:%d", port+2)}
	for _, r := range runs {
		p, err := launch(r.bin, r.args, filepath.Join(o.Location, r.dir), o)
		if err != nil {
			s.Stop()
			return nil, err
		}
		s.procs = append(s.procs, p)
	}
	if err := s.wait(ctx, 60*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// launch starts one Azurite command with args, persisting under location
// (in memory when o.Location is empty).
func launch(name string, args []string, location string, o Options) (*process, error) {
	bin, err := binary(name)
	if err != nil {
		return nil, err
	}
	if o.Location != "" {
		if err := os.MkdirAll(location, 0o755); err != nil {
			return nil, fmt.Errorf("creating azurite's folder: %w", err)
		}
		args = append(args, "--location", location)
	} else {
		args = append(args, "--inMemoryPersistence")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NODE_OPTIONS="+nodeOptions(os.Getenv("NODE_OPTIONS")))
	if len(o.Accounts) > 0 {
		parts := []string{config.AzuriteAccount + ":" + config.AzuriteKey}
		for _, a := range o.Accounts {
			parts = append(parts, a.Name+":"+a.Key)
		}
		cmd.Env = append(cmd.Env, "AZURITE_ACCOUNTS="+strings.Join(parts, ";"))
	}
	out := o.Log
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (s *Server) wait(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		for _, p := range s.procs {
			select {
			case <-p.done:
				return errors.New("azurite exited during start-up (port taken?)")
			default:
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		ready := true
		for _, u := range []string{s.BlobEndpoint + "/" + config.AzuriteAccount + "?comp=list", s.TableEndpoint + "/" + config.AzuriteAccount + "/Tables"} {
			resp, err := http.Get(u)
			if err != nil {
				ready = false
				break
			}
			resp.Body.Close()
		}
		if ready {
			return nil
		}
	}
	return fmt.Errorf("azurite did not answer on %s within %s", s.BlobEndpoint, limit)
}

// Stop ends Azurite and waits for it to exit.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	for _, p := range s.procs {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	}
	for _, p := range s.procs {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
}

// Pid returns Azurite's process id (node's; the blob service's with
// SeparateServices), for the benchmarks that give it CPUs of its own.
func (s *Server) Pid() int { return s.procs[0].cmd.Process.Pid }

// Pids returns the process ids of Azurite's processes (one, or the blob
// service's then the table service's).
func (s *Server) Pids() []int {
	var pids []int
	for _, p := range s.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	return pids
}

// ConnectionString returns a connection string for an account on this
// Azurite (devstoreaccount1 when account is empty).
func (s *Server) ConnectionString(account Account) string {
	return ConnectionStringAt(s.BlobEndpoint, account)
}

// The endpoint and settings helpers live in internal/devstorage, which
// starts nothing, so internal/cli (and the handler binary) use them
// without linking this launcher; they are named here too for its callers.
var (
	ConnectionStringAt = devstorage.ConnectionStringAt
	TableEndpointOf    = devstorage.TableEndpointOf
	KeptPort           = devstorage.KeptPort
	KeepPort           = devstorage.KeepPort
	PointAt            = devstorage.PointAt
)

// PortFile is devstorage.PortFile.
const PortFile = devstorage.PortFile

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// PortsFree reports whether Azurite's three ports from port (blob, queue,
// table) are free now.
func PortsFree(port int) bool {
	return PortFree(port) && PortFree(port+1) && PortFree(port+2)
}

// PortFree reports whether a port on 127.0.0.1 can be listened on now.
func PortFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
