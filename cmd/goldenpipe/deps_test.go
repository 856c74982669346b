package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// linked is what go list -deps says the handler binary links.
func linked(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps listed %d packages", len(deps))
	}
	return deps
}

// The handler binary links no simulator, no in-process bus and none of the
// SDK's fake servers: those are injected by scripts/devrun, the benchmarks
// and the tests only.
func TestBinaryLinksNoSimulatorOrFakes(t *testing.T) {
	deps := linked(t)
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
	case pkg == mod+"internal/local":
		return "the simulated Azure, wired into app.Build by devrun, the benches and the tests"
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
		{mod + "internal/local", false},
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

// The module's own stand-ins, by name (issue 25: "go list -deps
// ./cmd/goldenpipe contains no simulator, fake, in-memory or Azurite
// package"): each is a package that exists, so a rename that took one out
// of this list's sight fails here, and none is linked by the binary. The
// one package about the storage emulator the binary links is
// internal/devstorage (the CLI's upload -settings points local settings at
// the Azurite of the last make run): it starts and reaches nothing itself,
// which is checked too.
func TestBinaryLinksNoStandIn(t *testing.T) {
	const mod = "github.com/goldenpipe/goldenpipe/"
	standIns := []string{"simulator", "inmem", "internal/azurite", "internal/azurite/azuritetest", "internal/local",
		"internal/storetest", "internal/apitest", "scripts/devrun", "scripts/bench"}
	out, err := exec.Command("go", "list", "-e", "-f", "{{.ImportPath}} {{if .Error}}missing{{end}}", "../../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var all []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) == 1 {
			all = append(all, f[0])
		}
	}
	deps := linked(t)
	for _, p := range standIns {
		if !slices.Contains(all, mod+p) {
			t.Errorf("%s is not a package of the module any more: update this list", p)
		}
		if slices.Contains(deps, mod+p) {
			t.Errorf("cmd/goldenpipe links %s", p)
		}
		if devOnly(mod+p) == "" {
			t.Errorf("devOnly lets %s in", p)
		}
	}
	for _, d := range deps {
		if strings.HasSuffix(d, "/fake") || strings.Contains(d, "/fake/") {
			if d != "github.com/Azure/azure-sdk-for-go/sdk/azcore/internal/pollers/fake" {
				t.Errorf("cmd/goldenpipe links %s", d)
			}
		}
	}
	out, err = exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, mod+"internal/devstorage").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, imp := range strings.Fields(string(out)) {
		if imp == "os/exec" || imp == "net" || imp == "net/http" || strings.HasPrefix(imp, mod+"internal/azurite") {
			t.Errorf("internal/devstorage, linked by the binary, imports %s: it must start and reach nothing", imp)
		}
	}
}
