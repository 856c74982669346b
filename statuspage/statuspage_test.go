package statuspage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/gallery"
	gtemplate "github.com/goldenpipe/goldenpipe/template"
)

type fakeTemplates []gtemplate.Record

func (f fakeTemplates) Summaries(context.Context, string, int) ([]gtemplate.Summary, string, error) {
	var out []gtemplate.Summary
	for _, r := range f {
		out = append(out, r.Summarize())
	}
	return out, "", nil
}

func (f fakeTemplates) Get(_ context.Context, name string) (gtemplate.Record, error) {
	for _, t := range f {
		if t.Name == name {
			return t, nil
		}
	}
	return gtemplate.Record{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no template %q", name)
}

func (f fakeBuilds) Get(_ context.Context, id string) (builds.Build, error) {
	for _, b := range f {
		if b.ID == id {
			return b, nil
		}
	}
	return builds.Build{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no build %q", id)
}

func (f fakeBuilds) Page(_ context.Context, template, _ string, top int) ([]builds.Summary, string, error) {
	var out []builds.Summary
	for _, b := range f {
		if b.Template == template && len(out) < top {
			out = append(out, b.Summarize())
		}
	}
	return out, "", nil
}

func (f fakeBuilds) Rejected(context.Context, int) ([]builds.Rejection, error) {
	var out []builds.Rejection
	for i := range 12 {
		out = append(out, builds.Rejection{MessageID: fmt.Sprintf("m%02d", i), Reason: `unknown field "tempalte"`, Body: `{"tempalte":"avd"}`, BodyBytes: 18})
	}
	return out, nil
}

type fakeGallery struct{}

func (fakeGallery) View(_ context.Context, name string) (gallery.View, error) {
	img := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/" + name
	eol := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	return gallery.View{Images: []gallery.Image{{ID: img, Latest: "1.0.1", Versions: []goldenpipe.GalleryVersion{
		{Name: "1.0.2", ExcludeFromLatest: true}, {Name: "1.0.1"}, {Name: "1.0.0", Tags: map[string]string{"goldenpipe.inUse": "hp-finance"}},
		{Name: "0.9.0", BlockDeletion: true, EndOfLife: eol}},
		LatestIn:  map[string]string{"northeurope": "1.0.0"},
		Protected: []gallery.Protected{{Version: "0.9.0", Until: eol}}}},
		Rollbacks: []gallery.RolledBack{{From: "1.0.2", To: "1.0.1", Excluded: []string{"1.0.2"}, RequestedBy: "ops@contoso.com", Reason: "Teams crashes", State: gallery.RollbackApplying}}}, nil
}

type fakeBuilds []builds.Build

func (f fakeBuilds) InFlightPage(_ context.Context, n int) ([]builds.Summary, int, error) {
	var out []builds.Summary
	for _, b := range f {
		if !builds.Terminal(b.State) {
			out = append(out, b.Summarize())
		}
	}
	total := len(out)
	return out[:min(n, len(out))], total, nil
}

func (f fakeBuilds) Recent(_ context.Context, n int) ([]builds.Summary, error) {
	var out []builds.Summary
	for _, b := range f {
		if builds.Terminal(b.State) && len(out) < n {
			out = append(out, b.Summarize())
		}
	}
	return out, nil
}

type fakeChecksums struct {
	list []goldenpipe.Checksum
	err  error
}

func (f fakeChecksums) Page(context.Context, string, int) ([]goldenpipe.Checksum, string, error) {
	return f.list, "next-page", f.err
}

const (
	evilTemplate = `avd"><script>alert('template')</script>`
	evilScript   = `install<img src=x onerror=alert('script')>.ps1`
	evilError    = `customizer failed: <iframe src="javascript:alert('error')"></iframe>`
)

func render(t *testing.T, src Sources) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(src).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/", nil))
	return rec.Code, rec.Body.String()
}

func sample() Sources {
	now := time.Date(2024, 12, 10, 2, 30, 0, 0, time.UTC)
	tpls := fakeTemplates{
		{Name: "avd-win11", Valid: true, Rendered: &gtemplate.Rendered{Fingerprint: strings.Repeat("ab", 32), SourceVersion: "22631.4460.241106"},
			Plan:     &gtemplate.Plan{Rebuild: true, Reason: "source 22631.4317.241009 → 22631.4460.241106"},
			Warnings: []gtemplate.Problem{{Path: "properties.customize", Message: "no step cleans up (temporary files, user profiles, disk cleanup) before capture [avd-cleanup: …]"}},
			Policy:   gtemplate.Policy{Ignore: []string{"gen2", "antivirus"}}},
		{Name: evilTemplate, Valid: false, Problems: []gtemplate.Problem{{Path: "properties.customize[0].name", Message: evilError}}},
	}
	return Sources{
		Now:       func() time.Time { return now },
		Version:   "test",
		Templates: tpls,
		Template:  tpls,
		Gallery:   fakeGallery{},
		Builds: fakeBuilds{
			{ID: "avd-win11-abababababab", Template: "avd-win11", State: builds.StateRunning, SubState: "Customizing",
				RequestedAt: now.Add(-42 * time.Minute), SourceVersion: "22631.4460.241106", Reason: "nightly",
				History: []builds.Transition{{State: builds.StateRunning, SubState: "Customizing", At: now.Add(-10 * time.Minute)}}},
			{ID: "avd-win11-cdcdcdcdcdcd", Template: "avd-win11", State: builds.StateRescuing, RequestedAt: now.Add(-3 * time.Hour),
				Rescue: []builds.VHDCopy{{RunOutputName: "vhd", State: builds.CopyCopying, Copied: 1 << 29, SourceLength: 1 << 30}}},
			{ID: "old-1", Template: evilTemplate, State: builds.StateFailed, Error: evilError, FinishedAt: now.Add(-time.Hour),
				LogTail: "PACKER ERR ==> azure-arm: install-apps.ps1 exited 1 <script>alert(1)</script>", RequestedBy: "ops@contoso.com",
				Reason: "asked from the command line", CorrelationID: "change-4711", RequestedAt: now.Add(-3 * time.Hour),
				History: []builds.Transition{{State: builds.StateRequested, At: now.Add(-3 * time.Hour)}, {State: builds.StateCreating, At: now.Add(-3*time.Hour + 5*time.Second)},
					{State: builds.StateRunning, SubState: "Customizing", At: now.Add(-2*time.Hour - 55*time.Minute)}, {State: builds.StateFailed, At: now.Add(-time.Hour), Note: evilError}}},
			{ID: "old-2", Template: "avd-win11", State: builds.StateSucceeded, SourceVersion: "22631.4317.241009", FinishedAt: now.Add(-24 * time.Hour),
				Rescue: []builds.VHDCopy{{RunOutputName: "vhd", State: builds.CopyVerified, Destination: "https://goldenvhds.blob.core.windows.net/vhds/avd-win11/old-2/vhd.vhd", SourceLength: 127 << 30}}},
		},
		Checksums: fakeChecksums{list: []goldenpipe.Checksum{{Name: evilScript, SHA256: strings.Repeat("9b", 32), Size: 2048}}},
	}
}

func TestStatusPageShowsWhatIsGoingOn(t *testing.T) {
	code, body := render(t, sample())
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{
		`<meta http-equiv="refresh" content="5">`,
		"Builds in flight (2)", "avd-win11-abababababab", "running · Customizing", "42m0s",
		"rescuing", "vhd: copying", "50% of 1.0 GiB",
		"Templates (2)", "1 warning(s)", "<code>properties.customize</code>: no step cleans up", "silenced: <code>gen2</code>, <code>antivirus</code>", "source 22631.4317.241009 → 22631.4460.241106", "abababababab…",
		"Recent builds (2)", "succeeded", "https://goldenvhds.blob.core.windows.net/vhds/avd-win11/old-2/vhd.vhd", "127.0 GiB",
		"Script checksums (1)", strings.Repeat("9b", 32),
		"customization.log (end)", "install-apps.ps1 exited 1 &lt;script&gt;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script") {
		t.Error("the page carries a script element: it must work without JavaScript")
	}
}

// Names and messages come from uploads and builds: they are shown as text.
func TestStatusPageEscapesInjectedHTML(t *testing.T) {
	_, body := render(t, sample())
	for _, raw := range []string{"<script>alert", "<img src=x", "<iframe", `"><script`} {
		if strings.Contains(body, raw) {
			t.Errorf("the page contains %q unescaped", raw)
		}
	}
	for _, shown := range []string{
		`avd&#34;&gt;&lt;script&gt;alert(&#39;template&#39;)&lt;/script&gt;`,
		`install&lt;img src=x onerror=alert(&#39;script&#39;)&gt;.ps1`,
		`&lt;iframe src=&#34;javascript:alert(&#39;error&#39;)&#34;&gt;&lt;/iframe&gt;`,
	} {
		if !strings.Contains(body, shown) {
			t.Errorf("the page does not show %q as text", shown)
		}
	}
}

func TestStatusPageNamesAFailingSource(t *testing.T) {
	src := sample()
	src.Checksums = fakeChecksums{err: goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, errors.New("dial tcp"), "listing checksums failed")}
	code, body := render(t, src)
	if code != 200 || !strings.Contains(body, "checksums: listing checksums failed") || !strings.Contains(body, "Builds in flight (2)") {
		t.Errorf("%d: a failing source should be named while the rest shows", code)
	}
}

