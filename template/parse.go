package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"
	"github.com/goldenpipe/goldenpipe/arm"
)

// TargetAPIVersion is the API every template is upgraded to.
const TargetAPIVersion = "2024-02-01"

// knownAPIVersions are the versions templates may be written for.
var knownAPIVersions = []string{"2019-05-01-preview", "2020-02-14", "2021-10-01", "2022-02-14", "2022-07-01", "2023-07-01", "2024-02-01"}

// Rebuild policies (Policy.Rebuild).
const (
	RebuildOnChange = "onChange" // rebuild when the fingerprint changes (default)
	RebuildNightly  = "nightly"  // rebuild every night regardless
)

// Policy is the app's own section of an uploaded template, the top-level
// "goldenpipe" object; it is removed before the template goes to Azure.
type Policy struct {
	// PinnedChecksums names customizers (and validators) whose
	// sha256Checksum is kept as written even when the script's current
	// checksum differs: a deliberate pin to one version of a script.
	PinnedChecksums []string `json:"pinnedChecksums,omitempty"`
	// Rebuild is RebuildOnChange (default) or RebuildNightly.
	Rebuild string `json:"rebuild,omitempty"`
	// Ignore silences practice checks by name (practice.Checks); the
	// record keeps the list, so silence is visible.
	Ignore []string `json:"ignore,omitempty"`
	// HostPool says the image is for an Azure Virtual Desktop host pool:
	// "pooled" or "personal".
	HostPool string `json:"hostPool,omitempty"`
	// Stage is "test" for an image that is not for production.
	Stage string `json:"stage,omitempty"`
	// Recustomize says a custom-image source is intended.
	Recustomize bool `json:"recustomize,omitempty"`
	// KeepVersions is how many versions of each Azure Compute Gallery
	// image definition the template publishes to are kept: after a
	// successful build the oldest beyond it are deleted (never the newest,
	// the build's own, the one latest resolves to, or one tagged
	// goldenpipe.inUse). 0, the default, keeps every version.
	KeepVersions int `json:"keepVersions,omitempty"`
	// VersionPolicy is how the gallery versions a build publishes are
	// numbered: "nextPatch" (default, gallery.PolicyNextPatch: no build is
	// sent whose version exists) or "asWritten" (galleryImageId as the
	// template writes it).
	VersionPolicy string `json:"versionPolicy,omitempty"`
	// UnfinishedVersions is what becomes of a version published by a build
	// that did not succeed: "exclude" (default: excluded from latest) or
	// "delete".
	UnfinishedVersions string `json:"unfinishedVersions,omitempty"`
}

// OS families a source image is known to be.
const (
	OSWindows = "Windows"
	OSLinux   = "Linux"
)

// Options are what reading a template needs to know about the app.
type Options struct {
	// ScriptsURL is the scripts container's URL: checksums of scripts under
	// it are filled in from the catalog when the template is rendered.
	ScriptsURL string
	// Deployment is the scope deployment templates are evaluated in.
	Deployment Deployment
}

// Parsed is a template read, upgraded and validated.
type Parsed struct {
	Name string
	// LinkedBy names the template files that link this one (KindLinked).
	LinkedBy  []string
	Kind      string // KindResource, KindDeployment or KindParameters
	SourceAPI string // the apiVersion the template was written for ("" when absent)
	// ResourceName is the name the resource gives itself (evaluated, for a
	// deployment template); the template is named by its blob.
	ResourceName string
	// OtherResources lists the other resources of a deployment template
	// ("type name"): not deployed by this app.
	OtherResources []string
	Template       *armvirtualmachineimagebuilder.ImageTemplate
	Policy         Policy
	OS             string    // OSWindows, OSLinux or "" when the source does not say
	Problems       []Problem // errors: the template cannot be built until they are fixed
	Warnings       []Problem // things that will work but deserve a look
	Notes          []string  // what the upgrade changed
	// PathPrefix is where the image template stands in its file
	// ("resources[0]" in a deployment template, "" for a bare resource).
	PathPrefix string
	// Outputs are the deployment template's evaluated outputs (the same
	// for every template of the file); OutputProblems say which could not
	// be evaluated offline.
	Outputs        map[string]any
	OutputProblems []Problem
	upgradedTo     []byte
}

