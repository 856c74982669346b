package template

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// BuildSummary is what a successful build was made from; the builds record
// it on the template when a build succeeds.
type BuildSummary struct {
	BuildID       string            `json:"buildId"`
	Fingerprint   string            `json:"fingerprint"`
	SourceVersion string            `json:"sourceVersion"`
	Scripts       map[string]string `json:"scripts"`
	FinishedAt    time.Time         `json:"finishedAt"`
}

// Plan says whether a template needs a build, and why.
type Plan struct {
	Rebuild bool     `json:"rebuild"`
	Reason  string   `json:"reason"`
	Changes []string `json:"changes,omitempty"` // e.g. "source 2024.11.13 → 2024.12.10"
}

// MakePlan compares a rendered template with its last successful build.
func MakePlan(r *Rendered, policy Policy, last *BuildSummary) Plan {
	if last == nil {
		return Plan{Rebuild: true, Reason: "never built"}
	}
	changes := diff(r, last)
	switch {
	case r.Fingerprint != last.Fingerprint && len(changes) == 0:
		return Plan{Rebuild: true, Reason: "the template changed", Changes: []string{"template definition changed"}}
	case r.Fingerprint != last.Fingerprint:
		return Plan{Rebuild: true, Reason: strings.Join(changes, "; "), Changes: changes}
	case policy.Rebuild == RebuildNightly:
		return Plan{Rebuild: true, Reason: "policy: rebuild every night"}
	}
	return Plan{Rebuild: false, Reason: fmt.Sprintf("up to date with build %s", last.BuildID)}
}

func diff(r *Rendered, last *BuildSummary) []string {
	var out []string
	if r.SourceVersion != last.SourceVersion {
		out = append(out, fmt.Sprintf("source %s → %s", last.SourceVersion, r.SourceVersion))
	}
	names := map[string]bool{}
	for n := range r.Scripts {
		names[n] = true
	}
	for n := range last.Scripts {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		was, had := last.Scripts[n]
		now, has := r.Scripts[n]
		switch {
		case had && !has:
			out = append(out, fmt.Sprintf("%s removed", n))
		case !had && has:
			out = append(out, fmt.Sprintf("%s added (%s)", n, short4(now)))
		case was != now:
			out = append(out, fmt.Sprintf("%s %s → %s", n, short4(was), short4(now)))
		}
	}
	return out
}

func short4(sum string) string {
	if len(sum) > 4 {
		return sum[:4] + "…"
	}
	return sum
}
