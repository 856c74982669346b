package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
)

// Gallery simulates the image versions of Azure Compute Gallery image
// definitions, served as ARM serves Microsoft.Compute/galleries/images/
// versions (armcompute v8's GalleryImageVersionsClient reaches it through
// Transport): the versions Image Builder publishes, their excludeFromLatest
// flags (version-wide and per target region), tags, end of life and
// deletion protection, updates (PUT of the whole version, as
// `az sig image-version update` sends) and deletes. Lists come two
// versions a page, so clients must follow nextLink. Every request is
// answered from the gallery's state under its lock, with no state kept
// between requests (a nextLink carries its position), so it is safe for
// concurrent use, in-process or served over HTTP.
type Gallery struct {
	// Now is the gallery's clock (default time.Now).
	Now func() time.Time
	// UpdateDuration is how long an update of a version runs before Azure
	// has applied it; meanwhile the version reads provisioningState
	// Updating with its old properties. The PUT is a long-running
	// operation (Compute REST API, Gallery Image Versions - Create Or
	// Update: 200/201/202 with Azure-AsyncOperation); how long it takes is
	// not documented. 0 applies an update at once.
	UpdateDuration time.Duration

	mu     sync.Mutex
	images map[string]*simDefinition // lower image key → definition
	calls  map[string]int
}

type simDefinition struct {
	versions map[string]*simVersion
}

// simVersion is one version and the schedule of what is happening to it.
type simVersion struct {
	v *armcompute.GalleryImageVersion
	// appearsAt is when a distribution creates it (zero: it exists);
	// readyAt when its replication completes (zero: complete, unless
	// partial).
	appearsAt, readyAt time.Time
	// partial: the distribution stopped (canceled, or failed) after the
	// version was created and before its replication completed.
	partial bool
	// pending is an update not yet applied, applied at pendingAt.
	pending   *armcompute.GalleryImageVersion
	pendingAt time.Time
}

// pageSize is how many versions one list page holds.
const pageSize = 2

// NewGallery returns an empty gallery (image definitions appear with their
// first version, or with Define).
func NewGallery() *Gallery {
	return &Gallery{images: map[string]*simDefinition{}, calls: map[string]int{}}
}

func (g *Gallery) now() time.Time {
	if g.Now != nil {
		return g.Now().UTC()
	}
	return time.Now().UTC()
}

// galleryKey is the key of an image definition: its resource group,
// gallery and name, in lower case (ARM names are case-insensitive, and the
// subscription is not told apart).
func galleryKey(rg, gallery, image string) string {
	return strings.ToLower(rg + "/" + gallery + "/" + image)
}

// galleryPath is an image definition or version path, split.
type galleryPath struct {
	sub, rg, gallery, image, version string
	versions                         bool // the path names the versions collection
}

func parseGalleryPath(p string) galleryPath {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	var r galleryPath
	for i := 0; i < len(parts); i += 2 {
		var val string
		if i+1 < len(parts) {
			val, _ = url.PathUnescape(parts[i+1])
		}
		switch strings.ToLower(parts[i]) {
		case "subscriptions":
			r.sub = val
		case "resourcegroups":
			r.rg = val
		case "galleries":
			r.gallery = val
		case "images":
			r.image = val
		case "versions":
			r.versions, r.version = true, val
		}
	}
	return r
}

// keyOf is the key of an image definition's resource id.
func keyOf(imageID string) string {
	p := parseGalleryPath(imageID)
	return galleryKey(p.rg, p.gallery, p.image)
}

// definition returns an image definition, made when make is set; called
// with g.mu held.
func (g *Gallery) definition(key string, make bool) *simDefinition {
	d := g.images[key]
	if d == nil && make {
		d = &simDefinition{versions: map[string]*simVersion{}}
		g.images[key] = d
	}
	return d
}

// Define makes an image definition with no versions (as `az sig image-
// definition create` does): listing its versions answers 200 with an
// empty list (as for any definition, see list).
func (g *Gallery) Define(imageID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.definition(keyOf(imageID), true)
}