// Valid reports whether the template has no problems.
func (p *Parsed) Valid() bool { return len(p.Problems) == 0 }

// Parse reads a template file named name (its blob name without .json)
// with no parameters file: the first (usually the only) template in it.
func Parse(name string, raw []byte, o Options) *Parsed {
	return ParseFile(name, raw, nil, o)[0]
}

// ParseFile reads a template file: a bare imageTemplates resource, or an
// ARM deployment template evaluated with its parameters file (params, nil
// when there is none). It returns one template per imageTemplates
// resource, at least one: a file that yields none gives one invalid
// template named name that says why. A file with one image template keeps
// the file's name; with several, each is named name.resourceName.
func ParseFile(name string, raw, params []byte, o Options) []*Parsed {
	r := &report{}
	fail := func(kind string) []*Parsed {
		checkTemplateName(name, r)
		return []*Parsed{{Name: name, Kind: kind, Problems: r.problems, Warnings: r.warningsList, Notes: r.notes}}
	}
	if len(raw) > MaxTemplateBytes {
		r.problem("", "template is %d bytes, over the limit of %d", len(raw), MaxTemplateBytes)
		return fail(KindResource)
	}
	// a file saved on Windows: a byte-order mark, UTF-16; bytes that are
	// not text are refused here, never replaced
	raw, err := DecodeText(raw)
	if err != nil {
		r.problem("", "%v", err)
		return fail(KindResource)
	}
	if params != nil {
		if params, err = DecodeText(params); err != nil {
			r.problem("(parameters file)", "%v", err)
			return fail(KindDeployment)
		}
	}
	root, err := parseJSON(arm.StripComments(raw))
	if err != nil {
		r.problem("", "not valid JSON: %v", err)
		return fail(KindResource)
	}
	if root.Kind != '{' {
		r.problem("", "must be a JSON object, not %s", root.Describe())
		return fail(KindResource)
	}
	if isParametersFile(root) {
		r.problem("", "this is an ARM parameters file, not a template: name it <template>.parameters.json beside the deployment template it belongs to")
		return fail(KindParameters)
	}
	if !isDeploymentTemplate(root) {
		if params != nil {
			r.warn("(parameters file)", "ignored: the template is a bare imageTemplates resource, which has no parameters; only deployment templates take a parameters file")
		}
		checkTemplateName(name, r)
		return []*Parsed{parseResource(name, KindResource, root, r, o)}
	}
	return parseDeployment(name, raw, root, params, r, o)
}

// parseDeployment evaluates a deployment template with package arm and
// reads each imageTemplates resource it would create as a bare resource.
// File-level findings (the parameters) go to every template of the file.
func parseDeployment(name string, raw []byte, root *node, params []byte, file *report, o Options) []*Parsed {
	dep, err := arm.Evaluate(raw, params, o.Deployment.scope())
	if err != nil { // parsed above, so this does not happen; say it anyway
		file.problem("", "%v", err)
		checkTemplateName(name, file)
		return []*Parsed{{Name: name, Kind: KindDeployment, Problems: file.problems, Warnings: file.warningsList, Notes: file.notes}}
	}
	outputProblems := splitOutputProblems(dep, file)
	withOutputs := func(list []*Parsed) []*Parsed {
		for _, p := range list {
			p.Outputs, p.OutputProblems = dep.Outputs, outputProblems
		}
		return list
	}
	images, others := sortResources(root, dep, file)
	skipped := deploymentNotes(root, dep, file)
	for _, w := range dep.Warnings {
		if w.Path == "(template)" {
			continue // the stand-in warning, last
		}
		file.warningsList = append(file.warningsList, Problem{Path: w.Path, Message: w.Message})
	}
	if len(images) == 0 {
		return withOutputs([]*Parsed{noImageTemplate(name, dep, others, skipped, file)})
	}
	out := make([]*Parsed, 0, len(images))
	seen := map[string]bool{}
	for _, im := range images {
		tname := name
		if len(images) > 1 {
			tname = name + "." + im.Name
		}
		out = append(out, parseEvaluatedImage(name, tname, im, dep, others, seen, o))
	}
	secureParameterWarnings(root, params, file)
	for _, w := range dep.Warnings {
		if w.Path == "(template)" {
			file.warningsList = append(file.warningsList, Problem{Path: "(template)", Message: w.Message})
		}
	}
	for _, p := range out {
		p.Problems = append(append([]Problem(nil), file.problems...), p.Problems...)
		p.Warnings = append(append([]Problem(nil), file.warningsList...), p.Warnings...)
		p.Notes = append(append([]string(nil), file.notes...), p.Notes...)
	}
	return withOutputs(out)
}

