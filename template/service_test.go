package template

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/goldenpipe/goldenpipe"
)

// TestScriptChangeReplans: a changed script re-plans the templates that
// use it as a recorded walk: the change's invocation passes ReplanLimit
// templates, ContinueReplans walks on from the cursor until every template
// was passed, each template using the script is rendered with the new
// checksum and its build requested, the others untouched.
func TestScriptChangeReplans(t *testing.T) {
	e := newCatalogEnv(t)
	ctx := context.Background()
	users := []string{"a", "b", "c"}
	for _, n := range users {
		e.uploadFile(n+".json", ubuntuSeed)
		e.mustEvent(goldenpipe.BlobCreated, n+".json")
	}
	e.upload("jammy.json", []byte(linuxBase))
	e.mustEvent(goldenpipe.BlobCreated, "jammy.json")
	for _, n := range append(slices.Clone(users), "jammy") {
		rec := e.get(n)
		sum := BuildSummary{BuildID: "b-" + n, Fingerprint: rec.Rendered.Fingerprint, SourceVersion: rec.Rendered.SourceVersion, Scripts: rec.Rendered.Scripts, FinishedAt: e.now}
		if err := e.s.RecordBuild(ctx, n, sum); err != nil {
			t.Fatal(err)
		}
	}
	heard := len(e.planned.heard())
	newSum := strings.Repeat("ab", 32)
	e.scripts.set("linux/hardening.sh", newSum)
	e.s.ReplanLimit = 2
	if err := e.s.ScriptChanged(ctx, "linux/hardening.sh"); err != nil {
		t.Fatal(err)
	}
	if walks := e.keys(replanPrefix); len(walks) != 1 {
		t.Fatalf("walks after the change: %v", walks)
	}
	for i := 0; i < 5 && len(e.keys(replanPrefix)) > 0; i++ {
		out, err := e.s.ContinueReplans(ctx, 0)
		if err != nil || !strings.Contains(out, `script "linux/hardening.sh"`) {
			t.Fatalf("tick %d: %q %v", i, out, err)
		}
	}
	if walks := e.keys(replanPrefix); len(walks) != 0 {
		t.Fatalf("walks left: %v", walks)
	}
	for _, n := range users {
		rec := e.get(n)
		if rec.Rendered.Scripts["linux/hardening.sh"] != newSum || !rec.Plan.Rebuild || rec.Stale || !strings.Contains(rec.Plan.Reason, "linux/hardening.sh") {
			t.Errorf("%s: script %s, plan %+v, stale %v", n, rec.Rendered.Scripts["linux/hardening.sh"], rec.Plan, rec.Stale)
		}
	}
	if rec := e.get("jammy"); rec.Plan.Rebuild {
		t.Errorf("jammy re-planned: %+v", rec.Plan)
	}
	if got := e.planned.heard()[heard:]; !slices.Equal(slices.Sorted(slices.Values(got)), users) {
		t.Errorf("requests %v, want %v", got, users)
	}
	if out, err := e.s.ContinueReplans(ctx, 0); out != "" || err != nil {
		t.Errorf("no walk: %q %v", out, err)
	}
}

