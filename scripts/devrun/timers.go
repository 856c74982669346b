package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/goldenpipe/goldenpipe/internal/ncrontab"
)

// timer is a timer-triggered function with its schedule.
type timer struct {
	Function string
	Expr     string // as function.json says it, %SETTING% substituted
	Schedule ncrontab.Schedule
}

var settingRef = regexp.MustCompile(`%([A-Za-z0-9_]+)%`)

// readTimers reads the timer triggers of functions/<Name>/function.json,
// substituting %SETTING% from the settings as the host does.
func readTimers(root string, lookup func(string) (string, bool)) ([]timer, error) {
	files, err := filepath.Glob(filepath.Join(root, "functions", "*", "function.json"))
	if err != nil {
		return nil, err
	}
	var out []timer
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var fn struct {
			Bindings []struct {
				Type     string `json:"type"`
				Schedule string `json:"schedule"`
			} `json:"bindings"`
		}
		if err := json.Unmarshal(b, &fn); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, bd := range fn.Bindings {
			if bd.Type != "timerTrigger" {
				continue
			}
			var missing []string
			expr := settingRef.ReplaceAllStringFunc(bd.Schedule, func(ref string) string {
				v, ok := lookup(ref[1 : len(ref)-1])
				if !ok {
					missing = append(missing, ref)
				}
				return v
			})
			if len(missing) > 0 {
				return nil, fmt.Errorf("%s: the schedule names %v, which the settings do not define", f, missing)
			}
			s, err := ncrontab.Parse(expr)
			if err != nil {
				return nil, fmt.Errorf("%s: schedule %q: %w", f, bd.Schedule, err)
			}
			out = append(out, timer{Function: filepath.Base(filepath.Dir(f)), Expr: expr, Schedule: s})
		}
	}
	return out, nil
}

// speedClock is a clock that runs speed times faster than the wall clock
// from start, where it reads from.
type speedClock struct {
	wall0, from time.Time
	speed       float64
}

func (c speedClock) now() time.Time {
	return c.from.Add(time.Duration(float64(time.Since(c.wall0)) * c.speed))
}

// wait is how long on the wall clock until t on this clock.
func (c speedClock) wait(t time.Time) time.Duration {
	return time.Duration(float64(t.Sub(c.now())) / c.speed)
}

// hostTime is how the host writes times in a timer payload (no zone).
const hostTime = "2006-01-02T15:04:05"

// timerBody is the payload the host sends a timer function: the schedule
// status and sys.UtcNow (testdata/timer/normal.json's shape).
func timerBody(function string, last, now, next time.Time) []byte {
	status := any(nil)
	if !last.IsZero() {
		status = map[string]string{"Last": last.Format(hostTime), "Next": next.Format(hostTime), "LastUpdated": last.Format(hostTime)}
	}
	b, _ := json.Marshal(map[string]any{
		"Data":     map[string]any{"timer": map[string]any{"Schedule": map[string]any{"AdjustForDST": true}, "ScheduleStatus": status, "IsPastDue": false}},
		"Metadata": map[string]any{"sys": map[string]string{"MethodName": function, "UtcNow": now.UTC().Format(hostTime), "RandGuid": uuid.NewString()}},
	})
	return b
}

// runTimers fires each timer at its schedule's occurrences on the clock,
// until ctx ends; fire gets the function and the payload.
func runTimers(ctx context.Context, timers []timer, clock speedClock, fire func(function string, body []byte)) {
	if len(timers) == 0 {
		return
	}
	next := make([]time.Time, len(timers))
	last := make([]time.Time, len(timers))
	for i, t := range timers {
		next[i] = t.Schedule.Next(clock.now())
	}
	for {
		first := 0
		for i := range timers {
			if next[i].Before(next[first]) {
				first = i
			}
		}
		if next[first].IsZero() {
			return // no occurrence left
		}
		w := time.NewTimer(max(clock.wait(next[first]), 0))
		select {
		case <-ctx.Done():
			w.Stop()
			return
		case <-w.C:
		}
		at := next[first]
		next[first] = timers[first].Schedule.Next(at)
		fire(timers[first].Function, timerBody(timers[first].Function, last[first], at, next[first]))
		last[first] = at
	}
}
