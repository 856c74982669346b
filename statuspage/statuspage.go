// Package statuspage renders the status page at GET /api/: templates and
// their plans, builds in flight and recent ones, VHD rescues and the
// checksum catalog. Server-rendered HTML that refreshes itself, works
// without JavaScript, and escapes everything it shows (html/template).
package statuspage

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/gallery"
	gtemplate "github.com/goldenpipe/goldenpipe/template"
)

//go:embed layout.html page.html build.html template.html
var files embed.FS

// Sources are what the page reads.
type Sources struct {
	Templates interface {
		Summaries(ctx context.Context, token string, top int) ([]gtemplate.Summary, string, error)
	}
	Builds interface {
		InFlightPage(ctx context.Context, n int) ([]builds.Summary, int, error)
		Recent(ctx context.Context, n int) ([]builds.Summary, error)
		Get(ctx context.Context, id string) (builds.Build, error)
		Page(ctx context.Context, template, token string, top int) ([]builds.Summary, string, error)
		Rejected(ctx context.Context, n int) ([]builds.Rejection, error)
	}
	// Template reads one template's record (the template page).
	Template interface {
		Get(ctx context.Context, name string) (gtemplate.Record, error)
	}
	// Gallery, when set, shows a template's gallery versions.
	Gallery interface {
		View(ctx context.Context, template string) (gallery.View, error)
	}
	Checksums interface {
		Page(ctx context.Context, token string, top int) ([]goldenpipe.Checksum, string, error)
	}
	Version string
	Now     func() time.Time
	// Refresh is the page's reload interval (default 5 s).
	Refresh time.Duration
	// Simulated names what stands in for Azure (a local run's Image Builder
	// simulator, its in-process Service Bus): the page says so on top.
	Simulated []string
}

// recentBuilds bounds the finished builds shown; rejectedShown the
// rejected messages on the overview; templateBuilds a template's builds.
const (
	recentBuilds   = 20
	rejectedShown  = 10
	templateBuilds = 20
	// inFlightShown is how many builds in flight the overview reads and
	// shows (the ones holding a slot first); it counts them all.
	inFlightShown = 50
	// listShown is how many templates and checksums the overview shows
	// (the first page of each, in key order); the rest are a link away.
	listShown = 25
)

var funcs = template.FuncMap{
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12] + "…"
		}
		return s
	},
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return now.Sub(t).Round(time.Second).String()
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"pct": func(c builds.VHDCopy) string {
		if c.SourceLength == 0 {
			return ""
		}
		return fmt.Sprintf("%.0f%%", 100*float64(c.Copied)/float64(c.SourceLength))
	},
	"bytes": func(n int64) string {
		switch {
		case n >= 1<<30:
			return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
		}
		return fmt.Sprintf("%d B", n)
	},
	"int64": func(n int) int64 { return int64(n) },
	"sub":   func(a, b int) int { return a - b },
	"span":  func(from, to time.Time) string { return span(to.Sub(from)) },
}

var (
	page      = template.Must(template.New("page.html").Funcs(funcs).ParseFS(files, "layout.html", "page.html"))
	buildPage = template.Must(template.New("build.html").Funcs(funcs).ParseFS(files, "layout.html", "build.html"))
	tplPage   = template.Must(template.New("template.html").Funcs(funcs).ParseFS(files, "layout.html", "template.html"))
)

// span is a duration as people read it: 2h05m, 4m10s, 12s.
func span(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return d.String()
}

// common is what every page shows around its content.
type common struct {
	Title     string
	Now       time.Time
	Version   string
	Refresh   int
	Errors    []string
	Simulated []string
	// Query carries the function key (?code=) to the page's links: Azure
	// needs it on every request.
	Query string
	Base  string
}

type view struct {
	common
	Templates []gtemplate.Summary
	InFlight  []builds.Summary
	// InFlightTotal, when set, counts every build in flight (their
	// markers, finished ones still cleaning up among them): more than the
	// inFlightShown the page read. InFlightAtLeast says it is a lower
	// bound: the monitor counts at most builds.InFlightCounted.
	InFlightTotal   int
	InFlightAtLeast bool
	Recent          []builds.Summary
	Checksums       []goldenpipe.Checksum
	Summary         summary
	// RecentLimit is how many recent builds the page reads at most.
	RecentLimit   int
	Rejected      []builds.Rejection
	RejectedLimit int
	// MoreTemplates and MoreChecksums link to the next page of each list
	// ("" when everything is shown).
	MoreTemplates, MoreChecksums string
}

// summary is the page's first line.
type summary struct {
	Running, Waiting, Invalid int
	// Failed counts the failed builds among the recent ones shown that
	// finished in the last 24 hours.
	Failed int
}

// failedState is a finished build that made no image.
func failedState(s builds.State) bool {
	switch s {
	case builds.StateFailed, builds.StateTimedOut, builds.StateRescueFailed, builds.StateCanceled:
		return true
	}
	return false
}

// pageTimeout bounds the reads of one page.
const pageTimeout = 20 * time.Second

