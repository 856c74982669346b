package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"
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
}

// Parsed is a template read, upgraded and validated.
type Parsed struct {
	Name       string
	SourceAPI  string // the apiVersion the template was written for ("" when absent)
	Template   *armvirtualmachineimagebuilder.ImageTemplate
	Policy     Policy
	OS         string    // OSWindows, OSLinux or "" when the source does not say
	Problems   []Problem // errors: the template cannot be built until they are fixed
	Warnings   []Problem // things that will work but deserve a look
	Notes      []string  // what the upgrade changed
	upgradedTo []byte
}

// Valid reports whether the template has no problems.
func (p *Parsed) Valid() bool { return len(p.Problems) == 0 }

// Parse reads a template named name (its blob name without .json).
func Parse(name string, raw []byte, o Options) *Parsed {
	out := &Parsed{Name: name}
	r := &report{}
	checkTemplateName(name, r)
	root, err := parseJSON(raw)
	if err != nil {
		r.problem("", "not valid JSON: %v", err)
		out.Problems = r.problems
		return out
	}
	if root.kind != '{' {
		r.problem("", "must be a JSON object, not %s", root.describe())
		out.Problems = r.problems
		return out
	}
	up := upgrade(root, r)
	if up == nil {
		out.Problems = r.problems
		return out
	}
	body := &node{kind: '{'}
	for _, m := range up.members {
		switch m.key {
		case "apiVersion":
			out.SourceAPI = m.val.str
			if !contains(knownAPIVersions, m.val.str) {
				r.problem("apiVersion", "%q is not an Image Builder API version (one of %s)", m.val.str, strings.Join(knownAPIVersions, ", "))
			} else if m.val.str != TargetAPIVersion {
				r.note("apiVersion", "written for %s; upgraded to %s", m.val.str, TargetAPIVersion)
			}
		case "type":
			if !strings.EqualFold(m.val.str, "Microsoft.VirtualMachineImages/imageTemplates") {
				r.problem("type", "%q is not Microsoft.VirtualMachineImages/imageTemplates", m.val.str)
			}
		case "name":
			if m.val.str != name {
				r.note("name", "%q is ignored: a template is named by its blob (%q)", m.val.str, name)
			}
		case "goldenpipe":
			var b bytes.Buffer
			m.val.encode(&b)
			if err := json.Unmarshal(b.Bytes(), &out.Policy); err != nil {
				r.problem("goldenpipe", "%v", err)
			}
		default:
			body.members = append(body.members, m)
		}
	}
	var b bytes.Buffer
	body.encode(&b)
	out.upgradedTo = b.Bytes()
	var tpl armvirtualmachineimagebuilder.ImageTemplate
	if err := json.Unmarshal(b.Bytes(), &tpl); err != nil {
		r.problem("", "the upgraded template does not fit API %s: %v", TargetAPIVersion, err)
	} else {
		out.Template = &tpl
		out.OS = osOf(tpl.Properties)
		v := validator{r: r, os: out.OS, opts: o, policy: out.Policy}
		v.template(&tpl)
		out.Warnings = v.warnings
	}
	out.Problems, out.Notes = r.problems, r.notes
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

// NameFromBlob returns a template's name: its blob name without ".json".
func NameFromBlob(blob string) (string, error) {
	name, ok := strings.CutSuffix(blob, ".json")
	if !ok {
		return "", fmt.Errorf("template blob %q does not end in .json", blob)
	}
	return name, nil
}
