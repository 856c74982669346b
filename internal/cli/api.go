package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goldenpipe/goldenpipe/builds"
	"github.com/goldenpipe/goldenpipe/gallery"
	"github.com/goldenpipe/goldenpipe/template"
)

// Exit codes of the subcommands: done, refused by the app, usage or
// connection error.
const (
	exitOK      = 0
	exitRefused = 1
	exitUsage   = 2
)

// apiTimeout bounds one call to the app.
const apiTimeout = 30 * time.Second

// apiClient calls the function app's API: GOLDENPIPE_URL (default the
// local run's http://127.0.0.1:7071) with GOLDENPIPE_KEY, a function key,
// sent in the x-functions-key header (never in the URL, so it stays out of
// logs and shell history of URLs).
type apiClient struct {
	base, key string
	http      *http.Client
}

func newAPIClient(lookup func(string) (string, bool), hc *http.Client) apiClient {
	base, _ := lookup("GOLDENPIPE_URL")
	if base == "" {
		base = "http://127.0.0.1:7071"
	}
	key, _ := lookup("GOLDENPIPE_KEY")
	if hc == nil {
		hc = &http.Client{Timeout: apiTimeout}
	}
	return apiClient{base: strings.TrimRight(base, "/"), key: key, http: hc}
}

// refused is an answer of the app that says no (4xx/5xx), with its message.
type refused struct {
	status int
	msg    string
}

func (r refused) Error() string { return fmt.Sprintf("%s (HTTP %d)", r.msg, r.status) }

// call sends a request and decodes a JSON answer into out.
func (c apiClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("x-functions-key", c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reaching %s: %w", c.base, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return refused{status: resp.StatusCode, msg: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s answered something other than its JSON: %w", method, path, err)
	}
	return nil
}

// exitCode maps a call's error to the exit code, printing it.
func exitCode(stderr io.Writer, cmd string, err error) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "goldenpipe %s: %v\n", cmd, err)
	var r refused
	if errors.As(err, &r) {
		return exitRefused
	}
	return exitUsage
}

// flags parses a subcommand's flags and checks its argument count. It
// returns the exit code when the command is done before it starts: 0 after
// -h (help asked for is not an error), 2 on a usage error; -1 to go on.
func flags(name, usage string, args []string, stderr io.Writer, minArgs, maxArgs int, def func(*flag.FlagSet)) (*flag.FlagSet, int) {
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, usage); fl.PrintDefaults() }
	if def != nil {
		def(fl)
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return fl, exitOK
		}
		return fl, exitUsage
	}
	if fl.NArg() < minArgs || fl.NArg() > maxArgs {
		fl.Usage()
		return fl, exitUsage
	}
	return fl, -1
}

const buildUsage = `usage: goldenpipe build [-reason TEXT] [-force] TEMPLATE

Asks the app for a build of a template (POST /api/builds on $GOLDENPIPE_URL,
with $GOLDENPIPE_KEY) and prints the build's id. A build already in flight
for the same template and change is the answer itself.

flags:
`

// Build runs `goldenpipe build`.
func Build(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer, hc *http.Client) int {
	var reason *string
	var force *bool
	fl, code := flags("build", buildUsage, args, stderr, 1, 1, func(fl *flag.FlagSet) {
		reason = fl.String("reason", "asked from the command line", "why the build is wanted (kept on the build)")
		force = fl.Bool("force", false, "build even when the template is up to date")
	})
	if code >= 0 {
		return code
	}
	var out struct {
		BuildID string `json:"buildId"`
		Status  string `json:"status"`
	}
	err := newAPIClient(lookup, hc).call(ctx, http.MethodPost, "/api/builds",
		map[string]any{"template": fl.Arg(0), "reason": *reason, "force": *force}, &out)
	if err == nil {
		fmt.Fprintf(stdout, "build %s requested; follow it with: goldenpipe logs %s\n", out.BuildID, out.BuildID)
	}
	var r refused
	if errors.As(err, &r) && r.status == http.StatusConflict && !*force {
		// the app builds a template when it changes: one already built
		// from its current version is up to date, and a build of it again
		// is asked for with -force
		err = fmt.Errorf("%w\n(it is built already; `goldenpipe build -force %s` builds it again)", err, fl.Arg(0))
	}
	return exitCode(stderr, "build", err)
}

const statusUsage = `usage: goldenpipe status [-top N]

Prints the templates (valid, what would be built and why, the last build)
and the newest builds, from $GOLDENPIPE_URL.

flags:
`

