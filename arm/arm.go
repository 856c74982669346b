// Package arm evaluates Azure Resource Manager deployment templates offline,
// as `az deployment group create` would before it sends resources to their
// providers: parameters (with a parameters file), variables, template
// expressions and functions, conditions, and the resources and outputs the
// deployment would create. It knows no resource provider: what a resource
// means is for its caller.
//
// Sources: Microsoft Learn, "Understand the structure and syntax of ARM
// templates" (azure-resource-manager/templates/syntax), "Template functions"
// (template-functions-*), and the parameters-file page (parameter-files).
// Evaluation is bounded in steps, depth and bytes built, so a hostile file
// ends in a problem, never in a hang or an exhausted memory.
//
// Layout: eval.go is the core (evaluator, frames, walk, eval); builtins.go
// the table of built-in functions (a function with call gets its arguments
// evaluated, one with lazy gets them as written: if(), lambdas), to which
// each fn_<page>.go adds the functions of one reference page (fn_array,
// fn_cidr, fn_comparison, fn_date, fn_format, fn_lambda, fn_object,
// fn_resource, fn_scope, fn_string); expr.go the expression syntax; node.go
// JSON values; params.go parameters and variables; resources.go resources
// and outputs; copy.go copy loops; scope.go the scope values a function
// needs; hash.go uniqueString/guid.
// Local names (copy indexes, lambda variables, user-defined function
// parameters) live in frames (evaluator.push, evaluator.local);
// parameters and variables are evaluated outside them (topLevel).
package arm

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Scope is where a deployment is evaluated: what subscription(),
// resourceGroup(), deployment() and friends return.
type Scope struct {
	TenantID        string
	ManagementGroup string // name, when deployed at management-group scope
	SubscriptionID  string
	ResourceGroup   string
	Location        string    // the resource group's (deployment's) location
	DeploymentName  string    // deployment().name; "goldenpipe" when empty
	Now             time.Time // what utcNow() returns; zero = utcNow not available offline
	// Cloud names the cloud environment() describes: "" or "AzureCloud"
	// for the public cloud; "AzureChinaCloud", "AzureUSGovernment".
	Cloud string
	// Where names where missing scope values come from, for the message
	// when one is needed (e.g. "app settings AZURE_SUBSCRIPTION_ID, …").
	Where string
	// StandIn says the values are placeholders chosen by a tool; a
	// deployment that uses them gets a warning saying so.
	StandIn bool
	// Load reads a linked template named by a nested deployment's
	// templateLink.relativePath ("nested/image.json", already joined with
	// the linking template's folder and cleaned; never above it); nil when
	// linked templates are not read (a problem says so).
	Load func(relativePath string) ([]byte, error)
}

// Deployment is what a deployment template evaluates to.
type Deployment struct {
	// Resources are every resource the deployment would create, in the
	// order of the file (resources whose condition is false are left out).
	Resources []Resource
	// Outputs are the evaluated outputs: JSON-decoded values
	// (map[string]any, []any, string, bool, nil, json.Number for numbers).
	Outputs  map[string]any
	Problems []Problem // errors: the deployment would fail
	Warnings []Problem
	Notes    []Problem
}

// Resource is one resource of a deployment, evaluated.
type Resource struct {
	// Path is where it stands in the file: "resources[0]",
	// "resources.myImage" (languageVersion 2.0).
	Path string
	// Scope is the resource id of the scope it is deployed into, e.g.
	// "/subscriptions/s/resourceGroups/g" ("" when not known offline).
	Scope                  string
	Type, APIVersion, Name string
	// Body is the evaluated resource as ARM would send it (without the
	// template-only condition, copy and scope elements); nil when it could
	// not be built (see Problems).
	Body json.RawMessage
	// Problems are found while evaluating this resource (paths relative to
	// the file).
	Problems []Problem
}

// Problem is a finding at a path of the file ("resources[0].tags.owner",
// "(parameters file).parameters.x").
type Problem struct{ Path, Message string }

func (p Problem) String() string { return p.Path + ": " + p.Message }

// MaxBytes bounds a template or parameters file, and an evaluated resource.
const MaxBytes = 1 << 20

// MsgConditionFalse is the note, at a resource's path, for a resource left
// out because its condition is false.
const MsgConditionFalse = "condition is false: not deployed"

// MsgTooLarge starts the problem, at a resource's path, for a resource
// whose evaluated body is over MaxBytes (its Body is nil).
const MsgTooLarge = "the evaluated resource is over"

// ErrNotTemplate is returned (wrapped) by Evaluate for a file that cannot
// be read as a deployment template at all.
var ErrNotTemplate = errors.New("not a deployment template")

// Evaluate evaluates a deployment template (JSON, with the comments ARM
// allows) with an optional parameters file (nil when none) at a scope. It
// returns an error only when the file cannot be read as a template at all;
// everything else is a Problem with a path.
func Evaluate(template, parameters []byte, scope Scope) (*Deployment, error) {
	if len(template) > MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrNotTemplate, len(template), MaxBytes)
	}
	root, err := parseJSON(StripComments(template))
	if err != nil {
		return nil, fmt.Errorf("%w: not valid JSON: %v", ErrNotTemplate, err)
	}
	if root.Kind != '{' {
		return nil, fmt.Errorf("%w: must be a JSON object, not %s", ErrNotTemplate, root.Describe())
	}
	ev := newEvaluator(root, scope)
	if parameters != nil {
		ev.given = ev.readParameters(parameters)
	}
	ev.run()
	return ev.out, nil
}
