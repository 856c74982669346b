package gallery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/internal/defaults"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
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
	Included    bool      `json:"included,omitempty"` // the target had been excluded and is included again
	RequestedBy string    `json:"requestedBy"`
	Reason      string    `json:"reason,omitempty"`
	At          time.Time `json:"at"`
	// State is RollbackApplying while Azure's updates of the versions run
	// (they are long-running operations, begun and not waited for), and
	// RollbackApplied once the gallery shows latest resolving to To with
	// no update still running; AppliedAt is when the app saw that.
	State     string    `json:"state"`
	AppliedAt time.Time `json:"appliedAt,omitzero"`
}

// Rollback states.
const (
	RollbackApplying = "applying"
	RollbackApplied  = "applied"
)

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

// Finished is what AfterBuild is told of a finished build.
type Finished struct {
	Outputs   []goldenpipe.RunOutput
	Assigned  []Assigned // the versions the build was sent to publish (the version policy)
	Succeeded bool
	// StartedAt is when the run started: a version published before it is
	// not this build's (a version that existed is what fails a rebuild of
	// a named version; it must be left alone).
	StartedAt time.Time
	Keep      int
	// Delete deletes a version a build that did not succeed published,
	// instead of excluding it from latest (goldenpipe.unfinishedVersions).
	Delete bool
}

// AfterBuild keeps the gallery as the build leaves it. A version published
// by a build that did not succeed (failed, canceled or timed out, in
// distribution or after it: "If the distribution phase has started you
// can still cancel, but you need to clean up any images that may not be
// completed", MicrosoftDocs articles/virtual-machines/linux/image-builder-json.md,
// "Cancelling an Image Build") is excluded from latest, or deleted. After
// a success, the versions beyond keep are deleted (Retain): a protected
// version is skipped and named, a delete Azure refuses is a note, and one
// refused delete does not stop the others; they are tried again after the
// next success, never on every tick. It is idempotent: repeated, it finds
// nothing more to do. It returns what it did, for the build's history; an
// error only when the gallery cannot be read.
func (s *Service) AfterBuild(ctx context.Context, f Finished) (string, error) {
	var notes []string
	type target struct{ image, version string }
	var targets []target
	seen := map[string]bool{}
	add := func(image, version string) {
		if k := strings.ToLower(image + "/" + version); !seen[k] {
			seen[k] = true
			targets = append(targets, target{image, version})
		}
	}
	for _, o := range f.Outputs {
		if imageID, version, ok := ParseVersionID(o.ArtifactID); ok {
			add(imageID, version)
		}
	}
	if !f.Succeeded {
		for _, a := range f.Assigned {
			add(a.Image, a.Version)
		}
	}
	now := defaults.NowUTC(s.Now)
	for _, t := range targets {
		vs, err := s.Gallery.Versions(ctx, t.image)
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND && !f.Succeeded {
			continue // nothing was published there
		}
		if err != nil {
			return strings.Join(notes, "; "), err
		}
		if !f.Succeeded {
			for _, v := range vs {
				if v.Name != t.version || !v.PublishedAt.IsZero() && !f.StartedAt.IsZero() && v.PublishedAt.Before(f.StartedAt) {
					continue // not there, or not this build's
				}
				if f.Delete {
					if err := s.Gallery.DeleteVersion(ctx, v.ID); err != nil {
						notes = append(notes, "version "+v.Name+" of "+shortName(t.image)+", published by a build that did not succeed, could not be deleted: "+goldenpipe.ErrorMessage(err))
						continue
					}
					notes = append(notes, "version "+v.Name+" of "+shortName(t.image)+" deleted: its build did not succeed")
					continue
				}
				if ExcludedIn(v, "") && !excludedAnywhereBut(v) {
					continue // hidden from latest in every region already
				}
				if err := s.Gallery.SetExcludeFromLatest(ctx, v.ID, true); err != nil {
					return strings.Join(notes, "; "), fmt.Errorf("excluding %s from latest: %w", v.ID, err)
				}
				notes = append(notes, "version "+v.Name+" of "+shortName(t.image)+" excluded from latest: its build did not succeed")
			}
			continue
		}
		if f.Keep <= 0 {
			continue
		}
		del, protected := Retain(vs, f.Keep, t.version, now)
		var gone, refused []string
		for _, v := range del {
			if err := s.Gallery.DeleteVersion(ctx, v.ID); err != nil {
				refused = append(refused, v.Name+" ("+goldenpipe.ErrorMessage(err)+")")
				continue
			}
			gone = append(gone, v.Name)
		}
		if len(gone) > 0 {
			notes = append(notes, fmt.Sprintf("kept the newest %d versions of %s; deleted %s", f.Keep, shortName(t.image), strings.Join(gone, ", ")))
		}
		if len(protected) > 0 {
			var p []string
			for _, v := range protected {
				p = append(p, v.Name+protectedUntil(v))
			}
			notes = append(notes, "kept the protected versions of "+shortName(t.image)+" (deletion blocked before their end of life): "+strings.Join(p, ", "))
		}
		if len(refused) > 0 {
			notes = append(notes, "could not delete versions of "+shortName(t.image)+", tried again after the next successful build: "+strings.Join(refused, "; "))
		}
	}
	return strings.Join(notes, "; "), nil
}

