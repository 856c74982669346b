package app

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/template"
)

// errDead is what a killed process's calls see: nothing more happens.
var errDead = goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "the process was killed")

// dying wraps the Image Builder and template catalog of one handler
// process and kills it at a chosen point: the call happens (or not), then
// nothing after it does. All that survives is in storage and in Azure.
type dying struct {
	builds.ImageBuilder
	templates builds.Templates
	point     string
	mu        sync.Mutex
	dead      bool
}

func (d *dying) check(point string, call func() error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return errDead
	}
	switch {
	case d.point == "before "+point:
		d.dead = true
		return errDead
	case d.point == "after "+point:
		_ = call()
		d.dead = true
		return errDead
	}
	return call()
}

func (d *dying) Create(ctx context.Context, name string, body []byte) error {
	return d.check("create", func() error { return d.ImageBuilder.Create(ctx, name, body) })
}
func (d *dying) Delete(ctx context.Context, name string) error {
	return d.check("delete", func() error { return d.ImageBuilder.Delete(ctx, name) })
}
func (d *dying) Run(ctx context.Context, name string) error {
	return d.check("run", func() error { return d.ImageBuilder.Run(ctx, name) })
}
func (d *dying) Get(ctx context.Context, name string) (goldenpipe.AIBTemplate, error) {
	var t goldenpipe.AIBTemplate
	err := d.check("get", func() (err error) { t, err = d.ImageBuilder.Get(ctx, name); return err })
	return t, err
}
func (d *dying) RecordBuild(ctx context.Context, name string, s template.BuildSummary) error {
	return d.check("record", func() error { return d.templates.RecordBuild(ctx, name, s) })
}

type dyingTemplates struct{ *dying }

func (d dyingTemplates) Get(ctx context.Context, name string) (template.Record, error) {
	return d.templates.Get(ctx, name)
}
func (d dyingTemplates) Refresh(ctx context.Context) ([]template.Record, error) {
	return d.templates.Refresh(ctx)
}

func TestKilledAfterEachStepTheBuildStillCompletes(t *testing.T) {
	points := []string{
		"after create",  // the template was created, nothing recorded after
		"before create", // "creating" recorded, the create never sent
		"after run",     // the run was started, nothing recorded after
		"before run",    // "running" recorded, the run never started
		"after get",     // mid-monitor: killed while observing
		"after record",  // mid-monitor: finished and recorded on the template, lane and slot not freed
	}
	for i, point := range points {
		t.Run(point, func(t *testing.T) {
			sim := fastSimulator()
			prefix := "crash" + string(rune('a'+i))
			first := newHarnessTuned(t, prefix, sim, nil, func(tu *Tuning) {
				tu.NoBuildOnUpload = true // the build is requested below, once
				tu.Builds.ReissueAfter = 50 * time.Millisecond
			})
			first.avdTemplate("avd", []byte("Write-Host crash\r\n"))
			first.blobEvent("TemplateUploaded", first.s.TemplatesContainer, "avd.json")
			d := &dying{ImageBuilder: first.ports.aib.ImageBuilder, templates: first.ports.buildTpls.Templates, point: point}
			first.ports.aib.ImageBuilder, first.ports.buildTpls.Templates = d, dyingTemplates{d}

			// the request, then the first process ticks until it dies
			first.invokeAllowFail("BuildRequested", serviceBusBody(`{"template":"avd","reason":"crash test"}`, "m-1"))
			for j := 0; j < 200 && !d.isDead(); j++ {
				first.invokeAllowFail("BuildMonitor", []byte(timerBody))
				time.Sleep(10 * time.Millisecond)
			}
			if !d.isDead() {
				t.Fatalf("the process never reached %q", point)
			}

			// a new process on the same storage and the same Azure
			second := newHarnessTuned(t, prefix, sim, nil, func(tu *Tuning) { tu.Builds.ReissueAfter = 50 * time.Millisecond })
			list := second.monitorUntilDone("avd")
			if len(list) != 1 || list[0].State != builds.StateSucceeded {
				t.Fatalf("list = %+v", list)
			}
			if c, r := sim.Builder.Calls("Create"), sim.Builder.Calls("Run"); c != 1 || r != 1 {
				t.Errorf("Image Builder saw %d creates and %d runs, want 1 and 1", c, r)
			}
			assertNoOrphans(t, second)
			var rec template.Record
			second.get("/api/templates/avd", &rec)
			if rec.LastBuild == nil || rec.LastBuild.BuildID != list[0].ID {
				t.Errorf("the template's last build = %+v", rec.LastBuild)
			}
			// the lane and slot were freed: another build of the template can start
			if code, body := postJSON(second, "/api/builds", `{"template":"avd","force":true}`); code != 202 {
				t.Fatalf("forced build after recovery: %d %s", code, body)
			}
			if list = second.monitorUntilDone("avd"); len(list) != 2 || list[0].State != builds.StateSucceeded {
				t.Errorf("the next build did not run: %+v", list)
			}
		})
	}
}

func (d *dying) isDead() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dead
}

// invokeAllowFail invokes a function and ignores a failed answer (a killed
// process answers nothing useful).
func (h *harness) invokeAllowFail(function string, body []byte) {
	rec := httptestRecorder()
	req := httptestRequest(function, body)
	h.srv.ServeHTTP(rec, req)
}

func serviceBusBody(body, id string) []byte {
	q := func(s string) string {
		b := strings.ReplaceAll(s, `\`, `\\`)
		return `"` + strings.ReplaceAll(b, `"`, `\"`) + `"`
	}
	return []byte(`{"Data":{"message":` + q(q(body)) + `},"Metadata":{"MessageId":` + q(q(id)) + `,"DeliveryCount":"1"}}`)
}
