package arm

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