// excludedAnywhereBut reports a version excluded as a whole but still
// carrying a region that is not: the regional flags need setting too.
func excludedAnywhereBut(v goldenpipe.GalleryVersion) bool {
	for _, r := range v.Regions {
		if !ExcludedIn(v, r) {
			return true
		}
	}
	return false
}

func protectedUntil(v goldenpipe.GalleryVersion) string {
	if v.EndOfLife.IsZero() {
		return ""
	}
	return " until " + v.EndOfLife.UTC().Format("2006-01-02")
}

// PlanVersions applies a version policy to a rendered template of build
// before it is sent: each SharedImage distributor's galleryImageId is
// given the version Assign chooses against the definition's versions now
// and the versions reserved for other builds in flight, and that version
// is reserved for build (Reservations: builds planned together get
// distinct versions); its versioning is removed: the version is explicit.
// Planned again for the same build (a retry, a redelivery), it gives the
// versions reserved for it. It returns the template to send and the
// versions assigned; under PolicyAsWritten, the template as it is. An
// image definition or reservation that cannot be read or written is an
// error (transient: the build tries again).
func (s *Service) PlanVersions(ctx context.Context, build string, rendered []byte, policy string) ([]byte, []Assigned, error) {
	if policy == PolicyAsWritten || len(ImagesOf(rendered)) == 0 {
		return rendered, nil, nil
	}
	if build == "" {
		return nil, nil, goldenpipe.Errorf(goldenpipe.EINVALID, "planning gallery versions: no build id to reserve them for")
	}
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(string(rendered)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, goldenpipe.Errorf(goldenpipe.EINVALID, "the rendered template is not JSON: %v", err)
	}
	props, _ := doc["properties"].(map[string]any)
	dists, _ := props["distribute"].([]any)
	var out []Assigned
	for _, d := range dists {
		dist, _ := d.(map[string]any)
		if dist == nil || dist["type"] != "SharedImage" {
			continue
		}
		gid, _ := dist["galleryImageId"].(string)
		if gid == "" {
			continue
		}
		imageID, named, hasVersion := ParseVersionID(gid)
		if !hasVersion {
			imageID, named = ImageID(gid), ""
		}
		major := int64(-1)
		if vr, ok := dist["versioning"].(map[string]any); ok {
			if sc, _ := vr["scheme"].(string); sc == "Source" && !hasVersion {
				continue // the source image's number: Image Builder's choice (see README)
			}
			if m, ok := vr["major"].(json.Number); ok {
				if n, err := m.Int64(); err == nil {
					major = n
				}
			}
		}
		vs, err := s.Gallery.Versions(ctx, imageID)
		if err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
			return nil, nil, fmt.Errorf("reading the versions of %s: %w", shortName(imageID), err)
		}
		names := make([]string, 0, len(vs))
		for _, v := range vs {
			names = append(names, v.Name)
		}
		version, why, ok, err := s.reserve(ctx, build, imageID, names, named, policy, major)
		if err != nil {
			return nil, nil, fmt.Errorf("reserving a version of %s: %w", shortName(imageID), err)
		}
		if !ok {
			continue
		}
		dist["galleryImageId"] = imageID + "/versions/" + version
		delete(dist, "versioning")
		out = append(out, Assigned{Image: imageID, Version: version, Why: why})
	}
	if len(out) == 0 {
		return rendered, nil, nil
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // inline scripts keep their && and <
	if err := enc.Encode(doc); err != nil {
		return nil, nil, err
	}
	return bytes.TrimRight(body.Bytes(), "\n"), out, nil
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
	// LatestIn is what latest resolves to in each region the versions are
	// replicated to, when a region's own excludeFromLatest makes it differ
	// from Latest.
	LatestIn map[string]string `json:"latestIn,omitempty"`
	// Protected are the versions Azure refuses to delete now
	// (blockDeletionBeforeEndOfLife before their endOfLifeDate): retention
	// skips them until then.
	Protected []Protected `json:"protected,omitempty"`
	Error     string      `json:"error,omitempty"` // the gallery could not be read
}

