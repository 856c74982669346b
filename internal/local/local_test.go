package local

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/simulator"
)

// Issue 26: with AIB_SIMULATOR=<url>, the handler reads gallery versions
// from the served simulator's gallery (the one its Image Builder publishes
// to), not from an empty gallery of its own.
func TestGalleryOfTheServedSimulator(t *testing.T) {
	const img = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/g/images/avd"
	served := &simulator.Server{Images: simulator.NewImages(), Builder: simulator.NewImageBuilder()}
	srv := httptest.NewServer(served)
	defer srv.Close()
	// the server makes its gallery at the first request, and its builder
	// publishes there
	g, err := (&Local{}).GalleryVersions(config.Settings{Simulator: true, SimulatorURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if vs, err := g.Versions(context.Background(), img); err != nil || len(vs) != 0 {
		t.Fatalf("a definition never published to: %v %v, want no versions", vs, err)
	}
	if served.Gallery == nil || served.Builder.Gallery != served.Gallery {
		t.Fatal("the served simulator's builder does not publish to its gallery")
	}
	served.Gallery.Publish(img, "1.0.0", false, nil)
	vs, err := g.Versions(context.Background(), img)
	if err != nil || len(vs) != 1 || vs[0].Name != "1.0.0" {
		t.Errorf("versions read through AIB_SIMULATOR=%s: %+v %v", srv.URL, vs, err)
	}
}
