package template

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/blobevent"
	"github.com/goldenpipe/goldenpipe/internal/defaults"
	"github.com/goldenpipe/goldenpipe/internal/docstore"
)

// Blobs is the templates container as the service reads it.
type Blobs interface {
	Properties(ctx context.Context, name string) (goldenpipe.BlobVersion, error)
	OpenRange(ctx context.Context, name, etag string, off, count int64) (io.ReadCloser, error)
	ContainerURL() string
	URL(name string) string
	// List returns the names of every blob in the container.
	List(ctx context.Context) ([]string, error)
}

// Record is the catalog's view of one template: what was uploaded, what is
// wrong with it, what would be built, and whether it needs a build.
type Record struct {
	Name         string    `json:"name"`
	Blob         string    `json:"blob"`
	URL          string    `json:"url"`
	ETag         string    `json:"etag"`
	LastModified time.Time `json:"lastModified"`
	ProcessedAt  time.Time `json:"processedAt"`

	// Kind is KindResource (a bare resource) or KindDeployment (an ARM
	// deployment template, evaluated with its parameters file).
	Kind string `json:"kind,omitempty"`
	// ResourceName is the name the resource gives itself; the template is
	// named by its blob.
	ResourceName string `json:"resourceName,omitempty"`
	// OtherResources are the deployment template's other resources: not
	// deployed by this app.
	OtherResources []string `json:"otherResources,omitempty"`
	// ParametersBlob is the deployment template's parameters file, when
	// there is one, with the version read.
	ParametersBlob string `json:"parametersBlob,omitempty"`
	ParametersETag string `json:"parametersEtag,omitempty"`
	// Linked are the templates its nested deployments link by
	// templateLink.relativePath, with the versions read; LinkedBy, for a
	// linked file that is no template of its own (KindLinked), the
	// template files that link it (linked.go).
	Linked   []LinkedBlob `json:"linked,omitempty"`
	LinkedBy []string     `json:"linkedBy,omitempty"`

	SourceAPI string    `json:"sourceApiVersion,omitempty"`
	Valid     bool      `json:"valid"`
	Problems  []Problem `json:"problems"`
	Warnings  []Problem `json:"warnings"`
	Notes     []string  `json:"upgradeNotes"`
	Policy    Policy    `json:"policy"`

	Rendered *Rendered `json:"rendered,omitempty"`
	Plan     *Plan     `json:"plan,omitempty"`
	// Stale is set when something the rendering depends on changed (a
	// script) and cleared when it is rendered again.
	Stale       bool   `json:"stale"`
	StaleReason string `json:"staleReason,omitempty"`
	// LastBuild is the last successful build's summary (set by builds).
	LastBuild *BuildSummary `json:"lastBuild,omitempty"`
	// Pending is the build this version's plan asks for, written with the
	// record and cleared once its request was sent (see outbox.go).
	Pending *PendingBuild `json:"pendingBuild,omitempty"`
	// Scripts names the scripts-container scripts the template refers to,
	// valid or not: a change of one re-plans it (an invalid template has
	// no rendering to read them from).
	Scripts []string `json:"scriptsUsed,omitempty"`

	// Source is the uploaded text, kept so the template can be rendered
	// again (new checksums, a new "latest") without reading the blob;
	// ParametersSource the parameters file's.
	Source           string `json:"source"`
	ParametersSource string `json:"parametersSource,omitempty"`
}

// Service keeps the template catalog in step with the templates container.
type Service struct {
	Blobs      Blobs
	Docs       goldenpipe.Documents
	Container  string // the templates container
	ScriptsURL string
	Checksums  ChecksumSource
	Versions   VersionLister
	Log        *slog.Logger
	Now        func() time.Time
	// Deployment is the scope ARM deployment templates are evaluated in.
	Deployment Deployment
	// Listeners hear of every template rendered after an upload or a
	// script change whose plan asks for a build (not of the nightly
	// refresh, whose caller reads the plans itself).
	Listeners []PlanListener
	// ReplanBudget bounds the re-planning a script change does in its own
	// invocation (default DefaultReplanBudget); the monitor goes on with
	// the rest. ReplanLimit, when above 0, also bounds the templates one
	// invocation passes (tests).
	ReplanBudget time.Duration
	ReplanLimit  int
}

