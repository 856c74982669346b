package builds

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/azure"
	"github.com/goldenpipe/goldenpipe/internal/clock"
	"github.com/goldenpipe/goldenpipe/template"
)

// The shell on in-memory fakes and a fake clock: days of a build pass in
// milliseconds, with no sleep and no storage.

// memDocs is goldenpipe.Documents in memory, with ETags.
type memDocs struct {
	mu   sync.Mutex
	docs map[string]memDoc
	n    int
}

type memDoc struct {
	etag string
	body []byte
}

func newMemDocs() *memDocs { return &memDocs{docs: map[string]memDoc{}} }

func (m *memDocs) Get(_ context.Context, key string, v any) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.docs[key]
	if !ok {
		return "", goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no %s", key)
	}
	return d.etag, json.Unmarshal(d.body, v)
}

func (m *memDocs) Put(_ context.Context, key string, v any, ifMatch string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.docs[key]
	if ifMatch == "" && ok || ifMatch != "" && (!ok || d.etag != ifMatch) {
		return "", goldenpipe.Errorf(goldenpipe.ECONFLICT, "%s changed", key)
	}
	return m.set(key, v)
}

func (m *memDocs) set(key string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	m.n++
	etag := fmt.Sprint(m.n)
	m.docs[key] = memDoc{etag, b}
	return etag, nil
}

func (m *memDocs) Overwrite(_ context.Context, key string, v any) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.set(key, v)
}

func (m *memDocs) Delete(_ context.Context, key, ifMatch string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.docs[key]; ok && ifMatch != "" && d.etag != ifMatch {
		return goldenpipe.Errorf(goldenpipe.ECONFLICT, "%s changed", key)
	}
	delete(m.docs, key)
	return nil
}

func (m *memDocs) Keys(_ context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.docs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

// KeysPage pages through Keys; the marker is the last key given.
func (m *memDocs) KeysPage(ctx context.Context, prefix, marker string, max int) ([]string, string, error) {
	keys, _ := m.Keys(ctx, prefix)
	i := sort.SearchStrings(keys, marker)
	if i < len(keys) && keys[i] == marker {
		i++
	}
	keys = keys[i:]
	if len(keys) > max {
		return keys[:max], keys[max-1], nil
	}
	return keys, "", nil
}

// ListPage is KeysPage with each small document whole as its summary,
// as the app's store lists its table kinds (the lists, the markers).
func (m *memDocs) ListPage(ctx context.Context, prefix, marker string, max int) ([]goldenpipe.Listed, string, error) {
	keys, next, err := m.KeysPage(ctx, prefix, marker, max)
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]goldenpipe.Listed, len(keys))
	for i, k := range keys {
		out[i] = goldenpipe.Listed{Key: k}
		if d, ok := m.docs[k]; ok && len(d.body) < 30<<10 && !strings.HasPrefix(k, azure.BuildKeyRecords) {
			out[i].Summary = d.body
		}
	}
	return out, next, err
}

// fakeAIB is Image Builder reduced to one template the test steers.
type fakeAIB struct {
	mu        sync.Mutex
	tpl       *goldenpipe.AIBTemplate
	outputs   []goldenpipe.RunOutput
	deleteErr func() error
	calls     map[string]int
}

func (f *fakeAIB) count(op string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
}

