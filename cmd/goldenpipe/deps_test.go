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
		if reason := devOnly(d); reason != "" {
			t.Errorf("cmd/goldenpipe links %s: %s", d, reason)
		}
	}
}

// devOnly says why a package must stay out of the handler binary: the
// simulator, fakes, in-memory stand-ins, the Azurite launcher (started by
// scripts/devrun and the tests only) and test helpers; "" when it may be
// linked.
func devOnly(pkg string) string {
	const mod = "github.com/goldenpipe/goldenpipe/"
	last := pkg[strings.LastIndex(pkg, "/")+1:]
	switch {
	case pkg == "github.com/Azure/azure-sdk-for-go/sdk/azcore/internal/pollers/fake":
		return "" // azcore's runtime poller, in every SDK client (see above)
	case last == "fake" || strings.HasPrefix(last, "fake") || strings.HasSuffix(last, "fake"):
		return "a fake"
	case strings.Contains(strings.ToLower(pkg), "azurite"):
		return "the Azurite launcher: the CLI reaches the emulator through internal/devstorage"
	case !strings.HasPrefix(pkg, mod):
		return ""
	case strings.Contains(pkg, "/simulator"):
		return "the simulator"
	case last == "inmem" || strings.HasPrefix(last, "inmem"):
		return "an in-memory stand-in"
	case strings.HasSuffix(last, "test") || last == "storetest" || strings.Contains(pkg, "/e2e"):
		return "a test helper"
	case strings.HasPrefix(pkg, mod+"scripts/"):
		return "dev tooling"
	}
	return ""
}

// devOnly itself: each kind of package it keeps out, and those it lets in.
func TestDevOnly(t *testing.T) {
	const mod = "github.com/goldenpipe/goldenpipe/"
	cases := []struct {
		pkg  string
		keep bool // may be linked
	}{
		{mod + "internal/azurite", false},
		{mod + "internal/azurite/azuritetest", false},
		{mod + "simulator", false},
		{mod + "simulator/aib", false},
		{mod + "inmem", false},
		{mod + "internal/storetest", false},
		{mod + "internal/apitest", false},
		{mod + "scripts/devrun", false},
		{"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/fake", false},
		{"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8/fake", false},
		{"github.com/Azure/azure-sdk-for-go/sdk/azcore/internal/pollers/fake", true},
		{mod + "internal/devstorage", true},
		{mod + "internal/cli", true},
		{mod + "azure", true},
		{"net/http", true},
	}
	for _, c := range cases {
		if got := devOnly(c.pkg) == ""; got != c.keep {
			t.Errorf("devOnly(%s) = %q: may be linked %v, want %v", c.pkg, devOnly(c.pkg), got, c.keep)
		}
	}
}
