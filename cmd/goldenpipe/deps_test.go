package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The handler binary links no simulator, no in-process bus and none of the
// SDK's fake servers: those are injected by scripts/devrun, the benchmarks
// and the tests only.
func TestBinaryLinksNoSimulatorOrFakes(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps listed %d packages", len(deps))
	}
	for _, d := range deps {
		switch {
		case d == "github.com/Azure/azure-sdk-for-go/sdk/azcore/internal/pollers/fake":
			// azcore's own poller for the Fake-Poller-Status header: part of
			// every SDK client's runtime, not a fake server
		case strings.HasSuffix(d, "/fake") || strings.Contains(d, "/fake/") || strings.Contains(d, "azcore/fake"),
			strings.HasPrefix(d, "github.com/goldenpipe/goldenpipe/simulator"),
			d == "github.com/goldenpipe/goldenpipe/inmem",
			d == "github.com/goldenpipe/goldenpipe/internal/local":
			t.Errorf("cmd/goldenpipe links %s", d)
		}
	}
}
