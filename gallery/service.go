package gallery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/template"
)

// EventRolledBack is the CloudEvents type published when a template's
// image is rolled back.
const EventRolledBack = "com.goldenpipe.image.rolled_back"

// rollbacksKept bounds the rollbacks a template's record keeps (newest).
const rollbacksKept = 50

// Publisher publishes an event to a topic.
type Publisher interface {
	Publish(ctx context.Context, topic string, m goldenpipe.OutMessage) error
}

// Templates reads the template catalog (for the images a template
// publishes to).
type Templates interface {
	Get(ctx context.Context, name string) (template.Record, error)
}

// Service carries out the gallery decisions: after a build, and on a
// rollback asked by an operator.
type Service struct {
	Gallery     goldenpipe.Gallery
	Templates   Templates
	Docs        goldenpipe.Documents
	Bus         Publisher
	Topic       string
	EventSource string
	Log         *slog.Logger
	Now         func() time.Time
}

// RolledBack is one rollback, kept on the template's gallery record and
// published as EventRolledBack.
type RolledBack struct {
	Template    string    `json:"template"`
	Image       string    `json:"image"` // the image definition's id
	From        string    `json:"from"`  // what latest resolved to before
	To          string    `json:"to"`
	Excluded    []string  `json:"excluded,omitempty"` // versions excluded from latest by it
	Included    bool      `json:"included,omitempty"` // the target had been excluded and was included again
	RequestedBy string    `json:"requestedBy"`
	Reason      string    `json:"reason,omitempty"`
	At          time.Time `json:"at"`
}

// Record is what the app keeps of a template's gallery: its rollbacks,
// newest first.
type Record struct {
	Rollbacks []RolledBack `json:"rollbacks"`
}

func recordKey(template string) string { return "gallery/" + template + ".json" }

// ImagesOf returns the image definitions a rendered template publishes to
// (its SharedImage distributors' galleryImageId, without a version).
func ImagesOf(rendered []byte) []string {
	var t struct {
		Properties struct {
			Distribute []struct {
				Type           string `json:"type"`
				GalleryImageID string `json:"galleryImageId"`
			} `json:"distribute"`
		} `json:"properties"`
	}
	if json.Unmarshal(rendered, &t) != nil {
		return nil
	}
	var out []string
	for _, d := range t.Properties.Distribute {
		if d.Type == "SharedImage" && d.GalleryImageID != "" {
			out = append(out, ImageID(d.GalleryImageID))
		}
	}
	return out
}

// AfterBuild keeps the gallery as the build leaves it: a version published
// by a build that failed (validation, with continueDistributeOnFailure) is
// excluded from latest; after a success, the versions beyond keep are
// deleted (Retain). It is idempotent: repeated, it finds nothing more to do.
// It returns what it did, for the build's history.
func (s *Service) AfterBuild(ctx context.Context, outputs []goldenpipe.RunOutput, succeeded bool, keep int) (string, error) {
	var notes []string
	for _, o := range outputs {
		imageID, version, ok := ParseVersionID(o.ArtifactID)
		if !ok {
			continue
		}
		if !succeeded {
			vs, err := s.Gallery.Versions(ctx, imageID)
			if err != nil {
				return "", err
			}
			for _, v := range vs {
				if v.Name == version && !v.ExcludeFromLatest {
					if err := s.Gallery.SetExcludeFromLatest(ctx, v.ID, true); err != nil {
						return "", fmt.Errorf("excluding %s from latest: %w", v.ID, err)
					}
					notes = append(notes, "version "+version+" of "+shortName(imageID)+" excluded from latest: its build failed")
				}
			}
			continue
		}
		if keep <= 0 {
			continue
		}
		vs, err := s.Gallery.Versions(ctx, imageID)
		if err != nil {
			return "", err
		}
		var gone []string
		for _, v := range Retain(vs, keep, version) {
			if err := s.Gallery.DeleteVersion(ctx, v.ID); err != nil {
				return "", fmt.Errorf("deleting %s: %w", v.ID, err)
			}
			gone = append(gone, v.Name)
		}
		if len(gone) > 0 {
			notes = append(notes, fmt.Sprintf("kept the newest %d versions of %s; deleted %s", keep, shortName(imageID), strings.Join(gone, ", ")))
		}
	}
	return strings.Join(notes, "; "), nil
}

// shortName is an image definition's gallery/definition.
func shortName(imageID string) string {
	parts := strings.Split(imageID, "/")
	if len(parts) >= 3 {
		return parts[len(parts)-3] + "/" + parts[len(parts)-1]
	}
	return imageID
}

// Image is one image definition as the gallery shows it.
type Image struct {
	ID       string                      `json:"id"`
	Latest   string                      `json:"latest,omitempty"` // what latest resolves to ("" when every version is excluded)
	Versions []goldenpipe.GalleryVersion `json:"versions"`         // newest first
	Error    string                      `json:"error,omitempty"`  // the gallery could not be read
}

