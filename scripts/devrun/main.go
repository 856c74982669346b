// Command devrun runs the app locally on embedded defaults: it starts Azurite
// (from node_modules), loads local.settings.json (or, when there is none,
// local.settings.json.example) as the Functions host would, points every
// UseDevelopmentStorage=true connection at that Azurite, and serves the
// handler on 127.0.0.1. Ctrl-C stops both; nothing is left running.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/goldenpipe/goldenpipe/app"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
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
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := azurite.RepoRoot()
	if err != nil {
		return err
	}
	values, source, err := loadSettings(root)
	if err != nil {
		return err
	}
	if *data == "" {
		*data = filepath.Join(root, ".local", "azurite")
	}
	az, err := azurite.Start(ctx, azurite.Options{Location: *data})
	if err != nil {
		return err
	}
	defer az.Stop()
	conn := az.ConnectionString(azurite.Account{})
	for k, v := range values {
		if strings.EqualFold(strings.ReplaceAll(v, " ", ""), "UseDevelopmentStorage=true") {
			values[k] = conn
		}
	}
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
	if err := createContainers(ctx, lookup); err != nil {
		return err
	}
	fmt.Printf("settings from %s\nazurite blob endpoint %s (account %s)\n", source, az.BlobEndpoint, "devstoreaccount1")
	return app.Run(ctx, app.Options{Lookup: lookup, Stdout: os.Stdout, Ready: func(addr string, _ *app.App) {
		fmt.Printf("goldenpipe listening on %s  (try %s/api/health; Ctrl-C stops)\n", addr, addr)
	}})
}

// loadSettings reads the Values of local.settings.json, or of the example.
func loadSettings(root string) (map[string]string, string, error) {
	for _, name := range []string{"local.settings.json", "local.settings.json.example"} {
		path := filepath.Join(root, name)
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		var f struct {
			Values map[string]string `json:"Values"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, "", fmt.Errorf("%s: %w", name, err)
		}
		return f.Values, name, nil
	}
	return nil, "", fmt.Errorf("neither local.settings.json nor local.settings.json.example in %s", root)
}

// createContainers makes the scripts and templates containers that a
// deployment would create, so a newcomer can upload to them at once.
func createContainers(ctx context.Context, lookup config.Lookup) error {
	s, err := config.Load(lookup)
	if err != nil {
		return err
	}
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
