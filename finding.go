package goldenpipe

// Severity says whether a finding keeps the template from building.
type Severity string

// Severities.
const (
	SeverityProblem Severity = "problem" // the image would be broken: the template is invalid until fixed or silenced
	SeverityWarning Severity = "warning" // worth a look; the build goes on
)

// Finding is one golden-image practice a template or script does not
// follow (the checks and the scan that finds them are in practice/).
type Finding struct {
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	Line     int      `json:"line,omitempty"` // 1-based, in a script
	Text     string   `json:"text,omitempty"` // the line, cut short
	Message  string   `json:"message"`
}
