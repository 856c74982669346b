// Package blobevent checks Event Grid blob events before anything acts on
// them: the type, the subject, the name (no traversal) and that the URL names
// the same blob in the expected container of the expected account.
package blobevent

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/goldenpipe/goldenpipe"
)

// Target returns the name of the blob an event asks to look at in container
// (whose URL is containerURL). ignored is set, with a nil error, for events
// of other types or containers; a malformed event answers EINVALID.
func Target(ev goldenpipe.BlobEvent, container, containerURL string) (name, ignored string, err error) {
	if ev.Type != goldenpipe.BlobCreated && ev.Type != goldenpipe.BlobDeleted {
		return "", "ignored: event type " + ev.Type + " is not handled", nil
	}
	t, err := parseSubject(ev.Subject)
	if err != nil {
		return "", "", err
	}
	if t.container != container {
		return "", "ignored: container " + strconvQuote(t.container) + " is not " + strconvQuote(container), nil
	}
	if err := CheckName(t.name); err != nil {
		return "", "", err
	}
	if err := checkURL(ev.URL, containerURL, t); err != nil {
		return "", "", err
	}
	return t.name, "", nil
}

func strconvQuote(s string) string { return strconv.Quote(s) }

const subjectPrefix = "/blobServices/default/containers/"

// maxNameBytes is the longest blob name Azure Storage accepts.
const maxNameBytes = 1024

// target is what a blob event asks the service to look at.
type target struct {
	container string
	name      string
}

// parseSubject splits /blobServices/default/containers/<c>/blobs/<name>.
func parseSubject(subject string) (target, error) {
	rest, ok := strings.CutPrefix(subject, subjectPrefix)
	if !ok {
		return target{}, goldenpipe.Errorf(goldenpipe.EINVALID, "subject %q is not a blob subject (%s<container>/blobs/<name>)", clip(subject), subjectPrefix)
	}
	c, name, ok := strings.Cut(rest, "/blobs/")
	if !ok || c == "" || name == "" {
		return target{}, goldenpipe.Errorf(goldenpipe.EINVALID, "subject %q names no container and blob", clip(subject))
	}
	return target{container: c, name: name}, nil
}

// CheckName refuses blob names that could escape a folder or confuse tools
// that read the catalog (path traversal, control characters, backslashes).
func CheckName(name string) error {
	switch {
	case name == "":
		return goldenpipe.Errorf(goldenpipe.EINVALID, "blob name is empty")
	case len(name) > maxNameBytes:
		return goldenpipe.Errorf(goldenpipe.EINVALID, "blob name is %d bytes, over the limit of %d", len(name), maxNameBytes)
	case !utf8.ValidString(name):
		return goldenpipe.Errorf(goldenpipe.EINVALID, "blob name %q is not valid UTF-8", clip(name))
	case strings.ContainsRune(name, '\\'):
		return goldenpipe.Errorf(goldenpipe.EINVALID, "blob name %q contains a backslash", clip(name))
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return goldenpipe.Errorf(goldenpipe.EINVALID, "blob name %q contains a control character", clip(name))
		}
	}
	for _, seg := range strings.Split(name, "/") {
		switch seg {
		case "":
			return goldenpipe.Errorf(goldenpipe.EINVALID, "blob name %q has an empty path segment", clip(name))
		case ".", "..":
			return goldenpipe.Errorf(goldenpipe.EINVALID, "blob name %q has a %q path segment (path traversal)", clip(name), seg)
		}
	}
	return nil
}

// checkURL verifies that an event's URL names the blob its subject names, in
// the scripts container of the configured account.
func checkURL(raw, containerURL string, t target) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return goldenpipe.Errorf(goldenpipe.EINVALID, "event url %q is not a URL", clip(goldenpipe.RedactSAS(raw)))
	}
	want, err := url.Parse(containerURL)
	if err != nil {
		return goldenpipe.Wrap(goldenpipe.EINTERNAL, err, "the scripts container URL is malformed")
	}
	host := strings.Replace(strings.ToLower(u.Host), ".dfs.", ".blob.", 1) // ADLS events name the dfs endpoint
	if host != strings.ToLower(want.Host) {
		return goldenpipe.Errorf(goldenpipe.EINVALID, "event url names account host %q, not the scripts account %q", u.Host, want.Host)
	}
	prefix := strings.TrimSuffix(want.Path, "/") + "/"
	name, ok := strings.CutPrefix(u.Path, prefix)
	if !ok {
		return goldenpipe.Errorf(goldenpipe.EINVALID, "event url %q is not in container %s", clip(u.Path), prefix)
	}
	// names in subjects are raw; in URLs they may be percent-encoded or raw
	if name != t.name && u.RawPath != "" {
		if raw, err := url.PathUnescape(strings.TrimPrefix(u.RawPath, prefix)); err == nil {
			name = raw
		}
	}
	if name != t.name {
		return goldenpipe.Errorf(goldenpipe.EINVALID, "subject names blob %q but url names %q", clip(t.name), clip(name))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