// page is one page of a paged list.
type page[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

// getList reads the first page of a list route ({value, nextLink}); more
// says whether further pages follow.
func getList[T any](ctx context.Context, c apiClient, path string) (items []T, more bool, err error) {
	var p page[T]
	if err := c.call(ctx, http.MethodGet, path, nil, &p); err != nil {
		return nil, false, err
	}
	return p.Value, p.NextLink != "", nil
}

// Status runs `goldenpipe status`.
func Status(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer, hc *http.Client) int {
	var top *int
	if _, code := flags("status", statusUsage, args, stderr, 0, 0, func(fl *flag.FlagSet) {
		top = fl.Int("top", 20, "how many of the newest builds to show")
	}); code >= 0 {
		return code
	}
	c := newAPIClient(lookup, hc)
	type tpl struct {
		Name      string                 `json:"name"`
		Valid     bool                   `json:"valid"`
		Problems  []template.Problem     `json:"problems"`
		Count     int                    `json:"problemCount"`
		Warnings  int                    `json:"warnings"`
		Plan      *template.Plan         `json:"plan"`
		LastBuild *template.BuildSummary `json:"lastBuild"`
	}
	templates, moreTemplates, err := getList[tpl](ctx, c, "/api/templates")
	if err != nil {
		return exitCode(stderr, "status", err)
	}
	list, _, err := getList[builds.Summary](ctx, c, "/api/builds?top="+fmt.Sprint(*top))
	if err != nil {
		return exitCode(stderr, "status", err)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TEMPLATE\tVALID\tWARNINGS\tPLAN\tLAST BUILD")
	for _, t := range templates {
		plan, last := "-", "-"
		switch {
		case !t.Valid && len(t.Problems) > 0:
			plan = fmt.Sprintf("%d problem(s): %s", max(t.Count, len(t.Problems)), t.Problems[0])
		case t.Plan != nil && t.Plan.Rebuild:
			plan = "build: " + t.Plan.Reason
		case t.Plan != nil:
			plan = t.Plan.Reason
		}
		if t.LastBuild != nil {
			last = t.LastBuild.BuildID + " " + t.LastBuild.FinishedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%v\t%d\t%s\t%s\n", t.Name, t.Valid, t.Warnings, oneLine(plan, 100), last)
	}
	if moreTemplates {
		fmt.Fprintf(w, "(the first %d templates; GET /api/templates pages through the rest)\n", len(templates))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "BUILD\tTEMPLATE\tSTATE\tREQUESTED\tREASON / ERROR")
	for i, b := range list {
		if i == *top {
			break
		}
		state := string(b.State)
		if b.SubState != "" {
			state += "/" + b.SubState
		}
		why := b.Reason
		if b.Error != "" {
			why = b.Error
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", b.ID, b.Template, state, b.RequestedAt.Format(time.RFC3339), oneLine(why, 100))
	}
	return exitCode(stderr, "status", w.Flush())
}

// oneLine is s on one line, cut at n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

const logsUsage = `usage: goldenpipe logs BUILD

Prints a build's state, Azure's message and the ends of its
customization.log and validation.log, from $GOLDENPIPE_URL.
`

// Logs runs `goldenpipe logs`.
func Logs(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer, hc *http.Client) int {
	fl, code := flags("logs", logsUsage, args, stderr, 1, 1, nil)
	if code >= 0 {
		return code
	}
	var b builds.Build
	if err := newAPIClient(lookup, hc).call(ctx, http.MethodGet, "/api/builds/"+url.PathEscape(fl.Arg(0)), nil, &b); err != nil {
		return exitCode(stderr, "logs", err)
	}
	fmt.Fprintf(stdout, "build %s of %s: %s", b.ID, b.Template, b.State)
	if b.SubState != "" {
		fmt.Fprintf(stdout, "/%s", b.SubState)
	}
	fmt.Fprintf(stdout, " (requested by %s: %s)\n", b.RequestedBy, b.Reason)
	for _, h := range b.History {
		fmt.Fprintf(stdout, "  %s  %s", h.At.Format(time.RFC3339), h.State)
		if h.SubState != "" {
			fmt.Fprintf(stdout, "/%s", h.SubState)
		}
		if h.Note != "" {
			fmt.Fprintf(stdout, "  %s", h.Note)
		}
		fmt.Fprintln(stdout)
	}
	if b.Error != "" {
		fmt.Fprintf(stdout, "\nAzure's message:\n%s\n", b.Error)
	}
	if b.LogTail != "" {
		fmt.Fprintf(stdout, "\n--- customization.log (end) ---\n%s\n", strings.TrimRight(b.LogTail, "\n"))
	}
	if b.ValidationLogTail != "" {
		fmt.Fprintf(stdout, "\n--- validation.log (end) ---\n%s\n", strings.TrimRight(b.ValidationLogTail, "\n"))
	}
	if b.Error == "" && b.LogTail == "" && builds.Terminal(b.State) {
		fmt.Fprintln(stdout, "\n(no log kept: the build did not fail)")
	}
	return exitOK
}

const rollbackUsage = `usage: goldenpipe rollback [-reason TEXT] TEMPLATE [VERSION]

Makes "latest" of each Azure Compute Gallery image the template publishes to
resolve to VERSION (default: the version before the one latest is now), by
excluding every newer version from latest. Recorded on the template and
published as com.goldenpipe.image.rolled_back. Repeating it changes nothing.

flags:
`

// Rollback runs `goldenpipe rollback`.
func Rollback(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer, hc *http.Client) int {
	var reason *string
	fl, code := flags("rollback", rollbackUsage, args, stderr, 1, 2, func(fl *flag.FlagSet) {
		reason = fl.String("reason", "", "why (kept with the rollback)")
	})
	if code >= 0 {
		return code
	}
	var out struct {
		RolledBack []gallery.RolledBack `json:"rolledBack"`
	}
	err := newAPIClient(lookup, hc).call(ctx, http.MethodPost, "/api/templates/"+url.PathEscape(fl.Arg(0))+"/rollback",
		map[string]string{"version": fl.Arg(1), "reason": *reason}, &out)
	if err != nil {
		return exitCode(stderr, "rollback", err)
	}
	if len(out.RolledBack) == 0 {
		fmt.Fprintln(stdout, "nothing to do: latest already resolves to that version")
	}
	for _, r := range out.RolledBack {
		fmt.Fprintf(stdout, "%s: latest %s → %s", r.Image, r.From, r.To)
		if len(r.Excluded) > 0 {
			fmt.Fprintf(stdout, " (excluded from latest: %s)", strings.Join(r.Excluded, ", "))
		}
		fmt.Fprintln(stdout)
	}
	return exitOK
}
