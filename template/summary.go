package template

import (
	"context"
	"encoding/json"
	"time"

	"github.com/goldenpipe/goldenpipe/internal/docstore"
)

// Summary is what lists show of a template: kept beside its record (the
// store's summary) so a page of them is one listing call, never a read of
// the records with their sources and rendered templates.
type Summary struct {
	Name          string        `json:"name"`
	Valid         bool          `json:"valid"`
	Problems      []Problem     `json:"problems"`      // the first summaryItems
	ProblemCount  int           `json:"problemCount"`  // all of them
	Warnings      int           `json:"warnings"`      // how many
	WarningsShown []Problem     `json:"warningsShown"` // the first summaryItems
	Ignore        []string      `json:"ignore,omitempty"`
	Fingerprint   string        `json:"fingerprint,omitempty"`
	SourceVersion string        `json:"sourceVersion,omitempty"`
	Plan          *Plan         `json:"plan,omitempty"`
	Stale         bool          `json:"stale"`
	LastBuild     *BuildSummary `json:"lastBuild,omitempty"`
	ProcessedAt   time.Time     `json:"processedAt"`
}

// summaryItems bounds the problems and warnings a summary carries;
// summaryText the length of each message.
const (
	summaryItems = 5
	summaryText  = 200
)

func clipText(s string) string {
	if r := []rune(s); len(r) > summaryText {
		return string(r[:summaryText-1]) + "…"
	}
	return s
}

func firstProblems(list []Problem) []Problem {
	out := []Problem{}
	for i, p := range list {
		if i == summaryItems {
			break
		}
		out = append(out, Problem{Path: clipText(p.Path), Message: clipText(p.Message)})
	}
	return out
}

// Summarize is a record's summary.
func (r Record) Summarize() Summary {
	s := Summary{Name: r.Name, Valid: r.Valid, Problems: firstProblems(r.Problems), ProblemCount: len(r.Problems),
		Warnings: len(r.Warnings), WarningsShown: firstProblems(r.Warnings), Ignore: r.Policy.Ignore, Stale: r.Stale, ProcessedAt: r.ProcessedAt}
	if r.Rendered != nil {
		s.Fingerprint, s.SourceVersion = r.Rendered.Fingerprint, r.Rendered.SourceVersion
	}
	if r.Plan != nil {
		s.Plan = &Plan{Rebuild: r.Plan.Rebuild, Reason: clipText(r.Plan.Reason)}
	}
	if r.LastBuild != nil {
		s.LastBuild = &BuildSummary{BuildID: r.LastBuild.BuildID, Fingerprint: r.LastBuild.Fingerprint,
			SourceVersion: r.LastBuild.SourceVersion, FinishedAt: r.LastBuild.FinishedAt}
	}
	return s
}

// DocSummary implements goldenpipe.Summarizer: the record's Summary.
func (r Record) DocSummary() ([]byte, error) { return json.Marshal(r.Summarize()) }

// Summaries returns one page of the templates' summaries, in a stable
// order (of their record keys), from token: one listing call
// (docstore.SummaryPage).
func (s *Service) Summaries(ctx context.Context, token string, top int) ([]Summary, string, error) {
	return docstore.SummaryPage(ctx, s.Docs, recordPrefix, token, top, Record.Summarize)
}

// RecordPrefix is where template records are kept (the store keeps their
// summaries in a table).
const RecordPrefix = recordPrefix
