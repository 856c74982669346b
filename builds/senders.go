package builds

import (
	"context"
	"fmt"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/template"
)

// Nightly renders every template again (new checksums, the newest "latest")
// and requests a build of each whose plan asks for one. A template whose
// policy is to build every night gets one even when nothing changed; a
// failed build is tried again once a night.
func (s *Service) Nightly(ctx context.Context, t goldenpipe.Tick) (string, error) {
	list, err := s.Templates.Refresh(ctx)
	if err != nil {
		return "", fmt.Errorf("planning: %w", err)
	}
	day := t.Scheduled
	if day.IsZero() {
		day = s.now()
	}
	date := day.UTC().Format("20060102")
	requested, upToDate, invalid := 0, 0, 0
	for _, rec := range list {
		switch {
		case !rec.Valid || rec.Rendered == nil:
			invalid++
			continue
		case rec.Plan == nil || !rec.Plan.Rebuild:
			upToDate++
			continue
		}
		fp := rec.Rendered.Fingerprint
		req := Request{Template: rec.Name, Reason: "nightly: " + rec.Plan.Reason, RequestedBy: "NightlyRebuild"}
		if rec.LastBuild != nil && rec.LastBuild.Fingerprint == fp { // policy: every night regardless
			req.Force, req.BuildID = true, BaseID(rec.Name, fp)+"-n"+date
		}
		if _, err := s.Enqueue(ctx, req, fp, "nightly-"+date); err != nil {
			return "", err
		}
		requested++
	}
	return fmt.Sprintf("%d templates planned: %d builds requested, %d up to date, %d invalid", len(list), requested, upToDate, invalid), nil
}

// Planned requests a build of a template whose plan asks for one after an
// upload or a script change (it implements template.PlanListener).
func (s *Service) Planned(ctx context.Context, rec template.Record) error {
	_, err := s.Enqueue(ctx, Request{Template: rec.Name, Reason: rec.Plan.Reason, RequestedBy: "change"}, rec.Rendered.Fingerprint, "")
	return err
}
