// Package e2e runs the handler as real processes, as the Functions host
// does, against Azurite and a simulated Azure they share.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/apitest"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/internal/azurite/azuritetest"
	"github.com/goldenpipe/goldenpipe/simulator"
)

var az *azurite.Server

var staging = azurite.Account{Name: "aibstaging", Key: "Z29sZGVucGlwZSBsb2NhbCBzdGFnaW5nIGFjY291bnQga2V5IChub3QgYSBzZWNyZXQp"}

func TestMain(m *testing.M) { os.Exit(azuritetest.Run(m, &az, staging)) }

// handlerBinary builds cmd/goldenpipe once.
func handlerBinary(t *testing.T) string {
	t.Helper()
	// devrun -handler: the handler as the host starts it, configured by the
	// environment, with the in-process bus (the production binary links no
	// simulator and no in-process bus)
	bin := filepath.Join(t.TempDir(), "devrun")
	cmd := exec.Command("go", "build", "-o", bin, "../scripts/devrun")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type process struct {
	base string
	cmd  *exec.Cmd
}

func start(t *testing.T, bin string, env []string) *process {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(bin, "-handler")
	cmd.Env = append(append(os.Environ(), env...), fmt.Sprintf("FUNCTIONS_CUSTOMHANDLER_PORT=%d", port), "LOG_LEVEL=warn")
	if os.Getenv("E2E_DEBUG") != "" {
		cmd.Stdout = os.Stderr
	}
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p := &process{base: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	for i := 0; i < 300; i++ {
		if resp, err := http.Get(p.base + "/api/health"); err == nil {
			resp.Body.Close()
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the handler did not start")
	return nil
}

func (p *process) invoke(t *testing.T, function string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, p.base+"/"+function, bytes.NewReader(body))
	req.Header.Set("X-Azure-Functions-InvocationId", "e2e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s: %v", function, err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (p *process) builds(t *testing.T, template string) []builds.Build {
	var sums []builds.Summary
	if code := apitest.Get(p.base+"/api/builds?template="+template, &sums); code != http.StatusOK {
		t.Fatalf("GET builds of %s: %d", template, code)
	}
	list := make([]builds.Build, 0, len(sums))
	for _, s := range sums {
		var b builds.Build
		if code := apitest.Get(p.base+"/api/builds/"+s.ID, &b); code != http.StatusOK {
			t.Fatalf("GET build %s: %d", s.ID, code)
		}
		list = append(list, b)
	}
	return list
}

func sbBody(body, id string) []byte {
	enc := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return []byte(`{"Data":{"message":` + enc(enc(body)) + `},"Metadata":{"MessageId":` + enc(enc(id)) + `,"DeliveryCount":"1"}}`)
}

// unique returns prefix with a random suffix: containers of their own.
func unique(prefix string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// TestConcurrentRequestsToTwoProcesses: 20 copies of the same request,
// delivered at once to two handler processes sharing Azurite and Azure,
// make exactly one Image Builder template and one run.
func TestConcurrentRequestsToTwoProcesses(t *testing.T) {
	conn := az.ConnectionString(azurite.Account{})
	svc, err := azure.NewBlobService(config.StorageConnection{Name: "e2e", ConnectionString: conn})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := unique("twop") // new containers every run: the suite passes with -count=2
	for _, c := range []string{p + "-scripts", p + "-templates"} {
		if err := azure.EnsureContainer(ctx, svc, c); err != nil {
			t.Fatal(err)
		}
	}
	scripts := azure.NewBlobs(svc, p+"-scripts")
	sim := &simulator.Server{Images: simulator.NewImages(), Builder: simulator.NewImageBuilder()}
	sim.Builder.CreateDuration, sim.Builder.PhaseDuration = 50*time.Millisecond, 50*time.Millisecond
	sim.Builder.FetchScript = scripts.Fetch
	stagingSvc, err := azure.NewBlobService(config.StorageConnection{Name: "staging", ConnectionString: az.ConnectionString(staging)})
	if err != nil {
		t.Fatal(err)
	}
	sim.Builder.VHDOutput = (&simulator.Staging{Container: stagingSvc.NewContainerClient("vhds"), Size: 4 << 20}).VHD
	arm := httptest.NewServer(sim)
	defer arm.Close()

	script := []byte("Write-Host 'two processes'\r\n")
	if _, err := svc.NewContainerClient(p+"-scripts").NewBlockBlobClient("install.ps1").UploadBuffer(ctx, script, nil); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "template", "testdata", "seed", "windows-avd-powershell.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte("https://goldenscripts.blob.core.windows.net/scripts/avd/install-apps.ps1"), []byte(scripts.URL("install.ps1")))
	if _, err := svc.NewContainerClient(p+"-templates").NewBlockBlobClient("avd.json").UploadBuffer(ctx, raw, nil); err != nil {
		t.Fatal(err)
	}

	bin := handlerBinary(t)
	env := []string{"Scripts=" + conn, "State=" + conn, "ServiceBus=inprocess", "AIB_SIMULATOR=" + arm.URL,
		"SCRIPTS_CONTAINER=" + p + "-scripts", "TEMPLATES_CONTAINER=" + p + "-templates", "STATE_CONTAINER=" + p + "-state",
		"VHD_DESTINATION=" + az.BlobEndpoint + "/devstoreaccount1/" + p + "-vhds", "VhdStorage=" + conn, "StagingStorage=" + az.ConnectionString(staging)}
	a, b := start(t, bin, env), start(t, bin, env)

	// the template is read by one process (which also requests its build)
	event := map[string]any{"Data": map[string]any{"event": map[string]any{
		"id": "1", "eventType": "Microsoft.Storage.BlobCreated", "subject": "/blobServices/default/containers/" + p + "-templates/blobs/avd.json",
		"data": map[string]any{"url": svc.NewContainerClient(p + "-templates").NewBlobClient("avd.json").URL()},
	}}, "Metadata": map[string]any{}}
	body, _ := json.Marshal(event)
	if code := a.invoke(t, "TemplateUploaded", body); code != 200 {
		t.Fatalf("TemplateUploaded: %d", code)
	}

	// 20 copies of one request, at once, to both processes
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		p := a
		if i%2 == 1 {
			p = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code := p.invoke(t, "BuildRequested", sbBody(`{"template":"avd","reason":"copy","requestedBy":"e2e"}`, fmt.Sprintf("copy-%d", i))); code != 200 {
				t.Errorf("BuildRequested copy %d: %d", i, code)
			}
		}()
	}
	wg.Wait()

	// both monitors tick until the build ends
	timer := []byte(`{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`)
	deadline := time.Now().Add(30 * time.Second)
	var list []builds.Build
	for time.Now().Before(deadline) {
		var twg sync.WaitGroup
		for _, p := range []*process{a, b} {
			twg.Add(1)
			go func() { defer twg.Done(); p.invoke(t, "BuildMonitor", timer) }()
		}
		twg.Wait()
		list = a.builds(t, "avd")
		if len(list) > 0 && builds.Terminal(list[0].State) {
			break
		}
		time.Sleep(30 * time.Millisecond)
	}
	if len(list) != 1 || list[0].State != builds.StateSucceeded {
		for _, b := range list {
			t.Logf("%s: rescue %+v\nhistory %+v", b.ID, b.Rescue, b.History)
		}
		t.Fatalf("list = %+v", list)
	}
	if c, r := sim.Builder.Calls("Create"), sim.Builder.Calls("Run"); c != 1 || r != 1 {
		t.Errorf("Image Builder saw %d creates and %d runs, want exactly 1 and 1", c, r)
	}
	if names := sim.Builder.Templates(); len(names) != 0 || sim.Builder.Calls("Delete") != 1 {
		t.Errorf("Image Builder templates %v after %d deletes; the one template should be deleted once its VHD was safe\n%+v", names, sim.Builder.Calls("Delete"), list[0].History)
	}
	if !strings.HasPrefix(list[0].ID, "avd-") {
		t.Errorf("build id %s", list[0].ID)
	}
}