func (f *fakeAIB) Create(context.Context, string, []byte) error {
	f.count("Create")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tpl = &goldenpipe.AIBTemplate{ID: "/x/gp", ProvisioningState: goldenpipe.ProvisioningSucceeded}
	return nil
}
func (f *fakeAIB) Get(context.Context, string) (goldenpipe.AIBTemplate, error) {
	f.count("Get")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tpl == nil {
		return goldenpipe.AIBTemplate{}, goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no template")
	}
	return *f.tpl, nil
}
func (f *fakeAIB) Run(context.Context, string) error {
	f.count("Run")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tpl == nil { // Image Builder answers a run of a deleted template 404 (Run: ResourceNotFound)
		return goldenpipe.Errorf(goldenpipe.ENOTFOUND, "no template")
	}
	f.tpl.Run = &goldenpipe.AIBRun{State: goldenpipe.RunSucceeded, StartTime: time.Unix(1, 0), EndTime: time.Unix(2, 0)}
	return nil
}
func (f *fakeAIB) Cancel(context.Context, string) error { f.count("Cancel"); return nil }
func (f *fakeAIB) Delete(context.Context, string) error {
	f.count("Delete")
	if f.deleteErr != nil {
		if err := f.deleteErr(); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tpl = nil
	return nil
}
func (f *fakeAIB) RunOutputs(context.Context, string) ([]goldenpipe.RunOutput, error) {
	f.count("RunOutputs")
	return f.outputs, nil
}

// slowCopy is a destination whose one copy stays pending, moving, until
// doneAt (the clock's time), then succeeds.
type slowCopy struct {
	c       *clock.Fake
	start   time.Time
	doneAt  time.Time
	md      map[string]string
	started int
	aborted int
}

func (s *slowCopy) URL(name string) string { return "https://dst.blob.core.windows.net/vhds/" + name }
func (s *slowCopy) Properties(context.Context, string) (goldenpipe.CopyState, error) {
	if s.started == 0 {
		return goldenpipe.CopyState{}, nil
	}
	now := s.c.Now()
	total := int64(1 << 40) // a 1 TiB VHD
	if !now.Before(s.doneAt) {
		return goldenpipe.CopyState{Exists: true, Status: goldenpipe.CopySuccess, ID: "copy-1", Copied: total, Total: total, Length: total, Metadata: s.md}, nil
	}
	copied := int64(float64(total) * float64(now.Sub(s.start)) / float64(s.doneAt.Sub(s.start)))
	return goldenpipe.CopyState{Exists: true, Status: goldenpipe.CopyPending, ID: "copy-1", Copied: copied, Total: total, Metadata: s.md}, nil
}
func (s *slowCopy) StartCopy(_ context.Context, _, source string, md map[string]string) (string, error) {
	s.started++
	s.start, s.md = s.c.Now(), md
	return "copy-1", nil
}
func (s *slowCopy) Abort(context.Context, string, string) error { s.aborted++; return nil }

type fixedSource struct{}

func (fixedSource) Properties(context.Context, string) (goldenpipe.BlobVersion, error) {
	return goldenpipe.BlobVersion{ETag: "e1", Size: 1 << 40}, nil
}
func (fixedSource) SignRead(_ context.Context, u string, ttl time.Duration) (string, time.Time, error) {
	return u + "?sv=2022&sig=secret", time.Now().Add(ttl), nil
}

type noTemplates struct{}

func (noTemplates) Get(context.Context, string) (template.Record, error) {
	return template.Record{}, nil
}
func (noTemplates) RecordBuild(context.Context, string, template.BuildSummary) error {
	return nil
}
func (noTemplates) Refresh(context.Context) ([]template.Record, error) { return nil, nil }

type nopBus struct{ published []string }

func (b *nopBus) Send(context.Context, string, goldenpipe.OutMessage) error { return nil }
func (b *nopBus) Publish(_ context.Context, _ string, m goldenpipe.OutMessage) error {
	b.published = append(b.published, m.Subject)
	return nil
}

// levels records the levels of the lines logged.
type levels struct {
	mu  sync.Mutex
	got map[slog.Level]int
}

func (l *levels) Enabled(context.Context, slog.Level) bool { return true }
func (l *levels) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.got == nil {
		l.got = map[slog.Level]int{}
	}
	l.got[r.Level]++
	return nil
}
func (l *levels) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *levels) WithGroup(string) slog.Handler      { return l }

func shell(t *testing.T, c *clock.Fake) (*Service, *fakeAIB, *memDocs, *levels) {
	t.Helper()
	docs, aib, lv := newMemDocs(), &fakeAIB{}, &levels{}
	s := &Service{Store: azure.NewBuilds[Build, Summary](docs, c.Now), AIB: aib, Bus: &nopBus{}, Templates: noTemplates{}, Now: c.Now, Log: slog.New(lv),
		Source: fixedSource{}, MaxConcurrent: 2}
	return s, aib, docs, lv
}

