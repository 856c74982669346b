package builds

import (
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/gallery"
)

func finished(state State, done ...string) Build {
	return inState(state, func(b *Build) {
		b.FinishedAt = t0.Add(-time.Minute)
		b.Done = append(b.Done, done...)
	})
}

func TestDecideFinished(t *testing.T) {
	all := []string{"recorded", "released", "event:succeeded", "indexed"}
	failedDone := []string{"released", "event:failed", "indexed"}
	runRows(t, []row{
		{"succeeded: recorded on its template first", finished(StateSucceeded), Observation{}, t0, check{state: StateSucceeded, step: ActRecord}},
		{"then the lane and slot freed", finished(StateSucceeded, "recorded"), Observation{}, t0, check{state: StateSucceeded, step: ActRelease}},
		{"then its events", finished(StateSucceeded, "recorded", "released"), Observation{}, t0, check{state: StateSucceeded, step: ActPublish, outHas: "succeeded"}},
		{"then the recent list", finished(StateSucceeded, "recorded", "released", "event:succeeded"), Observation{}, t0, check{state: StateSucceeded, step: ActIndex}},
		{"then the template is deleted", finished(StateSucceeded, all...), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, nil)}, t0,
			check{state: StateSucceeded, changed: true, effects: []ActionKind{ActCleanup}, outHas: "deleting"}},
		{"a delete just sent: wait for it", finished(StateSucceeded, all...), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, nil)}, t0,
			check{state: StateSucceeded, changed: true, effects: []ActionKind{ActCleanup}, outHas: "deleting"}},
		{"the template is gone: cleaned", finished(StateSucceeded, all...), Observation{TemplateMissing: true}, t0,
			check{state: StateSucceeded, changed: true, outHas: "deleted"}},
		{"cleaned: dropped from the builds in flight", finished(StateSucceeded, append(all, "cleaned")...), Observation{}, t0,
			check{state: StateSucceeded, step: ActUnmark, outHas: "finished"}},
		{"not looked at yet", finished(StateSucceeded, all...), Observation{}, t0, check{state: StateSucceeded, outHas: "looking at the image template"}},
		{"a failed build keeps its template for debugging", finished(StateFailed, failedDone...), Observation{}, t0,
			check{state: StateFailed, requeue: true, outHas: "kept for debugging"}},
		{"then deletes it", finished(StateFailed, failedDone...), Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, nil)}, t0.Add(2 * time.Hour),
			check{state: StateFailed, changed: true, effects: []ActionKind{ActCleanup}}},
		{"a delete refused while busy: tried later", finished(StateSucceeded, all...), Observation{Last: outcome(ActCleanup, goldenpipe.ECONFLICT, "OperationNotAllowed")}, t0,
			check{state: StateSucceeded, changed: true, lastHas: "OperationNotAllowed", requeue: true, outHas: "busy"}},
		{"refused for longer than the bound: left for an operator", func() Build {
			b := finished(StateSucceeded, all...)
			b.DeleteRefusedSince = t0.Add(-3 * time.Hour)
			return b
		}(), Observation{Last: outcome(ActCleanup, goldenpipe.ECONFLICT, "OperationNotAllowed")}, t0,
			check{state: StateSucceeded, changed: true, outHas: "cleanup given up"}},
		{"superseded: nothing to delete", finished(StateSuperseded, "released", "event:canceled", "indexed"), Observation{}, t0,
			check{state: StateSuperseded, changed: true, step: ActUnmark}},
		{"rescue failed: the template is kept", finished(StateRescueFailed, "released", "event:vhd.rescue_failed", "event:failed", "indexed"), Observation{}, t0,
			check{state: StateRescueFailed, changed: true, step: ActUnmark}},
		// retention never holds a slot (issue 23): the lane and slot are
		// freed before the gallery is kept
		{"a gallery version published: the lane and slot first", withGallery(finished(StateSucceeded, "recorded")), Observation{}, t0,
			check{state: StateSucceeded, step: ActRelease}},
		{"then the gallery is kept", withGallery(finished(StateSucceeded, "recorded", "released")), Observation{}, t0,
			check{state: StateSucceeded, step: ActGallery}},
		{"a failed build that still published (continueDistributeOnFailure): the gallery after the slot", withGallery(finished(StateFailed, "released")), Observation{}, t0,
			check{state: StateFailed, step: ActGallery}},
		{"a canceled build given a version by the policy: its version is cleaned up", func() Build {
			b := finished(StateCanceled, "released")
			b.StartedAt = t0.Add(-time.Hour)
			b.GalleryVersions = []gallery.Assigned{{Image: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/avd", Version: "1.0.4"}}
			return b
		}(), Observation{}, t0, check{state: StateCanceled, step: ActGallery}},
		{"a managed image is no gallery version", func() Build {
			b := finished(StateSucceeded, "recorded")
			b.Outputs = []goldenpipe.RunOutput{{Name: "img", ArtifactID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/win11"}}
			return b
		}(), Observation{}, t0, check{state: StateSucceeded, step: ActRelease}},
	})
}

func withGallery(b Build) Build {
	b.Outputs = []goldenpipe.RunOutput{{Name: "sig", ArtifactID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/avd/versions/1.0.3"}}
	return b
}

// A delete just requested is not sent again before ReissueAfter.
func TestCleanupIsNotRepeatedWhileInFlight(t *testing.T) {
	b := finished(StateSucceeded, "recorded", "released", "event:succeeded", "indexed")
	b.CleanupRequestedAt = t0.Add(-time.Second)
	d := Decide(b, Observation{Template: tpl(goldenpipe.ProvisioningSucceeded, nil)}, t0, testCfg)
	if len(d.Effects) != 0 || d.Result.RequeueAfter <= 0 {
		t.Errorf("%+v", d)
	}
}
