package app

import (
	"testing"

	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/template"
)

// The event path is wired once, one way (issue 25): a checksum change
// reaches the template catalog, and a plan the builds, through the one
// pipeline; the builds call the catalog and the gallery keeper, the
// gallery the catalog, and no service hears of events from one it calls.
// With NoBuildOnUpload the catalog has no listener at all.
func TestEventPathIsWiredOnceOneWay(t *testing.T) {
	h := newHarness(t, "wiring")
	a := h.a
	if len(a.Checksums.Listeners) != 1 {
		t.Fatalf("the checksum service has %d listeners, want the pipeline", len(a.Checksums.Listeners))
	}
	p, ok := a.Checksums.Listeners[0].(*pipeline)
	if !ok {
		t.Fatalf("the checksum service's listener is a %T, want the pipeline", a.Checksums.Listeners[0])
	}
	if p.templates != a.Templates || p.builds != a.Builds {
		t.Errorf("the pipeline forwards to templates %p and builds %p, want the app's %p and %p", p.templates, p.builds, a.Templates, a.Builds)
	}
	if len(a.Templates.Listeners) != 1 || a.Templates.Listeners[0] != template.PlanListener(p) {
		t.Errorf("the template service's listeners = %v, want the one pipeline", a.Templates.Listeners)
	}
	// the builds call the catalog (through the harness's port) and the
	// gallery keeper; the gallery calls the catalog
	if h.ports.buildTpls.Templates != builds.Templates(a.Templates) || a.Builds.Gallery != builds.GalleryKeeper(a.Gallery) {
		t.Errorf("the builds call templates %v and gallery %v", h.ports.buildTpls.Templates, a.Builds.Gallery)
	}
	if a.Gallery.Templates != a.Templates {
		t.Errorf("the gallery reads templates from %v", a.Gallery.Templates)
	}
	quiet := newHarnessTuned(t, "wiringquiet", fastSimulator(), nil, noBuildOnUpload)
	if n := len(quiet.a.Templates.Listeners); n != 0 {
		t.Errorf("with NoBuildOnUpload the template service has %d listeners", n)
	}
	if n := len(quiet.a.Checksums.Listeners); n != 1 {
		t.Errorf("with NoBuildOnUpload the checksum service has %d listeners, want the pipeline", n)
	}
}
