package template

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"

	"github.com/goldenpipe/goldenpipe"
)

// ChecksumSource gives the current checksum of a script in the scripts
// container, computing it when the catalog has none; ENOTFOUND when the
// script does not exist.
type ChecksumSource interface {
	Checksum(ctx context.Context, name string) (goldenpipe.Checksum, error)
}

// Renderer turns parsed templates into the exact request Image Builder gets.
type Renderer struct {
	ScriptsURL string // the scripts container's URL
	// Checksums gives the scripts' checksums; nil offline, where they are
	// resolved at build time.
	Checksums ChecksumSource
	// Versions resolves "latest" (one per run); nil offline, where it is
	// resolved at build time.
	Versions *Resolver
}

// AtBuildTime stands for what only Azure can tell (a "latest" version, a
// script's checksum) when a template is checked offline.
const AtBuildTime = "(resolved at build time)"

// Checked is everything known of a template: every problem and warning,
// the parse's and the rendering's, found in one pass; the rendering when
// there is no problem.
type Checked struct {
	Rendered *Rendered
	Problems []Problem
	Warnings []Problem
	// Scripts names the scripts of the scripts container the template
	// refers to, sorted, whether it is valid or not.
	Scripts []string
}

// Check renders a parsed template, or, when it has problems, still looks
// for the scripts it names, so that every problem is reported at once.
// The function app and `goldenpipe validate` both call it.
func (r *Renderer) Check(ctx context.Context, p *Parsed) (Checked, error) {
	out := Checked{Problems: append([]Problem(nil), p.Problems...), Warnings: append([]Problem(nil), p.Warnings...)}
	if p.Template == nil {
		return out, nil
	}
	out.Scripts = r.scriptsUsed(p)
	if !p.Valid() {
		rep := &report{prefix: p.PathPrefix}
		for _, st := range steps(p.Template.Properties) {
			if err := r.scriptExists(ctx, st.path, *st.uri, rep); err != nil {
				return Checked{}, err
			}
		}
		out.Problems = append(out.Problems, rep.problems...)
		return out, nil
	}
	rendered, problems, err := r.Render(ctx, p)
	if err != nil {
		return Checked{}, err
	}
	if len(problems) > 0 {
		out.Problems = append(out.Problems, problems...)
		return out, nil
	}
	out.Rendered = rendered
	out.Warnings = append(out.Warnings, rendered.Warnings...)
	return out, nil
}

// scriptsUsed names the scripts-container scripts a parsed template's
// steps refer to, sorted, once each.
func (r *Renderer) scriptsUsed(p *Parsed) []string {
	seen := map[string]bool{}
	var out []string
	for _, st := range steps(p.Template.Properties) {
		if st.uri == nil || *st.uri == nil {
			continue
		}
		if name, ok := r.scriptName(**st.uri); ok && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// scriptExists reports a step whose script should be in the scripts
// container and is not.
func (r *Renderer) scriptExists(ctx context.Context, p path, uri *string, rep *report) error {
	if uri == nil || r.Checksums == nil {
		return nil
	}
	name, ok := r.scriptName(*uri)
	if !ok {
		return nil
	}
	_, err := r.Checksums.Checksum(ctx, name)
	switch goldenpipe.ErrorCode(err) {
	case "":
		return nil
	case goldenpipe.ENOTFOUND:
		rep.problem(p, "script %q does not exist in the scripts container", name)
		return nil
	}
	return fmt.Errorf("reading the checksum of %q: %w", name, err)
}

// Rendered is a template ready to submit, with what identifies its image.
type Rendered struct {
	JSON          json.RawMessage   `json:"template"`      // the API 2024-02-01 request body
	Fingerprint   string            `json:"fingerprint"`   // sha256 of what makes the image
	SourceVersion string            `json:"sourceVersion"` // exact platform version, or the source image's id
	Scripts       map[string]string `json:"scripts"`       // scripts-container name → sha256
	Warnings      []Problem         `json:"warnings,omitempty"`
}

// Render fills in checksums and the exact source version. Problems are
// things the template's author must fix (a missing script); an error is a
// failure to look something up (retry later).
func (r *Renderer) Render(ctx context.Context, p *Parsed) (*Rendered, []Problem, error) {
	if !p.Valid() || p.upgradedTo == nil {
		return nil, nil, goldenpipe.Errorf(goldenpipe.EINVALID, "template %q has problems; fix them before rendering", p.Name)
	}
	var tpl aib.ImageTemplate // a copy: the parsed template stays as written
	if err := json.Unmarshal(p.upgradedTo, &tpl); err != nil {
		return nil, nil, goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "copying template %q", p.Name)
	}
	out := &Rendered{Scripts: map[string]string{}}
	rep := &report{prefix: p.PathPrefix}
	pinned := map[string]bool{}
	for _, n := range p.Policy.PinnedChecksums {
		pinned[n] = true
	}
	for _, st := range steps(tpl.Properties) {
		if err := r.fillChecksum(ctx, st.path, *st.name, *st.uri, st.checksum, pinned, p.Policy.Ignore, out, rep); err != nil {
			return nil, nil, err
		}
	}
	switch s := tpl.Properties.Source.(type) {
	case *aib.ImageTemplatePlatformImageSource:
		if *s.Version == "latest" && r.Versions == nil {
			out.SourceVersion = "latest " + AtBuildTime
			break
		}
		if *s.Version == "latest" {
			v, err := r.Versions.Latest(ctx, *tpl.Location, *s.Publisher, *s.Offer, *s.SKU)
			if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
				rep.problem("properties.source", "%s", goldenpipe.ErrorMessage(err))
				return nil, rep.problems, nil
			}
			if err != nil {
				return nil, nil, err
			}
			s.Version = &v
		}
		out.SourceVersion = *s.Version
	case *aib.ImageTemplateManagedImageSource:
		out.SourceVersion = *s.ImageID
	case *aib.ImageTemplateSharedImageVersionSource:
		out.SourceVersion = *s.ImageVersionID
		if strings.HasSuffix(strings.ToLower(*s.ImageVersionID), "/versions/latest") {
			out.Warnings = append(out.Warnings, Problem{Path: "properties.source.imageVersionId",
				Message: "ends in /versions/latest: a new gallery version will not be noticed by the nightly plan; name the version"})
		}
	}
	if len(rep.problems) > 0 {
		return nil, rep.problems, nil
	}
	b, err := json.Marshal(&tpl)
	if err != nil {
		return nil, nil, goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "encoding template %q", p.Name)
	}
	out.JSON = b
	out.Warnings = append(out.Warnings, rep.warnings()...)
	out.Fingerprint, err = Fingerprint(b, out.SourceVersion)
	if err != nil {
		return nil, nil, err
	}
	return out, nil, nil
}

