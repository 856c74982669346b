package simulator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/internal/clock"
)

const simImage = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/g/images/avd"

func galleryClient(t *testing.T, tr policy.Transporter, endpoint string) *armcompute.GalleryImageVersionsClient {
	t.Helper()
	o := &arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: tr, Retry: policy.RetryOptions{MaxRetries: -1}}}
	if endpoint != "" {
		o = azure.ARMEndpointOptions(endpoint) // as the handler reaches AIB_SIMULATOR=<url>
	}
	c, err := armcompute.NewGalleryImageVersionsClient("00000000-0000-0000-0000-000000000000", TokenCredential(), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func listNames(ctx context.Context, c *armcompute.GalleryImageVersionsClient) ([]string, error) {
	var out []string
	p := c.NewListByGalleryImagePager("rg-images", "g", "avd", nil)
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, v := range page.Value {
			out = append(out, *v.Name)
		}
	}
	return out, nil
}

// Twenty concurrent lists of one definition, in process and over HTTP as
// the served simulator: each gets every version once, in order (issue 26:
// they came back empty, partial or duplicated). Run with -race.
func TestGalleryListsAreSafeConcurrently(t *testing.T) {
	g := NewGallery()
	var want []string
	for i := range 7 { // four pages of two
		g.Publish(simImage, fmt.Sprintf("1.0.%d", i), false, nil)
		want = append(want, fmt.Sprintf("1.0.%d", i))
	}
	srv := httptest.NewServer(&Server{Images: NewImages(), Builder: NewImageBuilder(), Gallery: g})
	defer srv.Close()
	clients := map[string]*armcompute.GalleryImageVersionsClient{
		"in process": galleryClient(t, g.Transport(), ""),
		"served":     galleryClient(t, nil, srv.URL),
	}
	for name, c := range clients {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan string, 20)
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := listNames(context.Background(), c)
					if err != nil || !slices.Equal(got, want) {
						errs <- fmt.Sprintf("%v %v", got, err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Errorf("a concurrent list got %s, want %v", e, want)
			}
		})
	}
}