// TestSummaryBannerAndKey: the first line counts what an operator asks
// first; a local run says what is simulated; the function key of the
// request is kept on every link (Azure needs it on each request).
func TestSummaryBannerAndKey(t *testing.T) {
	src := sample()
	src.Simulated = []string{"Image Builder", "Service Bus"}
	rec := httptest.NewRecorder()
	Handler(src).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/?code=k3y%2B%2F%3D%3D", nil))
	body := rec.Body.String()
	for _, want := range []string{
		"2 in flight · 0 waiting · 1 failed in the last 24 h · 1 invalid template(s)",
		"<strong>Simulated:</strong> Image Builder, Service Bus",
		`href="sha256sums?code=k3y%2B%2F%3D%3D"`, `href="builds?code=k3y%2B%2F%3D%3D"`, `href="health?code=k3y%2B%2F%3D%3D"`,
		`href="checksums?%24skiptoken=bmV4dC1wYWdl&amp;code=k3y%2B%2F%3D%3D&amp;top=25">the next ones (JSON)`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	_, plain := render(t, sample())
	if strings.Contains(plain, "Simulated") || strings.Contains(plain, "code=") {
		t.Error("a page in Azure, without a key in its request, shows a banner or a key")
	}
}

func get(t *testing.T, src Sources, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(src).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// TestBuildPage: a build's page answers "why did it fail": Azure's
// message, the log tail, the timeline with how long each state lasted,
// who asked and why, escaped; the key stays on its links.
func TestBuildPage(t *testing.T) {
	code, body := get(t, sample(), "/api/view/builds/old-1?code=k3y")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{"Azure's message", "customization.log (end)", "install-apps.ps1 exited 1 &lt;script&gt;",
		"ops@contoso.com", "asked from the command line", "change-4711", "creating", "4m55s", "1h55m", "running</span> · Customizing",
		"2h00m after the request", `href="/api/view/templates/avd%22%3e%3cscript%3ealert%28%27template%27%29%3c/script%3e?code=k3y"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the build page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "<iframe") {
		t.Error("the build page carries markup from a build")
	}
	if strings.Contains(body, `http-equiv="refresh"`) {
		t.Error("a finished build's page refreshes itself")
	}
	if code, body := get(t, sample(), "/api/view/builds/avd-win11-abababababab"); code != 200 || !strings.Contains(body, `http-equiv="refresh"`) || !strings.Contains(body, "so far") {
		t.Errorf("a running build's page: %d, refreshes and shows the time so far", code)
	}
	if code, body := get(t, sample(), "/api/view/builds/nope"); code != 404 || !strings.Contains(body, "no build") {
		t.Errorf("an unknown build: %d", code)
	}
}

// TestTemplatePage: a template's page shows its warnings, silenced checks,
// plan, builds and gallery versions with the one latest resolves to.
func TestTemplatePage(t *testing.T) {
	code, body := get(t, sample(), "/api/view/templates/avd-win11")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{"Warnings (1)", "no step cleans up", "silenced: <code>gen2</code>, <code>antivirus</code>",
		"source 22631.4317.241009 → 22631.4460.241106", "Builds (3)", "avd-win11-abababababab",
		"latest resolves to <strong>1.0.1</strong>", "excluded from latest", "in use: hp-finance", "Teams crashes", "1.0.2 → 1.0.1",
		// issue 23: protected versions, per-region latest, the version policy, a rollback still applying
		"protected (deletion blocked before their end of life; retention skips them): <code>0.9.0</code> until 2027-06-01",
		"in northeurope: <strong>1.0.0</strong>", "versions nextPatch (none reused)", "<span class=\"state wait\">applying</span>"} {
		if !strings.Contains(body, want) {
			t.Errorf("the template page lacks %q", want)
		}
	}
	if code, _ := get(t, sample(), "/api/view/templates/unknown"); code != 404 {
		t.Errorf("an unknown template: %d", code)
	}
	_, evil := get(t, sample(), "/api/view/templates/"+url.PathEscape(evilTemplate))
	if strings.Contains(evil, "<script") || strings.Contains(evil, "<iframe") || !strings.Contains(evil, "1 problem(s)") {
		t.Error("the page of a template with a hostile name carries markup, or lacks its problem")
	}
}

// TestOverviewListsRejectedMessages: the newest rejected messages, bounded,
// with a link to all.
func TestOverviewListsRejectedMessages(t *testing.T) {
	_, body := render(t, sample())
	if !strings.Contains(body, "Rejected messages (10, the newest)") || !strings.Contains(body, "m09") || strings.Contains(body, "m10") ||
		!strings.Contains(body, `href="builds/rejected"`) {
		t.Error("the overview does not list the newest 10 rejected messages with a link to all")
	}
}

// TestInFlightBeyondWhatIsShown: with more builds in flight than the page
// reads, the page says how many it shows of how many.
func TestInFlightBeyondWhatIsShown(t *testing.T) {
	src := sample()
	var many fakeBuilds
	for i := 0; i < inFlightShown+5; i++ {
		many = append(many, builds.Build{ID: fmt.Sprintf("b-%03d", i), Template: "t", State: builds.StateRunning})
	}
	src.Builds = many
	_, body := render(t, src)
	for _, want := range []string{fmt.Sprintf("Builds in flight (%d shown of %d)", inFlightShown, inFlightShown+5), fmt.Sprintf("(among the %d shown of %d)", inFlightShown, inFlightShown+5)} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if _, body := render(t, sample()); strings.Contains(body, "shown of") {
		t.Error("a page that shows every build in flight says it shows some")
	}
}

// TestInFlightCountedUpToTheMonitorsBound: the monitor counts the builds in
// flight up to builds.InFlightCounted (one page of the line and of the due
// list); a total at that bound is shown as a lower bound.
func TestInFlightCountedUpToTheMonitorsBound(t *testing.T) {
	src := sample()
	var many fakeBuilds
	for i := 0; i < builds.InFlightCounted; i++ {
		many = append(many, builds.Build{ID: fmt.Sprintf("b-%04d", i), Template: "t", State: builds.StateRequested})
	}
	src.Builds = many
	_, body := render(t, src)
	if want := fmt.Sprintf("Builds in flight (%d shown of %d+)", inFlightShown, builds.InFlightCounted); !strings.Contains(body, want) {
		t.Errorf("the page lacks %q", want)
	}
}

// gatedTemplates counts its reads and holds each until released.
type gatedTemplates struct {
	fakeTemplates
	calls   *atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (g gatedTemplates) Summaries(ctx context.Context, token string, top int) ([]gtemplate.Summary, string, error) {
	g.calls.Add(1)
	g.entered <- struct{}{}
	<-g.release
	return g.fakeTemplates.Summaries(ctx, token, top)
}

// TestOverviewViewersShareOneRead: requests for the overview that arrive
// while its reads are under way wait for those reads and show them; one
// arriving after reads again. A viewer that goes away does not end the
// reads of the others.
func TestOverviewViewersShareOneRead(t *testing.T) {
	src := sample()
	gate := gatedTemplates{fakeTemplates: src.Templates.(fakeTemplates), calls: new(atomic.Int32), entered: make(chan struct{}, 8), release: make(chan struct{})}
	src.Templates = gate
	h := Handler(src)
	const viewers = 4
	type answer struct {
		code          int
		body, timings string
	}
	answers := make(chan answer, viewers)
	get := func(ctx context.Context) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/", nil).WithContext(ctx))
		answers <- answer{rec.Code, rec.Body.String(), rec.Header().Get("Server-Timing")}
	}
	// the first viewer's reads start, and it goes away while they run
	first, leave := context.WithCancel(context.Background())
	go get(first)
	<-gate.entered
	leave()
	for range viewers - 1 {
		go get(context.Background())
	}
	// every viewer is waiting in the one read before it ends
	deadline := time.Now().Add(10 * time.Second)
	for waiting() < viewers {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests are waiting for the overview's reads", waiting(), viewers)
		}
		runtime.Gosched()
	}
	close(gate.release)
	shared := 0
	for range viewers {
		a := <-answers
		if a.code != http.StatusOK || !strings.Contains(a.body, "avd-win11") || strings.Contains(a.body, "templates: ") {
			t.Errorf("a viewer got %d without the templates:\n%s", a.code, a.body)
		}
		if strings.Contains(a.timings, "shared;") {
			shared++
		}
	}
	if n := gate.calls.Load(); n != 1 || shared != viewers {
		t.Errorf("%d viewers at once read the templates %d times (%d answers say they shared), want once", viewers, n, shared)
	}
	// a request after those reads ended reads again
	if code, body := render(t, src); code != http.StatusOK || !strings.Contains(body, "avd-win11") || gate.calls.Load() != 2 {
		t.Errorf("a later request got %d and made %d reads in all, want its own", code, gate.calls.Load())
	}
}

// waiting is how many goroutines are inside the overview's singleflight:
// the one reading and those waiting for it.
func waiting() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "singleflight.(*Group).Do(")
}
