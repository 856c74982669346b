package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/host"
)

// TestTimersFollowTheirSchedules: the timers of functions/*/function.json,
// with %SETTING% from the settings, fire on their NCRONTAB schedules: on a
// clock a million times faster, NightlyRebuild fires at 02:00:00 of that
// clock and BuildMonitor on even minutes, each with the payload the host
// sends (which the app's own decoder reads).
func TestTimersFollowTheirSchedules(t *testing.T) {
	lookup := config.MapLookup(map[string]string{"REBUILD_SCHEDULE": "0 0 2 * * *", "MONITOR_SCHEDULE": "0 */2 * * * *"})
	timers, err := readTimers("../..", lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(timers) != 2 {
		t.Fatalf("%d timers, want BuildMonitor and NightlyRebuild", len(timers))
	}
	from := time.Date(2024, 12, 10, 1, 50, 0, 0, time.UTC) // ten minutes before the night's build
	var mu sync.Mutex
	var fired []time.Time
	var names []string
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runTimers(ctx, timers, speedClock{wall0: time.Now(), from: from, speed: 1e6}, func(function string, body []byte) {
			var inv host.Invocation
			if err := json.Unmarshal(body, &inv); err != nil {
				t.Errorf("payload: %v", err)
			}
			raw, err := inv.Binding("timer")
			if err == nil {
				_, err = host.DecodeTimer(raw)
			}
			sys, serr := inv.Sys()
			if err != nil || serr != nil || sys.UtcNow.IsZero() {
				t.Errorf("the app's decoders refuse the payload: %v, %v\n%s", err, serr, body)
			}
			mu.Lock()
			defer mu.Unlock()
			fired, names = append(fired, sys.UtcNow.Time), append(names, function)
			if function == "NightlyRebuild" {
				cancel()
			}
		})
	}()
	<-done
	mu.Lock()
	defer mu.Unlock()
	var nightly *time.Time
	monitors := 0
	for i, n := range names {
		switch n {
		case "NightlyRebuild":
			nightly = &fired[i]
		case "BuildMonitor":
			monitors++
			if m := fired[i]; m.Minute()%2 != 0 || m.Second() != 0 {
				t.Errorf("BuildMonitor fired at %s", m)
			}
		}
	}
	if nightly == nil || !nightly.Equal(time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("NightlyRebuild fired at %v, want 2024-12-10 02:00:00 (fired: %s)", nightly, strings.Join(names, ", "))
	}
	if monitors < 4 {
		t.Errorf("BuildMonitor fired %d times in the ten minutes before 02:00, want 5", monitors)
	}
}

func TestTimersRefuseABadSchedule(t *testing.T) {
	if _, err := readTimers("../..", config.MapLookup(map[string]string{"REBUILD_SCHEDULE": "0 0 25 * * *", "MONITOR_SCHEDULE": "0 */2 * * * *"})); err == nil ||
		!strings.Contains(err.Error(), "NightlyRebuild") || !strings.Contains(err.Error(), "outside 0-23") {
		t.Errorf("err = %v", err)
	}
	if _, err := readTimers("../..", config.MapLookup(map[string]string{"MONITOR_SCHEDULE": "0 */2 * * * *"})); err == nil || !strings.Contains(err.Error(), "%REBUILD_SCHEDULE%") {
		t.Errorf("a missing setting: %v", err)
	}
}
