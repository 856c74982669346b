// Package defaults gives a service what it falls back to when it was given
// none: the wall clock (in UTC) and a logger that discards.
package defaults

import (
	"log/slog"
	"time"
)

// NowUTC returns now() in UTC, or the wall clock's time when now is nil
// (services take an optional clock for tests).
func NowUTC(now func() time.Time) time.Time {
	if now != nil {
		return now().UTC()
	}
	return time.Now().UTC()
}

// LoggerOr returns l, or a logger that discards everything when l is nil.
func LoggerOr(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
