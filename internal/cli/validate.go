// Package cli holds the goldenpipe subcommands for people and CI; the
// binary's main only dispatches to them.
package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/checksum"
	"github.com/goldenpipe/goldenpipe/internal/placeholder"
	"github.com/goldenpipe/goldenpipe/practice"
	"github.com/goldenpipe/goldenpipe/template"
)

const validateUsage = `usage: goldenpipe validate [flags] FILE|DIR ...

Checks Image Builder template files as the function app does (parse, upgrade
to API 2024-02-01, validate, render), without Azure. A deployment template
name.json is evaluated with name.parameters.json when it stands beside it, and
a templateLink.relativePath read from its folder; a file only linked by others
(not a template on its own) is reported as kind "linked", with no problems.
Problems print as file:path: message; the exit code is 1 when any template
has a problem, 2 on a usage error.

${SCRIPTS_URL} in a template is replaced as make run's loader and goldenpipe
upload replace it: by --scripts-url, else $GOLDENPIPE_SCRIPTS_URL, else the
scripts container of the app's settings (the environment, then
DIR/local.settings.json or its .example: locally, the Azurite of make run).

flags:
`

// ValidateResult is one template of one file, as --json prints it.
type ValidateResult struct {
	File           string             `json:"file"`
	Parameters     string             `json:"parameters,omitempty"`
	Template       string             `json:"template"`
	Kind           string             `json:"kind"`
	ResourceName   string             `json:"resourceName,omitempty"`
	OtherResources []string           `json:"otherResources,omitempty"`
	Valid          bool               `json:"valid"`
	Problems       []template.Problem `json:"problems"`
	Warnings       []template.Problem `json:"warnings"`
	Notes          []string           `json:"upgradeNotes"`
	SourceVersion  string             `json:"sourceVersion,omitempty"`
	Scripts        map[string]string  `json:"scripts,omitempty"`
	Rendered       json.RawMessage    `json:"rendered,omitempty"`
}

// Validate runs `goldenpipe validate`; it returns the exit code.
func Validate(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("validate", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, validateUsage); fl.PrintDefaults() }
	env := func(name string) string { v, _ := lookup(name); return v }
	asJSON := fl.Bool("json", false, "print the results as JSON (one array) instead of file:path: message lines")
	scripts := fl.String("scripts", "", "a local copy of the scripts container: scripts are hashed from here and a missing one is a problem")
	scriptsURL := fl.String("scripts-url", env("GOLDENPIPE_SCRIPTS_URL"), "the scripts container's URL (e.g. https://acct.blob.core.windows.net/scripts): script URIs under it are the app's (default $GOLDENPIPE_SCRIPTS_URL)")
	deployment := scopeFlags(fl, env)
	dir := fl.String("settings", ".", "the folder of local.settings.json, for the scripts container's URL when --scripts-url is not given")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() == 0 {
		fl.Usage()
		return 2
	}
	files, err := templateFiles(fl.Args())
	if err != nil {
		fmt.Fprintln(stderr, "goldenpipe validate:", err)
		return 2
	}
	dep, standIns := deployment()
	if len(standIns) > 0 && len(standIns) < 3 {
		fmt.Fprintf(stderr, "goldenpipe validate: no %s given: stand-in values are used for them\n", strings.Join(standIns, ", "))
	}
	if *scriptsURL == "" {
		*scriptsURL = settingsScriptsURL(lookup, *dir, stderr)
	}
	r := renderer(*scriptsURL, *scripts)
	var results []ValidateResult
	values := placeholder.Values{placeholder.ScriptsURL: r.ScriptsURL}
	linkedBy := map[string][]string{} // a linked file → the files that link it, as the app's reverse index
	for _, f := range files {
		d := dep
		load := template.DirLoader(filepath.Dir(f))
		d.Load = func(rel string) ([]byte, error) {
			p := filepath.Clean(filepath.Join(filepath.Dir(f), filepath.FromSlash(rel)))
			if !slices.Contains(linkedBy[p], f) {
				linkedBy[p] = append(linkedBy[p], f)
			}
			return load(rel)
		}
		res, err := validateFile(ctx, f, r, template.Options{ScriptsURL: r.ScriptsURL, Deployment: d}, values)
		if err != nil {
			fmt.Fprintln(stderr, "goldenpipe validate:", err)
			return 2
		}
		results = append(results, res...)
	}
	results = asLinked(results, linkedBy)
	bad := 0
	for _, res := range results {
		if !res.Valid && res.Kind != template.KindLinked {
			bad++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(results); err != nil {
			return 2
		}
	} else {
		for _, res := range results {
			for _, p := range res.Problems {
				fmt.Fprintf(stdout, "%s:%s: %s\n", res.File, p.Path, p.Message)
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(stdout, "%s:%s: warning: %s\n", res.File, w.Path, w.Message)
			}
		}
		fmt.Fprintf(stderr, "%d template(s) in %d file(s): %d with problems\n", len(results), len(files), bad)
	}
	if bad > 0 {
		return 1
	}
	return 0
}

