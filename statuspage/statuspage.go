// Package statuspage renders the status page at GET /api/: templates and
// their plans, builds in flight and recent ones, VHD rescues and the
// checksum catalog. Server-rendered HTML that refreshes itself, works
// without JavaScript, and escapes everything it shows (html/template).
package statuspage

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
	gtemplate "github.com/goldenpipe/goldenpipe/template"
)

//go:embed page.html
var files embed.FS

// Sources are what the page reads.
type Sources struct {
	Templates interface {
		List(ctx context.Context) ([]gtemplate.Record, error)
	}
	Builds interface {
		InFlight(ctx context.Context) ([]builds.Build, error)
		Recent(ctx context.Context, n int) ([]builds.Build, error)
	}
	Checksums interface {
		List(ctx context.Context) ([]goldenpipe.Checksum, error)
	}
	Version string
	Now     func() time.Time
	// Refresh is the page's reload interval (default 5 s).
	Refresh time.Duration
	// Simulated names what stands in for Azure (a local run's Image Builder
	// simulator, its in-process Service Bus): the page says so on top.
	Simulated []string
}

// recentBuilds bounds the finished builds shown.
const recentBuilds = 20

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
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
}).ParseFS(files, "page.html"))

type view struct {
	Now       time.Time
	Version   string
	Refresh   int
	Templates []gtemplate.Record
	InFlight  []builds.Build
	Recent    []builds.Build
	Checksums []goldenpipe.Checksum
	Errors    []string
	Simulated []string
	Summary   summary
	// RecentLimit is how many recent builds the page reads at most.
	RecentLimit int
	// Query carries the function key (?code=) to the page's links: Azure
	// needs it on every request.
	Query string
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

// Handler serves the page.
func Handler(src Sources) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		now := time.Now().UTC()
		if src.Now != nil {
			now = src.Now().UTC()
		}
		refresh := src.Refresh
		if refresh <= 0 {
			refresh = 5 * time.Second
		}
		v := view{Now: now, Version: src.Version, Refresh: int(refresh.Seconds())}
		// each section shows what it can; a failing source is named, not fatal
		var err error
		if v.Templates, err = src.Templates.List(ctx); err != nil {
			v.Errors = append(v.Errors, "templates: "+goldenpipe.ErrorMessage(err))
		}
		// builds in flight (a finished one still cleaning up is shown as recent)
		inFlight, err := src.Builds.InFlight(ctx)
		if err != nil {
			v.Errors = append(v.Errors, "builds in flight: "+goldenpipe.ErrorMessage(err))
		}
		for _, b := range inFlight {
			if !builds.Terminal(b.State) {
				v.InFlight = append(v.InFlight, b)
			}
		}
		if v.Recent, err = src.Builds.Recent(ctx, recentBuilds); err != nil {
			v.Errors = append(v.Errors, "recent builds: "+goldenpipe.ErrorMessage(err))
		}
		if v.Checksums, err = src.Checksums.List(ctx); err != nil {
			v.Errors = append(v.Errors, "checksums: "+goldenpipe.ErrorMessage(err))
		}
		v.Simulated, v.RecentLimit = src.Simulated, recentBuilds
		if code := r.URL.Query().Get("code"); code != "" {
			v.Query = "?" + url.Values{"code": {code}}.Encode()
		}
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
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
		if err := page.Execute(w, v); err != nil {
			http.Error(w, "rendering the status page failed", http.StatusInternalServerError)
		}
	})
}
