package gallery

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/inmem"
)

// memGallery is goldenpipe.Gallery in memory, refusing the deletes named
// in refuse (as Azure refuses a protected version's, or any it cannot do).
type memGallery struct {
	vs      []goldenpipe.GalleryVersion
	refuse  map[string]bool
	deletes []string
}

func (m *memGallery) Versions(context.Context, string) ([]goldenpipe.GalleryVersion, error) {
	return append([]goldenpipe.GalleryVersion(nil), m.vs...), nil
}

func (m *memGallery) SetExcludeFromLatest(_ context.Context, id string, exclude bool) error {
	for i := range m.vs {
		if m.vs[i].ID == id {
			m.vs[i].ExcludeFromLatest = exclude
		}
	}
	return nil
}

func (m *memGallery) DeleteVersion(_ context.Context, id string) error {
	m.deletes = append(m.deletes, id[strings.LastIndex(id, "/")+1:])
	if m.refuse[id[strings.LastIndex(id, "/")+1:]] {
		return goldenpipe.Errorf(goldenpipe.ECONFLICT, "OperationNotAllowed: deletion is blocked")
	}
	for i := range m.vs {
		if m.vs[i].ID == id {
			m.vs = append(m.vs[:i], m.vs[i+1:]...)
			break
		}
	}
	return nil
}

// Retention: a delete Azure refuses is a note, and the next deletes are
// still tried; protected versions are not tried at all and are named.
func TestAfterBuildRetentionNeverStopsAtARefusal(t *testing.T) {
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	m := &memGallery{vs: []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1"), v("1.0.2", "protected"), v("1.0.3"), v("1.0.4"), v("1.0.5")},
		refuse: map[string]bool{"1.0.1": true}}
	s := &Service{Gallery: m, Now: func() time.Time { return now }}
	note, err := s.AfterBuild(context.Background(), Finished{Succeeded: true, Keep: 2,
		Outputs: []goldenpipe.RunOutput{{Name: "sig", ArtifactID: img + "/versions/1.0.5"}}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(m.deletes, ",") != "1.0.3,1.0.1,1.0.0" {
		t.Errorf("deletes tried %v, want 1.0.3, 1.0.1 (refused) and still 1.0.0; never the protected 1.0.2", m.deletes)
	}
	for _, want := range []string{"deleted 1.0.3, 1.0.0", "protected versions of g/avd (deletion blocked before their end of life): 1.0.2 until 2027-06-01", "could not delete versions of g/avd, tried again after the next successful build: 1.0.1"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q lacks %q", note, want)
		}
	}
}

// A build that did not succeed: the version it published is excluded from
// latest (or deleted, by the setting); a version of the same name
// published before the build started is not its own and is left alone.
func TestAfterBuildUnfinishedVersions(t *testing.T) {
	start := time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)
	mine := v("1.0.1")
	mine.PublishedAt = start.Add(5 * time.Minute)
	old := v("1.0.0")
	old.PublishedAt = start.Add(-24 * time.Hour)
	t.Run("exclude", func(t *testing.T) {
		m := &memGallery{vs: []goldenpipe.GalleryVersion{old, mine}}
		s := &Service{Gallery: m}
		note, err := s.AfterBuild(context.Background(), Finished{StartedAt: start,
			Assigned: []Assigned{{Image: img, Version: "1.0.1"}, {Image: img, Version: "1.0.0"}}})
		if err != nil || !m.vs[1].ExcludeFromLatest || m.vs[0].ExcludeFromLatest || !strings.Contains(note, "1.0.1 of g/avd excluded from latest") {
			t.Errorf("%q %v %+v", note, err, m.vs)
		}
	})
	t.Run("delete", func(t *testing.T) {
		m := &memGallery{vs: []goldenpipe.GalleryVersion{old, mine}}
		s := &Service{Gallery: m}
		note, err := s.AfterBuild(context.Background(), Finished{StartedAt: start, Delete: true,
			Outputs: []goldenpipe.RunOutput{{Name: "sig", ArtifactID: img + "/versions/1.0.1", State: "Failed"}}})
		if err != nil || len(m.vs) != 1 || m.vs[0].Name != "1.0.0" || !strings.Contains(note, "1.0.1 of g/avd deleted") {
			t.Errorf("%q %v %+v", note, err, m.vs)
		}
	})
}

// PlanVersions gives a named version that exists the next patch, leaves
// the rest of the template as it was (inline scripts unescaped), and
// leaves a template as written under asWritten.
func TestPlanVersions(t *testing.T) {
	m := &memGallery{vs: []goldenpipe.GalleryVersion{v("1.0.0"), v("1.0.1")}}
	s := &Service{Gallery: m, Docs: inmem.NewDocs()}
	rendered := []byte(`{"properties":{"customize":[{"type":"Shell","inline":["a && b < c"]}],"distribute":[{"type":"SharedImage","runOutputName":"sig","galleryImageId":"` + img + `/versions/1.0.0","versioning":{"scheme":"Latest","major":1}}]}}`)
	body, assigned, err := s.PlanVersions(context.Background(), "b-1", rendered, PolicyNextPatch)
	if err != nil || len(assigned) != 1 || assigned[0].Version != "1.0.2" || assigned[0].Image != img {
		t.Fatalf("%+v %v", assigned, err)
	}
	if !strings.Contains(string(body), `/versions/1.0.2"`) || strings.Contains(string(body), "versioning") || !strings.Contains(string(body), "a && b < c") {
		t.Errorf("body %s", body)
	}
	same, none, err := s.PlanVersions(context.Background(), "b-2", rendered, PolicyAsWritten)
	if err != nil || none != nil || string(same) != string(rendered) {
		t.Errorf("asWritten changed the template: %s %v", same, err)
	}
}