// PlanListener hears of templates whose plan asks for a build.
type PlanListener interface {
	Planned(ctx context.Context, rec Record) error
}

const (
	recordPrefix  = "templates/"
	historyPrefix = "templates-history/"
	filePrefix    = "template-files/" // which templates a file with several holds
	maxAttempts   = 5
)

func recordKey(name string) string { return recordPrefix + keyOf(name) + ".json" }

// RecordKey is the document key of a template's record (for tools that
// seed or migrate the store).
func RecordKey(name string) string { return recordKey(name) }

func keyOf(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:20])
}

// HandleBlobEvent checks an event of the templates container and reconciles
// the template it names.
func (s *Service) HandleBlobEvent(ctx context.Context, ev goldenpipe.BlobEvent) (string, error) {
	blob, ignored, err := blobevent.Target(ev, s.Container, s.Blobs.ContainerURL())
	if err != nil || ignored != "" {
		return ignored, err
	}
	if _, err := NameFromBlob(blob); err != nil {
		return "ignored: " + err.Error(), nil
	}
	blob = TemplateBlobOf(blob) // a parameters file re-renders its template
	r := s.eventRun(&Resolver{Lister: s.Versions}, false)
	outcome, names, err := s.reconcileFile(ctx, r, blob)
	if err == nil {
		var more []string
		more, err = s.linkersChanged(ctx, r, blob) // the templates that link it
		names = append(names, more...)
	}
	for _, name := range names {
		if err == nil {
			err = s.notifyFrom(ctx, name, r.writtenRecord(name))
		}
	}
	return outcome.String(), err
}

// RecordBuild records a template's last successful build and plans again.
// A build that finished before the one recorded changes nothing.
func (s *Service) RecordBuild(ctx context.Context, name string, sum BuildSummary) error {
	_, err := s.update(ctx, recordKey(name), func(r *Record) error {
		if r.LastBuild != nil && r.LastBuild.FinishedAt.After(sum.FinishedAt) {
			return nil
		}
		r.LastBuild = &sum
		if r.Rendered != nil {
			p := MakePlan(r.Rendered, r.Policy, &sum)
			r.Plan = &p
		}
		if r.Pending != nil && r.Pending.Fingerprint == sum.Fingerprint {
			r.Pending = nil // built: nothing left to request (the monitor drops its index entry)
		}
		return nil
	})
	if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
		return nil // the template was deleted meanwhile
	}
	return err
}

// Reconcile makes the records of a template file match its blob (and its
// parameters file) as they are now. With render, unchanged templates are
// rendered again (new checksums, a new "latest") from the stored source;
// without, they are left as they are.
func (s *Service) Reconcile(ctx context.Context, blob string, versions *Resolver, render bool) (string, error) {
	outcome, _, err := s.reconcileFile(ctx, s.eventRun(versions, render), blob)
	return outcome.String(), err
}

func fileKey(blob string) string { return filePrefix + keyOf(blob) + ".json" }

// redactSource is a template file's text as the app keeps it: decoded to
// UTF-8 when it can be (a BOM, UTF-16), with every SAS signature and key
// replaced by its stand-in (goldenpipe.RedactSecrets).
func redactSource(text string) string {
	if text == "" {
		return text
	}
	if d, err := DecodeText([]byte(text)); err == nil {
		text = string(d)
	}
	return goldenpipe.RedactSecrets(text)
}

