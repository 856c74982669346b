package template

import (
	"encoding/json"
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
	// Versions says which Azure Compute Gallery version the next build
	// publishes, by the version policy ("" when it publishes to none).
	Versions string `json:"versions,omitempty"`
}

// MakePlan compares a rendered template with its last successful build,
// and says which gallery version the next build publishes.
func MakePlan(r *Rendered, policy Policy, last *BuildSummary) Plan {
	p := makePlan(r, policy, last)
	if r != nil {
		p.Versions = VersionPlan(r.JSON, policy)
	}
	return p
}

// VersionPlan says, for a rendered template's SharedImage distributors,
// which gallery version a build publishes under the version policy
// (goldenpipe.versionPolicy; gallery.Assign carries it out when the build
// is admitted). A gallery version is used once: "The image version ID
// needs to be distinct or different from any image versions that are in
// the existing Azure Compute Gallery" (MicrosoftDocs image-builder-json.md).
func VersionPlan(rendered []byte, policy Policy) string {
	var t struct {
		Properties struct {
			Distribute []struct {
				Type           string `json:"type"`
				GalleryImageID string `json:"galleryImageId"`
				Versioning     *struct {
					Scheme string `json:"scheme"`
					Major  *int   `json:"major"`
				} `json:"versioning"`
			} `json:"distribute"`
		} `json:"properties"`
	}
	if json.Unmarshal(rendered, &t) != nil {
		return ""
	}
	var out []string
	for _, d := range t.Properties.Distribute {
		if d.Type != "SharedImage" || d.GalleryImageID == "" {
			continue
		}
		id := strings.TrimRight(d.GalleryImageID, "/")
		named := ""
		if i := strings.LastIndex(strings.ToLower(id), "/versions/"); i >= 0 {
			id, named = id[:i], id[i+len("/versions/"):]
		}
		def := id[strings.LastIndex(id, "/")+1:]
		switch {
		case policy.VersionPolicy == "asWritten" && named != "":
			out = append(out, def+": version "+named+" as written (policy asWritten): a rebuild fails at distribution once it exists")
		case policy.VersionPolicy == "asWritten":
			out = append(out, def+": Image Builder numbers the version (policy asWritten)")
		case named != "":
			major, _, _ := strings.Cut(named, ".")
			out = append(out, def+": "+named+" if it is not in the gallery yet, else the next patch above the highest "+major+".x.x version (policy nextPatch, decided when the build starts)")
		case d.Versioning != nil && d.Versioning.Scheme == "Source":
			out = append(out, def+": the source image's version (versioning Source): Image Builder's choice")
		case d.Versioning != nil && d.Versioning.Major != nil:
			out = append(out, fmt.Sprintf("%s: the next patch above the highest %d.x.x version (policy nextPatch, decided when the build starts)", def, *d.Versioning.Major))
		default:
			out = append(out, def+": the next patch above the highest version (policy nextPatch, decided when the build starts)")
		}
	}
	return strings.Join(out, "; ")
}

func makePlan(r *Rendered, policy Policy, last *BuildSummary) Plan {
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
