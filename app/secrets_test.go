package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
)

// The secrets a user writes into a template: a SAS's signature in a File
// step's sourceUri, one written with a JSON escape (\u0026sig=), and a
// storage account key in an inline command's connection string.
const (
	userSig     = "SECRETsig0uV7%2Bx4kQ9%2FzP3mL2%3D"
	userEscSig  = "SECRETesc8Jd2mQx%2BaZ0%3D"
	userKey     = "SECRETkey4Zm9uZ3JhdA+LCBwaXBl/ZXM=="
	userSASURL  = "https://contoso.blob.core.windows.net/installers/app.zip?sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01T00:00:00Z&spr=https&sig=" + userSig
	userConnStr = "DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=" + userKey + ";EndpointSuffix=core.windows.net"
)

var userSecrets = []string{"SECRETsig", "SECRETesc", "SECRETkey"}

// bodyRecorder keeps the bodies sent to Image Builder.
type bodyRecorder struct {
	builds.ImageBuilder
	mu     sync.Mutex
	bodies [][]byte
}

func (r *bodyRecorder) Create(ctx context.Context, name string, body []byte) error {
	r.mu.Lock()
	r.bodies = append(r.bodies, append([]byte(nil), body...))
	r.mu.Unlock()
	return r.ImageBuilder.Create(ctx, name, body)
}

// leaks names the user secrets s holds.
func leaks(s string) []string {
	var out []string
	for _, secret := range userSecrets {
		if strings.Contains(s, secret) {
			out = append(out, secret)
		}
	}
	return out
}