// Protected is a version retention cannot delete yet.
type Protected struct {
	Version string    `json:"version"`
	Until   time.Time `json:"until,omitzero"` // its end of life ("" : none set)
}

// Policy is a template's gallery policy, as the view shows it.
type Policy struct {
	KeepVersions       int    `json:"keepVersions"`       // 0: every version is kept
	VersionPolicy      string `json:"versionPolicy"`      // PolicyNextPatch or PolicyAsWritten
	UnfinishedVersions string `json:"unfinishedVersions"` // "exclude" or "delete"
}

// PolicyOf reads a template's gallery policy, with its defaults.
func PolicyOf(p template.Policy) Policy {
	out := Policy{KeepVersions: p.KeepVersions, VersionPolicy: p.VersionPolicy, UnfinishedVersions: p.UnfinishedVersions}
	if out.VersionPolicy == "" {
		out.VersionPolicy = PolicyNextPatch
	}
	if out.UnfinishedVersions == "" {
		out.UnfinishedVersions = "exclude"
	}
	return out
}

// View is a template's gallery: each image definition it publishes to,
// with its versions, the policy, and the rollbacks.
type View struct {
	Images    []Image      `json:"images"`
	Policy    Policy       `json:"policy"`
	Rollbacks []RolledBack `json:"rollbacks"`
}

// images returns the image definitions a template publishes to, and its
// policy.
func (s *Service) images(ctx context.Context, name string) ([]string, Policy, error) {
	rec, err := s.Templates.Get(ctx, name)
	if err != nil {
		return nil, Policy{}, err
	}
	if rec.Rendered == nil {
		return nil, PolicyOf(rec.Policy), nil
	}
	return ImagesOf(rec.Rendered.JSON), PolicyOf(rec.Policy), nil
}

// imageOf is the view of one image definition's versions.
func imageOf(id string, vs []goldenpipe.GalleryVersion, now time.Time) Image {
	im := Image{ID: id, Versions: Sorted(vs)}
	if im.Versions == nil {
		im.Versions = []goldenpipe.GalleryVersion{}
	}
	if l, ok := Latest(vs); ok {
		im.Latest = l.Name
	}
	for _, r := range Regions(vs) {
		l, _ := LatestIn(vs, r)
		if l.Name != im.Latest {
			if im.LatestIn == nil {
				im.LatestIn = map[string]string{}
			}
			im.LatestIn[r] = l.Name
		}
	}
	for _, v := range im.Versions {
		if v.ProtectedAt(now) {
			im.Protected = append(im.Protected, Protected{Version: v.Name, Until: v.EndOfLife})
		}
	}
	return im
}

// View reads the versions of each image a template publishes to, and its
// rollbacks; a rollback still applying that the gallery now shows applied
// is recorded so (and its event published). A gallery that cannot be read
// is shown as such, not an error.
func (s *Service) View(ctx context.Context, template string) (View, error) {
	images, policy, err := s.images(ctx, template)
	if err != nil {
		return View{}, err
	}
	out := View{Images: []Image{}, Policy: policy}
	read := map[string][]goldenpipe.GalleryVersion{}
	now := defaults.NowUTC(s.Now)
	for _, id := range images {
		vs, err := s.Gallery.Versions(ctx, id)
		im := imageOf(id, vs, now)
		if err != nil {
			im.Error = goldenpipe.RedactSAS(goldenpipe.ErrorMessage(err))
		} else {
			read[strings.ToLower(id)] = vs
		}
		out.Images = append(out.Images, im)
	}
	var rec Record
	if _, err := s.Docs.Get(ctx, recordKey(template), &rec); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return out, err
	}
	if pendingApplied(rec.Rollbacks, read) {
		if rec, err = s.settle(ctx, template, read); err != nil {
			return out, err
		}
	}
	out.Rollbacks = rec.Rollbacks
	if out.Rollbacks == nil {
		out.Rollbacks = []RolledBack{}
	}
	return out, nil
}

// applied reports whether the gallery shows a rollback done: latest
// resolves to its target in every region, and no version it changed has
// an update of Azure's still running.
func applied(rb RolledBack, vs []goldenpipe.GalleryVersion) bool {
	if l, ok := Latest(vs); !ok || l.Name != rb.To {
		return false
	}
	for _, r := range Regions(vs) {
		if l, ok := LatestIn(vs, r); !ok || l.Name != rb.To {
			return false
		}
	}
	for _, v := range vs {
		if (v.Name == rb.To || slices.Contains(rb.Excluded, v.Name)) && busy(v) {
			return false
		}
	}
	return true
}

