package gallery

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/inmem"
)

// racingDocs holds every reader of the reservations until n of them have
// read: the builds planning together all see the document as it was
// before any of them wrote, the race the conditional write must settle.
type racingDocs struct {
	goldenpipe.Documents
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func newRacingDocs(n int) *racingDocs {
	return &racingDocs{Documents: inmem.NewDocs(), n: n, all: make(chan struct{})}
}

func (r *racingDocs) Get(ctx context.Context, key string, v any) (string, error) {
	r.mu.Lock()
	r.arrived++
	if r.arrived == r.n {
		close(r.all)
	}
	r.mu.Unlock()
	select {
	case <-r.all:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return r.Documents.Get(ctx, key, v)
}

// sharedImage is a rendered template publishing to the image definition
// id (Image Builder's Latest numbering: no version named).
func sharedImage(id string) []byte {
	return []byte(`{"properties":{"distribute":[{"type":"SharedImage","runOutputName":"sig","galleryImageId":"` + id + `"}]}}`)
}

func reservationsOf(t *testing.T, docs goldenpipe.Documents, image string) (Reservations, string) {
	t.Helper()
	var r Reservations
	etag, err := docs.Get(context.Background(), reservationsKey(image), &r)
	if err != nil {
		t.Fatal(err)
	}
	return r, etag
}

// Two builds planned at the same time against an empty image definition
// (both read the reservations before either writes) get 1.0.0 and 1.0.1,
// not both 1.0.0; planned again, a build gets the version it holds, with
// no write; the definition's id is case-insensitive.
func TestPlanVersionsReservesDistinctVersions(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)
	docs := newRacingDocs(2)
	s := &Service{Gallery: &memGallery{}, Docs: docs, Now: func() time.Time { return at }}
	builds := []string{"b-1", "b-2"}
	got := make([][]Assigned, len(builds))
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, b := range builds {
		wg.Go(func() { _, got[i], errs[i] = s.PlanVersions(ctx, b, sharedImage(img), PolicyNextPatch) })
	}
	wg.Wait()
	var versions []string
	for i := range builds {
		if errs[i] != nil || len(got[i]) != 1 {
			t.Fatalf("%s: %+v %v", builds[i], got[i], errs[i])
		}
		versions = append(versions, got[i][0].Version)
	}
	slices.Sort(versions)
	if strings.Join(versions, ",") != "1.0.0,1.0.1" {
		t.Fatalf("builds planned together got %v, want 1.0.0 and 1.0.1", versions)
	}
	r, etag := reservationsOf(t, docs, img)
	if r.Image != img || len(r.Versions) != 2 || r.Versions[got[0][0].Version].Build != "b-1" || r.Versions[got[1][0].Version].Build != "b-2" {
		t.Errorf("reservations %+v", r)
	}
	if why := got[0][0].Why + got[1][0].Why; !strings.Contains(why, "1.0.0 is reserved for a build in flight") {
		t.Errorf("the second build's reason does not say 1.0.0 was reserved: %q", why)
	}

	for i, b := range builds {
		body, again, err := s.PlanVersions(ctx, b, sharedImage(img), PolicyNextPatch)
		if err != nil || len(again) != 1 || again[0] != got[i][0] || !strings.Contains(string(body), img+"/versions/"+got[i][0].Version+`"`) {
			t.Errorf("%s planned again: %+v %v, want %+v", b, again, err, got[i])
		}
	}
	if _, etag2 := reservationsOf(t, docs, img); etag2 != etag {
		t.Errorf("planning again wrote the reservations (ETag %s → %s)", etag, etag2)
	}
	_, third, err := s.PlanVersions(ctx, "b-3", sharedImage(strings.ToUpper(img)), PolicyNextPatch)
	if err != nil || len(third) != 1 || third[0].Version != "1.0.2" {
		t.Errorf("a third build naming the definition in capitals: %+v %v, want 1.0.2", third, err)
	}
}

// A reservation whose version the gallery shows, or older than
// ReservationTTL, is dropped when the document is next written, and its
// version is free again (unless published); one within the bound holds.
func TestPlanVersionsDropsStaleReservations(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		after time.Duration
		want  string            // b-3's version
		kept  map[string]string // version → build, after b-3 planned
	}{
		{"within the bound", ReservationTTL - time.Hour, "1.0.2", map[string]string{"1.0.1": "b-2", "1.0.2": "b-3"}},
		{"beyond the bound", ReservationTTL + time.Hour, "1.0.1", map[string]string{"1.0.1": "b-3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := t0
			m := &memGallery{}
			docs := inmem.NewDocs()
			s := &Service{Gallery: m, Docs: docs, Now: func() time.Time { return now }}
			for _, b := range []string{"b-1", "b-2"} {
				if _, _, err := s.PlanVersions(ctx, b, sharedImage(img), PolicyNextPatch); err != nil {
					t.Fatal(err)
				}
			}
			m.vs = []goldenpipe.GalleryVersion{v("1.0.0")} // b-1 published its version; b-2 never did
			now = t0.Add(c.after)
			_, got, err := s.PlanVersions(ctx, "b-3", sharedImage(img), PolicyNextPatch)
			if err != nil || len(got) != 1 || got[0].Version != c.want {
				t.Fatalf("b-3: %+v %v, want %s", got, err, c.want)
			}
			r, _ := reservationsOf(t, docs, img)
			kept := map[string]string{}
			for v, res := range r.Versions {
				kept[v] = res.Build
			}
			if len(kept) != len(c.kept) {
				t.Errorf("reservations %v, want %v", kept, c.kept)
			}
			for v, b := range c.kept {
				if kept[v] != b {
					t.Errorf("reservations %v, want %v", kept, c.kept)
				}
			}
		})
	}
}

// A planning without a build id is refused: the reservation would hold
// for no build.
func TestPlanVersionsNeedsABuild(t *testing.T) {
	s := &Service{Gallery: &memGallery{}, Docs: inmem.NewDocs()}
	_, _, err := s.PlanVersions(context.Background(), "", sharedImage(img), PolicyNextPatch)
	if goldenpipe.ErrorCode(err) != goldenpipe.EINVALID {
		t.Errorf("%v, want EINVALID", err)
	}
}