// Publish adds a version to an image definition (its resource id), made
// and replicated at once, and returns the version's id.
func (g *Gallery) Publish(imageID, version string, excludeFromLatest bool, tags map[string]string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	id, _ := g.add(imageID, version, excludeFromLatest, tags, nil, time.Time{}, time.Time{})
	return id
}

// Region is a target region of a distribution: its name, and its own
// excludeFromLatest (nil: none of its own).
type Region struct {
	Name              string
	ExcludeFromLatest *bool
}

// add creates a version, to appear at appearsAt and be replicated by
// readyAt (zero: now); exists is true, and nothing is changed, when the
// definition has (or is about to have) a version of that name. Called with
// g.mu held.
func (g *Gallery) add(imageID, version string, excludeFromLatest bool, tags map[string]string, regions []Region, appearsAt, readyAt time.Time) (id string, exists bool) {
	d := g.definition(keyOf(imageID), true)
	id = strings.TrimRight(imageID, "/") + "/versions/" + version
	if d.versions[version] != nil {
		return id, true
	}
	published := appearsAt
	if published.IsZero() {
		published = g.now()
	}
	v := &armcompute.GalleryImageVersion{ID: to.Ptr(id), Name: to.Ptr(version), Type: to.Ptr("Microsoft.Compute/galleries/images/versions"),
		Location: to.Ptr("westeurope"), Tags: map[string]*string{},
		Properties: &armcompute.GalleryImageVersionProperties{ProvisioningState: to.Ptr(armcompute.GalleryProvisioningStateSucceeded),
			PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{ExcludeFromLatest: to.Ptr(excludeFromLatest), PublishedDate: to.Ptr(published)},
			StorageProfile:    &armcompute.GalleryImageVersionStorageProfile{}}}
	for _, r := range regions {
		tr := &armcompute.TargetRegion{Name: to.Ptr(r.Name)}
		if r.ExcludeFromLatest != nil {
			tr.ExcludeFromLatest = to.Ptr(*r.ExcludeFromLatest)
		}
		v.Properties.PublishingProfile.TargetRegions = append(v.Properties.PublishingProfile.TargetRegions, tr)
	}
	for k, val := range tags {
		v.Tags[k] = to.Ptr(val)
	}
	d.versions[version] = &simVersion{v: v, appearsAt: appearsAt, readyAt: readyAt}
	return id, false
}

// stop records that the distribution making a version stopped at at (the
// run was canceled, or failed distributing): a version not yet created is
// never made; one created and not yet replicated is left partial, as
// Image Builder leaves it ("If the distribution phase has started you can
// still cancel, but you need to clean up any images that may not be
// completed", MicrosoftDocs articles/virtual-machines/linux/
// image-builder-json.md, "Cancelling an Image Build").
func (g *Gallery) stop(imageID, version string, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.definition(keyOf(imageID), false)
	if d == nil || d.versions[version] == nil {
		return
	}
	sv := d.versions[version]
	switch {
	case !sv.appearsAt.IsZero() && at.Before(sv.appearsAt):
		delete(d.versions, version)
	case sv.readyAt.IsZero() && !sv.partial:
	case sv.partial || at.Before(sv.readyAt):
		sv.partial, sv.readyAt = true, time.Time{}
	}
}

// settle brings a version to now: whether it exists yet, its pending
// update applied once due. Called with g.mu held.
func (g *Gallery) settle(sv *simVersion, now time.Time) bool {
	if !sv.appearsAt.IsZero() && now.Before(sv.appearsAt) {
		return false
	}
	if sv.pending != nil && !now.Before(sv.pendingAt) {
		apply(sv.v, sv.pending)
		sv.pending = nil
	}
	return true
}

// view is the version as Azure shows it at now. Called with g.mu held.
func (g *Gallery) view(sv *simVersion, now time.Time) armcompute.GalleryImageVersion {
	out := clone(sv.v)
	state := armcompute.GalleryProvisioningStateSucceeded
	switch {
	case sv.partial:
		// Not documented: which state an incomplete version is left in.
		// Modelled as created in its home region ("a blob is copied to
		// westus, an image version resource in westus is created, and
		// then replicate to eastus", image-builder-json.md) with its
		// replication failed, so `latest` can serve it where it exists.
		out.Properties.ReplicationStatus = &armcompute.ReplicationStatus{AggregatedState: to.Ptr(armcompute.AggregatedReplicationStateFailed)}
	case !sv.readyAt.IsZero() && now.Before(sv.readyAt):
		state = armcompute.GalleryProvisioningStateCreating
	case sv.pending != nil:
		state = armcompute.GalleryProvisioningStateUpdating
	}
	out.Properties.ProvisioningState = to.Ptr(state)
	return out
}

