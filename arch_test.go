package goldenpipe

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// layer is where a package of the module stands in the architecture.
type layer string

const (
	layerRoot    layer = "root"    // the domain's nouns and ports
	layerLib     layer = "library" // pure helpers the domain uses: no I/O of their own
	layerDomain  layer = "domain"  // a domain service
	layerAdapter layer = "adapter" // reaches Azure, the host or a stand-in of them
	layerWiring  layer = "wiring"  // builds the app from services and adapters, or drives it
	layerTool    layer = "tool"    // dev tooling, tests' helpers, the binaries
)

// architecture places every package of the module (issue 25): a new
// package must be placed here, or TestArchitecture fails.
var architecture = map[string]layer{
	"":                             layerRoot,
	"arm":                          layerLib, // ARM template functions, evaluated in memory
	"blobevent":                    layerLib,
	"practice":                     layerLib,
	"internal/jsontree":            layerLib,
	"internal/docstore":            layerLib, // algorithms over the Documents port (Update, ReadAll, SummaryPage): I/O only through the port it is given
	"internal/defaults":            layerLib, // the clock and logger a service falls back to
	"builds":                       layerDomain,
	"checksum":                     layerDomain,
	"gallery":                      layerDomain,
	"statuspage":                   layerDomain,
	"template":                     layerDomain,
	"azure":                        layerAdapter,
	"config":                       layerAdapter, // app settings, from the environment
	"host":                         layerAdapter,
	"inmem":                        layerAdapter,
	"simulator":                    layerAdapter,
	"internal/apitest":             layerAdapter,
	"internal/azurite":             layerAdapter,
	"internal/azurite/azuritetest": layerAdapter,
	"internal/blobwatch":           layerAdapter,
	"internal/clock":               layerAdapter,
	"internal/devstorage":          layerAdapter,
	"internal/ncrontab":            layerAdapter,
	"internal/pack":                layerAdapter,
	"internal/placeholder":         layerAdapter,
	"handlers":                     layerWiring, // decode, call a service, answer
	"app":                          layerWiring,
	"internal/cli":                 layerWiring, // the commands drive the app's API and render offline with the template service's renderer
	"internal/local":               layerWiring, // the simulated Azure, wired into app.Build (its bus delivers to handlers' functions)
	"internal/storetest":           layerTool,   // checks the store adapters against the services' ports (template.Blobs, checksum.Blobs)
	"cmd/goldenpipe":               layerTool,
	"e2e":                          layerTool,
	"scripts/bench":                layerTool,
	"scripts/devrun":               layerTool,
	"scripts/package":              layerTool,
}

const module = "github.com/goldenpipe/goldenpipe"

// moduleDeps lists, for every package of the module, the packages of the
// module it links (go list's Deps: transitive, tests excluded).
func moduleDeps(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		var own []string
		for _, d := range f[1:] {
			if rel, ok := relPackage(d); ok {
				own = append(own, rel)
			}
		}
		rel, _ := relPackage(f[0])
		deps[rel] = own
	}
	return deps
}

// relPackage is a package's path inside the module ("" the root).
func relPackage(path string) (string, bool) {
	if path == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	return rel, ok
}

// TestArchitecture: adapters (azure, host, inmem, simulator, the internal
// helpers, config) link no domain service, so storage, Azure and the host
// stay behind ports the services declare; domain services link no
// adapter, no wiring and no tool, only the root's nouns and ports, the
// pure libraries and the services they call (builds → gallery →
// template; statuspage → builds; checksum alone): the event path from
// checksums to builds runs through app's pipeline, not through imports.
// The package graph is acyclic by Go's own rule (the compiler refuses an
// import cycle), so this checks the direction of the layers, not cycles.
func TestArchitecture(t *testing.T) {
	deps := moduleDeps(t)
	if len(deps) < 20 {
		t.Fatalf("go list found %d packages of the module", len(deps))
	}
	var pkgs []string
	for p := range deps {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	for _, p := range pkgs {
		l, ok := placeOf(p)
		if !ok {
			t.Errorf("package %q is not placed in the architecture (arch_test.go)", p)
			continue
		}
		for _, d := range deps[p] {
			dl, ok := placeOf(d)
			if !ok {
				continue // reported on its own
			}
			if why := forbidden(l, dl); why != "" {
				t.Errorf("%s (%s) links %s (%s): %s", p, l, d, dl, why)
			}
		}
	}
}

// placeOf is a package's layer: its own entry, or its nearest parent's
// (simulator/aib is the simulator's).
func placeOf(p string) (layer, bool) {
	for {
		if l, ok := architecture[p]; ok {
			return l, true
		}
		i := strings.LastIndex(p, "/")
		if i < 0 {
			return "", false
		}
		p = p[:i]
	}
}

// forbidden says why a package of layer from may not link one of layer to.
func forbidden(from, to layer) string {
	switch from {
	case layerRoot, layerLib:
		if to != layerRoot && to != layerLib {
			return "the domain's nouns and pure libraries link nothing with I/O or services"
		}
	case layerDomain:
		if to != layerRoot && to != layerLib && to != layerDomain {
			return "a domain service reaches the world through its ports, given by its constructor"
		}
	case layerAdapter:
		if to == layerDomain || to == layerWiring || to == layerTool {
			return "an adapter imports no domain service: it implements the services' ports"
		}
	case layerWiring:
		if to == layerTool {
			return "the app and its front ends link no dev tooling"
		}
	}
	return ""
}

// The rule itself: what each layer may link.
func TestArchitectureRule(t *testing.T) {
	cases := []struct {
		from, to layer
		ok       bool
	}{
		{layerAdapter, layerDomain, false},
		{layerAdapter, layerRoot, true},
		{layerAdapter, layerAdapter, true},
		{layerAdapter, layerWiring, false},
		{layerDomain, layerAdapter, false},
		{layerDomain, layerWiring, false},
		{layerDomain, layerDomain, true},
		{layerDomain, layerLib, true},
		{layerRoot, layerDomain, false},
		{layerLib, layerAdapter, false},
		{layerWiring, layerDomain, true},
		{layerWiring, layerAdapter, true},
		{layerWiring, layerTool, false},
		{layerTool, layerWiring, true},
	}
	for _, c := range cases {
		if got := forbidden(c.from, c.to) == ""; got != c.ok {
			t.Errorf("%s linking %s allowed = %v, want %v", c.from, c.to, got, c.ok)
		}
	}
	for p, want := range map[string]layer{"simulator/aib": layerAdapter, "internal/azurite/azuritetest": layerAdapter, "builds": layerDomain, "": layerRoot} {
		if got, ok := placeOf(p); !ok || got != want {
			t.Errorf("placeOf(%q) = %s, %v; want %s", p, got, ok, want)
		}
	}
	if _, ok := placeOf("newpkg"); ok {
		t.Error("an unplaced package has a place")
	}
}
