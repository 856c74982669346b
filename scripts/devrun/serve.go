package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/internal/blobwatch"
	"github.com/goldenpipe/goldenpipe/simulator"
)

// serveSimulator is `devrun -serve-simulator`: for a handler the Functions
// host starts (func start) with AIB_SIMULATOR=http://127.0.0.1:<port>, it
// serves the Image Builder simulator over HTTP (simulator.Server: Image
// Builder, the marketplace's image versions, the gallery and the resource
// groups), fetching scripts from and writing VHDs and logs to the Azurite
// already started; it loads the folders and posts the blob events of the
// scripts and templates containers to the host's Event Grid webhook
// (funcHost; "" posts none). It stops when ctx ends.
func serveSimulator(ctx context.Context, s config.Settings, az *azurite.Server, port int, funcHost string, dirs []string, watch, phase time.Duration) error {
	svc, err := azure.NewBlobService(s.Scripts)
	if err != nil {
		return err
	}
	images := simulator.NewImages()
	if s.SimulatorImages != "" {
		b, err := os.ReadFile(s.SimulatorImages)
		if err == nil {
			err = images.Load(b)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", config.SettingSimulatorImages, err)
		}
	}
	b := simulator.NewImageBuilder()
	b.CreateDuration, b.PhaseDuration = phase, phase
	b.FetchScript = azure.NewBlobs(svc, s.ScriptsContainer).Fetch
	b.Groups, b.Gallery = simulator.NewGroups(), simulator.NewGallery()
	if s.Staging != nil {
		staging, err := azure.NewBlobService(*s.Staging)
		if err != nil {
			return err
		}
		st := &simulator.Staging{Container: staging.NewContainerClient("vhds"), Logs: staging.NewContainerClient("packerlogs")}
		b.VHDOutput, b.RunLog = st.VHD, st.Log
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("the simulator's port: %w (-simulator-port picks another; AIB_SIMULATOR must name it)", err)
	}
	srv := &http.Server{Handler: &simulator.Server{Images: images, Builder: b, Gallery: b.Gallery}, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	simURL := "http://" + l.Addr().String()
	fmt.Printf("azurite blob endpoint %s (accounts devstoreaccount1, aibstaging)\n", az.BlobEndpoint)
	fmt.Printf("simulator serving on %s: start the handler under the Functions host with AIB_SIMULATOR=%s (local.settings.json.example says so)\n", simURL, simURL)
	if funcHost != "" {
		fmt.Printf("blob events of containers %q and %q go to %s/runtime/webhooks/eventgrid (every %s)\n", s.ScriptsContainer, s.TemplatesContainer, funcHost, watch)
		account, _ := config.AccountKey(s.Scripts.ConnectionString)
		topic := "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/" + account
		for _, w := range []struct{ container, function string }{{s.ScriptsContainer, "ScriptUploaded"}, {s.TemplatesContainer, "TemplateUploaded"}} {
			watcher := &blobwatch.Watcher{Container: svc.NewContainerClient(w.container), Topic: topic, Deliver: eventGridWebhook(funcHost, w.function)}
			go watcher.Watch(ctx, watch, func(err error) { fmt.Fprintf(os.Stderr, "devrun: %v (delivered again on the next listing)\n", err) })
		}
	}
	go watchFolders(ctx, dirs, s, watch)
	fmt.Println("Ctrl-C stops the simulator and Azurite")
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// eventGridWebhook posts one event to the Functions host's Event Grid
// webhook, as Microsoft documents for trying an Event Grid trigger locally
// ("Azure Event Grid trigger for Azure Functions", local testing: POST
// http://localhost:7071/runtime/webhooks/eventgrid?functionName=<name>
// with the header aeg-event-type: Notification and an array of events).
func eventGridWebhook(host, function string) func(context.Context, json.RawMessage) error {
	endpoint := strings.TrimRight(host, "/") + "/runtime/webhooks/eventgrid?functionName=" + url.QueryEscape(function)
	hc := &http.Client{Timeout: 30 * time.Second}
	return func(ctx context.Context, event json.RawMessage) error {
		body := append(append([]byte("["), event...), ']')
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("aeg-event-type", "Notification")
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("posting the event to %s: %w", function, err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s's Event Grid webhook answered %d: %s", function, resp.StatusCode, bytes.TrimSpace(msg))
		}
		return nil
	}
}