// RestoreSecrets puts back into body (a rendered template about to go to
// Image Builder) the secrets the template's record holds stand-ins for,
// read from the template file and its parameters file as they are now.
// A body without stand-ins is returned as it is, with no read.
func (s *Service) RestoreSecrets(ctx context.Context, name string, body []byte) ([]byte, error) {
	if !bytes.Contains(body, []byte(goldenpipe.SecretPrefix)) {
		return body, nil
	}
	rec, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	var sources []string
	for _, blob := range []string{rec.Blob, rec.ParametersBlob} {
		if blob == "" {
			continue
		}
		ver, err := s.Blobs.Properties(ctx, blob)
		if err != nil {
			return nil, fmt.Errorf("reading the secrets of template %q from %s: %w", name, blob, err)
		}
		text, err := s.read(ctx, blob, ver)
		if err != nil {
			return nil, fmt.Errorf("reading the secrets of template %q from %s: %w", name, blob, err)
		}
		if d, err := DecodeText([]byte(text)); err == nil {
			text = string(d)
		}
		sources = append(sources, text)
	}
	out, err := goldenpipe.RestoreSecrets(string(body), sources...)
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", name, err)
	}
	return []byte(out), nil
}

// sameBut reports two records equal but for when they were processed.
func sameBut(a, b Record) bool {
	a.ProcessedAt = b.ProcessedAt
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

func ignoreConflict(err error) error {
	if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
		return nil
	}
	return err
}

func (r Record) summary() string {
	switch {
	case !r.Valid:
		return fmt.Sprintf("template %q is invalid: %d problem(s)", r.Name, len(r.Problems))
	case r.Plan != nil:
		return fmt.Sprintf("template %q rendered: fingerprint %s; rebuild=%v (%s)", r.Name, short(r.Rendered.Fingerprint), r.Plan.Rebuild, r.Plan.Reason)
	}
	return fmt.Sprintf("template %q rendered", r.Name)
}

// read reads a template blob whole, conditioned on its version.
func (s *Service) read(ctx context.Context, blob string, ver goldenpipe.BlobVersion) (string, error) {
	if ver.Size == 0 {
		return "", nil
	}
	body, err := s.Blobs.OpenRange(ctx, blob, ver.ETag, 0, ver.Size)
	if err != nil {
		return "", err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, MaxTemplateBytes+1))
	if err != nil {
		return "", goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "reading template blob %q", blob)
	}
	return string(b), nil
}

// refreshWorkers bounds the templates rendered at once by Refresh.
const refreshWorkers = 16

// Refresh brings every template up to date: it lists the templates
// container (so a lost upload or delete event is caught here), renders each
// template again with one version lookup per image and one checksum check
// per script for the whole run, and stores the new plans.
func (s *Service) Refresh(ctx context.Context) ([]Record, error) {
	// this run's view: checksums memoized, versions cached, the listing's versions
	r := &run{checksums: &memoChecksums{src: s.Checksums}, versions: &Resolver{Lister: s.Versions}, render: true}
	blobs, err := s.listTemplates(ctx, r)
	if err != nil {
		return nil, err
	}
	indexes, err := s.Docs.Keys(ctx, filePrefix)
	if err != nil {
		return nil, err
	}
	r.fileIndexes = map[string]bool{}
	for _, k := range indexes {
		r.fileIndexes[k] = true
	}
	if r.linkIndexes, err = s.linkIndexKeys(ctx); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var out []Record
	r.settled = func(rec Record) {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, rec)
	}
	jobs, err := s.refreshJobs(ctx, blobs)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(jobs))
	g := new(errgroup.Group)
	g.SetLimit(refreshWorkers)
	for i, j := range jobs {
		g.Go(func() error {
			_, _, errs[i] = s.reconcileFile(ctx, r, j)
			return nil // every template is tried; the errors are joined below
		})
	}
	_ = g.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// listTemplates lists the templates container, with each blob's version
