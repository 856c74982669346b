// Command devrun runs the app locally on embedded defaults: it starts Azurite
// (from node_modules) with the staging account, loads local.settings.json
// (or, when there is none, local.settings.json.example) as the Functions host
// would, points the settings at that Azurite, serves the handler on
// 127.0.0.1, loads examples/ and fires the blob events and timers the host
// would fire, so one build runs end to end. Ctrl-C stops everything.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/goldenpipe/goldenpipe/app"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/internal/blobwatch"
	"github.com/goldenpipe/goldenpipe/internal/local"
	"github.com/goldenpipe/goldenpipe/internal/placeholder"
	"github.com/goldenpipe/goldenpipe/simulator"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devrun:", err)
		os.Exit(1)
	}
}

func run() error {
	port := flag.Int("port", 7071, "port the handler listens on (as func start's default)")
	data := flag.String("data", "", "folder where Azurite keeps its data (default .local/azurite)")
	examples := flag.Bool("examples", true, "load examples/ and let their builds run")
	phase := flag.Duration("phase", 4*time.Second, "length of each simulated build phase")
	speed := flag.Float64("speed", 60, "how much faster than the wall clock the timers' clock runs: they fire on their function.json schedules "+
		"(MONITOR_SCHEDULE, REBUILD_SCHEDULE) on that clock, so at 60 the monitor's two minutes pass in 2 s and a night in 24 min")
	azPort := flag.Int("azurite-port", -1, "Azurite's blob port; by default the one kept in the data folder from the last run, "+
		"else the standard 10000, else a free one (kept for the next run), so URLs that name scripts keep working; 0 takes any free port")
	watch := flag.Duration("watch", time.Second, "how often the scripts and templates containers are listed for the blob events Event Grid would send")
	load := flag.String("load", "", "a folder of your own scripts and templates (scripts/ and templates/ inside it, as in examples/) "+
		"loaded after the examples, with the blob events Azure would send (default: local/ when it exists)")
	settingsDir := flag.String("settings", "", "the folder of local.settings.json (or its .example when there is none); default the repository's")
	serveSim := flag.Bool("serve-simulator", false, "serve the Image Builder simulator (with its marketplace, gallery and resource groups) over HTTP on -simulator-port, "+
		"and Azurite, for a handler started by the Functions host (func start) with AIB_SIMULATOR=http://127.0.0.1:<port>, as local.settings.json.example says; "+
		"the blob events of the scripts and templates containers go to -functions-host's Event Grid webhook")
	simPort := flag.Int("simulator-port", 7080, "with -serve-simulator: the simulator's port")
	funcHost := flag.String("functions-host", "http://127.0.0.1:7071", "with -serve-simulator: the Functions host the blob events are posted to "+
		"(POST /runtime/webhooks/eventgrid?functionName=…, as Microsoft documents for testing Event Grid triggers locally); empty: none")
	handlerOnly := flag.Bool("handler", false, "serve only the handler, configured by the environment as the Functions host starts it, "+
		"with the in-process bus and the simulator (in this process, or AIB_SIMULATOR=<url>): what the multi-process tests run")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *handlerOnly {
		sims := &local.Local{}
		return app.Run(ctx, app.Options{Lookup: os.LookupEnv, Stdout: os.Stdout, Overrides: app.Overrides{ARM: sims.ARM, ServiceBus: sims.ServiceBus, StagingGroups: sims.StagingGroups, Gallery: sims.GalleryVersions}})
	}

	root, err := azurite.RepoRoot()
	if err != nil {
		return err
	}
	if *settingsDir == "" {
		*settingsDir = root
	}
	values, source, err := config.LocalSettings(*settingsDir)
	if err != nil {
		return err
	}
	source = filepath.Join(*settingsDir, source)
	if !*serveSim {
		// make run is the in-process simulator and bus, whatever the file
		// says for the Functions host (local.settings.json.example points
		// the host's handler at -serve-simulator and a Service Bus)
		values[config.SettingSimulator], values[config.ConnServiceBus] = "true", "inprocess"
	}
	if *data == "" {
		*data = filepath.Join(root, ".local", "azurite")
	}
	blobPort := *azPort
	if blobPort < 0 {
		blobPort = azuritePort(*data, azurite.PortsFree)
	}
	az, err := azurite.Start(ctx, azurite.Options{Location: *data, Accounts: extraAccounts(values), Port: blobPort})
	if err != nil {
		return err
	}
	if err := azurite.KeepPort(*data, az.BlobEndpoint); err != nil {
		return err
	}
	defer az.Stop()
	azurite.PointAt(values, az.BlobEndpoint)
	if _, ok := values["FUNCTIONS_CUSTOMHANDLER_PORT"]; !ok {
		values["FUNCTIONS_CUSTOMHANDLER_PORT"] = strconv.Itoa(*port)
	}
	lookup := func(name string) (string, bool) {
		if v, ok := os.LookupEnv(name); ok { // the environment overrides the file
			return v, true
		}
		v, ok := values[name]
		return v, ok
	}
	settings, err := config.Load(lookup)
	if err != nil {
		return err
	}
	timers, err := readTimers(root, lookup)
	if err != nil {
		return err
	}
	if *speed <= 0 {
		return fmt.Errorf("-speed %v: must be above 0", *speed)
	}
	for _, t := range timers {
		fmt.Printf("timer %s on %q, on a clock %g times faster than yours (-speed)\n", t.Function, t.Expr, *speed)
	}
	if err := createContainers(ctx, settings); err != nil {
		return err
	}
	dirs := []string{}
	if *examples {
		dirs = append(dirs, filepath.Join(root, "examples"))
	}
	if *load != "" {
		dirs = append(dirs, *load)
	} else if st, err := os.Stat(filepath.Join(root, "local")); err == nil && st.IsDir() {
		dirs = append(dirs, filepath.Join(root, "local"))
	}
	for _, d := range dirs {
		fmt.Printf("loading %s, and what is added to it or changed while this runs (every %s)\n", d, *watch)
	}
	if *serveSim {
		return serveSimulator(ctx, settings, az, *simPort, *funcHost, dirs, *watch, *phase)
	}
	sim := simulator.NewImageBuilder()
	sim.CreateDuration, sim.PhaseDuration = *phase, *phase
	fmt.Printf("settings from %s\nazurite blob endpoint %s (accounts devstoreaccount1, aibstaging)\n", source, az.BlobEndpoint)
	fmt.Printf("azurite connection string (Storage Explorer, az storage --connection-string, azcopy): %s\n", az.ConnectionString(azurite.Account{}))
	fmt.Printf("upload to containers %q and %q with any tool: the blob events Azure would send are delivered (every %s)\n",
		settings.ScriptsContainer, settings.TemplatesContainer, *watch)
	sims := &local.Local{Builder: sim}
	return app.Run(ctx, app.Options{Lookup: lookup, Stdout: os.Stdout, Overrides: app.Overrides{ARM: sims.ARM, ServiceBus: sims.ServiceBus, Gallery: sims.GalleryVersions,
		StagingGroups: sims.StagingGroups, LoopbackOnly: true},
		Ready: func(addr string, a *app.App) {
			fmt.Printf("goldenpipe listening on %s  (status page %s/api/ ; Ctrl-C stops)\n", addr, addr)
			go watchFolders(ctx, dirs, settings, *watch)
			go runTimers(ctx, timers, speedClock{wall0: time.Now(), from: time.Now().UTC(), speed: *speed}, func(function string, body []byte) {
				if err := invoke(a.Server, function, body); err != nil {
					fmt.Fprintf(os.Stderr, "devrun: %v\n", err)
				}
			})
			if err := watchContainers(ctx, settings, a.Server, *watch); err != nil {
				fmt.Fprintf(os.Stderr, "devrun: watching the containers: %v\n", err)
			}
		}})
}