// scopeFlags declares the flags of the scope deployment templates are
// evaluated in; the returned function gives it after parsing: what was
// given, and a stand-in for each part that was not (with the template
// package's warning when a template uses them), so that --location alone
// checks the template rather than reporting each use of subscription() as
// unknown. standIns names the parts not given.
func scopeFlags(fl *flag.FlagSet, env func(string) string) func() (dep template.Deployment, standIns []string) {
	sub := fl.String("subscription", env("AZURE_SUBSCRIPTION_ID"), "subscription() and resourceId() of deployment templates (default $AZURE_SUBSCRIPTION_ID)")
	rg := fl.String("resource-group", env("AIB_RESOURCE_GROUP"), "resourceGroup().name (default $AIB_RESOURCE_GROUP)")
	loc := fl.String("location", env("AIB_LOCATION"), "resourceGroup().location (default $AIB_LOCATION)")
	return func() (template.Deployment, []string) { return deploymentScope(*sub, *rg, *loc) }
}

// deploymentScope is the scope of scopeFlags from the values given.
func deploymentScope(sub, rg, loc string) (dep template.Deployment, standIns []string) {
	dep = template.Deployment{SubscriptionID: sub, ResourceGroup: rg, Location: loc,
		Where: "--subscription, --resource-group, --location"}
	if sub == "" {
		dep.SubscriptionID, standIns = "00000000-0000-0000-0000-000000000000", append(standIns, "--subscription")
	}
	if rg == "" {
		dep.ResourceGroup, standIns = "resource-group", append(standIns, "--resource-group")
	}
	if loc == "" {
		dep.Location, standIns = "westus", append(standIns, "--location")
	}
	dep.StandIn = len(standIns) > 0
	return dep, standIns
}

// settingsScriptsURL is the scripts container's URL named by the app's
// settings (local.settings.json in dir, or the environment), "" when none
// names it; it says on stderr where it came from.
func settingsScriptsURL(lookup func(string) (string, bool), dir string, stderr io.Writer) string {
	s, where, err := appSettings(lookup, dir)
	if err != nil {
		return ""
	}
	svc, err := azure.NewBlobService(s.Scripts)
	if err != nil {
		return ""
	}
	u := svc.NewContainerClient(s.ScriptsContainer).URL()
	fmt.Fprintf(stderr, "scripts container %s (from %s; --scripts-url names another)\n", u, where)
	return u
}