// when it can (the run's listing).
func (s *Service) listTemplates(ctx context.Context, r *run) ([]string, error) {
	var blobs []string
	var err error
	if vl, ok := s.Blobs.(versionLister); ok {
		r.listed, err = vl.Versions(ctx)
		blobs = slices.Sorted(maps.Keys(r.listed))
	} else {
		blobs, err = s.Blobs.List(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("listing the templates container: %w", err)
	}
	return blobs, nil
}

// refreshJobs are the template files a refresh reconciles: those listed,
// and those of records no listed blob names (their blob is gone, or a
// file holds several templates), read.
func (s *Service) refreshJobs(ctx context.Context, blobs []string) ([]string, error) {
	var jobs []string
	seen := map[string]bool{}
	expected := map[string]bool{}
	for _, blob := range blobs {
		if name, err := NameFromBlob(blob); err == nil && !IsParametersBlob(blob) {
			seen[blob] = true
			jobs = append(jobs, blob)
			expected[recordKey(name)] = true
		}
	}
	keys, err := s.Docs.Keys(ctx, recordPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing templates: %w", err)
	}
	var others []string
	for _, k := range keys {
		if !expected[k] {
			others = append(others, k)
		}
	}
	orphans, err := docstore.ReadAll[Record](ctx, s.Docs, others, func(a, b Record) bool { return a.Name < b.Name })
	if err != nil {
		return nil, err
	}
	for _, rec := range orphans {
		if !seen[rec.Blob] { // its blob is gone: the record goes to history
			seen[rec.Blob] = true
			jobs = append(jobs, rec.Blob)
		}
	}
	return jobs, nil
}

// versionLister is a templates container that lists its blobs with their
// versions (azure.Blobs), so a refresh reads no blob's properties.
type versionLister interface {
	Versions(ctx context.Context) (map[string]goldenpipe.BlobVersion, error)
}

// memoChecksums answers each script once per run: concurrent askers share
// one look-up (singleflight), later ones the answer.
type memoChecksums struct {
	src  ChecksumSource
	once singleflight.Group
	mu   sync.Mutex
	m    map[string]memoResult
}

type memoResult struct {
	c   goldenpipe.Checksum
	err error
}

func (m *memoChecksums) Checksum(ctx context.Context, name string) (goldenpipe.Checksum, error) {
	m.mu.Lock()
	r, ok := m.m[name]
	m.mu.Unlock()
	if ok {
		return r.c, r.err
	}
	v, _, _ := m.once.Do(name, func() (any, error) {
		c, err := m.src.Checksum(ctx, name)
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.m == nil {
			m.m = map[string]memoResult{}
		}
		m.m[name] = memoResult{c, err}
		return memoResult{c, err}, nil
	})
	r = v.(memoResult)
	return r.c, r.err
}

// update applies fn to a stored record with a conditional write (the one
// read-modify-write helper); a record that does not exist is ENOTFOUND.
func (s *Service) update(ctx context.Context, key string, fn func(*Record) error) (Record, error) {
	return s.updateFrom(ctx, key, nil, fn)
}

// updateFrom is update starting from the record as this process wrote
// it (known; nil: it is read).
func (s *Service) updateFrom(ctx context.Context, key string, known *stored, fn func(*Record) error) (Record, error) {
	var from *docstore.Known[Record]
	if known != nil {
		from = &docstore.Known[Record]{V: known.rec, ETag: known.etag}
	}
	return docstore.UpdateFrom(ctx, s.Docs, key, from, func(r *Record) error {
		if r.Name == "" {
			return goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no template record %s", key)
		}
		if err := fn(r); err != nil {
			return err
		}
		r.ProcessedAt = s.now()
		return nil
	})
}

// List returns every template's record, by name.
func (s *Service) List(ctx context.Context) ([]Record, error) {
	keys, err := s.Docs.Keys(ctx, recordPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing templates: %w", err)
	}
	return docstore.ReadAll[Record](ctx, s.Docs, keys, func(a, b Record) bool { return a.Name < b.Name })
}

// Get returns one template's record; ENOTFOUND when unknown.
func (s *Service) Get(ctx context.Context, name string) (Record, error) {
	var rec Record
	if _, err := s.Docs.Get(ctx, recordKey(name), &rec); err != nil {
		if goldenpipe.ErrorCode(err) == goldenpipe.ENOTFOUND {
			return Record{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no template %q", name)
		}
		return Record{}, err
	}
	return rec, nil
}

func (s *Service) now() time.Time { return defaults.NowUTC(s.Now) }

func (s *Service) log() *slog.Logger { return defaults.LoggerOr(s.Log) }