// fillChecksum sets the checksum of one step whose URI points into the
// scripts container from the catalog.
func (r *Renderer) fillChecksum(ctx context.Context, p path, stepName, uri *string, sum **string,
	pinned map[string]bool, ignore []string, out *Rendered, rep *report) error {
	if uri == nil {
		return nil
	}
	name, ok := r.scriptName(*uri)
	if ok && r.Checksums == nil {
		out.Scripts[name] = AtBuildTime
		return nil
	}
	if !ok {
		if *sum == nil {
			rep.warn(p.key("sha256Checksum"), "the script is outside the scripts container and has no checksum: changes to it will not trigger a rebuild")
		}
		return nil
	}
	c, err := r.Checksums.Checksum(ctx, name)
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		rep.problem(p, "script %q does not exist in the scripts container", name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the checksum of %q: %w", name, err)
	}
	scriptFindings(p.key("scriptUri"), name, c.Findings, ignore, rep)
	written := ""
	if *sum != nil {
		written = strings.ToLower(**sum)
	}
	isPinned := stepName != nil && pinned[*stepName]
	switch {
	case isPinned && written != "":
		if written != c.SHA256 {
			rep.warn(p.key("sha256Checksum"), "pinned to %s, but %q is now %s: Image Builder will refuse the script until it matches", short(written), name, short(c.SHA256))
		}
		out.Scripts[name] = written
		*sum = &written
		return nil
	case written != "" && written != c.SHA256:
		rep.warn(p.key("sha256Checksum"), "%s is stale; %q is now %s (from the checksum catalog). Pin it in goldenpipe.pinnedChecksums to keep it", short(written), name, short(c.SHA256))
	}
	v := c.SHA256
	*sum = &v
	out.Scripts[name] = v
	return nil
}

// scriptName returns the blob name of a URI inside the scripts container.
func (r *Renderer) scriptName(uri string) (string, bool) {
	prefix := strings.TrimSuffix(r.ScriptsURL, "/") + "/"
	if r.ScriptsURL == "" || !strings.HasPrefix(uri, prefix) {
		return "", false
	}
	rest := strings.SplitN(strings.TrimPrefix(uri, prefix), "?", 2)[0]
	name, err := url.PathUnescape(rest)
	if err != nil || name == "" {
		return "", false
	}
	return name, true
}

func short(sum string) string {
	if len(sum) > 8 {
		return sum[:8] + "…"
	}
	return sum
}

func (r *report) warnings() []Problem { return r.warningsList }

// Fingerprint is the sha256 of what makes an image: the rendered template in
// canonical form (keys sorted, no whitespace) without the tags that do not
// change the image, and the exact source version.
func Fingerprint(rendered []byte, sourceVersion string) (string, error) {
	var doc map[string]any
	if err := json.Unmarshal(rendered, &doc); err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "fingerprinting")
	}
	delete(doc, "tags")
	if props, ok := doc["properties"].(map[string]any); ok {
		delete(props, "managedResourceTags")
		if ds, ok := props["distribute"].([]any); ok {
			for _, d := range ds {
				if dm, ok := d.(map[string]any); ok {
					delete(dm, "artifactTags")
				}
			}
		}
	}
	canon, err := json.Marshal(doc) // maps marshal with sorted keys
	if err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "fingerprinting")
	}
	h := sha256.New()
	h.Write([]byte("goldenpipe/fingerprint/v1\x00source=" + sourceVersion + "\x00"))
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil)), nil
}
