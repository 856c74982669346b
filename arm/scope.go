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