// over is the builds' store over docs, on the service's clock.
func over(s *Service, docs goldenpipe.Documents) Store {
	return azure.NewBuilds[Build, Summary](docs, s.Now)
}

func seed(t *testing.T, s *Service, b Build) {
	t.Helper()
	if err := s.Store.Mark(context.Background(), b, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.Create(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func tick(t *testing.T, s *Service) {
	t.Helper()
	if _, err := s.Tick(context.Background(), goldenpipe.Tick{}); err != nil {
		t.Fatal(err)
	}
}

// A copy of a 1 TiB VHD that stays pending for 30 hours, making progress
// all along (its 6-hour SAS long expired), is never aborted; it succeeds,
// and the build with it.
func TestALongCopyIsNeverAborted(t *testing.T) {
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	s, aib, _, _ := shell(t, c)
	dst := &slowCopy{c: c, doneAt: c.Now().Add(30 * time.Hour)}
	s.Destination, s.SASTTL = dst, 6*time.Hour
	aib.outputs = []goldenpipe.RunOutput{{Name: "vhd", ArtifactURI: "https://staging.blob.core.windows.net/vhds/x.vhd"}}
	seed(t, s, Build{ID: "t-000000000001", Template: "t", AIBName: "gp-t", State: StateRequested, RequestedAt: c.Now(),
		Rendered: []byte(`{"properties":{"distribute":[{"type":"VHD","runOutputName":"vhd"}]}}`)})
	var progress []int64
	var estimate time.Time
	for hour := 0; hour <= 32; hour++ {
		tick(t, s)
		b, err := s.Get(context.Background(), "t-000000000001")
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Rescue) == 1 {
			progress = append(progress, b.Rescue[0].Copied)
			if hour == 10 {
				estimate = b.Rescue[0].EstimatedDoneAt
			}
		}
		if Terminal(b.State) {
			if b.State != StateSucceeded || b.Rescue[0].State != CopyVerified {
				t.Fatalf("ended %s: %+v", b.State, b.Rescue)
			}
			break
		}
		c.Advance(time.Hour)
	}
	if dst.started != 1 || dst.aborted != 0 {
		t.Errorf("the copy was started %d times and aborted %d times, want 1 and 0", dst.started, dst.aborted)
	}
	if d := estimate.Sub(dst.doneAt); d < -2*time.Hour || d > 2*time.Hour {
		t.Errorf("after 10 hours the record estimated the end at %v; it came at %v", estimate, dst.doneAt)
	}
	if len(progress) < 25 || progress[len(progress)/2] <= progress[1] {
		t.Errorf("the record did not follow the progress: %v", progress)
	}
}

// A delete Image Builder refuses while the template is busy
// (OperationNotAllowed) is tried again on later ticks, quietly: no warning,
// no error, the build stays in flight until the delete goes through.
func TestDeleteRefusedWhileBusyIsRetriedQuietly(t *testing.T) {
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	s, aib, _, lv := shell(t, c)
	refusals := 3
	aib.deleteErr = func() error {
		if refusals > 0 {
			refusals--
			return goldenpipe.Errorf(goldenpipe.ECONFLICT, "deleting image template gp-t failed: OperationNotAllowed: Operation Microsoft.VirtualMachineImages/imageTemplates/delete is not allowed in provisioning state: succeeded and run state: running")
		}
		return nil
	}
	aib.tpl = &goldenpipe.AIBTemplate{ID: "/x/gp", ProvisioningState: goldenpipe.ProvisioningSucceeded}
	seed(t, s, Build{ID: "t-000000000002", Template: "t", AIBName: "gp-t", State: StateSucceeded, RequestedAt: c.Now(), FinishedAt: c.Now(),
		Done: []string{"recorded", "released", "event:requested", "event:succeeded", "indexed"}})
	for i := 0; i < 20; i++ {
		tick(t, s)
		c.Advance(time.Minute)
	}
	if n, _ := s.InFlight(context.Background()); len(n) != 0 || aib.tpl != nil {
		t.Fatalf("in flight %v, template %v", n, aib.tpl)
	}
	b, _ := s.Get(context.Background(), "t-000000000002")
	if !b.did("cleaned") || aib.calls["Delete"] != 4 {
		t.Errorf("done %v, %d deletes", b.Done, aib.calls["Delete"])
	}
	if lv.got[slog.LevelWarn]+lv.got[slog.LevelError] != 0 {
		t.Errorf("refused deletes made noise: %v", lv.got)
	}
}

// With nothing in flight a tick makes five storage calls (the migrations'
// record, the ledger, the heads of the line and of the due list, the view),
// whatever the history; the
// first tick indexes the builds recorded before the index, once.
func TestATickWithNothingInFlightIsCheap(t *testing.T) {
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	s, _, docs, _ := shell(t, c)
	for i := 0; i < 500; i++ { // history: finished builds, not in flight, recorded before the index
		b := Build{ID: fmt.Sprintf("old-%012d", i), Template: "old", State: StateSucceeded, RequestedAt: c.Now().Add(time.Duration(i) * time.Minute)}
		if _, err := docs.Put(context.Background(), azure.BuildRecordKey(b.ID), b, ""); err != nil {
			t.Fatal(err)
		}
	}
	tick(t, s) // the migration
	page, next, err := s.Page(context.Background(), "old", "", 10)
	if err != nil || len(page) != 10 || page[0].ID != "old-000000000499" || page[9].ID != "old-000000000490" || next == "" {
		t.Fatalf("after the migration, the newest page of old: %v %q %v", summarizeIDs(page), next, err)
	}
	counted := &countingDocs{Documents: docs}
	s.Store = over(s, counted)
	tick(t, s)
	if counted.n != 5 { // the migrations' record, the ledger, the head of the line, of the due list, the view of the builds in flight
		t.Errorf("a tick with nothing in flight made %d storage calls over a history of 500 builds", counted.n)
	}
}

func summarizeIDs(list []Summary) []string {
	var out []string
	for _, b := range list {
		out = append(out, b.ID)
	}
	return out
}

type countingDocs struct {
	goldenpipe.Documents
	n int
}

func (c *countingDocs) Get(ctx context.Context, key string, v any) (string, error) {
	c.n++
	return c.Documents.Get(ctx, key, v)
}
func (c *countingDocs) Keys(ctx context.Context, prefix string) ([]string, error) {
	c.n++
	return c.Documents.Keys(ctx, prefix)
}
func (c *countingDocs) ListPage(ctx context.Context, prefix, marker string, max int) ([]goldenpipe.Listed, string, error) {
	c.n++
	return c.Documents.ListPage(ctx, prefix, marker, max)
}
func (c *countingDocs) KeysPage(ctx context.Context, prefix, marker string, max int) ([]string, string, error) {
	c.n++
	return c.Documents.KeysPage(ctx, prefix, marker, max)
}
func (c *countingDocs) Put(ctx context.Context, key string, v any, ifMatch string) (string, error) {
	c.n++
	return c.Documents.Put(ctx, key, v, ifMatch)
}

// TestInFlightPageReadsWhatItShows: a page of builds in flight counts
// every marker and shows n of their summaries, the slot holders first,
// reading no record; once a tick recorded its view, one read.
func TestInFlightPageReadsWhatItShows(t *testing.T) {
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	s, _, docs, _ := shell(t, c)
	for i := 0; i < 10; i++ {
		seed(t, s, Build{ID: fmt.Sprintf("b%02d", i), Template: fmt.Sprintf("t%02d", i), State: StateRequested, RequestedAt: c.Now().Add(time.Duration(i) * time.Minute)})
	}
	if err := s.Store.PutLedger(context.Background(), ledger{Holders: []string{"b07"}}, ""); err != nil {
		t.Fatal(err)
	}
	counted := &countingDocs{Documents: docs}
	s.Store = over(s, counted)
	shown, total, err := s.InFlightPage(context.Background(), 3)
	if err != nil || total != 10 || len(shown) != 3 || byID(shown, "b07") == nil {
		t.Fatalf("shown %v of %d (%v); want 3 of 10 with the slot holder b07", summarizeIDs(shown), total, err)
	}
	if counted.n != 3 { // no view yet, the markers with their summaries, the ledger
		t.Errorf("%d storage calls, want 3", counted.n)
	}
	// after a tick the page reads the view the tick left, one document
	s.Store = over(s, docs)
	tick(t, s)
	counted = &countingDocs{Documents: docs}
	s.Store = over(s, counted)
	after, total, err := s.InFlightPage(context.Background(), 3)
	if err != nil || counted.n != 1 {
		t.Fatalf("after a tick: %v in %d storage calls; want 1", err, counted.n)
	}
	live, liveTotal, err := s.inFlightLive(context.Background(), 3)
	if err != nil || total != liveTotal || !slices.Equal(summarizeIDs(after), summarizeIDs(live)) {
		t.Errorf("after a tick the view shows %v of %d, the markers %v of %d (%v)", summarizeIDs(after), total, summarizeIDs(live), liveTotal, err)
	}
}

func byID(list []Summary, id string) *Summary {
	for i := range list {
		if list[i].ID == id {
			return &list[i]
		}
	}
	return nil
}

// TestStrayIndexEntriesAreDropped: an index entry whose build was recorded
// at another time, or whose record never came (after markerGrace), is
// skipped and dropped; one whose record may still come is kept.
func TestStrayIndexEntriesAreDropped(t *testing.T) {
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	s, _, docs, _ := shell(t, c)
	ctx := context.Background()
	kept := Build{ID: "a-1", Template: "a", State: StateSucceeded, RequestedAt: c.Now().Add(-time.Hour)}
	if _, err := docs.Put(ctx, azure.BuildRecordKey(kept.ID), kept, ""); err != nil {
		t.Fatal(err)
	}
	lost := kept
	lost.RequestedAt = c.Now().Add(-30 * time.Minute) // the same id, requested again and lost its race
	crashed := Build{ID: "a-2", Template: "a", RequestedAt: c.Now().Add(-time.Hour)}
	coming := Build{ID: "a-3", Template: "a", RequestedAt: c.Now().Add(-time.Minute)}
	for _, b := range []*Build{&kept, &lost, &crashed, &coming} {
		if err := s.Store.Publish(ctx, *b, "", false); err != nil {
			t.Fatal(err)
		}
	}
	page, _, err := s.Page(ctx, "a", "", 10)
	if err != nil || len(page) != 1 || page[0].ID != "a-1" {
		t.Fatalf("page %v, %v", summarizeIDs(page), err)
	}
	left, _ := docs.Keys(ctx, azure.BuildKeyByTemplate+"a/")
	if len(left) != 2 || !strings.HasSuffix(left[0], "-a-3") && !strings.HasSuffix(left[1], "-a-3") {
		t.Errorf("entries left: %v, want a-1's and a-3's (its record may still come)", left)
	}
}

// TestRejectedNewestFirstFromTheIndex: rejections recorded before the index
// are indexed once, by the first call; then the list reads its page, newest
// first, without listing every rejection.
func TestRejectedNewestFirstFromTheIndex(t *testing.T) {
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	s, _, docs, _ := shell(t, c)
	ctx := context.Background()
	for i := 0; i < 3; i++ { // the layout before the index
		r := Rejection{MessageID: fmt.Sprintf("old-%d", i), Reason: "bad", At: c.Now().Add(time.Duration(i) * time.Minute)}
		if _, err := docs.Overwrite(ctx, azure.BuildKeyRejected+fmt.Sprintf("old%d.json", i), r); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(time.Hour)
	if err := s.reject(ctx, goldenpipe.Message{ID: "new", Body: []byte(`{"tempalte":"x"}`)}, "unknown field"); err != nil {
		t.Fatal(err)
	}
	list, err := s.Rejected(ctx, RejectedListed)
	if err != nil || len(list) != 4 || list[0].MessageID != "new" || list[3].MessageID != "old-0" {
		t.Fatalf("the first call, which indexes the old ones: %+v %v", list, err)
	}
	counted := &countingDocs{Documents: docs}
	s.Store = over(s, counted)
	if list, err = s.Rejected(ctx, RejectedListed); err != nil || len(list) != 4 {
		t.Fatal(list, err)
	}
	if counted.n != 2 { // the migration's record, the index page holding the rejections
		t.Errorf("%d storage calls, want 2", counted.n)
	}
}

// TestTickRefreshesSummariesBehindTheirRecord: a crash between a record's
// write and its summaries' leaves the lists behind; the next tick brings
// the marker and the list entries to the record's version, even for a
// build that is otherwise left alone (backing off).
func TestTickRefreshesSummariesBehindTheirRecord(t *testing.T) {
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	s, _, docs, _ := shell(t, c)
	ctx := context.Background()
	b := Build{ID: "lag-1", Template: "lag", State: StateRequested, RequestedAt: c.Now()}
	seed(t, s, b) // marker and entries name no record version yet
	if err := s.Store.Publish(ctx, b, "", false); err != nil {
		t.Fatal(err)
	}
	var rec Build
	etag, err := docs.Get(ctx, azure.BuildRecordKey(b.ID), &rec)
	if err != nil {
		t.Fatal(err)
	}
	rec.State, rec.RetryAt, rec.LastError = StateCreating, c.Now().Add(time.Hour), "throttled"
	if etag, err = docs.Put(ctx, azure.BuildRecordKey(b.ID), rec, etag); err != nil { // the write whose summaries never came
		t.Fatal(err)
	}
	tick(t, s)
	var m goldenpipe.BuildMarker[Summary]
	if _, err := docs.Get(ctx, azure.BuildMarkerKey(b.ID), &m); err != nil {
		t.Fatal(err)
	}
	if m.ETag != etag || m.Build == nil || m.Build.State != StateCreating || m.Build.LastError != "throttled" {
		t.Fatalf("marker after a tick: etag %q (record %q), summary %+v", m.ETag, etag, m.Build)
	}
	page, _, err := s.Page(ctx, "lag", "", 10)
	if err != nil || len(page) != 1 || page[0].State != StateCreating {
		t.Fatalf("the template's list after a tick: %+v %v", page, err)
	}
}

// A delete Image Builder refuses while the template is busy ends the
// reconcile with the refusal's RequeueAfter (cleanupRefused's backoff):
// the build is filed in the due list at that time, and the tick looks at
// Image Builder no more after the refusal.
func TestARefusedDeleteIsFiledDueAtItsBackoff(t *testing.T) {
	c := clock.NewFake(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC))
	s, aib, _, _ := shell(t, c)
	aib.deleteErr = func() error {
		return goldenpipe.Errorf(goldenpipe.ECONFLICT, "deleting image template gp-t failed: OperationNotAllowed: the template is busy")
	}
	aib.tpl = &goldenpipe.AIBTemplate{ID: "/x/gp", ProvisioningState: goldenpipe.ProvisioningSucceeded}
	seed(t, s, Build{ID: "t-000000000003", Template: "t", AIBName: "gp-t", State: StateSucceeded, RequestedAt: c.Now(), FinishedAt: c.Now(),
		Done: []string{"recorded", "released", "event:requested", "event:succeeded", "indexed"}})
	for i := 0; i < 5 && aib.calls["Delete"] == 0; i++ {
		tick(t, s)
		c.Advance(time.Second)
	}
	if aib.calls["Delete"] != 1 {
		t.Fatalf("%d deletes, want 1", aib.calls["Delete"])
	}
	gets := aib.calls["Get"]
	b, _ := s.Get(context.Background(), "t-000000000003")
	want := b.DeleteRefusedSince.Add(backoff(Config{}.withDefaults(), b.ID, 1))
	due, err := s.Store.Due(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].ID != b.ID || !due[0].At.Equal(want) {
		t.Fatalf("due list %+v, want %s at %s (the refusal's backoff)", due, b.ID, want)
	}
	tick(t, s) // before the time: nothing of it is looked at
	if aib.calls["Get"] != gets || aib.calls["Delete"] != 1 {
		t.Errorf("a tick before the build was due read Image Builder %d times and deleted %d times", aib.calls["Get"]-gets, aib.calls["Delete"]-1)
	}
}