// View is a template's gallery: each image definition it publishes to,
// with its versions, and the rollbacks.
type View struct {
	Images    []Image      `json:"images"`
	Rollbacks []RolledBack `json:"rollbacks"`
}

// images returns the image definitions a template publishes to.
func (s *Service) images(ctx context.Context, name string) ([]string, error) {
	rec, err := s.Templates.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if rec.Rendered == nil {
		return nil, nil
	}
	return ImagesOf(rec.Rendered.JSON), nil
}

// View reads the versions of each image a template publishes to, and its
// rollbacks. A gallery that cannot be read is shown as such, not an error.
func (s *Service) View(ctx context.Context, template string) (View, error) {
	images, err := s.images(ctx, template)
	if err != nil {
		return View{}, err
	}
	out := View{Images: []Image{}}
	for _, id := range images {
		im := Image{ID: id}
		vs, err := s.Gallery.Versions(ctx, id)
		if err != nil {
			im.Error = goldenpipe.RedactSAS(goldenpipe.ErrorMessage(err))
		}
		im.Versions = Sorted(vs)
		if l, ok := Latest(vs); ok {
			im.Latest = l.Name
		}
		out.Images = append(out.Images, im)
	}
	var rec Record
	if _, err := s.Docs.Get(ctx, recordKey(template), &rec); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return out, err
	}
	out.Rollbacks = rec.Rollbacks
	if out.Rollbacks == nil {
		out.Rollbacks = []RolledBack{}
	}
	return out, nil
}

// RollbackRequest asks for a template's images to be rolled back.
type RollbackRequest struct {
	Template    string
	Version     string // "" for the version before what latest is now
	RequestedBy string
	Reason      string
}

// Rollback makes latest resolve to the chosen version of each image the
// template publishes to, by excluding every newer version from latest
// (and including the target again when it was excluded). Each rollback
// that changed something is recorded and published; repeated, it finds
// latest already there and changes nothing.
func (s *Service) Rollback(ctx context.Context, req RollbackRequest) ([]RolledBack, error) {
	images, err := s.images(ctx, req.Template)
	if err != nil {
		return nil, err
	}
	if len(images) == 0 {
		return nil, goldenpipe.Errorf(goldenpipe.EINVALID, "template %s publishes to no Azure Compute Gallery image (no SharedImage distributor): there is nothing to roll back", req.Template)
	}
	done := []RolledBack{}
	for _, id := range images {
		vs, err := s.Gallery.Versions(ctx, id)
		if err != nil {
			return done, err
		}
		r, err := RollbackTarget(vs, req.Version)
		if err != nil {
			return done, goldenpipe.Errorf(goldenpipe.EINVALID, "rolling back %s: %s", shortName(id), goldenpipe.ErrorMessage(err))
		}
		if len(r.Exclude) == 0 && !r.Include {
			continue // latest is there already
		}
		if r.Include {
			if err := s.Gallery.SetExcludeFromLatest(ctx, r.Target.ID, false); err != nil {
				return done, err
			}
		}
		rb := RolledBack{Template: req.Template, Image: id, From: r.From, To: r.Target.Name, Included: r.Include,
			RequestedBy: req.RequestedBy, Reason: req.Reason, At: goldenpipe.NowUTC(s.Now)}
		for _, x := range r.Exclude {
			if err := s.Gallery.SetExcludeFromLatest(ctx, x.ID, true); err != nil {
				return done, err
			}
			rb.Excluded = append(rb.Excluded, x.Name)
		}
		if err := s.record(ctx, rb); err != nil {
			return done, err
		}
		done = append(done, rb)
	}
	return done, nil
}

// record keeps a rollback on the template's gallery record and publishes
// it (the event id is derived from it, so a retried publish is dropped by
// duplicate detection).
func (s *Service) record(ctx context.Context, rb RolledBack) error {
	if _, err := goldenpipe.Update(ctx, s.Docs, recordKey(rb.Template), func(r *Record) error {
		r.Rollbacks = append([]RolledBack{rb}, r.Rollbacks...)
		if len(r.Rollbacks) > rollbacksKept {
			r.Rollbacks = r.Rollbacks[:rollbacksKept]
		}
		return nil
	}); err != nil {
		return err
	}
	ev := goldenpipe.NewEvent(rb.Template+"/rollback/"+rb.Image+"/"+rb.To+"/"+rb.At.Format(time.RFC3339Nano), s.EventSource, EventRolledBack, rb.Template, rb.At, rb)
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if s.Bus == nil {
		return nil
	}
	return s.Bus.Publish(ctx, s.Topic, goldenpipe.OutMessage{ID: eventID(ev.ID), Body: body,
		ContentType: "application/cloudevents+json; charset=utf-8", Subject: EventRolledBack})
}

// eventID is a message id within Service Bus's 128 characters, derived
// from the event's id.
func eventID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "rollback-" + hex.EncodeToString(sum[:16])
}
