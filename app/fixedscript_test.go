package app

import (
	"context"
	"strings"
	"testing"

	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/template"
)

// A script that breaks its templates (a domain join, which the practice
// check refuses) and is then fixed un-breaks them at once: restored, the
// template is valid again and up to date with its last build; fixed with a
// new version, it is valid and rebuilt, within one monitor tick of the
// script's upload, as any script change is.
func TestFixedScriptUnbreaksItsTemplates(t *testing.T) {
	h := newHarnessWith(t, "fixed", fastSimulator())
	good := []byte("Write-Host 'apps v1'\r\n")
	h.avdTemplate("avd", good)
	h.blobEvent("ScriptUploaded", h.s.ScriptsContainer, "avd/install-apps.ps1")
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
	first := h.monitorUntilDone("avd")
	if len(first) != 1 || first[0].State != builds.StateSucceeded {
		t.Fatalf("the first build: %+v", first)
	}
	record := func() template.Record {
		t.Helper()
		var rec template.Record
		if code := h.get("/api/templates/avd", &rec); code != 200 {
			t.Fatalf("GET template: %d", code)
		}
		return rec
	}
	scriptChange := func(body string) {
		t.Helper()
		h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", []byte(body))
		h.blobEvent("ScriptUploaded", h.s.ScriptsContainer, "avd/install-apps.ps1")
		h.invoke("BuildMonitor", []byte(timerBody)) // one tick
		h.drain()
	}

	// broken: the script joins a domain
	scriptChange("Write-Host 'apps v1'\r\nAdd-Computer -DomainName contoso.com -Restart\r\n")
	if rec := record(); rec.Valid || !strings.Contains(problemText(rec.Problems), "domain") {
		t.Fatalf("the template did not become invalid: valid=%v problems %v", rec.Valid, rec.Problems)
	}

	// restored as it was: valid again, and the image of that script is built
	scriptChange(string(good))
	rec := record()
	if !rec.Valid || rec.Rendered == nil {
		t.Fatalf("restored script: the template stays invalid: %v", rec.Problems)
	}
	if rec.Plan == nil || rec.Plan.Rebuild || rec.Rendered.Fingerprint != first[0].Fingerprint {
		t.Errorf("restored script: plan %+v, fingerprint %s (last build %s)", rec.Plan, rec.Rendered.Fingerprint, first[0].Fingerprint)
	}

	// broken again, then fixed with a new version: valid, and a build of it
	// requested in the same tick
	scriptChange("Add-Computer -DomainName contoso.com\r\n")
	if rec := record(); rec.Valid {
		t.Fatal("the template did not become invalid the second time")
	}
	scriptChange("Write-Host 'apps v2'\r\n")
	rec = record()
	if !rec.Valid || rec.Rendered == nil {
		t.Fatalf("fixed script: the template stays invalid: %v", rec.Problems)
	}
	var list []builds.Build
	h.getBuilds("/api/builds?template=avd", &list)
	if len(list) != 2 || list[0].Fingerprint != rec.Rendered.Fingerprint {
		t.Fatalf("fixed script: builds %v, want a second one of fingerprint %s", summarize(list), rec.Rendered.Fingerprint)
	}
	if list = h.monitorUntilDone("avd"); list[0].State != builds.StateSucceeded {
		t.Errorf("the rebuild: %s %s", list[0].State, list[0].Error)
	}
}

func problemText(ps []template.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.Path + ": " + p.Message + "\n")
	}
	return b.String()
}

// A template uploaded before its script is invalid ("does not exist");
// the script's upload makes it valid and requests its build at once.
func TestScriptUploadedAfterItsTemplateUnbreaksIt(t *testing.T) {
	h := newHarnessWith(t, "latescript", fastSimulator())
	h.avdTemplate("avd", []byte("Write-Host 'apps'\r\n"))
	if _, err := h.svc.NewContainerClient(h.s.ScriptsContainer).NewBlobClient("avd/install-apps.ps1").Delete(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
	var rec template.Record
	h.get("/api/templates/avd", &rec)
	if rec.Valid || !strings.Contains(problemText(rec.Problems), "does not exist") {
		t.Fatalf("without its script: valid %v, problems %v", rec.Valid, rec.Problems)
	}
	h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", []byte("Write-Host 'apps'\r\n"))
	h.blobEvent("ScriptUploaded", h.s.ScriptsContainer, "avd/install-apps.ps1")
	h.invoke("BuildMonitor", []byte(timerBody))
	h.drain()
	h.get("/api/templates/avd", &rec)
	if !rec.Valid {
		t.Fatalf("with its script: problems %v", rec.Problems)
	}
	var list []builds.Build
	h.getBuilds("/api/builds?template=avd", &list)
	if len(list) != 1 {
		t.Errorf("builds %v, want one requested", summarize(list))
	}
}
