package arm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The date functions of ARM templates (Microsoft Learn,
// template-functions-date): dateTimeAdd, dateTimeFromEpoch,
// dateTimeToEpoch and utcNow, with .NET's standard and custom date and
// time format strings in the invariant culture.
var dateFunctions = map[string]armFunc{
	"datetimeadd":       {min: 2, max: 3, call: dateTimeAddFn},
	"datetimetoepoch":   {min: 1, max: 1, call: dateTimeToEpochFn},
	"datetimefromepoch": {min: 1, max: 1, call: dateTimeFromEpochFn},
	"utcnow": {min: 0, max: 1, why: "its value changes on every deployment; give the value in the parameters file",
		call: func(ev *evaluator, a []*node, _ int) (*node, error) {
			format := ""
			if len(a) == 1 {
				f, err := wantString(a, 0)
				if err != nil {
					return nil, err
				}
				format = f
			}
			return ev.utcNow(format)
		}},
}

// utcNow is ARM's utcNow(format): allowed only in a parameter's
// defaultValue; here the scope's Now, in the format given (.NET's standard
// or custom date format; yyyyMMddTHHmmssZ by default).
func (ev *evaluator) utcNow(format string) (*node, error) {
	if ev.inDefault == 0 {
		return nil, exprErrorf("utcNow() can be used only in a parameter's defaultValue (ARM's rule)")
	}
	if ev.scope.Now.IsZero() {
		return nil, errUnsupported
	}
	if format == "" {
		format = "yyyyMMddTHHmmssZ"
	}
	s, err := formatDate(ev.scope.Now.UTC(), format)
	if err != nil {
		return nil, err
	}
	return strNode(s), nil
}

// dateTimeAddDefault is how dateTimeAdd writes its result when no format
// is given: the page's table prints its results so (base 2020-04-07
// 14:53:14Z plus PT1H is "4/7/2020 3:53:14 PM").
const dateTimeAddDefault = "M/d/yyyy h:mm:ss tt"

// dateTimeAddFn is dateTimeAdd(base, duration, [format]): an ISO 8601
// duration added to a date and time; a year is 365 days and a month 30
// days, whatever the calendar (the page's Remarks).
func dateTimeAddFn(_ *evaluator, a []*node, _ int) (*node, error) {
	base, err := wantString(a, 0)
	if err != nil {
		return nil, err
	}
	dur, err := wantString(a, 1)
	if err != nil {
		return nil, err
	}
	format := dateTimeAddDefault
	if len(a) == 3 {
		if format, err = wantString(a, 2); err != nil {
			return nil, err
		}
	}
	t, err := parseDate(base)
	if err != nil {
		return nil, err
	}
	d, err := parseDuration(dur)
	if err != nil {
		return nil, err
	}
	out, err := formatDate(t.Add(d), format)
	if err != nil {
		return nil, err
	}
	return strNode(out), nil
}

func dateTimeToEpochFn(_ *evaluator, a []*node, _ int) (*node, error) {
	s, err := wantString(a, 0)
	if err != nil {
		return nil, err
	}
	t, err := parseDate(s)
	if err != nil {
		return nil, err
	}
	return intNode(t.Unix()), nil
}

// dateTimeFromEpochFn is dateTimeFromEpoch(epochTime): "yyyy-MM-ddTHH:mm:ssZ"
// (the page's example: 1683040573 is "2023-05-02T15:16:13Z").
func dateTimeFromEpochFn(_ *evaluator, a []*node, _ int) (*node, error) {
	n, err := wantInt(a, 0)
	if err != nil {
		return nil, err
	}
	if n < -62135596800 || n > 253402300799 { // years 1 to 9999, .NET's DateTime
		return nil, fmt.Errorf("%d is outside the years 1 to 9999", n)
	}
	return strNode(time.Unix(n, 0).UTC().Format("2006-01-02T15:04:05Z")), nil
}

// dateLayouts are the forms of date and time parseDate reads: ISO 8601
// (with "T" or a space, with or without fractions and zone, utcNow()'s
// basic form), and the invariant and en-US general forms dateTimeAdd
// writes by default. A time without a zone is UTC.
var dateLayouts = []string{
	time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05Z",
	"2006-01-02 15:04:05", "2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02",
	"20060102T150405Z", "20060102T150405", "20060102",
	"1/2/2006 3:04:05 PM", "01/02/2006 15:04:05", "1/2/2006", "01/02/2006",
}

func parseDate(s string) (time.Time, error) {
	t := strings.TrimSpace(s)
	for _, l := range dateLayouts {
		if v, err := time.Parse(l, t); err == nil {
			return v.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time ARM reads (ISO 8601, e.g. 2020-04-07T14:53:14Z)", clip(s))
}

// parseDuration reads an ISO 8601 duration: [-]P[nY][nM][nW][nD][T[nH][nM][n[.n]S]],
// a year being 365 days and a month 30.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not an ISO 8601 duration (e.g. P1D, PT1H, -P9D, P3Y)", clip(s))
	d := strings.ToUpper(strings.TrimSpace(s))
	neg := strings.HasPrefix(d, "-")
	d = strings.TrimPrefix(strings.TrimPrefix(d, "-"), "+")
	if !strings.HasPrefix(d, "P") || len(d) < 3 && !strings.HasPrefix(d, "P0") && len(d) < 2 {
		return 0, bad
	}
	total, ok := durationSeconds(d[1:])
	if !ok || total > 10000*365*24*3600 {
		return 0, bad
	}
	if neg {
		total = -total
	}
	return time.Duration(math.Round(total * float64(time.Second))), nil
}

// durationDateUnits and durationTimeUnits are the seconds of an ISO 8601
// duration's units before and after its T (a year 365 days, a month 30).
var (
	durationDateUnits = map[byte]float64{'Y': 365 * 24 * 3600, 'M': 30 * 24 * 3600, 'W': 7 * 24 * 3600, 'D': 24 * 3600}
	durationTimeUnits = map[byte]float64{'H': 3600, 'M': 60, 'S': 1}
)

// durationSeconds sums the components of an ISO 8601 duration after its
// P (nY…nD, then T and nH…nS); false when it holds none or is not one.
func durationSeconds(d string) (float64, bool) {
	var total float64
	inTime, any := false, false
	for len(d) > 0 {
		if d[0] == 'T' {
			if inTime {
				return 0, false
			}
			inTime = true
			d = d[1:]
			continue
		}
		v, k, ok := durationNumber(d)
		if !ok {
			return 0, false
		}
		units := durationDateUnits
		if inTime {
			units = durationTimeUnits
		}
		unit, ok := units[d[k]]
		if !ok {
			return 0, false
		}
		total += v * unit
		any = true
		d = d[k+1:]
	}
	return total, any
}

// durationNumber reads the number that starts a duration component (a
// decimal point or comma allowed) and its length k; false when there is
// none or no unit follows it.
func durationNumber(d string) (v float64, k int, ok bool) {
	for k < len(d) && (d[k] >= '0' && d[k] <= '9' || d[k] == '.' || d[k] == ',') {
		k++
	}
	if k == 0 || k == len(d) {
		return 0, 0, false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(d[:k], ",", "."), 64)
	if err != nil {
		return 0, 0, false
	}
	return v, k, true
}

// standardDate are .NET's standard date and time format strings in the
// invariant culture, as custom ones.
var standardDate = map[byte]string{
	'd': "MM/dd/yyyy", 'D': "dddd, dd MMMM yyyy", 'f': "dddd, dd MMMM yyyy HH:mm", 'F': "dddd, dd MMMM yyyy HH:mm:ss",
	'g': "MM/dd/yyyy HH:mm", 'G': "MM/dd/yyyy HH:mm:ss", 'm': "MMMM dd", 'M': "MMMM dd",
	'o': "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK", 'O': "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
	'r': "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'", 'R': "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
	's': "yyyy'-'MM'-'dd'T'HH':'mm':'ss", 't': "HH:mm", 'T': "HH:mm:ss", 'u': "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
	'U': "dddd, dd MMMM yyyy HH:mm:ss", 'y': "yyyy MMMM", 'Y': "yyyy MMMM",
}

// formatDate writes t (UTC) with a .NET date and time format string: one
// letter is a standard format (invariant culture: 'd' is MM/dd/yyyy); more
// is a custom one (yyyy, yy, MMMM, MMM, MM, M, dddd, ddd, dd, d, HH, H, hh,
// h, mm, m, ss, s, f…, F…, tt, t, K, z…, : and /, 'quoted', "quoted" and
// \-escaped literals, and % before a lone specifier).
func formatDate(t time.Time, format string) (string, error) {
	if len(format) == 1 {
		std, ok := standardDate[format[0]]
		if !ok {
			return "", fmt.Errorf("%q is not a .NET standard date and time format", format)
		}
		format = std
	}
	var b strings.Builder
	for i := 0; i < len(format); {
		c := format[i]
		n := runLength(format, i)
		switch spec, ok := dateSpecifiers[c]; {
		case ok:
			spec(&b, t, n)
		case c == 'f' || c == 'F':
			if n > 7 {
				return "", fmt.Errorf("%q has more than 7 %c", format, c)
			}
			writeFraction(&b, t, c, n)
		default:
			next, err := writeDateLiteral(&b, format, i)
			if err != nil {
				return "", err
			}
			i = next
			continue
		}
		i += n
		if b.Len() > maxExprString {
			return "", fmt.Errorf("the result is over %d bytes", maxExprString)
		}
	}
	return b.String(), nil
}

// runLength is the length of the run of format[i] that starts at i.
func runLength(format string, i int) int {
	k := i
	for k < len(format) && format[k] == format[i] {
		k++
	}
	return k - i
}

// padInt writes v with at least n digits.
func padInt(b *strings.Builder, v, n int) { fmt.Fprintf(b, "%0*d", n, v) }

// dateSpecifiers write the .NET custom date and time specifiers other than
// the fraction (f, F), given the length n of the specifier's run.
var dateSpecifiers = map[byte]func(b *strings.Builder, t time.Time, n int){
	'y': writeYear,
	'M': writeMonth,
	'd': writeDay,
	'H': func(b *strings.Builder, t time.Time, n int) { padInt(b, t.Hour(), min(n, 2)) },
	'h': func(b *strings.Builder, t time.Time, n int) {
		h := t.Hour() % 12
		if h == 0 {
			h = 12
		}
		padInt(b, h, min(n, 2))
	},
	'm': func(b *strings.Builder, t time.Time, n int) { padInt(b, t.Minute(), min(n, 2)) },
	's': func(b *strings.Builder, t time.Time, n int) { padInt(b, t.Second(), min(n, 2)) },
	't': writeAMPM,
	'K': func(b *strings.Builder, _ time.Time, _ int) { b.WriteString("Z") },
	'z': writeOffset,
}

// writeYear writes y (the year's last two digits, unpadded), yy (padded)
// or yyyy… (the year, padded to the run).
func writeYear(b *strings.Builder, t time.Time, n int) {
	switch {
	case n == 1:
		b.WriteString(strconv.Itoa(t.Year() % 100))
	case n == 2:
		padInt(b, t.Year()%100, 2)
	default:
		padInt(b, t.Year(), n)
	}
}

// writeMonth writes M, MM, MMM (the month's abbreviated name) or MMMM
// (its full name).
func writeMonth(b *strings.Builder, t time.Time, n int) {
	switch {
	case n == 1:
		b.WriteString(strconv.Itoa(int(t.Month())))
	case n == 2:
		padInt(b, int(t.Month()), 2)
	case n == 3:
		b.WriteString(t.Month().String()[:3])
	default:
		b.WriteString(t.Month().String())
	}
}

// writeDay writes d, dd, ddd (the weekday's abbreviated name) or dddd
// (its full name).
func writeDay(b *strings.Builder, t time.Time, n int) {
	switch {
	case n == 1:
		b.WriteString(strconv.Itoa(t.Day()))
	case n == 2:
		padInt(b, t.Day(), 2)
	case n == 3:
		b.WriteString(t.Weekday().String()[:3])
	default:
		b.WriteString(t.Weekday().String())
	}
}

// writeAMPM writes tt (AM or PM) or t (A or P).
func writeAMPM(b *strings.Builder, t time.Time, n int) {
	ampm := "AM"
	if t.Hour() >= 12 {
		ampm = "PM"
	}
	if n == 1 {
		ampm = ampm[:1]
	}
	b.WriteString(ampm)
}

// writeOffset writes z, zz or zzz…: the UTC offset, which is zero.
func writeOffset(b *strings.Builder, _ time.Time, n int) {
	switch {
	case n == 1:
		b.WriteString("+0")
	case n == 2:
		b.WriteString("+00")
	default:
		b.WriteString("+00:00")
	}
}

// writeFraction writes n (at most 7) digits of the second's fraction: f
// keeps trailing zeros, F drops them, and the point before them when none
// is left.
func writeFraction(b *strings.Builder, t time.Time, c byte, n int) {
	frac := fmt.Sprintf("%07d", t.Nanosecond()/100)[:n]
	if c == 'F' {
		frac = strings.TrimRight(frac, "0")
		if frac == "" && b.Len() > 0 && strings.HasSuffix(b.String(), ".") {
			s := b.String()[:b.Len()-1] // .NET drops the point before empty F digits
			b.Reset()
			b.WriteString(s)
		}
	}
	b.WriteString(frac)
}

// writeDateLiteral writes what format[i] starts that is no specifier: a
// quoted string, a \-escaped character, nothing for %, else the character
// itself; it returns where the format goes on.
func writeDateLiteral(b *strings.Builder, format string, i int) (int, error) {
	switch c := format[i]; c {
	case '\'', '"':
		k := strings.IndexByte(format[i+1:], c)
		if k < 0 {
			return 0, fmt.Errorf("%q has a quote that is not closed", format)
		}
		b.WriteString(format[i+1 : i+1+k])
		return i + k + 2, nil
	case '\\':
		if i+1 < len(format) {
			b.WriteByte(format[i+1])
		}
		return i + 2, nil
	case '%':
		return i + 1, nil
	default:
		b.WriteByte(c)
		return i + 1, nil
	}
}