// TestScriptChangeRestartsTheWalk: a newer change of the script, while a
// walk is on, restarts it from the first template; the walk's cursor is
// written with its ETag, so the older walk's save loses.
func TestScriptChangeRestartsTheWalk(t *testing.T) {
	e := newCatalogEnv(t)
	ctx := context.Background()
	e.s.Listeners = nil
	for _, n := range []string{"a", "b", "c"} {
		e.uploadFile(n+".json", ubuntuSeed)
		e.mustEvent(goldenpipe.BlobCreated, n+".json")
	}
	e.s.ReplanLimit = 1
	if err := e.s.ScriptChanged(ctx, "linux/index.html"); err != nil {
		t.Fatal(err)
	}
	var w replan
	if _, err := e.docs.Get(ctx, replanKey("linux/index.html"), &w); err != nil || w.Seen != 1 || w.Cursor == "" {
		t.Fatalf("walk %+v %v", w, err)
	}
	if err := e.s.ScriptChanged(ctx, "linux/index.html"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.docs.Get(ctx, replanKey("linux/index.html"), &w); err != nil || w.Seen != 1 {
		t.Errorf("restarted walk %+v %v", w, err)
	}
	// a walk that another instance moved on meanwhile: this one stops
	e.s.ReplanLimit = 0
	e.s.Docs = &racingDocs{Documents: e.docs, prefix: replanPrefix, times: 1}
	if out, err := e.s.ContinueReplans(ctx, 0); err != nil {
		t.Errorf("raced walk: %q %v", out, err)
	}
}

// TestReplanFailures: a walk that cannot go on is left for the monitor
// (the change itself succeeds); the monitor's tick reports the failure.
func TestReplanFailures(t *testing.T) {
	e := newCatalogEnv(t)
	ctx := context.Background()
	e.s.Listeners = nil
	e.uploadFile("a.json", ubuntuSeed)
	e.mustEvent(goldenpipe.BlobCreated, "a.json")
	e.s.Docs = failingDocs{e.docs, recordPrefix, "put"}
	if err := e.s.ScriptChanged(ctx, "linux/index.html"); err != nil {
		t.Fatalf("the change: %v", err)
	}
	if _, err := e.s.ContinueReplans(ctx, 0); err == nil || !strings.Contains(err.Error(), `marking template "a" stale`) {
		t.Errorf("tick: %v", err)
	}
	if walks := e.keys(replanPrefix); len(walks) != 1 {
		t.Errorf("walks: %v", walks)
	}
	e.s.Docs = failingDocs{e.docs, replanPrefix, "overwrite"}
	if err := e.s.ScriptChanged(ctx, "linux/index.html"); err == nil || !strings.Contains(err.Error(), `recording the re-planning of the templates that use "linux/index.html"`) {
		t.Errorf("unrecorded change: %v", err)
	}
	e.s.Docs = failingDocs{e.docs, replanPrefix, "keys"}
	if _, err := e.s.ContinueReplans(ctx, 0); err == nil {
		t.Error("unlisted walks: no error")
	}
}

// TestUsesScript: a template uses a script its rendering names, or (an
// invalid template has no rendering) its steps name.
func TestUsesScript(t *testing.T) {
	withIt := &Rendered{Scripts: map[string]string{"s.sh": "x"}}
	withoutIt := &Rendered{Scripts: map[string]string{"t.sh": "x"}}
	for name, c := range map[string]struct {
		rec  Record
		uses bool
	}{
		"rendered with it":    {Record{Rendered: withIt}, true},
		"invalid, naming it":  {Record{Scripts: []string{"s.sh"}}, true},
		"rendered without it": {Record{Rendered: withoutIt}, false},
		"nothing":             {Record{}, false},
	} {
		if got := c.rec.usesScript("s.sh"); got != c.uses {
			t.Errorf("%s: usesScript = %v, want %v", name, got, c.uses)
		}
	}
}

// TestSummaries: the templates' summaries, one page, with the first
// problems clipped.
func TestSummaries(t *testing.T) {
	e := newCatalogEnv(t)
	e.s.Listeners = nil
	e.uploadFile("ubuntu.json", ubuntuSeed)
	e.mustEvent(goldenpipe.BlobCreated, "ubuntu.json")
	e.upload("broken.json", []byte(`{"type": "Microsoft.VirtualMachineImages/imageTemplates"}`))
	e.mustEvent(goldenpipe.BlobCreated, "broken.json")
	list, next, err := e.s.Summaries(context.Background(), "", 10)
	if err != nil || next != "" || len(list) != 2 {
		t.Fatalf("summaries %+v %q %v", list, next, err)
	}
	byName := map[string]Summary{}
	for _, s := range list {
		byName[s.Name] = s
	}
	ubuntu := e.get("ubuntu")
	if s := byName["ubuntu"]; !s.Valid || s.Fingerprint != ubuntu.Rendered.Fingerprint || s.Plan == nil || !s.Plan.Rebuild {
		t.Errorf("ubuntu: %+v", s)
	}
	if s := byName["broken"]; s.Valid || s.ProblemCount == 0 || len(s.Problems) > summaryItems {
		t.Errorf("broken: %+v", s)
	}
	long := strings.Repeat("é", summaryText+10)
	rec := Record{Name: "x", Problems: make([]Problem, summaryItems+2), LastBuild: &BuildSummary{BuildID: "b", Scripts: map[string]string{"s": "1"}},
		Plan: &Plan{Reason: long, Changes: []string{"c"}}}
	rec.Problems[0].Message = long
	s := rec.Summarize()
	if len(s.Problems) != summaryItems || s.ProblemCount != summaryItems+2 || len([]rune(s.Problems[0].Message)) != summaryText ||
		!strings.HasSuffix(s.Plan.Reason, "…") || s.Plan.Changes != nil || s.LastBuild.BuildID != "b" || s.LastBuild.Scripts != nil {
		t.Errorf("summary %+v", s)
	}
}

// TestRestoreSecrets: a record holds stand-ins for a template's SAS
// signatures; the body sent to Image Builder gets them back from the
// template file as it is now; one without stand-ins is sent as it is.
func TestRestoreSecrets(t *testing.T) {
	e := newCatalogEnv(t)
	e.s.Listeners = nil
	ctx := context.Background()
	sas := "https://other.blob.core.windows.net/c/setup.sh?sv=2022-11-02&sp=r&sig=S3CRETsignature%3D"
	e.upload("sas.json", edit(t, linuxBase, "properties.customize.0.scriptUri", sas))
	e.mustEvent(goldenpipe.BlobCreated, "sas.json")
	rec := e.get("sas")
	if strings.Contains(rec.Source, "S3CRET") || strings.Contains(string(rec.Rendered.JSON), "S3CRET") ||
		!strings.Contains(string(rec.Rendered.JSON), goldenpipe.SecretPrefix) {
		t.Fatalf("the record holds the secret, or no stand-in")
	}
	body, err := e.s.RestoreSecrets(ctx, "sas", rec.Rendered.JSON)
	if err != nil || !strings.Contains(string(body), "S3CRETsignature") {
		t.Fatalf("restored: %v", err)
	}
	plain := []byte(`{"no":"secret"}`)
	if body, err := e.s.RestoreSecrets(ctx, "nobody", plain); err != nil || string(body) != string(plain) {
		t.Errorf("no stand-in: %s %v", body, err)
	}
	if _, err := e.s.RestoreSecrets(ctx, "nobody", rec.Rendered.JSON); goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		t.Errorf("unknown template: %v", err)
	}
	// the signature changed in the file since: the stand-in has no value
	e.upload("sas.json", edit(t, linuxBase, "properties.customize.0.scriptUri", strings.Replace(sas, "S3CRET", "N3W", 1)))
	if _, err := e.s.RestoreSecrets(ctx, "sas", rec.Rendered.JSON); err == nil || strings.Contains(err.Error(), "S3CRET") {
		t.Errorf("a changed secret: %v", err)
	}
	if err := e.blobs.Delete(ctx, "sas.json"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.RestoreSecrets(ctx, "sas", rec.Rendered.JSON); err == nil || !strings.Contains(err.Error(), `reading the secrets of template "sas" from sas.json`) {
		t.Errorf("file gone: %v", err)
	}
	e.s.Blobs = failingBlobs{e.blobs, "sas", "read"}
	e.upload("sas.json", edit(t, linuxBase, "properties.customize.0.scriptUri", sas))
	if _, err := e.s.RestoreSecrets(ctx, "sas", rec.Rendered.JSON); err == nil || !strings.Contains(err.Error(), "reading the secrets") {
		t.Errorf("file unreadable: %v", err)
	}
}

// TestListAndGetErrors: a store failure is reported, not taken for an
// empty catalog; RecordKey is the key the records are kept under.
func TestListAndGetErrors(t *testing.T) {
	e := newCatalogEnv(t)
	e.s.Docs = failingDocs{e.docs, recordPrefix, ""}
	if _, err := e.s.List(context.Background()); err == nil || !strings.Contains(err.Error(), "listing templates") {
		t.Errorf("list: %v", err)
	}
	if _, err := e.s.Get(context.Background(), "x"); goldenpipe.ErrorCode(err) != goldenpipe.EUNAVAILABLE {
		t.Errorf("get: %v", err)
	}
	if RecordKey("x") != recordKey("x") || !strings.HasPrefix(RecordKey("x"), RecordPrefix) {
		t.Errorf("RecordKey %q", RecordKey("x"))
	}
}
