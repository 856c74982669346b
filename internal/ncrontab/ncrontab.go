// Package ncrontab reads the schedules of Azure Functions timer triggers,
// as the host reads them: an NCRONTAB expression of six fields
// ({second} {minute} {hour} {day} {month} {day-of-week}: numbers, `*`,
// ranges `a-b`, lists `a,b`, steps `*/n` or `a-b/n`, month and day names
// Jan–Dec and Sun–Sat, days of the week 0–6 with Sunday 0), or a TimeSpan
// (`hh:mm:ss`, `d.hh:mm:ss`) that fires at that interval. Both a day of the
// month and a day of the week must match when both are restricted, as in
// NCrontab. Times are UTC.
package ncrontab

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule tells when a timer fires next.
type Schedule interface {
	// Next returns the first occurrence strictly after t.
	Next(t time.Time) time.Time
}

// maxExpr bounds an expression's length.
const maxExpr = 512

// Parse reads a schedule.
func Parse(expr string) (Schedule, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, fmt.Errorf("empty schedule")
	}
	if len(expr) > maxExpr {
		return nil, fmt.Errorf("schedule is %d characters, over %d", len(expr), maxExpr)
	}
	if strings.Contains(expr, ":") && !strings.Contains(expr, " ") {
		return parseTimeSpan(expr)
	}
	fields := strings.Fields(expr)
	if len(fields) != 6 {
		return nil, fmt.Errorf("%q has %d fields; NCRONTAB has six: {second} {minute} {hour} {day} {month} {day-of-week}", expr, len(fields))
	}
	var c cron
	specs := []struct {
		set      *[]bool
		lo, hi   int
		names    []string
		star     *bool
		fieldFor string
	}{
		{&c.sec, 0, 59, nil, nil, "second"},
		{&c.min, 0, 59, nil, nil, "minute"},
		{&c.hour, 0, 23, nil, nil, "hour"},
		{&c.dom, 1, 31, nil, &c.domStar, "day"},
		{&c.month, 1, 12, months, nil, "month"},
		{&c.dow, 0, 6, days, &c.dowStar, "day-of-week"},
	}
	for i, sp := range specs {
		set, star, err := parseField(fields[i], sp.lo, sp.hi, sp.names)
		if err != nil {
			return nil, fmt.Errorf("%s field %q: %w", sp.fieldFor, fields[i], err)
		}
		*sp.set = set
		if sp.star != nil {
			*sp.star = star
		}
	}
	if !c.possible() {
		return nil, fmt.Errorf("%q never fires", expr)
	}
	return &c, nil
}

var (
	months = []string{"", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	days   = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

// parseField reads one field into the set of values it allows; star says
// it is `*` (every value).
func parseField(f string, lo, hi int, names []string) ([]bool, bool, error) {
	set := make([]bool, hi+1)
	star := f == "*"
	for _, part := range strings.Split(f, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 || n > hi+1 {
				return nil, false, fmt.Errorf("step %q must be a number from 1 to %d", stepText, hi+1)
			}
			step = n
		}
		from, to := lo, hi
		switch {
		case rng == "*":
		default:
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if from, err = value(a, lo, hi, names); err != nil {
				return nil, false, err
			}
			to = from
			if isRange {
				if to, err = value(b, lo, hi, names); err != nil {
					return nil, false, err
				}
				if to < from {
					return nil, false, fmt.Errorf("range %q runs backwards", rng)
				}
			} else if hasStep {
				to = hi // a/n: from a to the end, every n
			}
		}
		for v := from; v <= to; v += step {
			set[v] = true
		}
	}
	return set, star, nil
}

// value reads a number or a name within [lo, hi].
func value(s string, lo, hi int, names []string) (int, error) {
	for i, n := range names {
		if n != "" && strings.EqualFold(s, n) {
			return i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number%s", s, nameHint(names))
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%d is outside %d-%d", v, lo, hi)
	}
	return v, nil
}

func nameHint(names []string) string {
	if names == nil {
		return ""
	}
	return " or a name (" + strings.Join(names[len(names)-7:], ", ") + ", …)"
}

// cron is a six-field schedule.
type cron struct {
	sec, min, hour, dom, month, dow []bool
	domStar, dowStar                bool
}

// possible reports a schedule that fires at some time (not 31 February
// only).
func (c *cron) possible() bool {
	maxDays := []int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for m := 1; m <= 12; m++ {
		if !c.month[m] {
			continue
		}
		for d := 1; d <= maxDays[m]; d++ {
			if c.dom[d] {
				return true
			}
		}
	}
	return false
}

func (c *cron) dayMatches(t time.Time) bool {
	return c.dom[t.Day()] && c.dow[int(t.Weekday())]
}

// Next returns the first second after t the schedule allows, skipping
// whole months, days, hours and minutes that do not match; within eight
// years (a possible schedule with a day of the week fires within that).
func (c *cron) Next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Second).Add(time.Second)
	limit := t.AddDate(8, 0, 0)
	for t.Before(limit) {
		switch {
		case !c.month[int(t.Month())]:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case !c.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
		case !c.hour[t.Hour()]:
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, time.UTC)
		case !c.min[t.Minute()]:
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()+1, 0, 0, time.UTC)
		case !c.sec[t.Second()]:
			t = t.Add(time.Second)
		default:
			return t
		}
	}
	return time.Time{}
}

// every is a TimeSpan schedule.
type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.UTC().Add(time.Duration(e)) }

// parseTimeSpan reads hh:mm:ss or d.hh:mm:ss.
func parseTimeSpan(s string) (Schedule, error) {
	daysPart, rest := "0", s
	if d, r, ok := strings.Cut(s, "."); ok && !strings.Contains(d, ":") {
		daysPart, rest = d, r
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return nil, fmt.Errorf("TimeSpan %q must be hh:mm:ss or d.hh:mm:ss", s)
	}
	var n [4]int
	for i, p := range append([]string{daysPart}, parts...) {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("TimeSpan %q: %q is not a number", s, p)
		}
		n[i] = v
	}
	if n[1] > 23 || n[2] > 59 || n[3] > 59 {
		return nil, fmt.Errorf("TimeSpan %q: hours 0-23, minutes and seconds 0-59", s)
	}
	d := time.Duration(n[0])*24*time.Hour + time.Duration(n[1])*time.Hour + time.Duration(n[2])*time.Minute + time.Duration(n[3])*time.Second
	if d <= 0 {
		return nil, fmt.Errorf("TimeSpan %q is not a positive interval", s)
	}
	return every(d), nil
}
