package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/goldenpipe/goldenpipe/internal/placeholder"
	"github.com/goldenpipe/goldenpipe/template"
)

const renderUsage = `usage: goldenpipe render [flags] FILE

Prints, as JSON, what a template file becomes: for each Image Builder
template in it, the exact request body the function app would send (API
2024-02-01; null when the template has problems) with its problems, and, for
an ARM deployment template, the deployment's evaluated outputs:

  {"templates": [{"name": …, "body": {…}, "problems": […], "warnings": […]}],
   "outputs": {…}, "outputProblems": […]}

A deployment template is evaluated with --parameters, or name.parameters.json
when it stands beside it; a nested deployment's templateLink.relativePath is
read from the file's folder, as the app reads it from the templates container.
The code is the function app's (template.ParseFile,
then the renderer). Without Azure, a "latest" source version and the
checksums of scripts not found under --scripts stay as they are written (the
app resolves them at build time). Exit code: 0 when every template renders,
1 when one has a problem, 2 on a usage error.

flags:
`

// RenderResult is what `goldenpipe render` prints.
type RenderResult struct {
	Templates      []RenderedTemplate `json:"templates"`
	Outputs        map[string]any     `json:"outputs"`
	OutputProblems []template.Problem `json:"outputProblems,omitempty"`
}

// RenderedTemplate is one Image Builder template of the file.
type RenderedTemplate struct {
	Name     string             `json:"name"`
	Body     json.RawMessage    `json:"body"` // the request body; null when there are problems
	Problems []template.Problem `json:"problems"`
	Warnings []template.Problem `json:"warnings,omitempty"`
}

// Render runs `goldenpipe render`; it returns the exit code.
func Render(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("render", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, renderUsage); fl.PrintDefaults() }
	env := func(name string) string { v, _ := lookup(name); return v }
	params := fl.String("parameters", "", "the deployment template's parameters file (default: name.parameters.json beside it, when there is one)")
	scripts := fl.String("scripts", "", "a local copy of the scripts container: checksums are filled in from here, and a missing script is a problem")
	scriptsURL := fl.String("scripts-url", env("GOLDENPIPE_SCRIPTS_URL"), "the scripts container's URL: script URIs under it are the app's (default $GOLDENPIPE_SCRIPTS_URL)")
	deployment := scopeFlags(fl, env)
	dir := fl.String("settings", ".", "the folder of local.settings.json, for the scripts container's URL when --scripts-url is not given")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return 2
	}
	file := fl.Arg(0)
	if *scriptsURL == "" {
		*scriptsURL = settingsScriptsURL(lookup, *dir, stderr)
	}
	r := renderer(*scriptsURL, *scripts)
	dep, _ := deployment()
	values := placeholder.Values{placeholder.ScriptsURL: r.ScriptsURL}
	parsed, checked, _, missing, err := checkFile(ctx, file, *params, r, template.Options{ScriptsURL: r.ScriptsURL, Deployment: dep}, values)
	if err != nil {
		fmt.Fprintln(stderr, "goldenpipe render:", err)
		return 2
	}
	out := RenderResult{Templates: []RenderedTemplate{}, Outputs: map[string]any{}}
	code := 0
	for i, p := range parsed {
		c := checked[i]
		t := RenderedTemplate{Name: p.Name, Body: json.RawMessage("null"), Problems: c.Problems, Warnings: c.Warnings}
		if len(missing) > 0 {
			t.Problems = append(t.Problems, missingProblem(missing))
		}
		if t.Problems == nil {
			t.Problems = []template.Problem{}
		}
		if c.Rendered != nil && len(t.Problems) == 0 {
			t.Body = c.Rendered.JSON
		} else {
			code = 1
		}
		out.Templates = append(out.Templates, t)
		if i == 0 {
			if p.Outputs != nil {
				out.Outputs = p.Outputs
			}
			out.OutputProblems = p.OutputProblems
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(stderr, "goldenpipe render:", err)
		return 2
	}
	return code
}

// renderer is the renderer of the render and validate commands: scripts
// at scriptsURL, their checksums those of the files under scriptsDir
// (none: resolved at build time), "latest" resolved at build time.
func renderer(scriptsURL, scriptsDir string) *template.Renderer {
	var checksums template.ChecksumSource
	if scriptsDir != "" {
		checksums = dirChecksums(scriptsDir)
	}
	return template.NewRenderer(strings.TrimSuffix(scriptsURL, "/"), checksums, nil)
}