// splitOutputProblems puts a deployment's problems in the file's report,
// except those of its outputs, which it returns: outputs are not the image
// templates' concern (render shows them).
func splitOutputProblems(dep *arm.Deployment, file *report) []Problem {
	var outputProblems []Problem
	for _, pr := range dep.Problems {
		if strings.HasPrefix(pr.Path, "outputs") {
			outputProblems = append(outputProblems, Problem{Path: pr.Path, Message: pr.Message})
			continue
		}
		file.problems = append(file.problems, Problem{Path: pr.Path, Message: pr.Message})
	}
	return outputProblems
}

// sortResources returns the image templates a deployment creates and the
// other resources ("type name", sorted), reporting a nested deployment
// that holds an image template arm did not bring out.
func sortResources(root *node, dep *arm.Deployment, file *report) (images []arm.Resource, others []string) {
	for _, res := range dep.Resources {
		switch {
		case strings.EqualFold(res.Type, ImageTemplateType):
			images = append(images, res)
		case strings.EqualFold(res.Type, arm.DeploymentsType) && nestedImageTemplate(root, res, dep.Resources):
			file.problem(path(res.Path), "a nested deployment holding an image template is not evaluated: put the imageTemplates resource at the top level of resources")
		default:
			name := res.Name
			if raw := rawAt(root, res.Path); name == "" && raw != nil {
				if n := raw.GetFold("name"); n != nil && n.Kind == '"' {
					name = n.Str // as written, when it could not be evaluated
				}
			}
			others = append(others, strings.TrimSpace(res.Type+" "+name))
		}
	}
	sort.Strings(others)
	return images, others
}

// deploymentNotes puts a deployment's notes in the file's report and
// tells whether an image template was skipped (its condition is false).
func deploymentNotes(root *node, dep *arm.Deployment, file *report) (skipped bool) {
	for _, n := range dep.Notes {
		if n.Message == arm.MsgConditionFalse {
			if raw := rawAt(root, n.Path); raw != nil && raw.Kind == '{' && isImageTemplate(raw) {
				file.note(path(n.Path), "condition is false: this image template is not deployed")
				skipped = true
			}
			continue
		}
		file.note(path(n.Path), "%s", n.Message)
	}
	return skipped
}

// noImageTemplate is the one result of a deployment that creates no image
// template: why not (a linked template that could not be read, false
// conditions, none at all).
func noImageTemplate(name string, dep *arm.Deployment, others []string, skipped bool, file *report) *Parsed {
	// a linked template that could not be read (a uri, a missing
	// file, past the nesting bounds): it may hold the image template,
	// so say why it was not read
	for _, res := range dep.Resources {
		if !strings.EqualFold(res.Type, arm.DeploymentsType) {
			continue
		}
		for _, pr := range res.Problems {
			if strings.HasPrefix(pr.Path, res.Path+".properties.templateLink") || pr.Path == res.Path && strings.Contains(pr.Message, "nested") {
				file.problems = append(file.problems, Problem{Path: pr.Path, Message: pr.Message})
			}
		}
	}
	switch {
	case skipped:
		file.problem("resources", "every %s resource has a false condition: nothing to build", ImageTemplateType)
	case len(file.problems) == 0:
		file.problem("resources", "holds no %s resource: nothing for Image Builder here", ImageTemplateType)
	}
	checkTemplateName(name, file)
	return &Parsed{Name: name, Kind: KindDeployment, OtherResources: others, Problems: file.problems, Warnings: file.warningsList, Notes: file.notes}
}

