package arm

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The resource functions of ARM templates that arm/builtins.go did not have
// (Microsoft Learn, template-functions-resource): extensionResourceId and
// managementGroupResourceId; every list* function, references() and
// deployer() (template-functions-deployment) are, like reference() and
// pickZones(), values only a deployment in Azure has: one problem naming the
// function where it is used. float() is on the numeric page.
var resourceFunctions = map[string]armFunc{
	"extensionresourceid":       {min: 3, max: -1, call: extensionResourceIDFn},
	"managementgroupresourceid": {min: 2, max: -1, call: managementGroupResourceIDFn},
	"references":                unsupported(deployedValue),
	"deployer":                  unsupported("it is the identity that runs the deployment, known only in Azure; give the value in the parameters file"),
	"float":                     {min: 1, max: 1, call: floatFn},
}

// deployedValue is why reference(), list*() and friends are not evaluated.
const deployedValue = "it reads resources that exist in Azure; give the value in the parameters file"

// listFunction stands for every list* function (listKeys, listSecrets,
// listAccountSas, listConnectionStrings …): their values are the deployed
// resource's.
var listFunction = unsupported(deployedValue)

// lookupFunction finds a built-in function by name, without regard to case;
// any name starting with "list" is a list* function.
func lookupFunction(name string) (armFunc, bool) {
	key := strings.ToLower(name)
	if f, ok := armFunctions[key]; ok {
		return f, true
	}
	if strings.HasPrefix(key, "list") && len(key) > len("list") && !strings.Contains(key, ".") {
		return listFunction, true
	}
	return armFunc{}, false
}

// extensionResourceIDFn is extensionResourceId(baseResourceId,
// resourceType, resourceName1, …): the id of an extension resource, the
// base resource's id followed by /providers/<type>/<names>.
func extensionResourceIDFn(_ *evaluator, a []*node, _ int) (*node, error) {
	parts, err := allStrings(a)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(parts[0], "/") {
		return nil, fmt.Errorf("baseResourceId %q is not a resource id (it starts with /)", clip(parts[0]))
	}
	tail, err := typedNames(parts[1], parts[2:])
	if err != nil {
		return nil, err
	}
	return checkSize(strings.TrimSuffix(parts[0], "/") + "/providers/" + tail)
}

// managementGroupResourceIDFn is managementGroupResourceId([managementGroupName],
// resourceType, resourceName1, …): the id of a resource deployed at
// management-group scope, the deployment's own group by default.
func managementGroupResourceIDFn(ev *evaluator, a []*node, _ int) (*node, error) {
	parts, err := allStrings(a)
	if err != nil {
		return nil, err
	}
	t := typeIndex(parts)
	if t < 0 || t > 1 {
		return nil, fmt.Errorf("no resource type (namespace/type) among the arguments")
	}
	mg := ev.scope.ManagementGroup
	if t == 1 {
		mg = parts[0]
	} else if mg == "" {
		return nil, fmt.Errorf("without a management group name it names a resource of the deployment's management group, and this deployment is not at management group scope")
	}
	tail, err := typedNames(parts[t], parts[t+1:])
	if err != nil {
		return nil, err
	}
	return checkSize("/providers/Microsoft.Management/managementGroups/" + mg + "/providers/" + tail)
}

// floatFn is float(arg): a string or whole number as a floating-point
// number (template-functions-numeric#float).
func floatFn(_ *evaluator, a []*node, _ int) (*node, error) {
	var s string
	switch a[0].Kind {
	case 'n':
		s = a[0].Num.String()
	case '"':
		s = strings.TrimSpace(a[0].Str)
	default:
		return nil, fmt.Errorf("argument 1 must be a string or a number, not %s", a[0].Describe())
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f || f > 1.7976931348623157e308 || f < -1.7976931348623157e308 {
		return nil, fmt.Errorf("%q is not a number", clip(s))
	}
	n := &node{Kind: 'n'}
	n.Num = jsonFloat(f)
	return n, nil
}

// jsonFloat writes a float as the shortest JSON number that reads back as it.
func jsonFloat(f float64) json.Number {
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
}
