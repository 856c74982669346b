package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/gallery"
	"github.com/goldenpipe/goldenpipe/host"
	"github.com/goldenpipe/goldenpipe/template"
)

// HealthCheck is one dependency the health route probes.
type HealthCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Checksums reads the checksum catalog.
type Checksums interface {
	Page(ctx context.Context, token string, top int) ([]goldenpipe.Checksum, string, error)
	Get(ctx context.Context, name string) (goldenpipe.Checksum, error)
	// WriteSHA256SUMS writes the catalog in the format sha256sum -c reads.
	WriteSHA256SUMS(ctx context.Context, w io.Writer) error
}

// Templates reads the template catalog.
type Templates interface {
	Summaries(ctx context.Context, token string, top int) ([]template.Summary, string, error)
	Get(ctx context.Context, name string) (template.Record, error)
}

// Builds reads builds and requests new ones.
type Builds interface {
	Page(ctx context.Context, template, token string, top int) ([]builds.Summary, string, error)
	Get(ctx context.Context, id string) (builds.Build, error)
	RequestBuild(ctx context.Context, req builds.Request) (string, error)
	Rejected(ctx context.Context, n int) ([]builds.Rejection, error)
}

// Gallery shows a template's Azure Compute Gallery versions and rolls
// them back.
type Gallery interface {
	View(ctx context.Context, template string) (gallery.View, error)
	Rollback(ctx context.Context, req gallery.RollbackRequest) ([]gallery.RolledBack, error)
}

// APIDeps are what the routes under /api/ read.
type APIDeps struct {
	Version   string
	Health    []HealthCheck
	Checksums Checksums
	Templates Templates
	Builds    Builds
	Gallery   Gallery
	// Status is the status page (GET /api/).
	Status http.Handler
}

// maxAPIBody bounds request bodies of the API: a larger one answers 413
// naming the limit (RFC 9110 §15.5.14, 413 Content Too Large).
const maxAPIBody = 64 << 10

// decodeBody reads a route's JSON body into v (shape is what it must look
// like, for the error). A body over maxAPIBody answers 413 naming the
// limit: at once when its Content-Length says so (nothing is read, and
// the connection is closed rather than drained), else when reading passes
// the limit. allowEmpty takes an empty body as {}. It reports whether v
// was read; when not, the answer is written.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool, shape string) bool {
	tooLarge := func(size string) {
		w.Header().Set("Connection", "close")
		writeJSON(w, http.StatusRequestEntityTooLarge, struct {
			Error string `json:"error"`
			Code  string `json:"code"`
			Limit int    `json:"limitBytes"`
		}{Error: fmt.Sprintf("the request body is %s, over the limit of %d bytes (%d KiB): the body must be JSON %s", size, maxAPIBody, maxAPIBody>>10, shape),
			Code: "too_large", Limit: maxAPIBody})
	}
	if r.ContentLength > maxAPIBody {
		tooLarge(fmt.Sprintf("%d bytes", r.ContentLength))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		tooLarge("larger")
		return false
	case err == io.EOF && allowEmpty:
		return true
	case err != nil:
		writeError(w, goldenpipe.Errorf(goldenpipe.EINVALID, "the body must be JSON %s: %v", shape, err))
		return false
	}
	return true
}

// healthTimeout bounds each dependency probe of GET /api/health; the
// probes run at once, so the answer never takes much longer than one.
const healthTimeout = 2 * time.Second

