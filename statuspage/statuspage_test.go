package statuspage

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
	gtemplate "github.com/goldenpipe/goldenpipe/template"
)

type fakeTemplates []gtemplate.Record

func (f fakeTemplates) List(context.Context) ([]gtemplate.Record, error) { return f, nil }

type fakeBuilds []builds.Build

func (f fakeBuilds) InFlight(context.Context) ([]builds.Build, error) {
	var out []builds.Build
	for _, b := range f {
		if !builds.Terminal(b.State) {
			out = append(out, b)
		}
	}
	return out, nil
}

func (f fakeBuilds) Recent(_ context.Context, n int) ([]builds.Build, error) {
	var out []builds.Build
	for _, b := range f {
		if builds.Terminal(b.State) && len(out) < n {
			out = append(out, b)
		}
	}
	return out, nil
}

type fakeChecksums struct {
	list []goldenpipe.Checksum
	err  error
}

func (f fakeChecksums) List(context.Context) ([]goldenpipe.Checksum, error) { return f.list, f.err }

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
	return Sources{
		Now:     func() time.Time { return now },
		Version: "test",
		Templates: fakeTemplates{
			{Name: "avd-win11", Valid: true, Rendered: &gtemplate.Rendered{Fingerprint: strings.Repeat("ab", 32), SourceVersion: "22631.4460.241106"},
				Plan:     &gtemplate.Plan{Rebuild: true, Reason: "source 22631.4317.241009 → 22631.4460.241106"},
				Warnings: []gtemplate.Problem{{Path: "properties.customize", Message: "no step cleans up (temporary files, user profiles, disk cleanup) before capture [avd-cleanup: …]"}},
				Policy:   gtemplate.Policy{Ignore: []string{"gen2", "antivirus"}}},
			{Name: evilTemplate, Valid: false, Problems: []gtemplate.Problem{{Path: "properties.customize[0].name", Message: evilError}}},
		},
		Builds: fakeBuilds{
			{ID: "avd-win11-abababababab", Template: "avd-win11", State: builds.StateRunning, SubState: "Customizing",
				RequestedAt: now.Add(-42 * time.Minute), SourceVersion: "22631.4460.241106", Reason: "nightly"},
			{ID: "avd-win11-cdcdcdcdcdcd", Template: "avd-win11", State: builds.StateRescuing, RequestedAt: now.Add(-3 * time.Hour),
				Rescue: []builds.VHDCopy{{RunOutputName: "vhd", State: builds.CopyCopying, Copied: 1 << 29, SourceLength: 1 << 30}}},
			{ID: "old-1", Template: evilTemplate, State: builds.StateFailed, Error: evilError, FinishedAt: now.Add(-time.Hour),
				LogTail: "PACKER ERR ==> azure-arm: install-apps.ps1 exited 1 <script>alert(1)</script>"},
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
