package goldenpipe

import "regexp"

var (
	sasQueryRE = regexp.MustCompile(`(?i)\?[^\s"'<>]*\bsig=[^\s"'<>]*`)
	sasSigRE   = regexp.MustCompile(`(?i)\bsig=[^\s&"'<>]*`)
)

// RedactSAS removes SAS tokens from s: a URL query holding a signature
// becomes "?[SAS redacted]", and any other signature "[signature redacted]",
// so text that may hold a URL (an error, a log line) can be shown safely.
func RedactSAS(s string) string {
	s = sasQueryRE.ReplaceAllString(s, "?[SAS redacted]")
	return sasSigRE.ReplaceAllString(s, "[signature redacted]")
}