// commonOf is what every page shows around its content.
func commonOf(src Sources, r *http.Request, title string) common {
	now := time.Now().UTC()
	if src.Now != nil {
		now = src.Now().UTC()
	}
	refresh := src.Refresh
	if refresh <= 0 {
		refresh = 5 * time.Second
	}
	c := common{Title: title, Now: now, Version: src.Version, Refresh: int(refresh.Seconds()), Simulated: src.Simulated, Base: "/api"}
	if code := r.URL.Query().Get("code"); code != "" {
		c.Query = "?" + url.Values{"code": {code}}.Encode()
	}
	return c
}

// Handler serves the pages: the overview (/api/), a build's page
// (/api/view/builds/{id}) and a template's (/api/view/templates/{name}).
func Handler(src Sources) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/{$}", overview(src))
	mux.Handle("GET /api/view/builds/{id}", buildHandler(src))
	mux.Handle("GET /api/view/templates/{name}", templateHandler(src))
	return mux
}

// writePage writes a page with the headers every page has.
func writePage(w http.ResponseWriter, t *template.Template, status int, v any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// reads are the overview's reads of its sources, one of each section,
// with what each took. Requests that share them only read them.
type reads struct {
	templates                                    []gtemplate.Summary
	inFlight, recent                             []builds.Summary
	total                                        int
	checksums                                    []goldenpipe.Checksum
	rejected                                     []builds.Rejection
	nextTemplates, nextChecksums                 string
	tplErr, flightErr, recentErr, sumErr, rejErr error
	took                                         [5]time.Duration
}

// sections names the overview's reads, in the order of reads.took.
var sections = [...]string{"templates", "inflight", "recent", "checksums", "rejected"}

// read reads the overview's sections at once; each shows what it can, a
// failing source is named, not fatal.
func read(ctx context.Context, src Sources) *reads {
	var (
		g  errgroup.Group
		rd reads
	)
	timed := func(i int, fn func()) {
		g.Go(func() error {
			start := time.Now()
			fn()
			rd.took[i] = time.Since(start)
			return nil
		})
	}
	timed(0, func() { rd.templates, rd.nextTemplates, rd.tplErr = src.Templates.Summaries(ctx, "", listShown) })
	timed(1, func() { rd.inFlight, rd.total, rd.flightErr = src.Builds.InFlightPage(ctx, inFlightShown) })
	timed(2, func() { rd.recent, rd.recentErr = src.Builds.Recent(ctx, recentBuilds) })
	timed(3, func() { rd.checksums, rd.nextChecksums, rd.sumErr = src.Checksums.Page(ctx, "", listShown) })
	timed(4, func() { rd.rejected, rd.rejErr = src.Builds.Rejected(ctx, rejectedShown) })
	_ = g.Wait()
	return &rd
}

// overview is the status page. Requests that arrive while the page's
// reads are under way share them (singleflight) instead of reading again:
// however many people (or refreshing tabs) look at once, one instance
// reads the store once at a time, and a page is at most one read old
// (pageTimeout) when it is asked.
func overview(src Sources) http.Handler {
	var flight singleflight.Group
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := view{common: commonOf(src, r, "golden images")}
		now := v.Now
		// the reads go on when the request that started them ends: the
		// others waiting for them are bounded by pageTimeout too
		got, _, shared := flight.Do("overview", func() (any, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), pageTimeout)
			defer cancel()
			return read(ctx, src), nil
		})
		rd := got.(*reads)
		// what each section's reads took, for the browser's tools (and the benches)
		var timing []string
		for i, name := range sections {
			timing = append(timing, fmt.Sprintf("%s;dur=%.1f", name, float64(rd.took[i].Microseconds())/1000))
		}
		if shared {
			timing = append(timing, `shared;desc="reads shared with requests at once"`)
		}
		w.Header().Set("Server-Timing", strings.Join(timing, ", "))
		v.Templates, v.Recent, v.Checksums, v.Rejected = rd.templates, rd.recent, rd.checksums, rd.rejected
		total := rd.total // less the ones finished since (below)
		if rd.tplErr != nil {
			v.Errors = append(v.Errors, "templates: "+goldenpipe.ErrorMessage(rd.tplErr))
		}
		v.MoreTemplates = moreLink("templates", rd.nextTemplates, v.Query)
		// builds in flight (a finished one still cleaning up is shown as recent)
		if rd.flightErr != nil {
			v.Errors = append(v.Errors, "builds in flight: "+goldenpipe.ErrorMessage(rd.flightErr))
		}
		// the builds in flight may be as the monitor's last tick left them:
		// one finished since (recent builds are read live) is not in flight
		finished := map[string]bool{}
		for _, b := range v.Recent {
			finished[b.ID] = true
		}
		for _, b := range rd.inFlight {
			switch {
			case finished[b.ID] || builds.Terminal(b.State):
				total--
			default:
				v.InFlight = append(v.InFlight, b)
			}
		}
		if total > len(v.InFlight) {
			v.InFlightTotal = total // more than were read: the page says so
			v.InFlightAtLeast = rd.total >= builds.InFlightCounted
		}
		if rd.recentErr != nil {
			v.Errors = append(v.Errors, "recent builds: "+goldenpipe.ErrorMessage(rd.recentErr))
		}
		if rd.sumErr != nil {
			v.Errors = append(v.Errors, "checksums: "+goldenpipe.ErrorMessage(rd.sumErr))
		}
		v.MoreChecksums = moreLink("checksums", rd.nextChecksums, v.Query)
		if rd.rejErr != nil {
			v.Errors = append(v.Errors, "rejected messages: "+goldenpipe.ErrorMessage(rd.rejErr))
		}
		if len(v.Rejected) > rejectedShown {
			v.Rejected = v.Rejected[:rejectedShown]
		}
		v.RecentLimit, v.RejectedLimit = recentBuilds, rejectedShown
		for _, b := range v.InFlight {
			if b.State == builds.StateRequested || b.State == builds.StateQueued {
				v.Summary.Waiting++
			} else {
				v.Summary.Running++
			}
		}
		for _, t := range v.Templates {
			if !t.Valid {
				v.Summary.Invalid++
			}
		}
		for _, b := range v.Recent {
			if failedState(b.State) && now.Sub(b.FinishedAt) <= 24*time.Hour {
				v.Summary.Failed++
			}
		}
		writePage(w, page, http.StatusOK, v)
	})
}