// pendingApplied reports a rollback still applying that the versions read
// show applied.
func pendingApplied(rbs []RolledBack, read map[string][]goldenpipe.GalleryVersion) bool {
	for _, rb := range rbs {
		if vs, ok := read[strings.ToLower(rb.Image)]; ok && rb.State == RollbackApplying && applied(rb, vs) {
			return true
		}
	}
	return false
}

// settle records as applied each rollback still applying that the
// versions read show applied, and publishes its event (once: the event
// id is derived from the rollback).
func (s *Service) settle(ctx context.Context, template string, read map[string][]goldenpipe.GalleryVersion) (Record, error) {
	var done []RolledBack
	rec, err := docstore.Update(ctx, s.Docs, recordKey(template), func(r *Record) error {
		done = done[:0]
		for i, rb := range r.Rollbacks {
			if vs, ok := read[strings.ToLower(rb.Image)]; ok && rb.State == RollbackApplying && applied(rb, vs) {
				r.Rollbacks[i].State, r.Rollbacks[i].AppliedAt = RollbackApplied, defaults.NowUTC(s.Now)
				done = append(done, r.Rollbacks[i])
			}
		}
		return nil
	})
	if err != nil {
		return Record{}, err
	}
	for _, rb := range done {
		if err := s.publish(ctx, rb); err != nil {
			return rec, err
		}
	}
	return rec, nil
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
// (and including the target again when it was excluded, as a whole or in
// a region). The updates are Azure's long-running operations, begun and
// not waited for: the rollback is recorded as applying, and as applied
// (its event published) only once the gallery shows it so (View, or a
// later Rollback, observes that). Repeated while it applies, nothing is
// asked of Azure again; repeated once applied, latest is there already and
// nothing changes.
func (s *Service) Rollback(ctx context.Context, req RollbackRequest) ([]RolledBack, error) {
	images, _, err := s.images(ctx, req.Template)
	if err != nil {
		return nil, err
	}
	if len(images) == 0 {
		return nil, goldenpipe.Errorf(goldenpipe.EINVALID, "template %s publishes to no Azure Compute Gallery image (no SharedImage distributor): there is nothing to roll back", req.Template)
	}
	var rec Record
	if _, err := s.Docs.Get(ctx, recordKey(req.Template), &rec); err != nil && goldenpipe.ErrorCode(err) != goldenpipe.ENOTFOUND {
		return nil, err
	}
	done := []RolledBack{}
	read := map[string][]goldenpipe.GalleryVersion{}
	for _, id := range images {
		vs, err := s.Gallery.Versions(ctx, id)
		if err != nil {
			return done, err
		}
		read[strings.ToLower(id)] = vs
		if p := applying(rec.Rollbacks, id); p != nil && !applied(*p, vs) {
			if req.Version == "" || req.Version == p.To {
				done = append(done, *p) // asked again while Azure applies it: nothing more to ask
				continue
			}
		}
		if b := busyVersions(vs); len(b) > 0 {
			return done, goldenpipe.Errorf(goldenpipe.ECONFLICT, "rolling back %s: Azure is still updating version(s) %s; try again once they are Succeeded", shortName(id), strings.Join(b, ", "))
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
			RequestedBy: req.RequestedBy, Reason: req.Reason, At: defaults.NowUTC(s.Now), State: RollbackApplying}
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
	if pendingApplied(rec.Rollbacks, read) {
		if _, err := s.settle(ctx, req.Template, read); err != nil {
			return done, err
		}
	}
	return done, nil
}

// applying returns the newest rollback of an image still applying.
func applying(rbs []RolledBack, image string) *RolledBack {
	for i := range rbs {
		if strings.EqualFold(rbs[i].Image, image) {
			if rbs[i].State == RollbackApplying {
				return &rbs[i]
			}
			return nil
		}
	}
	return nil
}

// busyVersions names the versions with an update of Azure's running.
func busyVersions(vs []goldenpipe.GalleryVersion) []string {
	var out []string
	for _, v := range vs {
		if strings.EqualFold(v.ProvisioningState, "updating") {
			out = append(out, v.Name)
		}
	}
	return out
}

// record keeps a rollback on the template's gallery record.
func (s *Service) record(ctx context.Context, rb RolledBack) error {
	_, err := docstore.Update(ctx, s.Docs, recordKey(rb.Template), func(r *Record) error {
		r.Rollbacks = append([]RolledBack{rb}, r.Rollbacks...)
		if len(r.Rollbacks) > rollbacksKept {
			r.Rollbacks = r.Rollbacks[:rollbacksKept]
		}
		return nil
	})
	return err
}

// publish publishes an applied rollback (the event id is derived from it,
// so a retried publish is dropped by duplicate detection).
func (s *Service) publish(ctx context.Context, rb RolledBack) error {
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
