package goldenpipe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
)

var (
	sasQueryRE = regexp.MustCompile(`(?i)\?[^\s"'<>]*\bsig=[^\s"'<>]*`)
	sasSigRE   = regexp.MustCompile(`(?i)\bsig=[^\s&"'<>]*`)
)

// RedactSAS removes SAS tokens from s: a URL query holding a signature
// becomes "?[SAS redacted]", and any other signature "[signature redacted]",
// so text that may hold a URL (an error, a log line) can be shown safely.
// Account keys and signatures written where \b does not see them (after
// a JSON escape, \u0026sig=) are redacted too (RedactSecrets).
func RedactSAS(s string) string {
	s = sasQueryRE.ReplaceAllString(s, "?[SAS redacted]")
	s = sasSigRE.ReplaceAllString(s, "[signature redacted]")
	return RedactSecrets(s)
}

// Secrets a user may write into a template, and the app must never show or
// keep: the signature of a shared access signature (the sig query
// parameter of a SAS URL: service, account or user delegation SAS, Learn
// "Create a service SAS", https://learn.microsoft.com/rest/api/storageservices/create-service-sas),
// and the keys of connection strings (AccountKey= of Azure Storage, Learn
// "Configure Azure Storage connection strings"; SharedAccessKey= of
// Service Bus and Event Hubs). The other SAS parameters (sv, se, sp, sr)
// say what the token allows and until when, and are kept: without sig the
// token grants nothing.
//
// A secret is replaced by SecretPrefix and 16 hex digits of its sha256:
// the same secret always reads the same (so a record rendered again is
// the same record), a changed one differently (so a new token is a
// change), and RestoreSecrets puts the value back from the text it came
// from, just before it goes to Azure.
var secretRE = regexp.MustCompile(`(?i)(^|[^a-z0-9_]|\\u0026|%26|%3f)(sig|accountkey|sharedaccesskey)(=|%3d)([a-z0-9%+/=._~-]+)`)

// SecretPrefix starts the stand-in of a redacted secret.
const SecretPrefix = "REDACTED-"

// secretTag is the stand-in of one secret value.
func secretTag(value string) string {
	h := sha256.Sum256([]byte(value))
	return SecretPrefix + hex.EncodeToString(h[:8])
}

// RedactSecrets replaces every SAS signature and connection-string key in
// s by its stand-in (see secretRE), leaving the rest as it is. Stand-ins
// are left alone, so redacting twice is redacting once.
func RedactSecrets(s string) string {
	if !mayHoldSecret(s) {
		return s
	}
	return secretRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := secretRE.FindStringSubmatch(m)
		value := sub[4]
		if strings.HasPrefix(strings.ToUpper(value), SecretPrefix) {
			return m
		}
		return sub[1] + sub[2] + sub[3] + secretTag(value)
	})
}

// mayHoldSecret is a quick test before the regular expression.
func mayHoldSecret(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "sig") || strings.Contains(l, "key")
}

// RestoreSecrets puts back into s the secrets RedactSecrets took out of
// the texts they came from (sources: the template as uploaded). A stand-in
// whose secret none of the sources holds any more is an EINVALID error
// naming how many are missing (never the values).
func RestoreSecrets(s string, sources ...string) (string, error) {
	if !strings.Contains(strings.ToUpper(s), SecretPrefix) {
		return s, nil
	}
	values := map[string]string{}
	for _, src := range sources {
		for _, sub := range secretRE.FindAllStringSubmatch(src, -1) {
			values[secretTag(sub[4])] = sub[4]
		}
	}
	tagRE := regexp.MustCompile(SecretPrefix + `[0-9a-f]{16}`)
	missing := map[string]bool{}
	out := tagRE.ReplaceAllStringFunc(s, func(tag string) string {
		if v, ok := values[tag]; ok {
			return v
		}
		missing[tag] = true
		return tag
	})
	if len(missing) > 0 {
		tags := make([]string, 0, len(missing))
		for t := range missing {
			tags = append(tags, t)
		}
		sort.Strings(tags)
		return "", Errorf(EINVALID, "%d secret(s) of the template (%s) are no longer in the file it was read from: it changed since; the new version is planned on its own", len(tags), strings.Join(tags, ", "))
	}
	return out, nil
}

// RedactingHandler wraps a log handler so that no SAS signature or key
// reaches a log line: the message and every string attribute (in groups
// too) are redacted (RedactSAS).
func RedactingHandler(h slog.Handler) slog.Handler { return redacting{h} }

type redacting struct{ h slog.Handler }

func (r redacting) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r redacting) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, RedactSAS(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r redacting) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = redactAttr(a)
	}
	return redacting{r.h.WithAttrs(out)}
}

func (r redacting) WithGroup(name string) slog.Handler { return redacting{r.h.WithGroup(name)} }

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, RedactSAS(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, x := range g {
			out[i] = redactAttr(x)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, RedactSAS(err.Error()))
		}
		if s, ok := v.Any().(fmt.Stringer); ok {
			return slog.String(a.Key, RedactSAS(s.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