// An image definition never published to lists as 200 with an empty
// list, as Azure answers for an existing definition (issue 23: the
// simulator answered 404), and so does one whose versions were deleted.
func TestGalleryEmptyDefinitionListsAs200(t *testing.T) {
	g := NewGallery()
	g.Define(simImage)
	for name, g := range map[string]*Gallery{"defined": g, "never published to": NewGallery()} {
		got, err := listNames(context.Background(), galleryClient(t, g.Transport(), ""))
		if err != nil || len(got) != 0 {
			t.Errorf("%s: %v %v, want 200 and no versions", name, got, err)
		}
	}
	g.Publish(simImage, "1.0.0", false, nil)
	if _, err := galleryClient(t, g.Transport(), "").BeginDelete(context.Background(), "rg-images", "g", "avd", "1.0.0", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := listNames(context.Background(), galleryClient(t, g.Transport(), "")); err != nil || len(got) != 0 {
		t.Errorf("after its last version went: %v %v", got, err)
	}
}

// safetyProfile.blockDeletionBeforeEndOfLife with endOfLifeDate
// (armcompute v8 GalleryImageVersionSafetyProfile): a delete before the
// end of life is refused and deletes nothing; after it, the version goes.
func TestGalleryProtectedVersionRefusesDeletion(t *testing.T) {
	c := clock.NewFake(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	g := NewGallery()
	g.Now = c.Now
	g.Publish(simImage, "1.0.0", false, nil)
	g.Protect(simImage, "1.0.0", c.Now().Add(180*24*time.Hour))
	cl := galleryClient(t, g.Transport(), "")
	ctx := context.Background()
	_, err := cl.BeginDelete(ctx, "rg-images", "g", "avd", "1.0.0", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusConflict || !strings.Contains(re.Error(), "end of life") {
		t.Fatalf("delete of a protected version: %v", err)
	}
	if !slices.Equal(g.Versions(simImage), []string{"1.0.0"}) {
		t.Fatalf("a refused delete deleted: %v", g.Versions(simImage))
	}
	got, err := cl.Get(ctx, "rg-images", "g", "avd", "1.0.0", nil)
	if err != nil || got.Properties.SafetyProfile == nil || !*got.Properties.SafetyProfile.BlockDeletionBeforeEndOfLife || got.Properties.PublishingProfile.EndOfLifeDate == nil {
		t.Errorf("the version does not show its protection: %+v %v", got, err)
	}
	c.Advance(181 * 24 * time.Hour)
	if _, err := cl.BeginDelete(ctx, "rg-images", "g", "avd", "1.0.0", nil); err != nil {
		t.Fatalf("delete after the end of life: %v", err)
	}
	if len(g.Versions(simImage)) != 0 {
		t.Errorf("left %v", g.Versions(simImage))
	}
}

// An update of a version is a long-running operation: the version reads
// Updating, with its old flags, until Azure has applied it.
func TestGalleryUpdateAppliesAfterItRuns(t *testing.T) {
	c := clock.NewFake(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	g := NewGallery()
	g.Now, g.UpdateDuration = c.Now, time.Minute
	g.Publish(simImage, "1.0.0", true, nil)
	cl := galleryClient(t, g.Transport(), "")
	ctx := context.Background()
	v, err := cl.Get(ctx, "rg-images", "g", "avd", "1.0.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	v.Properties.PublishingProfile.ExcludeFromLatest = to.Ptr(false)
	if _, err := cl.BeginCreateOrUpdate(ctx, "rg-images", "g", "avd", "1.0.0", v.GalleryImageVersion, nil); err != nil {
		t.Fatal(err)
	}
	if g.State(simImage, "1.0.0") != "Updating" || !g.Excluded(simImage, "1.0.0") {
		t.Errorf("just updated: %s, excluded %v; want Updating and still excluded", g.State(simImage, "1.0.0"), g.Excluded(simImage, "1.0.0"))
	}
	c.Advance(time.Minute)
	if g.State(simImage, "1.0.0") != "Succeeded" || g.Excluded(simImage, "1.0.0") {
		t.Errorf("after the update ran: %s, excluded %v", g.State(simImage, "1.0.0"), g.Excluded(simImage, "1.0.0"))
	}
}

// Image Builder's version numbers. Latest, the documented default: the
// docs' own example gallery and what each major gives (MicrosoftDocs
// articles/virtual-machines/linux/image-builder-json.md, "versioning").
// Observed (an option): three real numbers decode as
// 0.(unixSeconds>>16).(unixSeconds&0xFFFF), so the times they encode give
// them back.
func TestImageBuilderVersionNumbering(t *testing.T) {
	g := NewGallery()
	for _, v := range []string{"0.1.1", "0.1.2", "1.0.0", "1.0.1", "1.1.0", "1.1.1", "1.2.0", "2.0.0", "2.0.1", "2.1.0"} {
		g.Publish(simImage, v, false, nil)
	}
	for _, tt := range []struct {
		scheme string
		major  int
		want   string
	}{{"", -1, "2.1.1"}, {"Latest", -1, "2.1.1"}, {"Latest", 2, "2.1.1"}, {"Latest", 1, "1.2.1"}, {"Latest", 0, "0.1.3"}} {
		if _, got := g.NextVersion(simImage, tt.scheme, tt.major, "", ""); got != tt.want {
			t.Errorf("scheme %q major %d: %s, want %s", tt.scheme, tt.major, got, tt.want)
		}
	}
	if _, got := g.NextVersion(simImage+"/versions/7.0.0", "", -1, "", ""); got != "7.0.0" {
		t.Errorf("a named version: %s", got)
	}
	if _, got := g.NextVersion(simImage, "Source", -1, "22631.4602.241210", ""); got != "22631.4602.241210" {
		t.Errorf("Source: %s", got)
	}
	for _, sample := range []string{"0.24105.52755", "0.25088.3355", "0.23760.13763"} {
		var hi, lo int64
		fmt.Sscanf(sample, "0.%d.%d", &hi, &lo)
		at := time.Unix(hi<<16|lo, 0)
		obs := NewGallery()
		obs.Now = func() time.Time { return at }
		if _, got := obs.NextVersion(simImage, "", -1, "", NumberingObserved); got != sample {
			t.Errorf("observed numbering at %s: %s, want %s", at.UTC(), got, sample)
		}
	}
}

// galleryTemplate is a template distributing to the gallery.
func galleryTemplate(galleryImageID string) aib.ImageTemplate {
	t := valid()
	t.Properties.Distribute = []aib.ImageTemplateDistributorClassification{&aib.ImageTemplateSharedImageDistributor{
		Type: to.Ptr("SharedImage"), RunOutputName: to.Ptr("sig"), GalleryImageID: to.Ptr(galleryImageID),
		TargetRegions: []*aib.TargetRegion{{Name: to.Ptr("westeurope")}}}}
	return t
}

// runTo creates a template, runs it and returns the builder's client.
func runTo(t *testing.T, b *ImageBuilder, c *clock.Fake, name string, tpl aib.ImageTemplate) *aib.VirtualMachineImageTemplatesClient {
	t.Helper()
	cl := client(t, b)
	ctx := context.Background()
	if _, err := cl.BeginCreateOrUpdate(ctx, "rg", name, tpl, nil); err != nil {
		t.Fatal(err)
	}
	c.Advance(b.CreateDuration)
	if _, err := cl.BeginRun(ctx, "rg", name, nil); err != nil {
		t.Fatal(err)
	}
	return cl
}

func runState(t *testing.T, cl *aib.VirtualMachineImageTemplatesClient, name string) (state, sub, msg string) {
	t.Helper()
	got, err := cl.Get(context.Background(), "rg", name, nil)
	if err != nil {
		t.Fatal(err)
	}
	lr := got.Properties.LastRunStatus
	if lr.RunSubState != nil {
		sub = string(*lr.RunSubState)
	}
	return string(*lr.RunState), sub, *lr.Message
}

func outputsOf(t *testing.T, cl *aib.VirtualMachineImageTemplatesClient, name string) []string {
	t.Helper()
	var out []string
	p := cl.NewListRunOutputsPager("rg", name, nil)
	for p.More() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Value {
			out = append(out, *o.Properties.ArtifactID+" "+string(*o.Properties.ProvisioningState))
		}
	}
	return out
}

func newBuilderWithGallery() (*ImageBuilder, *Gallery, *clock.Fake) {
	c := clock.NewFake(time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC))
	b := NewImageBuilder()
	b.CreateDuration, b.PhaseDuration, b.Now = time.Minute, time.Minute, c.Now
	g := NewGallery()
	g.Now = c.Now
	b.Gallery = g
	return b, g, c
}

// A distribution to a version that exists fails the run in Distributing
// ("The image version ID needs to be distinct or different from any image
// versions that are in the existing Azure Compute Gallery",
// image-builder-json.md), and leaves the existing version as it was.
func TestDistributionToAnExistingVersionFails(t *testing.T) {
	b, g, c := newBuilderWithGallery()
	g.Publish(simImage, "1.0.0", false, nil)
	cl := runTo(t, b, c, "again", galleryTemplate(simImage+"/versions/1.0.0"))
	c.Advance(5*time.Minute + time.Second)
	if state, sub, _ := runState(t, cl, "again"); state != goldenpipe.RunRunning || sub != "Distributing" {
		t.Fatalf("%s %s, want Running in Distributing", state, sub)
	}
	c.Advance(time.Minute)
	state, _, msg := runState(t, cl, "again")
	if state != goldenpipe.RunFailed || !strings.Contains(msg, "needs to be distinct") || !strings.Contains(msg, "1.0.0") {
		t.Errorf("%s %q, want Failed with the gallery's rule", state, msg)
	}
	if outs := outputsOf(t, cl, "again"); len(outs) != 0 {
		t.Errorf("outputs %v: the version that existed is not this run's", outs)
	}
	if !slices.Equal(g.Versions(simImage), []string{"1.0.0"}) || g.State(simImage, "1.0.0") != "Succeeded" {
		t.Errorf("the existing version changed: %v %s", g.Versions(simImage), g.State(simImage, "1.0.0"))
	}
}

// A version is made when the run enters Distributing and replicated by its
// end. A cancel during Distributing leaves it incomplete ("If the
// distribution phase has started you can still cancel, but you need to
// clean up any images that may not be completed", image-builder-json.md),
// served by latest where it exists; a cancel before leaves nothing; a run
// failing in Distributing leaves it incomplete too.
func TestCancelOrFailureDuringDistributionLeavesAPartialVersion(t *testing.T) {
	t.Run("canceled while distributing", func(t *testing.T) {
		b, g, c := newBuilderWithGallery()
		g.Publish(simImage, "1.0.0", false, nil)
		cl := runTo(t, b, c, "t", galleryTemplate(simImage))
		c.Advance(5*time.Minute + 10*time.Second)
		if g.State(simImage, "1.0.1") != "Creating" {
			t.Fatalf("in Distributing the new version is %q, want Creating", g.State(simImage, "1.0.1"))
		}
		if _, err := cl.BeginCancel(context.Background(), "rg", "t", nil); err != nil {
			t.Fatal(err)
		}
		c.Advance(2 * time.Minute)
		if state, _, _ := runState(t, cl, "t"); state != goldenpipe.RunCanceled {
			t.Fatalf("run %s", state)
		}
		if !slices.Contains(g.Versions(simImage), "1.0.1") || g.Latest(simImage) != "1.0.1" {
			t.Errorf("versions %v latest %s: a partial 1.0.1 is left and latest serves it", g.Versions(simImage), g.Latest(simImage))
		}
		if outs := outputsOf(t, cl, "t"); len(outs) != 1 || !strings.HasSuffix(outs[0], "/versions/1.0.1 Failed") {
			t.Errorf("outputs %v", outs)
		}
	})
	t.Run("canceled before distributing", func(t *testing.T) {
		b, g, c := newBuilderWithGallery()
		g.Publish(simImage, "1.0.0", false, nil)
		cl := runTo(t, b, c, "t", galleryTemplate(simImage))
		c.Advance(2 * time.Minute)
		if _, err := cl.BeginCancel(context.Background(), "rg", "t", nil); err != nil {
			t.Fatal(err)
		}
		c.Advance(10 * time.Minute)
		if !slices.Equal(g.Versions(simImage), []string{"1.0.0"}) {
			t.Errorf("versions %v: nothing was distributed", g.Versions(simImage))
		}
	})
	t.Run("failing while distributing", func(t *testing.T) {
		b, g, c := newBuilderWithGallery()
		g.Publish(simImage, "1.0.0", false, nil)
		b.Outcome = func(string) Outcome {
			return Outcome{State: goldenpipe.RunFailed, Distribution: true, Message: "Distribution failed: replication to northeurope failed"}
		}
		cl := runTo(t, b, c, "t", galleryTemplate(simImage))
		c.Advance(7 * time.Minute)
		if state, _, _ := runState(t, cl, "t"); state != goldenpipe.RunFailed {
			t.Fatalf("run %s", state)
		}
		if g.Latest(simImage) != "1.0.1" {
			t.Errorf("latest %s: the partial 1.0.1 is left, served by latest", g.Latest(simImage))
		}
	})
	t.Run("succeeding", func(t *testing.T) {
		b, g, c := newBuilderWithGallery()
		cl := runTo(t, b, c, "t", galleryTemplate(simImage))
		c.Advance(7 * time.Minute)
		if outs := outputsOf(t, cl, "t"); len(outs) != 1 || !strings.HasSuffix(outs[0], "/versions/1.0.0 Succeeded") || g.State(simImage, "1.0.0") != "Succeeded" {
			t.Errorf("outputs %v state %s", outs, g.State(simImage, "1.0.0"))
		}
	})
}

// targetRegions[].excludeFromLatest (armcompute v8 TargetRegion): set by a
// PUT, it hides the version from latest in that region only; the app's
// adapter reads it per region, and including the version again clears the
// regional flag too (a region's own flag decides there).
func TestPerRegionExcludeFromLatest(t *testing.T) {
	g := NewGallery()
	g.mu.Lock()
	g.add(simImage, "1.0.0", false, nil, []Region{{Name: "westeurope"}, {Name: "northeurope"}}, time.Time{}, time.Time{})
	g.add(simImage, "1.0.1", false, nil, []Region{{Name: "westeurope"}, {Name: "northeurope"}}, time.Time{}, time.Time{})
	g.mu.Unlock()
	ctx := context.Background()
	cl := galleryClient(t, g.Transport(), "")
	v, err := cl.Get(ctx, "rg-images", "g", "avd", "1.0.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range v.Properties.PublishingProfile.TargetRegions {
		if *r.Name == "northeurope" {
			r.ExcludeFromLatest = to.Ptr(true)
		}
	}
	if _, err := cl.BeginCreateOrUpdate(ctx, "rg-images", "g", "avd", "1.0.1", v.GalleryImageVersion, nil); err != nil {
		t.Fatal(err)
	}
	if g.LatestIn(simImage, "northeurope") != "1.0.0" || g.LatestIn(simImage, "westeurope") != "1.0.1" || g.Latest(simImage) != "1.0.1" {
		t.Fatalf("latest: north %s west %s", g.LatestIn(simImage, "northeurope"), g.LatestIn(simImage, "westeurope"))
	}
	a := azure.NewGalleryVersions(TokenCredential(), azure.ARMClientOptions(g.Transport()))
	vs, err := a.Versions(ctx, simImage)
	if err != nil {
		t.Fatal(err)
	}
	var got goldenpipe.GalleryVersion
	for _, x := range vs {
		if x.Name == "1.0.1" {
			got = x
		}
	}
	if !slices.Equal(got.Regions, []string{"westeurope", "northeurope"}) || !slices.Equal(got.ExcludedIn, []string{"northeurope"}) || got.ExcludeFromLatest {
		t.Errorf("the adapter read %+v", got)
	}
	if err := a.SetExcludeFromLatest(ctx, got.ID, false); err != nil {
		t.Fatal(err)
	}
	if g.LatestIn(simImage, "northeurope") != "1.0.1" {
		t.Errorf("including 1.0.1 again left it hidden in northeurope")
	}
}