// step is one entry of a build's timeline, with how long it lasted.
type step struct {
	builds.Transition
	For string
}

// buildView is a build's page.
type buildView struct {
	common
	Build    *builds.Build
	Timeline []step
	Rendered string
}

// timeline is a build's history with how long each entry lasted: until
// the next, or until now for a build not finished.
func timeline(b builds.Build, now time.Time) []step {
	out := make([]step, len(b.History))
	for i, h := range b.History {
		out[i].Transition = h
		switch {
		case i+1 < len(b.History):
			out[i].For = span(b.History[i+1].At.Sub(h.At))
		case !builds.Terminal(b.State):
			out[i].For = span(now.Sub(h.At)) + " so far"
		}
	}
	return out
}

func buildHandler(src Sources) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
		defer cancel()
		id := r.PathValue("id")
		v := buildView{common: commonOf(src, r, "build "+id)}
		b, err := src.Builds.Get(ctx, id)
		if err != nil {
			v.Errors = append(v.Errors, goldenpipe.ErrorMessage(err))
			v.Refresh = 0
			writePage(w, buildPage, errorStatus(err), v)
			return
		}
		if builds.Terminal(b.State) {
			v.Refresh = 0 // nothing will change
		}
		v.Build, v.Timeline = &b, timeline(b, v.Now)
		if len(b.Rendered) > 0 {
			var pretty bytes.Buffer
			if json.Indent(&pretty, b.Rendered, "", "  ") == nil {
				v.Rendered = pretty.String()
			}
		}
		writePage(w, buildPage, http.StatusOK, v)
	})
}

// templateView is a template's page.
type templateView struct {
	common
	Template    *gtemplate.Record
	Builds      []builds.Summary
	BuildsLimit int
	Gallery     *gallery.View
}

func templateHandler(src Sources) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
		defer cancel()
		name := r.PathValue("name")
		v := templateView{common: commonOf(src, r, "template "+name), BuildsLimit: templateBuilds}
		v.Refresh = 30
		rec, err := src.Template.Get(ctx, name)
		if err != nil {
			v.Errors = append(v.Errors, goldenpipe.ErrorMessage(err))
			v.Refresh = 0
			writePage(w, tplPage, errorStatus(err), v)
			return
		}
		v.Template = &rec
		if v.Builds, _, err = src.Builds.Page(ctx, name, "", templateBuilds); err != nil {
			v.Errors = append(v.Errors, "builds: "+goldenpipe.ErrorMessage(err))
		}
		if src.Gallery != nil {
			g, err := src.Gallery.View(ctx, name)
			if err != nil {
				v.Errors = append(v.Errors, "gallery: "+goldenpipe.ErrorMessage(err))
			} else {
				v.Gallery = &g
			}
		}
		writePage(w, tplPage, http.StatusOK, v)
	})
}

// moreLink is the JSON list's next page after the overview's first (""
// when there is none), relative to /api/, the function key kept.
func moreLink(list, next, query string) string {
	if next == "" {
		return ""
	}
	q := url.Values{"top": {fmt.Sprint(listShown)}, "$skiptoken": {base64.RawURLEncoding.EncodeToString([]byte(next))}}
	if query != "" {
		if v, err := url.ParseQuery(strings.TrimPrefix(query, "?")); err == nil {
			q.Set("code", v.Get("code"))
		}
	}
	return list + "?" + q.Encode()
}

// errorStatus is the status of a page whose subject could not be read.
func errorStatus(err error) int {
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return http.StatusNotFound
	}
	return http.StatusServiceUnavailable
}