// parseEvaluatedImage reads one evaluated image template of a deployment
// (file name, template name tname) as a bare resource, with the problems
// of the nested deployments that hold it; seen holds the template names
// read so far.
func parseEvaluatedImage(name, tname string, im arm.Resource, dep *arm.Deployment, others []string, seen map[string]bool, o Options) *Parsed {
	r := &report{prefix: im.Path, evaluated: true}
	for _, res := range dep.Resources {
		// the problems of the nested deployments that hold it (their
		// parameters, …) are the image template's too
		if strings.HasPrefix(im.Path, res.Path+".") && strings.EqualFold(res.Type, arm.DeploymentsType) {
			for _, pr := range res.Problems {
				r.problems = append(r.problems, Problem{Path: pr.Path, Message: pr.Message})
			}
		}
	}
	for _, pr := range im.Problems {
		r.problemAt(pr.Path, pr.Message)
	}
	if im.Body == nil {
		r.problem("", "the evaluated image template is over %d bytes", MaxTemplateBytes)
		return &Parsed{Name: name, Kind: KindDeployment, OtherResources: others, PathPrefix: im.Path, Problems: withoutTooLarge(r.problems, im.Path)}
	}
	evaluated, err := parseJSON(im.Body)
	if err != nil {
		r.problem("", "the evaluated image template cannot be read: %v", err)
		return &Parsed{Name: name, Kind: KindDeployment, OtherResources: others, PathPrefix: im.Path, Problems: r.problems}
	}
	if seen[tname] { // two copies (or two resources) with one name: ARM would deploy one resource twice
		r.problem("name", "%q is the name of another image template of this file: each needs a name of its own (with copyIndex() in a copy loop)", im.Name)
	}
	seen[tname] = true
	checkTemplateName(tname, r)
	p := parseResource(tname, KindDeployment, evaluated, r, o)
	p.ResourceName, p.OtherResources, p.PathPrefix = im.Name, others, im.Path
	return p
}

// secureParameterWarnings warns for each secure parameter that has a
// value: a secure parameter's value ends up in the template when the
// template reads it.
func secureParameterWarnings(root *node, params []byte, file *report) {
	decls := root.GetFold("parameters")
	if decls == nil || decls.Kind != '{' {
		return
	}
	given := map[string]bool{}
	if params != nil {
		given = givenParameters(params)
	}
	var secrets []string
	for _, m := range decls.Members {
		if m.Val.Kind == '{' && isSecure(m.Val) && (given[strings.ToLower(m.Key)] || m.Val.GetFold("defaultValue") != nil) {
			secrets = append(secrets, m.Key)
		}
	}
	sort.Strings(secrets)
	for _, s := range secrets {
		file.warn(path("parameters").key(s), "is a secure parameter used by the image template: its value is stored in the template, which everyone who can read the template sees")
	}
}

func isImageTemplate(raw *node) bool {
	t := raw.GetFold("type")
	return t != nil && t.Kind == '"' && strings.EqualFold(t.Str, ImageTemplateType)
}

// nestedImageTemplate reports a nested deployment whose inner template
// holds an image template that arm did not bring out as a resource.
func nestedImageTemplate(root *node, res arm.Resource, all []arm.Resource) bool {
	for _, o := range all {
		if strings.HasPrefix(o.Path, res.Path+".") {
			return false // evaluated: its resources are listed
		}
	}
	raw := rawAt(root, res.Path)
	return raw != nil && mentionsImageTemplates(raw)
}

