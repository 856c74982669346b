package arm

import (
	"strings"
)

// scope returns a value of the deployment's scope, noting its use.
func (ev *evaluator) scoped(what, value string) (string, error) {
	if value == "" {
		return "", ev.missing(what)
	}
	ev.scopeUsed = true
	return value, nil
}

func (ev *evaluator) missing(what string) error {
	where := ev.scope.Where
	if where == "" {
		where = "the app's settings"
	}
	return exprErrorf("%s is not known offline: set it (%s)", what, where)
}

func (ev *evaluator) subscription() (*node, error) {
	sub, err := ev.scoped("the subscription", ev.scope.SubscriptionID)
	if err != nil {
		return nil, err
	}
	return &node{kind: '{', members: []member{
		{key: "id", val: strNode("/subscriptions/" + sub)},
		{key: "subscriptionId", val: strNode(sub)},
	}}, nil
}

func (ev *evaluator) resourceGroup() (*node, error) {
	if _, err := ev.scoped("the subscription", ev.scope.SubscriptionID); err != nil {
		return nil, err
	}
	if _, err := ev.scoped("the resource group", ev.scope.ResourceGroup); err != nil {
		return nil, err
	}
	rg := &node{kind: '{', members: []member{
		{key: "id", val: strNode("/subscriptions/" + ev.scope.SubscriptionID + "/resourceGroups/" + ev.scope.ResourceGroup)},
		{key: "name", val: strNode(ev.scope.ResourceGroup)},
		{key: "type", val: strNode("Microsoft.Resources/resourceGroups")},
	}}
	if ev.scope.Location != "" {
		rg.members = append(rg.members, member{key: "location", val: strNode(ev.scope.Location)})
	} else {
		rg.members = append(rg.members, member{key: "location", val: nil}) // unknown: an error only when read
	}
	return rg, nil
}

func (ev *evaluator) deploymentObject() *node {
	name := ev.scope.DeploymentName
	if name == "" {
		name = "goldenpipe"
	}
	return &node{kind: '{', members: []member{{key: "name", val: strNode(name)}}}
}

// utcNow is ARM's utcNow(format): allowed only in a parameter's
// defaultValue; here the deployment's Now, in .NET's custom date format
// (yyyy, MM, dd, HH, mm, ss) or the standard "u" and "s" formats.
func (ev *evaluator) utcNow(format string) (*node, error) {
	if ev.inDefault == 0 {
		return nil, exprErrorf("utcNow() can be used only in a parameter's defaultValue (ARM's rule)")
	}
	if ev.scope.Now.IsZero() {
		return nil, errUnsupported
	}
	t := ev.scope.Now.UTC()
	switch format {
	case "":
		format = "yyyyMMddTHHmmssZ"
	case "u":
		return strNode(t.Format("2006-01-02 15:04:05Z")), nil
	case "s":
		return strNode(t.Format("2006-01-02T15:04:05")), nil
	}
	r := strings.NewReplacer("yyyy", "2006", "MM", "01", "dd", "02", "HH", "15", "mm", "04", "ss", "05")
	return strNode(t.Format(r.Replace(format))), nil
}
