package app

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
	"github.com/goldenpipe/goldenpipe/simulator"
)

const testVHDSize = 8 << 20

// guard checks, at every delete of an Image Builder template, the
// invariant: never delete a template whose VHDs are not verified.
type guard struct {
	builds.ImageBuilder
	t *testing.T
	h *harness
}

func (g *guard) Delete(ctx context.Context, name string) error {
	g.h.assertSafe(name, "deleting")
	return g.ImageBuilder.Delete(ctx, name)
}

// assertSafe fails the test unless the build of an Image Builder template
// succeeded and each of its VHDs is complete at its destination.
func (h *harness) assertSafe(aibName, when string) {
	h.t.Helper()
	var list []builds.Build
	h.getBuilds("/api/builds", &list)
	for _, b := range list {
		if b.AIBName != aibName {
			continue
		}
		if b.State != builds.StateSucceeded && b.State != builds.StatePartiallySucceeded && b.State != builds.StateFailed &&
			b.State != builds.StateTimedOut && b.State != builds.StateCanceled {
			h.t.Errorf("%s the template of build %s in state %s", when, b.ID, b.State)
		}
		for _, c := range b.Rescue {
			if c.State != builds.CopyVerified && c.State != builds.CopyDelivered {
				h.t.Errorf("%s the template of build %s whose VHD %s is %s", when, b.ID, c.RunOutputName, c.State)
			}
			h.assertCopyMatches(c)
		}
		return
	}
	h.t.Errorf("%s template %s, which belongs to no build", when, aibName)
}

// assertCopyMatches compares a rescued VHD with its source, byte for byte.
func (h *harness) assertCopyMatches(c builds.VHDCopy) {
	h.t.Helper()
	src := h.download(c.Source, az.ConnectionString(staging))
	dst := h.download(c.Destination, az.ConnectionString(azurite.Account{}))
	if len(src) == 0 || sha256.Sum256(src) != sha256.Sum256(dst) {
		h.t.Errorf("the copy of %s (%d bytes) differs from its source (%d bytes)", c.RunOutputName, len(dst), len(src))
	}
}