// withoutTooLarge drops arm's size problem at the resource's own path:
// the image template's message replaces it.
func withoutTooLarge(list []Problem, at string) []Problem {
	var out []Problem
	for _, p := range list {
		if p.Path == at && strings.HasPrefix(p.Message, arm.MsgTooLarge) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// parseResource upgrades and validates one bare imageTemplates resource.
func parseResource(name, kind string, root *node, r *report, o Options) *Parsed {
	out := &Parsed{Name: name, Kind: kind}
	if root.Kind != '{' {
		r.problem("", "must be a JSON object, not %s", root.Describe())
		out.Problems = r.problems
		return out
	}
	up := upgrade(root, r)
	if up == nil {
		out.Problems, out.Warnings, out.Notes = r.problems, r.warningsList, r.notes
		return out
	}
	out.PathPrefix = r.prefix
	body := &node{Kind: '{'}
	for _, m := range up.Members {
		switch m.Key {
		case "apiVersion":
			out.SourceAPI = m.Val.Str
			if !contains(knownAPIVersions, m.Val.Str) {
				r.problem("apiVersion", "%q is not an Image Builder API version (one of %s)", m.Val.Str, strings.Join(knownAPIVersions, ", "))
			} else if m.Val.Str != TargetAPIVersion {
				r.note("apiVersion", "written for %s; upgraded to %s", m.Val.Str, TargetAPIVersion)
			}
		case "type":
			switch {
			case strings.EqualFold(m.Val.Str, ImageTemplateType):
			case strings.EqualFold(m.Val.Str, "Microsoft.VirtualMachineImages"):
				r.note("type", "%q (the form `az resource create --is-full-object` took) is read-only in the request; removed", m.Val.Str)
			default:
				r.problem("type", "%q is not %s", m.Val.Str, ImageTemplateType)
			}
		case "name":
			out.ResourceName = m.Val.Str
			if m.Val.Str != name {
				r.note("name", "%q is ignored: a template is named by its blob (%q)", m.Val.Str, name)
			}
		case "goldenpipe":
			var b bytes.Buffer
			m.Val.Encode(&b)
			if err := json.Unmarshal(b.Bytes(), &out.Policy); err != nil {
				r.problem("goldenpipe", "%v", err)
			}
		default:
			body.Members = append(body.Members, m)
		}
	}
	var b bytes.Buffer
	body.Encode(&b)
	out.upgradedTo = b.Bytes()
	var tpl armvirtualmachineimagebuilder.ImageTemplate
	if err := json.Unmarshal(b.Bytes(), &tpl); err != nil {
		r.problem("", "the upgraded template does not fit API %s: %v", TargetAPIVersion, err)
	} else {
		out.Template = &tpl
		out.OS = osOf(tpl.Properties)
		v := validator{r: r, os: out.OS, opts: o, policy: out.Policy}
		v.template(&tpl)
	}
	out.Problems, out.Notes, out.Warnings = r.problems, r.notes, r.warningsList
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parametersSuffix ends the name of a deployment template's parameters
// file, beside the template: name.json and name.parameters.json.
const parametersSuffix = ".parameters.json"

// IsParametersBlob reports a parameters file's blob.
func IsParametersBlob(blob string) bool { return strings.HasSuffix(blob, parametersSuffix) }

// TemplateBlobOf returns the template file a blob belongs to: itself, or
// for a parameters file the template beside it.
func TemplateBlobOf(blob string) string {
	if base, ok := strings.CutSuffix(blob, parametersSuffix); ok {
		return base + ".json"
	}
	return blob
}

// ParametersBlobOf returns the parameters file beside a template file.
func ParametersBlobOf(blob string) string {
	return strings.TrimSuffix(blob, ".json") + parametersSuffix
}

// NameFromBlob returns a template's name: its blob name without ".json".
func NameFromBlob(blob string) (string, error) {
	name, ok := strings.CutSuffix(blob, ".json")
	if !ok {
		return "", fmt.Errorf("template blob %q does not end in .json", blob)
	}
	return name, nil
}
