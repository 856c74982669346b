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
	// TenantID is what tenant() gives; Cloud names the cloud environment()
	// describes ("" for Azure's public cloud). See arm.Scope.
	TenantID, Cloud string
}

// scope is the deployment as package arm takes it.
func (d Deployment) scope() arm.Scope {
	return arm.Scope{SubscriptionID: d.SubscriptionID, ResourceGroup: d.ResourceGroup, Location: d.Location,
		DeploymentName: d.Name, Where: d.Where, StandIn: d.StandIn, Now: d.Now, TenantID: d.TenantID, Cloud: d.Cloud}
}

func isDeploymentTemplate(root *node) bool {
	if s := root.getFold("$schema"); s != nil && s.kind == '"' {
		low := strings.ToLower(s.str)
		if strings.Contains(low, "deploymenttemplate") {
			return true
		}
	}
	r := root.getFold("resources")
	return r != nil && (r.kind == '[' || r.kind == '{') && root.getFold("properties") == nil
}

func isParametersFile(root *node) bool {
	s := root.getFold("$schema")
	return s != nil && s.kind == '"' && strings.Contains(strings.ToLower(s.str), "deploymentparameters")
}

func isSecure(decl *node) bool {
	t := decl.getFold("type")
	return t != nil && t.kind == '"' && (strings.EqualFold(t.str, "securestring") || strings.EqualFold(t.str, "secureobject"))
}

func mentionsImageTemplates(n *node) bool {
	switch n.kind {
	case '"':
		return strings.EqualFold(n.str, ImageTemplateType)
	case '{':
		for _, m := range n.members {
			if mentionsImageTemplates(m.val) {
				return true
			}
		}
	case '[':
		for _, it := range n.items {
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
	res := root.getFold("resources")
	if res == nil {
		return nil
	}
	rest, ok := strings.CutPrefix(p, "resources")
	if !ok {
		return nil
	}
	switch {
	case res.kind == '[' && strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]"):
		i := 0
		for _, c := range rest[1 : len(rest)-1] {
			if c < '0' || c > '9' {
				return nil
			}
			i = i*10 + int(c-'0')
			if i >= len(res.items) {
				return nil
			}
		}
		return res.items[i]
	case res.kind == '{' && strings.HasPrefix(rest, "."):
		return res.get(rest[1:])
	}
	return nil
}

// givenParameters lists the names (lowercased) a parameters file gives
// values for; arm reports what is wrong with the file.
func givenParameters(raw []byte) map[string]bool {
	out := map[string]bool{}
	root, err := parseJSON(arm.StripComments(raw))
	if err != nil || root.kind != '{' {
		return out
	}
	params := root
	if p := root.getFold("parameters"); p != nil && (root.getFold("$schema") != nil || root.getFold("contentVersion") != nil) {
		params = p
	}
	for _, m := range params.members {
		out[strings.ToLower(m.key)] = true
	}
	return out
}