func (h *harness) download(url, conn string) []byte {
	h.t.Helper()
	s, _ := config.Load(config.MapLookup(map[string]string{"Scripts": conn, "State": conn, "ServiceBus": "inprocess", "AIB_SIMULATOR": "true"}))
	svc, err := azure.NewBlobService(s.Scripts)
	if err != nil {
		h.t.Fatal(err)
	}
	rest := strings.TrimPrefix(url, strings.TrimSuffix(s.Scripts.ServiceURL, "/")+"/")
	container, name, _ := strings.Cut(rest, "/")
	resp, err := svc.NewContainerClient(container).NewBlobClient(name).DownloadStream(context.Background(), nil)
	if err != nil {
		h.t.Fatalf("downloading %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// rescueHarness is a handler whose builds make one VHD each, with the
// delete guard in place and quick retries.
// tune, if any, tunes it further.
func rescueHarness(t *testing.T, prefix string, tune ...func(*Tuning)) (*harness, *simulator.ImageBuilder) {
	o := fastSimulator()
	o.VHDSize = testVHDSize
	h := newHarnessTuned(t, prefix, o, nil, func(tu *Tuning) {
		tu.Builds.CopyBackoff, tu.Builds.ReissueAfter = 20*time.Millisecond, 50*time.Millisecond
		tu.NoBuildOnUpload = true
		for _, f := range tune {
			f(tu)
		}
	})
	h.ports.aib.ImageBuilder = &guard{ImageBuilder: h.ports.aib.ImageBuilder, t: t, h: h}
	h.avdTemplate("avd", []byte("Write-Host rescue\r\n"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
	return h, o.Builder
}

// runChecked requests one build and ticks until it ends, checking after
// every tick that a template is gone only if its VHDs are safe.
func (h *harness) runChecked(sim *simulator.ImageBuilder) builds.Build {
	h.t.Helper()
	h.invoke("BuildRequested", serviceBusBody(`{"template":"avd","reason":"rescue test"}`, "m-"+h.t.Name()))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		h.invokeAllowFail("BuildMonitor", []byte(timerBody))
		var list []builds.Build
		h.getBuilds("/api/builds?template=avd", &list)
		if len(list) != 1 {
			h.t.Fatalf("%d builds", len(list))
		}
		b := list[0]
		exists := false
		for _, n := range sim.Templates() {
			exists = exists || n == b.AIBName
		}
		if !exists && b.AIBID != "" {
			h.assertSafe(b.AIBName, "after a tick, gone:")
		}
		active, _ := buildsDocs(h.a).Keys(context.Background(), azure.BuildKeyActive)
		if builds.Terminal(b.State) && len(active) == 0 {
			return b
		}
		if b.State == builds.StateRescueFailed {
			return b
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatal("the build did not finish")
	return builds.Build{}
}

func TestRescueSparseVHD(t *testing.T) {
	h, sim := rescueHarness(t, "sparse")
	b := h.runChecked(sim)
	if b.State != builds.StateSucceeded || len(b.Rescue) != 1 || b.Rescue[0].State != builds.CopyVerified {
		t.Fatalf("build %v, rescue %+v", b, b.Rescue)
	}
	c := b.Rescue[0]
	if !strings.Contains(c.Source, "/aibstaging/vhds/") || !strings.Contains(c.Destination, "/devstoreaccount1/"+h.prefix+"-vhds/avd/"+b.ID+"/avd-win11-vhd.vhd") {
		t.Errorf("source %s destination %s", c.Source, c.Destination)
	}
	h.assertCopyMatches(c)

	// still sparse: the destination holds the three data ranges only
	svc, _ := azure.NewBlobService(h.s.Scripts)
	pb := svc.NewContainerClient(h.prefix + "-vhds").NewPageBlobClient("avd/" + b.ID + "/avd-win11-vhd.vhd")
	pager := pb.NewGetPageRangesPager(&pageblob.GetPageRangesOptions{})
	var ranges []string
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.PageRange {
			ranges = append(ranges, rangeString(*r.Start, *r.End))
		}
	}
	want := []string{rangeString(0, 64<<10-1), rangeString(testVHDSize/2, testVHDSize/2+64<<10-1), rangeString(testVHDSize-512, testVHDSize-1)}
	if strings.Join(ranges, " ") != strings.Join(want, " ") {
		t.Errorf("destination page ranges %v, want %v", ranges, want)
	}
	props, err := pb.GetProperties(context.Background(), &blob.GetPropertiesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Goldenpipe_template", "Goldenpipe_build", "Goldenpipe_fingerprint", "Goldenpipe_source_version", "Goldenpipe_scripts_sha256", "Goldenpipe_scripts_count", "Goldenpipe_source_etag"} {
		found := false
		for mk, v := range props.Metadata {
			found = found || (strings.EqualFold(mk, k) && v != nil && *v != "")
		}
		if !found {
			t.Errorf("metadata %s missing: %v", k, props.Metadata)
		}
	}
	if len(sim.Templates()) != 0 || sim.Calls("Delete") != 1 {
		t.Errorf("templates left %v, deletes %d", sim.Templates(), sim.Calls("Delete"))
	}
}

func rangeString(a, b int64) string { return fmt.Sprintf("%d-%d", a, b) }

// faultyDestination injects copy faults over the real destination.
type faultyDestination struct {
	builds.VHDDestination
	mu          sync.Mutex
	pendingFor  int    // report pending this many times once the copy is done
	failAttempt string // report this attempt as failed mid-copy
	refuse      bool   // refuse every copy, as a destination without write access does
	polls       int
}

func (f *faultyDestination) Properties(ctx context.Context, name string) (goldenpipe.CopyState, error) {
	st, err := f.VHDDestination.Properties(ctx, name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil || !st.Exists {
		return st, err
	}
	if f.failAttempt != "" && st.Metadata["goldenpipe_attempt"] == f.failAttempt {
		st.Status, st.Description = goldenpipe.CopyFailed, "500 InternalError: the copy failed after 1048576 bytes"
		st.Copied = 1 << 20
		return st, nil
	}
	if f.pendingFor > 0 && st.Status == goldenpipe.CopySuccess {
		f.pendingFor--
		f.polls++
		st.Status, st.Copied, st.Total = goldenpipe.CopyPending, int64(f.polls)<<20, st.Length
	}
	return st, nil
}

func (f *faultyDestination) StartCopy(ctx context.Context, name, source string, md map[string]string) (string, error) {
	if f.refuse {
		return "", goldenpipe.Errorf(goldenpipe.EINTERNAL, "starting the copy into %s failed: AuthorizationPermissionMismatch (HTTP 403)", name)
	}
	return f.VHDDestination.StartCopy(ctx, name, source, md)
}

// expiringSource signs an already expired SAS the first time.
type expiringSource struct {
	builds.VHDSource
	mu     sync.Mutex
	signed int
}

func (e *expiringSource) SignRead(ctx context.Context, url string, ttl time.Duration) (string, time.Time, error) {
	e.mu.Lock()
	e.signed++
	first := e.signed == 1
	e.mu.Unlock()
	if first {
		ttl = -time.Hour
	}
	return e.VHDSource.SignRead(ctx, url, ttl)
}

func TestRescueFaults(t *testing.T) {
	t.Run("pending copies", func(t *testing.T) {
		h, sim := rescueHarness(t, "pending")
		f := &faultyDestination{VHDDestination: h.ports.destination.VHDDestination, pendingFor: 5}
		h.ports.destination.VHDDestination = f
		b := h.runChecked(sim)
		if b.State != builds.StateSucceeded || b.Rescue[0].Attempts != 1 || f.polls != 5 || len(sim.Templates()) != 0 {
			t.Fatalf("build %v, rescue %+v, polls %d", b, b.Rescue, f.polls)
		}
	})
	t.Run("failure mid-copy", func(t *testing.T) {
		h, sim := rescueHarness(t, "midcopy")
		h.ports.destination.VHDDestination = &faultyDestination{VHDDestination: h.ports.destination.VHDDestination, failAttempt: "1"}
		b := h.runChecked(sim)
		if b.State != builds.StateSucceeded || b.Rescue[0].Attempts != 2 || len(sim.Templates()) != 0 {
			t.Fatalf("build %v, rescue %+v", b, b.Rescue)
		}
	})
	t.Run("expired SAS", func(t *testing.T) {
		h, sim := rescueHarness(t, "expired")
		src := &expiringSource{VHDSource: h.ports.source.VHDSource}
		h.ports.source.VHDSource = src
		b := h.runChecked(sim)
		if b.State != builds.StateSucceeded || b.Rescue[0].Attempts != 2 || src.signed != 2 || len(sim.Templates()) != 0 {
			t.Fatalf("build %v, rescue %+v, signed %d", b, b.Rescue, src.signed)
		}
	})
	t.Run("destination refuses writes", func(t *testing.T) {
		h, sim := rescueHarness(t, "refused", func(tu *Tuning) { tu.Builds.CopyAttempts = 3 })
		h.ports.destination.VHDDestination = &faultyDestination{VHDDestination: h.ports.destination.VHDDestination, refuse: true}
		b := h.runChecked(sim)
		if b.State != builds.StateRescueFailed || b.Rescue[0].Attempts != 3 || !strings.Contains(b.Error, "AuthorizationPermissionMismatch") {
			t.Fatalf("build %v, rescue %+v", b, b.Rescue)
		}
		if len(sim.Templates()) != 1 || sim.Calls("Delete") != 0 {
			t.Errorf("the template must stay when its VHD is not safe: templates %v, deletes %d", sim.Templates(), sim.Calls("Delete"))
		}
		var kinds []string
		for _, m := range h.bus.Topic(h.s.EventsTopic) {
			kinds = append(kinds, m.Subject)
		}
		if !strings.Contains(strings.Join(kinds, ","), builds.EventVHDFailed) {
			t.Errorf("events %v lack %s", kinds, builds.EventVHDFailed)
		}
	})
	t.Run("crash between verified and deleted", func(t *testing.T) {
		h, sim := rescueHarness(t, "crashdel")
		d := &dying{ImageBuilder: h.ports.aib.ImageBuilder, templates: h.ports.buildTpls.Templates, point: "before delete"}
		h.ports.aib.ImageBuilder = d
		h.invoke("BuildRequested", serviceBusBody(`{"template":"avd"}`, "m"))
		for i := 0; i < 500 && !d.isDead(); i++ {
			h.invokeAllowFail("BuildMonitor", []byte(timerBody))
			time.Sleep(10 * time.Millisecond)
		}
		if !d.isDead() || len(sim.Templates()) != 1 {
			t.Fatalf("dead %v, templates %v", d.isDead(), sim.Templates())
		}
		second := newHarnessWith(t, "crashdel", sims{Builder: sim, Images: h.images, VHDSize: testVHDSize})
		second.ports.aib.ImageBuilder = &guard{ImageBuilder: second.ports.aib.ImageBuilder, t: t, h: second}
		b := second.runChecked(sim)
		if b.State != builds.StateSucceeded || len(sim.Templates()) != 0 || sim.Calls("Delete") != 1 {
			t.Fatalf("build %v, templates %v, deletes %d", b, sim.Templates(), sim.Calls("Delete"))
		}
	})
}

func TestFailedBuildKeepsItsTemplateThenCleansUp(t *testing.T) {
	o := fastSimulator()
	o.Builder.Outcome = func(string) simulator.Outcome {
		return simulator.Outcome{State: goldenpipe.RunFailed, Message: "customizer exited 1"}
	}
	var later atomic.Int64 // how far the builds' clock runs ahead of the wall's
	h := newHarnessTuned(t, "keep", o, nil, func(tu *Tuning) {
		tu.Builds.KeepFailed = time.Hour
		tu.Now = func() time.Time { return time.Now().Add(time.Duration(later.Load())) }
		tu.NoBuildOnUpload = true
	})
	h.avdTemplate("avd", []byte("Write-Host keep\r\n"))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
	h.invoke("BuildRequested", serviceBusBody(`{"template":"avd"}`, "m"))
	list := h.monitorUntilDone("avd")
	if list[0].State != builds.StateFailed || len(o.Builder.Templates()) != 1 {
		t.Fatalf("build %v, templates %v", list[0], o.Builder.Templates())
	}
	h.invoke("BuildMonitor", []byte(timerBody))
	if len(o.Builder.Templates()) != 1 {
		t.Fatal("the failed build's template was deleted before KEEP_FAILED_HOURS")
	}
	later.Store(int64(2 * time.Hour)) // past KEEP_FAILED_HOURS
	h.invoke("BuildMonitor", []byte(timerBody))
	if len(o.Builder.Templates()) != 0 {
		t.Errorf("the failed build's template is still there after KEEP_FAILED_HOURS: %v", o.Builder.Templates())
	}
}

func TestVHDWrittenToItsOwnURIIsVerifiedInPlace(t *testing.T) {
	o := fastSimulator()
	h := newHarnessTuned(t, "ownuri", o, nil, noBuildOnUpload)
	// the distributor names its own blob; Image Builder writes the VHD there
	stagingSvc, _ := azure.NewBlobService(config.StorageConnection{Name: "s", ConnectionString: az.ConnectionString(staging)})
	customer := uniquePrefix(t, "customer") + "-vhds"
	own := stagingSvc.NewContainerClient(customer)
	_ = azure.EnsureContainer(context.Background(), stagingSvc, customer)
	if _, err := own.NewPageBlobClient("golden.vhd").Create(context.Background(), 1<<20, nil); err != nil {
		t.Fatal(err)
	}
	url := own.NewBlobClient("golden.vhd").URL()
	script := h.upload(h.s.ScriptsContainer, "avd/install-apps.ps1", []byte("Write-Host own\r\n"))
	raw := strings.NewReplacer(`"runOutputName": "avd-win11-vhd"`, `"runOutputName": "avd-win11-vhd", "uri": "`+url+`"`,
		"https://goldenscripts.blob.core.windows.net/scripts/avd/install-apps.ps1", script).Replace(readSeed(t, "windows-avd-powershell"))
	h.upload(h.s.TemplatesContainer, "avd.json", []byte(raw))
	h.blobEvent("TemplateUploaded", h.s.TemplatesContainer, "avd.json")
	var rec struct {
		Valid    bool
		Problems []struct{ Path, Message string }
	}
	h.get("/api/templates/avd", &rec)
	if !rec.Valid {
		t.Fatalf("template invalid: %+v", rec.Problems)
	}
	h.invoke("BuildRequested", serviceBusBody(`{"template":"avd"}`, "m"))
	b := h.monitorUntilDone("avd")[0]
	if b.State != builds.StateSucceeded || len(b.Rescue) != 1 || b.Rescue[0].State != builds.CopyDelivered || b.Rescue[0].Destination != url || b.Rescue[0].Attempts != 0 {
		t.Fatalf("build %v, rescue %+v", b, b.Rescue)
	}
	if st, _ := h.a.Builds.Destination.Properties(context.Background(), "avd/"+b.ID+"/avd-win11-vhd.vhd"); st.Exists {
		t.Error("a VHD already at its own uri was copied anyway")
	}
	if len(o.Builder.Templates()) != 0 {
		t.Errorf("templates left: %v", o.Builder.Templates())
	}
}

func readSeed(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "template", "testdata", "seed", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