// A template carrying a user's SAS and account key: no page, no JSON
// answer, no record (every blob of the state container, every entity of
// its tables) and no log line holds them, on every GET route of the API
// and the status page; the body sent to Image Builder holds them all.
func TestUserSecretsAreNeverShownOrKept(t *testing.T) {
	h := newHarnessWith(t, "secrets", fastSimulator())
	restorer := h.ports.aib.ImageBuilder.(*secretsRestorer)
	rec := &bodyRecorder{ImageBuilder: restorer.ImageBuilder}
	restorer.ImageBuilder = rec // what reaches Image Builder, past the restorer

	url := h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", []byte("Write-Host 'apps'\r\n"))
	raw, err := os.ReadFile(filepath.Join("..", "template", "testdata", "seed", "windows-avd-powershell.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte("https://goldenscripts.blob.core.windows.net/scripts/avd/install-apps.ps1"), []byte(url))
	var tpl map[string]any
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	props := tpl["properties"].(map[string]any)
	props["customize"] = append([]any{
		map[string]any{"type": "File", "name": "installer", "sourceUri": userSASURL, "destination": `C:\install\app.zip`},
		map[string]any{"type": "File", "name": "escaped", "sourceUri": "https://contoso.blob.core.windows.net/installers/b.zip?sv=2022-11-02&se=2030-01-01T00:00:00Z&sr=b&sp=r&ESCAPED_AMPsig=" + userEscSig, "destination": `C:\install\b.zip`},
		map[string]any{"type": "PowerShell", "name": "connect", "inline": []string{"$env:APP_STORAGE = '" + userConnStr + "'"}, "runElevated": false},
	}, props["customize"].([]any)...)
	text, _ := json.MarshalIndent(tpl, "", "  ")
	text = bytes.ReplaceAll(text, []byte(`\u0026ESCAPED_AMPsig=`), []byte(`\u0026sig=`)) // written as the user wrote it
	if !bytes.Contains(text, []byte(`\u0026sig=SECRETesc`)) || !bytes.Contains(text, []byte(userSig)) {
		t.Fatalf("the template does not hold the secrets as written: %s", text)
	}
	h.upload(h.s.TemplatesContainer, "avd.json", text)
	h.blobEvent("ScriptUploaded", h.s.ScriptsContainer, "avd/install-apps.ps1")
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
	list := h.monitorUntilDone("avd")
	if len(list) != 1 || list[0].State != builds.StateSucceeded {
		t.Fatalf("the build: %+v", list)
	}
	// a build requested through the API and a nightly run, for their answers and records
	if code, body := postJSON(h, "/api/builds", `{"template":"avd","force":true,"reason":"secrets test"}`); code != 202 || len(leaks(body)) > 0 {
		t.Errorf("POST /api/builds: %d %s", code, body)
	}
	h.invoke("NightlyRebuild", []byte(timerBody))
	list = h.monitorUntilDone("avd")

	// Image Builder got the real values
	rec.mu.Lock()
	bodies := rec.bodies
	rec.mu.Unlock()
	if len(bodies) == 0 {
		t.Fatal("nothing was sent to Image Builder")
	}
	for _, b := range bodies {
		var sent struct {
			Properties struct {
				Customize []map[string]any `json:"customize"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(b, &sent); err != nil || len(sent.Properties.Customize) < 3 {
			t.Fatalf("the body sent: %v %s", err, b)
		}
		c := sent.Properties.Customize
		if c[0]["sourceUri"] != userSASURL || !strings.HasSuffix(c[1]["sourceUri"].(string), "&sig="+userEscSig) ||
			!strings.Contains(c[2]["inline"].([]any)[0].(string), "AccountKey="+userKey+";") {
			t.Errorf("Image Builder did not get the user's values: %v", c[:3])
		}
	}

	// every GET route of the API and the status page
	id := list[0].ID
	paths := []string{"/api/", "/api/view/templates/avd", "/api/view/builds/" + id, "/api/health",
		"/api/checksums", "/api/checksums/avd/install-apps.ps1", "/api/sha256sums", "/api/templates", "/api/templates/avd",
		"/api/templates/avd/gallery", "/api/builds", "/api/builds?template=avd", "/api/builds/rejected", "/api/builds/" + id}
	for _, b := range list {
		paths = append(paths, "/api/builds/"+b.ID, "/api/view/builds/"+b.ID)
	}
	covered := map[string]bool{}
	routes := getRoutes(t)
	for _, p := range paths {
		r := httptest.NewRequest(http.MethodGet, p, nil)
		if _, pattern := routes.Handler(r); pattern != "" {
			covered[pattern] = true
		}
		w := httptest.NewRecorder()
		h.srv.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Errorf("GET %s: %d %s", p, w.Code, w.Body)
		}
		if l := leaks(w.Body.String()); len(l) > 0 {
			t.Errorf("GET %s shows %v", p, l)
		}
	}
	for _, pattern := range routePatterns(t) {
		if !covered[pattern] {
			t.Errorf("route %q was not walked", pattern)
		}
	}

	// every record: the state container's blobs and its tables' entities
	ctx := context.Background()
	state := h.svc.NewContainerClient(h.s.StateContainer)
	blobs := 0
	for pager := state.NewListBlobsFlatPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Segment.BlobItems {
			blobs++
			resp, err := state.NewBlobClient(*it.Name).DownloadStream(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if l := leaks(string(b)); len(l) > 0 {
				t.Errorf("record %s keeps %v", *it.Name, l)
			}
			for k, v := range it.Metadata {
				if v != nil && len(leaks(*v)) > 0 {
					t.Errorf("record %s keeps a secret in its metadata %s", *it.Name, k)
				}
			}
		}
	}
	tables, err := azure.NewTableService(h.s.State)
	if err != nil {
		t.Fatal(err)
	}
	prefix := azure.TableName(h.s.StateContainer, "")
	entities := 0
	for tp := tables.NewListTablesPager(nil); tp.More(); {
		page, err := tp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range page.Tables {
			if !strings.HasPrefix(*tb.Name, prefix) {
				continue
			}
			for ep := tables.NewClient(*tb.Name).NewListEntitiesPager(&aztables.ListEntitiesOptions{}); ep.More(); {
				page, err := ep.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page.Entities {
					entities++
					if l := leaks(string(e)); len(l) > 0 {
						t.Errorf("table %s keeps %v", *tb.Name, l)
					}
				}
			}
		}
	}
	if blobs < 5 || entities < 3 {
		t.Errorf("walked %d blobs and %d entities: too few to be the records", blobs, entities)
	}

	// the log
	if l := leaks(h.logs.String()); len(l) > 0 {
		t.Errorf("the log shows %v", l)
	}
}

// routePatterns are the GET patterns the API and the status page register
// (read from their source, so a new route is walked or this test fails).
func routePatterns(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`"(GET /api/[^"]*)"`)
	var out []string
	for _, f := range []string{"../handlers/api.go", "../statuspage/statuspage.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if m[1] != "GET /api/view/" { // the status page's prefix, routed by its own patterns
				out = append(out, m[1])
			}
		}
	}
	return out
}

// getRoutes is a mux with those patterns, to tell which one a path takes.
func getRoutes(t *testing.T) *http.ServeMux {
	mux := http.NewServeMux()
	seen := map[string]bool{}
	for _, p := range routePatterns(t) {
		if !seen[p] {
			seen[p] = true
			mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
		}
	}
	return mux
}