// templateFiles expands the arguments into template files: directories
// give their *.json files (recursively); a parameters file stands for its
// template.
func templateFiles(args []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		p = template.TemplateBlobOf(filepath.ToSlash(p))
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			add(a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(p, ".json") {
				add(p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// validateFile checks one template file (with its parameters file) with
// the same code the function app runs on an upload.
// Its placeholders are expanded first, as goldenpipe upload and make run
// expand them on the way to the templates container.
func validateFile(ctx context.Context, file string, r *template.Renderer, o template.Options, values placeholder.Values) ([]ValidateResult, error) {
	parsed, checked, pfile, missing, err := checkFile(ctx, file, "", r, o, values)
	if err != nil {
		return nil, err
	}
	var out []ValidateResult
	for i, p := range parsed {
		c := checked[i]
		res := ValidateResult{File: file, Parameters: pfile, Template: p.Name, Kind: p.Kind, ResourceName: p.ResourceName,
			OtherResources: p.OtherResources, Valid: len(c.Problems) == 0, Problems: c.Problems, Warnings: c.Warnings, Notes: p.Notes}
		if len(missing) > 0 {
			res.Valid = false
			res.Problems = append(res.Problems, missingProblem(missing))
		}
		if res.Problems == nil {
			res.Problems = []template.Problem{}
		}
		if res.Warnings == nil {
			res.Warnings = []template.Problem{}
		}
		if c.Rendered != nil {
			res.SourceVersion, res.Scripts, res.Rendered = c.Rendered.SourceVersion, c.Rendered.Scripts, c.Rendered.JSON
		}
		out = append(out, res)
	}
	return out, nil
}

// checkFile parses and checks one template file with its parameters file
// (pfile; "" for name.parameters.json beside it, when there is one) with
// the same code the function app runs on an upload: placeholders expanded
// as goldenpipe upload and make run expand them (missing names those with
// no value), then template.ParseFile and Renderer.Check. It returns the
// parameters file it used.
func checkFile(ctx context.Context, file, pfile string, r *template.Renderer, o template.Options, values placeholder.Values) (parsed []*template.Parsed, checked []template.Checked, usedParams string, missing []string, err error) {
	raw, err := readLimited(file)
	if err != nil {
		return nil, nil, "", nil, err
	}
	missing = placeholder.Missing(raw, values)
	raw = placeholder.Expand(raw, values)
	var params []byte
	if pfile != "" {
		if params, err = readLimited(pfile); err != nil {
			return nil, nil, "", nil, err
		}
	} else {
		pfile = template.ParametersBlobOf(file)
		if b, err := readLimited(pfile); err == nil {
			params = b
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, "", nil, err
		} else {
			pfile = ""
		}
	}
	if params != nil {
		missing = append(missing, placeholder.Missing(params, values)...)
		params = placeholder.Expand(params, values)
	}
	name := strings.TrimSuffix(filepath.Base(file), ".json")
	if st, err := os.Stat(file); err == nil {
		o.Deployment.Now = st.ModTime() // utcNow() in a parameter default, as the app takes the blob's time
	}
	if o.Deployment.Load == nil {
		o.Deployment.Load = template.DirLoader(filepath.Dir(file)) // templateLink.relativePath: beside the file, as the app reads the container
	}
	load := o.Deployment.Load
	o.Deployment.Load = func(rel string) ([]byte, error) { // a linked file's placeholders too, as upload expands every template
		b, err := load(rel)
		if err != nil {
			return nil, err
		}
		missing = append(missing, placeholder.Missing(b, values)...)
		return placeholder.Expand(b, values), nil
	}
	parsed = template.ParseFile(name, raw, params, o)
	checked = make([]template.Checked, len(parsed))
	for i, p := range parsed {
		if checked[i], err = r.Check(ctx, p); err != nil {
			return nil, nil, "", nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	return parsed, checked, pfile, missing, nil
}

// missingProblem is the problem of a template that uses placeholders with
// no value.
func missingProblem(missing []string) template.Problem {
	return template.Problem{Message: "uses " + placeholder.Describe(missing) +
		", which has no value: give --scripts-url (or $GOLDENPIPE_SCRIPTS_URL, or settings naming the scripts storage)"}
}

// readLimited reads a file of at most one template's size (and one byte
// more, so an oversized file is reported as such by the parser).
func readLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, template.MaxTemplateBytes+1))
}

// dirChecksums hashes scripts from a local copy of the scripts container.
type dirChecksums string

func (d dirChecksums) Checksum(_ context.Context, name string) (goldenpipe.Checksum, error) {
	clean := filepath.Clean(filepath.FromSlash(name))
	if !filepath.IsLocal(clean) {
		return goldenpipe.Checksum{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "script %q is outside %s", name, string(d))
	}
	f, err := os.Open(filepath.Join(string(d), clean))
	if errors.Is(err, fs.ErrNotExist) {
		return goldenpipe.Checksum{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no script %q in %s", name, string(d))
	}
	if err != nil {
		return goldenpipe.Checksum{}, err
	}
	defer f.Close()
	h := sha256.New()
	head := &checksum.Head{Limit: 1 << 20} // the practice checks read the start, as the app does
	n, err := io.Copy(io.MultiWriter(h, head), f)
	if err != nil {
		return goldenpipe.Checksum{}, err
	}
	return goldenpipe.Checksum{Name: name, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, Findings: practice.ScanFile(head.Bytes())}, nil
}

// asLinked gives a linked file that is no valid template on its own one
// result saying which files link it, with no problems, as the function
// app records it: it is evaluated where it is linked.
func asLinked(results []ValidateResult, linkedBy map[string][]string) []ValidateResult {
	byFile := map[string]bool{} // a file with a valid template of its own
	for _, r := range results {
		if r.Valid {
			byFile[filepath.Clean(r.File)] = true
		}
	}
	var out []ValidateResult
	done := map[string]bool{}
	for _, r := range results {
		f := filepath.Clean(r.File)
		by := linkedBy[f]
		if len(by) == 0 || byFile[f] {
			out = append(out, r)
			continue
		}
		if done[f] {
			continue
		}
		done[f] = true
		quoted := make([]string, len(by))
		for i, b := range by {
			quoted[i] = fmt.Sprintf("%q", b)
		}
		out = append(out, ValidateResult{File: r.File, Template: strings.TrimSuffix(filepath.Base(r.File), ".json"), Kind: template.KindLinked,
			Problems: []template.Problem{}, Warnings: []template.Problem{},
			Notes: []string{fmt.Sprintf("linked by %s (templateLink.relativePath): evaluated there, with the parameters passed; not a template of its own", strings.Join(quoted, ", "))}})
	}
	return out
}