// visible returns the names of a definition's versions that exist at now,
// oldest first (numeric order). Called with g.mu held.
func (g *Gallery) visible(d *simDefinition, now time.Time) []string {
	if d == nil {
		return nil
	}
	var names []string
	for n, sv := range d.versions {
		if g.settle(sv, now) {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, compareVersions)
	return names
}

// Versions returns the names of an image definition's versions, oldest
// first (numeric order).
func (g *Gallery) Versions(imageID string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.visible(g.definition(keyOf(imageID), false), g.now())
}

// State returns a version's provisioningState now ("" when it does not
// exist).
func (g *Gallery) State(imageID, version string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.definition(keyOf(imageID), false)
	if d == nil || d.versions[version] == nil || !g.settle(d.versions[version], g.now()) {
		return ""
	}
	v := g.view(d.versions[version], g.now())
	return string(*v.Properties.ProvisioningState)
}

// excludedIn reports a version hidden from latest in a region ("" : in
// every region it is replicated to): a target region's own
// excludeFromLatest decides there, else the version-wide flag (armcompute
// v8 TargetRegion and GalleryImageVersionPublishingProfile).
func excludedIn(v *armcompute.GalleryImageVersion, region string) bool {
	pp := v.Properties.PublishingProfile
	global := pp.ExcludeFromLatest != nil && *pp.ExcludeFromLatest
	regional := func(r *armcompute.TargetRegion) bool {
		if r.ExcludeFromLatest != nil {
			return *r.ExcludeFromLatest
		}
		return global
	}
	if region == "" {
		if len(pp.TargetRegions) == 0 {
			return global
		}
		for _, r := range pp.TargetRegions {
			if !regional(r) {
				return false
			}
		}
		return true
	}
	for _, r := range pp.TargetRegions {
		if strings.EqualFold(*r.Name, region) {
			return regional(r)
		}
	}
	return global
}

// Excluded reports whether a version is excluded from latest everywhere.
func (g *Gallery) Excluded(imageID, version string) bool {
	return g.ExcludedIn(imageID, version, "")
}

// ExcludedIn reports whether a version is excluded from latest in a
// region ("" : everywhere it is replicated).
func (g *Gallery) ExcludedIn(imageID, version, region string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.definition(keyOf(imageID), false)
	if d == nil || d.versions[version] == nil || !g.settle(d.versions[version], g.now()) {
		return false
	}
	return excludedIn(d.versions[version].v, region)
}

// Latest is what a VM made from the image definition with version
// "latest" gets: the highest version number not excluded from latest
// (MicrosoftDocs shared-image-galleries.md: latest is the highest
// MajorVersion, then MinorVersion, then Patch), in every region.
func (g *Gallery) Latest(imageID string) string {
	return g.LatestIn(imageID, "")
}

// LatestIn is latest in one region ("" : a version not excluded in at
// least one of its regions).
func (g *Gallery) LatestIn(imageID, region string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.definition(keyOf(imageID), false)
	names := g.visible(d, g.now())
	for i := len(names) - 1; i >= 0; i-- {
		if !excludedIn(d.versions[names[i]].v, region) {
			return names[i]
		}
	}
	return ""
}

// Tag sets a tag on a version (an operator marking it in use).
func (g *Gallery) Tag(imageID, version, key, value string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d := g.definition(keyOf(imageID), false); d != nil && d.versions[version] != nil {
		d.versions[version].v.Tags[key] = to.Ptr(value)
	}
}

// Protect gives a version an end of life and blocks its deletion before
// it: publishingProfile.endOfLifeDate and
// safetyProfile.blockDeletionBeforeEndOfLife (armcompute v8). The Azure
// CLI announces that from api-version 2026-03-03 new versions get this by
// default, six months out (azure-cli vm _breaking_change.py).
func (g *Gallery) Protect(imageID, version string, endOfLife time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d := g.definition(keyOf(imageID), false); d != nil && d.versions[version] != nil {
		p := d.versions[version].v.Properties
		p.PublishingProfile.EndOfLifeDate = to.Ptr(endOfLife.UTC())
		p.SafetyProfile = &armcompute.GalleryImageVersionSafetyProfile{BlockDeletionBeforeEndOfLife: to.Ptr(true)}
	}
}

// Calls returns how many calls of an operation ("Get", "List", "Update",
// "Delete") the gallery answered.
func (g *Gallery) Calls(op string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[op]
}

// Numberings of the versions Image Builder gives a distributor whose
// galleryImageId names no version.
const (
	// NumberingLatest is the documented default: "The default version
	// numbering schema is `latest`" — one patch above the highest version
	// (within major, when given) (MicrosoftDocs articles/virtual-machines/
	// linux/image-builder-json.md, "versioning").
	NumberingLatest = "Latest"
	// NumberingObserved is the older numbering the docs call deprecated,
	// as real versions show it: 0.(unixSeconds>>16).(unixSeconds&0xFFFF).
	// Three samples decode so: the docs' runOutputs example
	// 0.24105.52755, an Azure/azvmimagebuilder issue's 0.25088.3355, a
	// pipeline log's 0.23760.13763. Whether Azure still numbers so is
	// not confirmed; it is kept as an option, not the default.
	NumberingObserved = "Observed"
)

// NextVersion is the version Image Builder gives a SharedImage
// distribution: the version the galleryImageId names; with scheme Source,
// the source image's version (sourceVersion, when it is Major.Minor.Patch);
// otherwise by numbering (NumberingLatest, the default: one patch above
// the highest version, within major when major is not -1; or
// NumberingObserved).
func (g *Gallery) NextVersion(galleryImageID, scheme string, major int, sourceVersion, numbering string) (imageID, version string) {
	if i := strings.LastIndex(strings.ToLower(galleryImageID), "/versions/"); i >= 0 {
		return galleryImageID[:i], galleryImageID[i+len("/versions/"):]
	}
	imageID = strings.TrimRight(galleryImageID, "/")
	if scheme == "Source" && strings.Count(sourceVersion, ".") == 2 {
		// "Schema based upon the version number of the source image"
		// (image-builder-json.md, "versioning")
		return imageID, sourceVersion
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.definition(keyOf(imageID), false)
	taken := func(v string) bool { return d != nil && d.versions[v] != nil }
	if numbering == NumberingObserved && scheme == "" {
		now := g.now()
		for {
			u := now.Unix()
			v := fmt.Sprintf("0.%d.%d", u>>16, u&0xFFFF)
			if !taken(v) {
				return imageID, v
			}
			now = now.Add(time.Second) // two runs in one second: the next second's number
		}
	}
	var names []string
	if d != nil {
		for n := range d.versions {
			names = append(names, n)
		}
	}
	best := []int{max(major, 0), 0, -1}
	for _, n := range names {
		var p [3]int
		if k, _ := fmt.Sscanf(n, "%d.%d.%d", &p[0], &p[1], &p[2]); k != 3 || major >= 0 && p[0] != major {
			continue
		}
		if compareVersions(n, fmt.Sprintf("%d.%d.%d", best[0], best[1], best[2])) > 0 {
			best = p[:]
		}
	}
	if best[2] < 0 {
		// an empty definition (or major): not documented, the docs show
		// no empty gallery; as gallery.NextInMajor
		switch {
		case major < 0:
			return imageID, "1.0.0"
		case major == 0:
			return imageID, "0.0.1"
		}
		return imageID, fmt.Sprintf("%d.0.0", major)
	}
	return imageID, fmt.Sprintf("%d.%d.%d", best[0], best[1], best[2]+1)
}

// clone is a deep copy of a version: answers are serialized after the
// gallery's lock is released, while later updates change the original.
func clone(v *armcompute.GalleryImageVersion) armcompute.GalleryImageVersion {
	var out armcompute.GalleryImageVersion
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		panic("simulator: copying a gallery version: " + err.Error())
	}
	return out
}

// apply carries an update (the whole version, as PUT sends it) onto a
// version: what the app changes (excludeFromLatest, version-wide and per
// region; end of life; tags; deletion protection).
func apply(v, body *armcompute.GalleryImageVersion) {
	if body.Properties != nil && body.Properties.PublishingProfile != nil {
		bp, vp := body.Properties.PublishingProfile, v.Properties.PublishingProfile
		if bp.ExcludeFromLatest != nil {
			vp.ExcludeFromLatest = to.Ptr(*bp.ExcludeFromLatest)
		}
		if bp.EndOfLifeDate != nil {
			vp.EndOfLifeDate = to.Ptr(*bp.EndOfLifeDate)
		}
		for _, br := range bp.TargetRegions {
			for _, vr := range vp.TargetRegions {
				if br != nil && br.Name != nil && strings.EqualFold(*br.Name, *vr.Name) {
					vr.ExcludeFromLatest = br.ExcludeFromLatest
				}
			}
		}
	}
	if body.Properties != nil && body.Properties.SafetyProfile != nil && body.Properties.SafetyProfile.BlockDeletionBeforeEndOfLife != nil {
		if v.Properties.SafetyProfile == nil {
			v.Properties.SafetyProfile = &armcompute.GalleryImageVersionSafetyProfile{}
		}
		v.Properties.SafetyProfile.BlockDeletionBeforeEndOfLife = to.Ptr(*body.Properties.SafetyProfile.BlockDeletionBeforeEndOfLife)
	}
	if body.Tags != nil {
		v.Tags = body.Tags
	}
}

// compareVersions orders x.y.z names by number.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		var x, y int
		fmt.Sscan(pa[i], &x)
		fmt.Sscan(pb[i], &y)
		if x != y {
			return x - y
		}
	}
	return len(pa) - len(pb)
}