// azuritePort picks Azurite's port for a local run: the last run's when
// free, else the standard 10000 when free, else 0 (any free port).
func azuritePort(data string, free func(int) bool) int {
	if p, ok := azurite.KeptPort(data); ok && free(p) {
		return p
	}
	if free(10000) {
		return 10000
	}
	return 0
}

// extraAccounts returns the Azurite accounts the settings name besides
// devstoreaccount1 (the staging account of local runs).
func extraAccounts(values map[string]string) []azurite.Account {
	var out []azurite.Account
	for _, k := range []string{config.ConnStaging} {
		name, key := config.AccountKey(values[k])
		if name != "" && key != "" && name != config.AzuriteAccount && strings.Contains(values[k], "127.0.0.1") {
			out = append(out, azurite.Account{Name: name, Key: key})
		}
	}
	return out
}

// createContainers makes the scripts and templates containers a deployment
// would create, so a newcomer can upload to them at once.
func createContainers(ctx context.Context, s config.Settings) error {
	svc, err := azure.NewBlobService(s.Scripts)
	if err != nil {
		return err
	}
	for _, c := range []string{s.ScriptsContainer, s.TemplatesContainer} {
		if err := azure.EnsureContainer(ctx, svc, c); err != nil {
			return err
		}
	}
	return nil
}