// NewAPI returns the handler of the Api function's routes. The host forwards
// requests to their original path (/api/...).
func NewAPI(d APIDeps) http.Handler {
	mux := http.NewServeMux()
	if d.Status != nil {
		mux.Handle("GET /api/{$}", d.Status)
		mux.Handle("GET /api/view/", d.Status)
	}
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, r *http.Request) {
		type check struct {
			Name  string `json:"name"`
			OK    bool   `json:"ok"`
			Error string `json:"error,omitempty"`
		}
		out := struct {
			Status  string  `json:"status"`
			Version string  `json:"version"`
			Checks  []check `json:"checks"`
		}{Status: "ok", Version: d.Version, Checks: make([]check, len(d.Health))}
		var g errgroup.Group
		for i, hc := range d.Health {
			g.Go(func() error {
				ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
				defer cancel()
				err := hc.Check(ctx)
				out.Checks[i] = check{Name: hc.Name, OK: err == nil}
				if err != nil {
					out.Checks[i].Error = goldenpipe.RedactSAS(err.Error())
				}
				return nil
			})
		}
		_ = g.Wait()
		for _, c := range out.Checks {
			if !c.OK {
				out.Status = "degraded"
			}
		}
		status := http.StatusOK
		if out.Status != "ok" {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, out)
	})
	mux.HandleFunc("GET /api/checksums", paged(func(r *http.Request, token string, top int) ([]goldenpipe.Checksum, string, error) {
		return d.Checksums.Page(r.Context(), token, top)
	}))
	mux.HandleFunc("GET /api/checksums/{name...}", answer(func(r *http.Request) (goldenpipe.Checksum, error) {
		return d.Checksums.Get(r.Context(), r.PathValue("name"))
	}))
	mux.HandleFunc("GET /api/sha256sums", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="SHA256SUMS"`)
		if err := d.Checksums.WriteSHA256SUMS(r.Context(), w); err != nil {
			writeError(w, err)
		}
	})
	mux.HandleFunc("GET /api/templates", paged(func(r *http.Request, token string, top int) ([]template.Summary, string, error) {
		return d.Templates.Summaries(r.Context(), token, top)
	}))
	mux.HandleFunc("GET /api/templates/{name}", answer(func(r *http.Request) (template.Record, error) {
		return d.Templates.Get(r.Context(), r.PathValue("name"))
	}))
	mux.HandleFunc("GET /api/templates/{name}/gallery", answer(func(r *http.Request) (gallery.View, error) { return d.Gallery.View(r.Context(), r.PathValue("name")) }))
	mux.HandleFunc("POST /api/templates/{name}/rollback", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Version     string `json:"version"`
			Reason      string `json:"reason"`
			RequestedBy string `json:"requestedBy"`
		}
		if !decodeBody(w, r, &req, true, `{"version": "<x.y.z, or empty for the one before latest>", "reason": "…"}`) {
			return
		}
		done, err := d.Gallery.Rollback(r.Context(), gallery.RollbackRequest{Template: r.PathValue("name"), Version: req.Version,
			RequestedBy: requester(r, req.RequestedBy), Reason: req.Reason})
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			RolledBack []gallery.RolledBack `json:"rolledBack"`
		}{done})
	})
	mux.HandleFunc("GET /api/builds", paged(func(r *http.Request, token string, top int) ([]builds.Summary, string, error) {
		return d.Builds.Page(r.Context(), r.URL.Query().Get("template"), token, top)
	}))
	mux.HandleFunc("GET /api/builds/rejected", answer(func(r *http.Request) ([]builds.Rejection, error) {
		return d.Builds.Rejected(r.Context(), builds.RejectedListed)
	}))
	mux.HandleFunc("GET /api/builds/{id}", answer(func(r *http.Request) (builds.Build, error) { return d.Builds.Get(r.Context(), r.PathValue("id")) }))
	mux.HandleFunc("POST /api/builds", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Template      string `json:"template"`
			Reason        string `json:"reason"`
			Force         bool   `json:"force"`
			CorrelationID string `json:"correlationId"`
		}
		if !decodeBody(w, r, &req, false, `{"template": "<name>", "reason": "…", "force": false, "correlationId": "…"}`) {
			return
		}
		by := requester(r, "")
		// validated before anything is answered: a 202 always names a build that will exist
		id, err := d.Builds.RequestBuild(r.Context(), builds.Request{Template: req.Template, Reason: req.Reason, Force: req.Force,
			RequestedBy: by, CorrelationID: req.CorrelationID})
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Location", "/api/builds/"+id)
		writeJSON(w, http.StatusAccepted, struct {
			BuildID string `json:"buildId"`
			Status  string `json:"status"`
		}{id, "/api/builds/" + id})
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// answer serves a route that answers one JSON value.
func answer[T any](fn func(r *http.Request) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// paged serves a list route: one page from ?top= and $skiptoken, with the
// link to the next.
func paged[T any](fn func(r *http.Request, token string, top int) ([]T, string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, top, err := paging(r)
		if err != nil {
			writeError(w, err)
			return
		}
		list, next, err := fn(r, token, top)
		if err != nil {
			writeError(w, err)
			return
		}
		writePage(w, r, list, next)
	}
}

// paging reads a list request's ?top= (1 to goldenpipe.MaxPageSize,
// default goldenpipe.DefaultPageSize) and $skiptoken (from a nextLink).
func paging(r *http.Request) (token string, top int, err error) {
	q := r.URL.Query()
	top = goldenpipe.DefaultPageSize
	if v := q.Get("top"); v != "" {
		if n, perr := strconv.Atoi(v); perr != nil || n < 1 || n > goldenpipe.MaxPageSize {
			return "", 0, goldenpipe.Errorf(goldenpipe.EINVALID, "top=%q: must be a number from 1 to %d", clipped(v), goldenpipe.MaxPageSize)
		} else {
			top = n
		}
	}
	if v := q.Get("$skiptoken"); v != "" {
		b, derr := base64.RawURLEncoding.DecodeString(v)
		if derr != nil || len(b) > 4096 {
			return "", 0, goldenpipe.Errorf(goldenpipe.EINVALID, "$skiptoken is not one this app gave: follow nextLink as it is")
		}
		token = string(b)
	}
	return token, top, nil
}

func clipped(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// listPage is a page of a list, in the shape Azure's own list APIs answer.
type listPage[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

// writePage answers a page, with the link to the next one: the request's
// own URL (its other parameters, the function key among them, kept) with
// the next $skiptoken.
func writePage[T any](w http.ResponseWriter, r *http.Request, list []T, next string) {
	p := listPage[T]{Value: list}
	if p.Value == nil {
		p.Value = []T{}
	}
	if next != "" {
		u := *r.URL
		q := u.Query()
		q.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte(next)))
		u.RawQuery = q.Encode()
		u.Scheme, u.Host = "http", r.Host
		if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
			u.Scheme = "https"
		}
		if h := r.Header.Get("X-Forwarded-Host"); h != "" {
			u.Host = h
		}
		if u.Host == "" {
			u.Scheme = ""
		}
		p.NextLink = u.String()
	}
	writeJSON(w, http.StatusOK, p)
}

// requester names who asked: App Service authentication's principal,
// else what the caller said, else "api".
func requester(r *http.Request, said string) string {
	if by := r.Header.Get("X-MS-CLIENT-PRINCIPAL-NAME"); by != "" {
		return by
	}
	if said != "" {
		return said
	}
	return "api"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // plain text in messages ("<name>", not \u003cname\u003e); JSON with nosniff is not HTML
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	status := host.APIStatus(err)
	writeJSON(w, status, struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{Error: goldenpipe.ErrorMessage(err), Code: fmt.Sprint(goldenpipe.ErrorCode(err))})
}