// Transport returns the transport an armcompute GalleryImageVersionsClient
// uses to reach the gallery (and what the served simulator hands gallery
// requests to).
func (g *Gallery) Transport() *GalleryTransport { return &GalleryTransport{g} }

// GalleryTransport answers ARM requests for gallery image versions.
type GalleryTransport struct{ g *Gallery }

// Do implements policy.Transporter.
func (t *GalleryTransport) Do(req *http.Request) (*http.Response, error) {
	return t.g.serve(req), nil
}

// armAnswer is an HTTP answer as ARM gives it.
func armAnswer(req *http.Request, status int, body any) *http.Response {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	h := http.Header{}
	if b != nil {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	return &http.Response{StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status), Header: h,
		Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: req, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}

// armFailure is ARM's error answer: the x-ms-error-code header and
// {"error":{"code","message"}}.
func armFailure(req *http.Request, status int, code, message string) *http.Response {
	resp := armAnswer(req, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
	resp.Header.Set("x-ms-error-code", code)
	return resp
}

// serve answers one request.
func (g *Gallery) serve(req *http.Request) *http.Response {
	p := parseGalleryPath(req.URL.Path)
	if p.rg == "" || p.gallery == "" || p.image == "" || !p.versions {
		return armFailure(req, http.StatusNotFound, "NotFound", "the simulator serves gallery image versions only")
	}
	key := galleryKey(p.rg, p.gallery, p.image)
	switch {
	case req.Method == http.MethodGet && p.version == "":
		return g.list(req, key)
	case req.Method == http.MethodGet:
		g.count("Get")
		g.mu.Lock()
		defer g.mu.Unlock()
		d := g.definition(key, false)
		if d == nil || d.versions[p.version] == nil || !g.settle(d.versions[p.version], g.now()) {
			return armFailure(req, http.StatusNotFound, "ResourceNotFound", "The Resource 'Microsoft.Compute/galleries/"+p.gallery+"/images/"+p.image+"/versions/"+p.version+"' under resource group '"+p.rg+"' was not found.")
		}
		return armAnswer(req, http.StatusOK, g.view(d.versions[p.version], g.now()))
	case req.Method == http.MethodPut:
		return g.update(req, key, p)
	case req.Method == http.MethodDelete:
		return g.remove(req, key, p)
	}
	return armFailure(req, http.StatusMethodNotAllowed, "MethodNotAllowed", req.Method+" is not served by the simulator's gallery")
}

// list answers a page of a definition's versions: 200 with the page and a
// nextLink carrying the position of the next. A definition with no
// versions answers 200 with an empty list, as Azure answers for an
// existing definition never published to (Gallery Image Versions - List
// By Gallery Image: 200 with a GalleryImageVersionList). The simulator
// does not model image definitions: every definition asked for is taken
// as existing (in Azure a missing one is a 404, and a build distributing
// to it fails).
func (g *Gallery) list(req *http.Request, key string) *http.Response {
	g.count("List")
	g.mu.Lock()
	d := g.definition(key, false)
	now := g.now()
	names := g.visible(d, now)
	skip, _ := strconv.Atoi(req.URL.Query().Get("$skiptoken"))
	skip = min(max(skip, 0), len(names))
	end := min(skip+pageSize, len(names))
	page := armcompute.GalleryImageVersionList{Value: []*armcompute.GalleryImageVersion{}}
	for _, n := range names[skip:end] {
		v := g.view(d.versions[n], now)
		page.Value = append(page.Value, &v)
	}
	g.mu.Unlock()
	if end < len(names) {
		next := *req.URL
		q := next.Query()
		q.Set("$skiptoken", strconv.Itoa(end))
		next.RawQuery = q.Encode()
		page.NextLink = to.Ptr(next.String())
	}
	return armAnswer(req, http.StatusOK, page)
}

// update carries out a PUT of an existing version (the app never creates
// versions; Image Builder does): applied at once, or after UpdateDuration
// with the version Updating meanwhile.
func (g *Gallery) update(req *http.Request, key string, p galleryPath) *http.Response {
	g.count("Update")
	var body armcompute.GalleryImageVersion
	raw, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil {
		return armFailure(req, http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "+err.Error())
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	d := g.definition(key, false)
	if d == nil || d.versions[p.version] == nil || !g.settle(d.versions[p.version], now) {
		return armFailure(req, http.StatusNotFound, "ResourceNotFound", "gallery image version "+p.version+" does not exist (the simulator's gallery only updates versions Image Builder made)")
	}
	sv := d.versions[p.version]
	if g.UpdateDuration <= 0 {
		apply(sv.v, &body)
	} else {
		sv.pending, sv.pendingAt = &body, now.Add(g.UpdateDuration)
	}
	return armAnswer(req, http.StatusOK, g.view(sv, now))
}

// remove deletes a version, unless its deletion is blocked before an end
// of life not reached (safetyProfile.blockDeletionBeforeEndOfLife:
// "whether or not the deletion is blocked for this Gallery Image Version
// if its End Of Life has not expired", armcompute v8). The status and
// wording of Azure's refusal are not documented; modelled as 409
// OperationNotAllowed naming the end of life.
func (g *Gallery) remove(req *http.Request, key string, p galleryPath) *http.Response {
	g.count("Delete")
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	d := g.definition(key, false)
	if d == nil || d.versions[p.version] == nil || !g.settle(d.versions[p.version], now) {
		return armAnswer(req, http.StatusNoContent, nil)
	}
	props := d.versions[p.version].v.Properties
	if sp := props.SafetyProfile; sp != nil && sp.BlockDeletionBeforeEndOfLife != nil && *sp.BlockDeletionBeforeEndOfLife {
		eol := props.PublishingProfile.EndOfLifeDate
		if eol == nil || now.Before(*eol) {
			when := "no end of life is set"
			if eol != nil {
				when = "its end of life is " + eol.UTC().Format(time.RFC3339)
			}
			return armFailure(req, http.StatusConflict, "OperationNotAllowed",
				"Deletion of gallery image version "+p.version+" is blocked before its end of life (safetyProfile.blockDeletionBeforeEndOfLife): "+when+".")
		}
	}
	delete(d.versions, p.version)
	return armAnswer(req, http.StatusOK, nil)
}

func (g *Gallery) count(op string) {
	g.mu.Lock()
	g.calls[op]++
	g.mu.Unlock()
}