// watchFolders loads folders laid out as examples/ (scripts/, templates/)
// into the containers, then, every interval until ctx ends, what was added
// to them or changed since (and deletes the blob of a file removed): the
// container watch delivers the blob events, as for any other upload.
// Templates' placeholders are expanded as goldenpipe upload expands them
// (internal/placeholder).
func watchFolders(ctx context.Context, dirs []string, s config.Settings, every time.Duration) {
	svc, err := azure.NewBlobService(s.Scripts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "devrun: %v\n", err)
		return
	}
	l := &loader{scripts: svc.NewContainerClient(s.ScriptsContainer), templates: svc.NewContainerClient(s.TemplatesContainer), seen: map[string]stamp{}}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for _, d := range dirs {
			if err := l.sync(ctx, d); err != nil && ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "devrun: loading %s: %v (tried again in %s)\n", d, err, every)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// stamp is what tells a file changed: its size and modification time.
type stamp struct {
	size int64
	mod  time.Time
}

// loader uploads the files of folders that are new or changed since it
// last looked. It is not safe for concurrent use.
type loader struct {
	scripts, templates *container.Client
	seen               map[string]stamp // by file path
}

// sync uploads folder's new and changed files, scripts first (a template
// names them), and deletes the blobs of files it loaded that are gone.
func (l *loader) sync(ctx context.Context, folder string) error {
	for _, kind := range []string{"scripts", "templates"} {
		base := filepath.Join(folder, kind)
		c := l.scripts
		if kind == "templates" {
			c = l.templates
		}
		present := map[string]bool{}
		if _, err := os.Stat(base); err == nil {
			err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				info, err := d.Info()
				if err != nil {
					return err
				}
				present[p] = true
				st := stamp{info.Size(), info.ModTime()}
				if old, ok := l.seen[p]; ok && old == st {
					return nil
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(base, p)
				name := filepath.ToSlash(rel)
				if kind == "templates" {
					b = placeholder.Expand(b, placeholder.Values{placeholder.ScriptsURL: l.scripts.URL()})
				}
				if _, err := c.NewBlockBlobClient(name).UploadBuffer(ctx, b, nil); err != nil {
					return err
				}
				l.seen[p] = st
				if kind == "templates" {
					fmt.Println("loaded template", name, "from", folder, "- its build starts when its plan asks for one")
				} else {
					fmt.Println("loaded script", name, "from", folder)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		for p := range l.seen {
			rel, err := filepath.Rel(base, p)
			if err != nil || !filepath.IsLocal(rel) || present[p] {
				continue
			}
			name := filepath.ToSlash(rel)
			if _, err := c.NewBlobClient(name).Delete(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
				return err
			}
			delete(l.seen, p)
			fmt.Println("removed", kind, name, "(deleted from", folder+")")
		}
	}
	return nil
}

// watchContainers delivers, through ScriptUploaded and TemplateUploaded as
// the host would, the Event Grid events of every change to the scripts and
// templates containers (internal/blobwatch), until ctx ends.
func watchContainers(ctx context.Context, s config.Settings, h http.Handler, every time.Duration) error {
	svc, err := azure.NewBlobService(s.Scripts)
	if err != nil {
		return err
	}
	account, _ := config.AccountKey(s.Scripts.ConnectionString)
	topic := "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/" + account
	for _, w := range []struct{ container, function string }{{s.ScriptsContainer, "ScriptUploaded"}, {s.TemplatesContainer, "TemplateUploaded"}} {
		function := w.function
		watcher := &blobwatch.Watcher{Container: svc.NewContainerClient(w.container), Topic: topic,
			Deliver: func(_ context.Context, event json.RawMessage) error {
				body, err := json.Marshal(map[string]any{"Data": map[string]any{"event": event},
					"Metadata": map[string]any{"sys": map[string]string{"MethodName": strconv.Quote(function),
						"UtcNow": strconv.Quote(time.Now().UTC().Format(time.RFC3339Nano))}}})
				if err != nil {
					return err
				}
				return invoke(h, function, body)
			}}
		go watcher.Watch(ctx, every, func(err error) { fmt.Fprintf(os.Stderr, "devrun: %v (delivered again on the next listing)\n", err) })
	}
	return nil
}

func invoke(h http.Handler, function string, body []byte) error {
	req := httptest.NewRequest(http.MethodPost, "/"+function, bytes.NewReader(body))
	req.Host = "127.0.0.1" // the host's own calls come from this machine
	req.Header.Set("X-Azure-Functions-InvocationId", "devrun")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("%s answered %d: %s", function, rec.Code, rec.Body)
	}
	return nil
}
