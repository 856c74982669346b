package app

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
)

// Twenty POST /api/builds with force at once (a button pressed twenty
// times, a script retried by twenty agents) make one Image Builder build,
// and every answer names it (issue 26: they made two). A force asks for a
// build after the latest one; requests that see the same latest build ask
// for the same one.
func TestTwentyForcedRequestsMakeOneBuild(t *testing.T) {
	h := newHarnessTuned(t, "force", fastSimulator(), nil, noBuildOnUpload) // this test requests the builds
	h.avdTemplate("avd", []byte("Write-Host 1\r\n"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
	if code, body := postJSON(h, "/api/builds", `{"template":"avd"}`); code != http.StatusAccepted {
		t.Fatalf("first POST: %d %s", code, body)
	}
	h.monitorUntilDone("avd")
	before := h.sim.Calls("Create")

	const n = 20
	ids := make([]string, n)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := postJSON(h, "/api/builds", `{"template":"avd","force":true,"reason":"again"}`)
			codes[i] = code
			var answer struct {
				BuildID string `json:"buildId"`
			}
			_ = json.Unmarshal([]byte(body), &answer)
			ids[i] = answer.BuildID
		}()
	}
	wg.Wait()
	for i := range ids {
		if codes[i] != http.StatusAccepted || ids[i] == "" || ids[i] != ids[0] {
			t.Fatalf("answer %d: %d %q, want 202 naming %q", i, codes[i], ids[i], ids[0])
		}
	}
	list := h.monitorUntilDone("avd")
	if got := h.sim.Calls("Create") - before; got != 1 {
		t.Errorf("%d forced requests made %d Image Builder builds, want 1", n, got)
	}
	if len(list) != 2 || list[0].ID != ids[0] || !list[0].Force {
		var got []string
		for _, b := range list {
			got = append(got, b.ID+" "+string(b.State))
		}
		t.Errorf("builds %v, want the first and %s", got, ids[0])
	}
}
