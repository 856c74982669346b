package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/internal/azurite/azuritetest"
)

var az *azurite.Server

// staging is the second Azurite account: Image Builder's staging account.
var staging = azurite.Account{Name: "aibstaging", Key: "Z29sZGVucGlwZSBsb2NhbCBzdGFnaW5nIGFjY291bnQga2V5IChub3QgYSBzZWNyZXQp"}

func TestMain(m *testing.M) { os.Exit(azuritetest.Run(m, &az, staging)) }

// TestScriptUploadedEndToEnd drives the handler exactly as the Functions host
// would: an Event Grid invocation for a blob uploaded to Azurite, then the
// API routes that show the catalog.
func TestScriptUploadedEndToEnd(t *testing.T) {
	conn := az.ConnectionString(azurite.Account{})
	p := uniquePrefix(t, "e2e")
	settings, err := config.Load(config.MapLookup(map[string]string{
		"Scripts": conn, "State": conn, "ServiceBus": "inprocess", "AIB_SIMULATOR": "true",
		"SCRIPTS_CONTAINER": p + "-scripts", "TEMPLATES_CONTAINER": p + "-templates", "STATE_CONTAINER": p + "-state",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	l := &sims{}
	a, err := Build(context.Background(), settings, slog.New(slog.NewJSONHandler(&logs, nil)), Overrides{ARM: l.ARM, ServiceBus: l.ServiceBus, Gallery: l.GalleryVersions})
	if err != nil {
		t.Fatal(err)
	}
	srv := a.Server
	svc, _ := azure.NewBlobService(settings.Scripts)
	for _, c := range []string{p + "-scripts", p + "-templates"} {
		if err := azure.EnsureContainer(context.Background(), svc, c); err != nil {
			t.Fatal(err)
		}
	}
	name := "avd/Install Teams.ps1"
	content := []byte("Write-Host 'installing Teams'\r\n")
	if _, err := svc.NewContainerClient(p+"-scripts").NewBlockBlobClient(name).UploadBuffer(context.Background(), content, nil); err != nil {
		t.Fatal(err)
	}
	blobURL := svc.NewContainerClient(p + "-scripts").NewBlobClient(name).URL()

	// the host's payload: the blob-created fixture, pointed at this blob
	b, err := os.ReadFile(filepath.Join("..", "testdata", "eventgrid", "blob-created.json"))
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Data     map[string]map[string]json.RawMessage
		Metadata json.RawMessage
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	env.Data["event"]["subject"], _ = json.Marshal("/blobServices/default/containers/" + p + "-scripts/blobs/" + name)
	env.Data["event"]["data"], _ = json.Marshal(map[string]any{"api": "PutBlob", "url": blobURL, "eTag": `"0x1"`, "contentLength": len(content), "blobType": "BlockBlob", "sequencer": "01"})
	body, _ := json.Marshal(env)

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/ScriptUploaded", bytes.NewReader(body))
	req.Header.Set("X-Azure-Functions-InvocationId", "e2e-1")
	srv.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("invocation: %d %s", rec.Code, rec.Body)
	}
	var answer struct{ Logs []string }
	_ = json.Unmarshal(rec.Body.Bytes(), &answer)
	sum := sha256.Sum256(content)
	want := hex.EncodeToString(sum[:])
	if !strings.Contains(strings.Join(answer.Logs, "\n"), want) {
		t.Errorf("Logs do not report the sha256: %q", answer.Logs)
	}

	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	code, out := get("/api/checksums/avd/Install%20Teams.ps1")
	var c goldenpipe.Checksum
	if err := json.Unmarshal([]byte(out), &c); code != 200 || err != nil || c.SHA256 != want || c.Size != int64(len(content)) {
		t.Errorf("GET checksum: %d %s", code, out)
	}
	if code, out := get("/api/checksums"); code != 200 || !strings.Contains(out, want) {
		t.Errorf("GET checksums: %d %s", code, out)
	}
	if code, out := get("/api/sha256sums"); code != 200 || out != want+"  "+name+"\n" {
		t.Errorf("GET sha256sums: %d %q", code, out)
	}
	if code, _ := get("/api/checksums/unknown.ps1"); code != 404 {
		t.Errorf("unknown script: %d, want 404", code)
	}
	if code, out := get("/api/health"); code != 200 || !strings.Contains(out, `"name": "Image Builder (simulator)"`) || !strings.Contains(out, `"name": "Service Bus"`) {
		t.Errorf("health (with Image Builder and the bus): %d %s", code, out)
	}
	if strings.Contains(logs.String(), "AccountKey") || strings.Contains(logs.String(), config.AzuriteKey) {
		t.Error("logs contain a storage key")
	}
}
