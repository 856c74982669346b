package template

import (
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe/arm"
)

// ARM deployment templates: files with $schema, parameters, variables and
// resources[], deployed with `az deployment group create` and a parameters
// file. They are evaluated by package arm; each
// Microsoft.VirtualMachineImages/imageTemplates resource it returns is the
// bare resource Image Builder gets, read like any other template.

// ImageTemplateType is the ARM resource type of an image template.
const ImageTemplateType = "Microsoft.VirtualMachineImages/imageTemplates"

// File kinds (Parsed.Kind).
const (
	KindResource   = "resource"   // a bare imageTemplates resource (REST body)
	KindDeployment = "deployment" // an ARM deployment template
	KindParameters = "parameters" // an ARM parameters file on its own
)

// Deployment is the scope a deployment template is evaluated in: what
// subscription(), resourceGroup() and deployment() return.
type Deployment struct {
	SubscriptionID string
	ResourceGroup  string
	Location       string // the resource group's region
	Name           string // deployment().name; "goldenpipe" when empty
	// Where names where these values come from, for the message when one
	// is needed and missing (e.g. "app settings AZURE_SUBSCRIPTION_ID, …").
	Where string
	// StandIn says the values are placeholders chosen by a tool; a
	// template that uses them gets a warning saying so.
	StandIn bool
	// Now is what utcNow() gives in a parameter's defaultValue (the only
	// place ARM allows it): the time the template file was written, so a
	// template renders the same until it changes. Zero: not supported.
	Now time.Time
	// Load reads a linked template a nested deployment names by
	// templateLink.relativePath, from the templates container (arm.Scope's
	// Load); nil: linked templates are refused with a problem.
	Load func(relativePath string) ([]byte, error)
	// TenantID is what tenant() gives; Cloud names the cloud environment()
	// describes ("" for Azure's public cloud). See arm.Scope.
	TenantID, Cloud string
}

// scope is the deployment as package arm takes it.
func (d Deployment) scope() arm.Scope {
	return arm.Scope{SubscriptionID: d.SubscriptionID, ResourceGroup: d.ResourceGroup, Location: d.Location,
		DeploymentName: d.Name, Where: d.Where, StandIn: d.StandIn, Now: d.Now, TenantID: d.TenantID, Cloud: d.Cloud, Load: d.Load}
}

func isDeploymentTemplate(root *node) bool {
	if s := root.GetFold("$schema"); s != nil && s.Kind == '"' {
		low := strings.ToLower(s.Str)
		if strings.Contains(low, "deploymenttemplate") {
			return true
		}
	}
	r := root.GetFold("resources")
	return r != nil && (r.Kind == '[' || r.Kind == '{') && root.GetFold("properties") == nil
}

func isParametersFile(root *node) bool {
	s := root.GetFold("$schema")
	return s != nil && s.Kind == '"' && strings.Contains(strings.ToLower(s.Str), "deploymentparameters")
}

func isSecure(decl *node) bool {
	t := decl.GetFold("type")
	return t != nil && t.Kind == '"' && (strings.EqualFold(t.Str, "securestring") || strings.EqualFold(t.Str, "secureobject"))
}

func mentionsImageTemplates(n *node) bool {
	switch n.Kind {
	case '"':
		return strings.EqualFold(n.Str, ImageTemplateType)
	case '{':
		for _, m := range n.Members {
			if mentionsImageTemplates(m.Val) {
				return true
			}
		}
	case '[':
		for _, it := range n.Items {
			if mentionsImageTemplates(it) {
				return true
			}
		}
	}
	return false
}

// rawAt finds the value at a resource path package arm gives
// ("resources[3]", "resources.name") in the template as written.
func rawAt(root *node, p string) *node {
	res := root.GetFold("resources")
	if res == nil {
		return nil
	}
	rest, ok := strings.CutPrefix(p, "resources")
	if !ok {
		return nil
	}
	switch {
	case res.Kind == '[' && strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]"):
		i := 0
		for _, c := range rest[1 : len(rest)-1] {
			if c < '0' || c > '9' {
				return nil
			}
			i = i*10 + int(c-'0')
			if i >= len(res.Items) {
				return nil
			}
		}
		return res.Items[i]
	case res.Kind == '{' && strings.HasPrefix(rest, "."):
		return res.Get(rest[1:])
	}
	return nil
}

// givenParameters lists the names (lowercased) a parameters file gives
// values for; arm reports what is wrong with the file.
func givenParameters(raw []byte) map[string]bool {
	out := map[string]bool{}
	root, err := parseJSON(arm.StripComments(raw))
	if err != nil || root.Kind != '{' {
		return out
	}
	params := root
	if p := root.GetFold("parameters"); p != nil && (root.GetFold("$schema") != nil || root.GetFold("contentVersion") != nil) {
		params = p
	}
	for _, m := range params.Members {
		out[strings.ToLower(m.Key)] = true
	}
	return out
}
