package ncrontab

import (
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestNext: the examples of the Azure Functions timer trigger docs and the
// app's own schedules.
func TestNext(t *testing.T) {
	tests := []struct{ expr, after, want string }{
		{"0 */5 * * * *", "2024-12-10T02:03:10Z", "2024-12-10T02:05:00Z"},
		{"0 0 * * * *", "2024-12-10T02:00:00Z", "2024-12-10T03:00:00Z"},
		{"0 0 */2 * * *", "2024-12-10T03:00:00Z", "2024-12-10T04:00:00Z"},
		{"0 0 9-17 * * *", "2024-12-10T17:00:00Z", "2024-12-11T09:00:00Z"},
		{"0 30 9 * * *", "2024-12-10T09:30:00Z", "2024-12-11T09:30:00Z"},
		{"0 30 9 * * 1-5", "2024-12-13T10:00:00Z", "2024-12-16T09:30:00Z"}, // Friday → Monday
		{"0 30 9 * Jan Mon", "2024-12-10T00:00:00Z", "2025-01-06T09:30:00Z"},
		{"0 0 2 * * *", "2024-12-10T01:59:59Z", "2024-12-10T02:00:00Z"}, // REBUILD_SCHEDULE
		{"0 0 2 * * *", "2024-12-10T02:00:00Z", "2024-12-11T02:00:00Z"},
		{"0 */2 * * * *", "2024-12-10T02:01:30Z", "2024-12-10T02:02:00Z"}, // MONITOR_SCHEDULE
		{"*/15 * * * * *", "2024-12-10T02:00:14Z", "2024-12-10T02:00:15Z"},
		{"5/20 * * * * *", "2024-12-10T02:00:26Z", "2024-12-10T02:00:45Z"},
		{"0 0 0 29 Feb *", "2025-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"0 0 0 13 * Fri", "2024-12-10T00:00:00Z", "2024-12-13T00:00:00Z"}, // both must match
		{"0 0 0 1,15 * *", "2024-12-10T00:00:00Z", "2024-12-15T00:00:00Z"},
		{"0 0 0 31 * *", "2024-11-01T00:00:00Z", "2024-12-31T00:00:00Z"},
		{"00:05:00", "2024-12-10T02:00:00Z", "2024-12-10T02:05:00Z"},
		{"1.00:00:00", "2024-12-10T02:00:00Z", "2024-12-11T02:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.expr+" after "+tt.after, func(t *testing.T) {
			s, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(at(tt.after)); !got.Equal(at(tt.want)) {
				t.Errorf("Next = %s, want %s", got.Format(time.RFC3339), tt.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"", "empty"},
		{"0 */5 * * *", "has 5 fields"},
		{"60 * * * * *", "outside 0-59"},
		{"0 0 24 * * *", "outside 0-23"},
		{"0 0 0 0 * *", "outside 1-31"},
		{"0 0 0 * 13 *", "outside 1-12"},
		{"0 0 0 * * 7", "outside 0-6"},
		{"0 0 0 * * Funday", "not a number or a name"},
		{"0 0 5-1 * * *", "runs backwards"},
		{"*/0 * * * * *", "step"},
		{"0 0 0 30 Feb *", "never fires"},
		{"25:00:00", "hours 0-23"},
		{"00:00:00", "not a positive interval"},
		{strings.Repeat("1,", 300) + "1 * * * * *", "over 512"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := Parse(tt.expr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzParse: any text is read or refused, and a schedule read moves
// forward.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0 */5 * * * *", "0 30 9 * Jan Mon", "1.02:03:04", "0 0 0 29 Feb *", "5/20 1-3,7 */2 * * Sun-Sat"} {
		f.Add(s)
	}
	from := at("2024-12-10T02:00:00Z")
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr)
		if err != nil {
			return
		}
		if n := s.Next(from); !n.IsZero() && !n.After(from) {
			t.Errorf("%q: Next(%s) = %s, not after", expr, from, n)
		}
	})
}
