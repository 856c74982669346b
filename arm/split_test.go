package arm

import (
	"strings"
	"testing"
	"time"
)

// TestDurationComponents checks the pieces of parseDuration: the sum of
// an ISO 8601 duration's components after its P, with a year 365 days and
// a month 30.
func TestDurationComponents(t *testing.T) {
	const day = 24 * 3600
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"1D", day, true},
		{"1Y2M3W4D", 365*day + 2*30*day + 3*7*day + 4*day, true},
		{"T1H30M", 5400, true},
		{"1MT1M", 30*day + 60, true}, // M is months before T, minutes after
		{"T0,5S", 0.5, true},         // a decimal comma
		{"T1.5H", 5400, true},
		{"", 0, false},     // no component
		{"T", 0, false},    // T and nothing
		{"TT1H", 0, false}, // T twice
		{"1H", 0, false},   // hours before T
		{"T1D", 0, false},  // days after T
		{"D", 0, false},    // no number
		{"12", 0, false},   // no unit
		{"1..2D", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := durationSeconds(tt.in)
			if ok != tt.ok || got != tt.want {
				t.Errorf("durationSeconds(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
	for _, tt := range []struct {
		in string
		v  float64
		k  int
		ok bool
	}{{"12D", 12, 2, true}, {"1,25S", 1.25, 4, true}, {"D", 0, 0, false}, {"12", 0, 0, false}, {"1.2.3S", 0, 0, false}} {
		v, k, ok := durationNumber(tt.in)
		if v != tt.v || k != tt.k || ok != tt.ok {
			t.Errorf("durationNumber(%q) = %v, %d, %v; want %v, %d, %v", tt.in, v, k, ok, tt.v, tt.k, tt.ok)
		}
	}
}

// TestDateSpecifiers checks each .NET custom date specifier formatDate's
// table writes, and the literals around them. The expected texts are
// .NET's for the invariant culture (Custom date and time format strings,
// Microsoft Learn).
func TestDateSpecifiers(t *testing.T) {
	morning := time.Date(2009, 6, 1, 7, 5, 3, 120_000_000, time.UTC) // a Monday
	evening := time.Date(2025, 12, 25, 0, 0, 0, 0, time.UTC).Add(23*time.Hour + 45*time.Minute)
	tests := []struct {
		at     time.Time
		format string
		want   string
	}{
		{morning, "y yy yyy yyyy yyyyy", "9 09 2009 2009 02009"},
		{morning, "M MM MMM MMMM", "6 06 Jun June"},
		{morning, "d dd ddd dddd", "1 01 Mon Monday"},
		{morning, "H HH h hh m mm s ss", "7 07 7 07 5 05 3 03"},
		{evening, "H HH h hh t tt", "23 23 11 11 P PM"},
		{time.Date(2025, 1, 1, 0, 30, 0, 0, time.UTC), "h tt", "12 AM"},
		{morning, "f ff fff FFF ss.FFFFFFF", "1 12 120 12 03.12"},
		{time.Date(2025, 1, 1, 0, 0, 7, 0, time.UTC), "ss.FFF", "07"}, // the point goes with empty F digits
		{morning, "K z zz zzz", "Z +0 +00 +00:00"},
		{morning, `'y' "M" \d %d`, "y M d 1"},
		{morning, "yyyy-MM-ddTHH:mm", "2009-06-01T07:05"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			got, err := formatDate(tt.at, tt.format)
			if err != nil || got != tt.want {
				t.Errorf("formatDate(%s, %q) = %q, %v; want %q", tt.at, tt.format, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"ffffffff", "'open", "q"} {
		if got, err := formatDate(morning, bad); err == nil {
			t.Errorf("formatDate(%q) = %q, want an error", bad, got)
		}
	}
}

// TestWriteDateLiteral checks where the format goes on after a literal.
func TestWriteDateLiteral(t *testing.T) {
	var open strings.Builder
	if _, err := writeDateLiteral(&open, "'open", 0); err == nil {
		t.Error("an unclosed quote is no error")
	}
	tests := []struct {
		format string
		i      int
		want   string
		next   int
	}{
		{"'abc'd", 0, "abc", 5},
		{`x"q"`, 1, "q", 4},
		{`\d`, 0, "d", 2},
		{`\`, 0, "", 2},
		{"%d", 0, "", 1},
		{"-", 0, "-", 1},
	}
	for _, tt := range tests {
		var b strings.Builder
		next, err := writeDateLiteral(&b, tt.format, tt.i)
		if err != nil || b.String() != tt.want || next != tt.next {
			t.Errorf("writeDateLiteral(%q, %d) = %q, %d, %v; want %q, %d", tt.format, tt.i, b.String(), next, err, tt.want, tt.next)
		}
	}
}

// TestNumberSpec checks the pieces of customNumber: what a custom numeric
// format string asks for, the digits it writes, and where they stand.
func TestNumberSpec(t *testing.T) {
	specs := []struct {
		spec string
		want numberSpec
	}{
		{"#,##0.00", numberSpec{intPH: 4, firstZero: 4, fracZero: 2, fracAll: 2, grouped: true}},
		{"0.0#", numberSpec{intPH: 1, firstZero: 1, fracZero: 1, fracAll: 2}},
		{"##", numberSpec{intPH: 2}},
		{"0%", numberSpec{intPH: 1, firstZero: 1, percent: true}},
		{`'0.0' #\0`, numberSpec{intPH: 1}},        // literals hold no placeholders
		{",0", numberSpec{intPH: 1, firstZero: 1}}, // a comma before the placeholders groups nothing
	}
	for _, tt := range specs {
		if got := scanNumberSpec(tt.spec); got != tt.want {
			t.Errorf("scanNumberSpec(%q) = %+v, want %+v", tt.spec, got, tt.want)
		}
	}
	digits := []struct {
		spec      string
		x         float64
		int, frac string
	}{
		{"#,##0.00", 1234567.891, "1,234,567", "89"},
		{"0.0#", 2.5, "2", "5"},
		{"0.0#", 2.456, "2", "46"},
		{"000", 7, "007", ""},
		{"##", 0, "", ""},
		{"0.#", -1.25, "1", "3"}, // rounded half away from zero, sign dropped
	}
	for _, tt := range digits {
		i, f := scanNumberSpec(tt.spec).digits(tt.x)
		if i != tt.int || f != tt.frac {
			t.Errorf("digits(%q, %v) = %q, %q; want %q, %q", tt.spec, tt.x, i, f, tt.int, tt.frac)
		}
	}
	writes := []struct {
		spec      string
		negative  bool
		int, frac string
		want      string
	}{
		{"#,##0.00 'EUR'", false, "1,234", "50", "1,234.50 EUR"},
		{"0%", false, "12", "", "12%"},
		{`\#0`, false, "5", "", "#5"},
		{"0.0", true, "0", "0", "0.0"}, // no minus before zero
		{"0.0", true, "1", "5", "-1.5"},
		{"[0]", false, "3", "", "[3]"},
	}
	for _, tt := range writes {
		if got := writeNumber(tt.spec, tt.negative, tt.int, tt.frac); got != tt.want {
			t.Errorf("writeNumber(%q, %v, %q, %q) = %q, want %q", tt.spec, tt.negative, tt.int, tt.frac, got, tt.want)
		}
	}
}

// TestTypeChecks checks the constraint checks of checkType one by one.
func TestTypeChecks(t *testing.T) {
	tests := []struct {
		name  string
		check func(t, v *node, p path, report func(path, string))
		decl  string
		value string
		want  string // the message reported, "" for none
	}{
		{"a string declared string", func(t, v *node, p path, r func(path, string)) { checkTypeName(t, v, p, r) }, `{"type":"string"}`, `"x"`, ""},
		{"a number declared string", func(t, v *node, p path, r func(path, string)) { checkTypeName(t, v, p, r) }, `{"type":"string"}`, `1`, "is declared string but its value is"},
		{"an unknown type", func(t, v *node, p path, r func(path, string)) { checkTypeName(t, v, p, r) }, `{"type":"text"}`, `"x"`, `type "text" is not one of`},
		{"any type", func(t, v *node, p path, r func(path, string)) { checkTypeName(t, v, p, r) }, `{"type":"any"}`, `1`, ""},
		{"an allowed value in another case", checkAllowedValues, `{"allowedValues":["Standard_LRS"]}`, `"standard_lrs"`, ""},
		{"a value not allowed", checkAllowedValues, `{"allowedValues":["a","b"]}`, `"c"`, `"c" is not one of the allowed values: a, b`},
		{"an array of allowed values", checkAllowedValues, `{"allowedValues":["a","b"]}`, `["a","b"]`, ""},
		{"an array with one not allowed", checkAllowedValues, `{"allowedValues":["a","b"]}`, `["a","c"]`, "is not one of the allowed values"},
		{"below minValue", checkValueRange, `{"minValue":1,"maxValue":3}`, `0`, "0 is below the minValue 1"},
		{"above maxValue", checkValueRange, `{"minValue":1,"maxValue":3}`, `4`, "4 is above the maxValue 3"},
		{"within the range", checkValueRange, `{"minValue":1,"maxValue":3}`, `3`, ""},
		{"a string is no number", checkValueRange, `{"minValue":1}`, `"0"`, ""},
		{"shorter than minLength, in characters", checkLength, `{"minLength":3}`, `"äö"`, "is 2 long, below the minLength 3"},
		{"longer than maxLength", checkLength, `{"maxLength":1}`, `[1,2]`, "is 2 long, above the maxLength 1"},
		{"a number has no length", checkLength, `{"maxLength":1}`, `123`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			tt.check(mustNode(t, tt.decl), mustNode(t, tt.value), "p", func(at path, msg string) {
				if at != "p" {
					t.Errorf("reported at %q, want p", at)
				}
				got = append(got, msg)
			})
			switch {
			case tt.want == "" && len(got) > 0:
				t.Errorf("reported %q, want nothing", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
				t.Errorf("reported %q, want one holding %q", got, tt.want)
			}
		})
	}
}

// TestNestedScopeOuter checks which nested templates are evaluated in the
// parent's scope: ARM's default for nested templates is outer; inner says
// otherwise; a linked template never is (Microsoft Learn, "Using linked
// and nested templates when deploying Azure resources", expression
// evaluation scope in nested templates).
func TestNestedScopeOuter(t *testing.T) {
	tests := []struct {
		props     string
		outer, ok bool
	}{
		{`{"template":{}}`, true, true},
		{`{"template":{},"expressionEvaluationOptions":{"scope":"outer"}}`, true, true},
		{`{"template":{},"expressionEvaluationOptions":{"scope":"Inner"}}`, false, true},
		{`{"template":{},"expressionEvaluationOptions":{"scope":"middle"}}`, false, false},
		{`{"templateLink":{"relativePath":"a.json"}}`, false, true},
		{`{"templateLink":{"relativePath":"a.json"},"expressionEvaluationOptions":{"scope":"outer"}}`, false, true},
	}
	for _, tt := range tests {
		var failed []string
		outer, ok := nestedScopeOuter(mustNode(t, tt.props), "resources[0]", func(p path, err error) { failed = append(failed, string(p)) })
		if outer != tt.outer || ok != tt.ok {
			t.Errorf("%s: outer %v, ok %v; want %v, %v", tt.props, outer, ok, tt.outer, tt.ok)
		}
		if !tt.ok && (len(failed) != 1 || failed[0] != "resources[0].properties.expressionEvaluationOptions.scope") {
			t.Errorf("%s: failed at %q", tt.props, failed)
		}
	}
}

// mustNode parses the JSON text of a test table's row.
func mustNode(t *testing.T, s string) *node {
	t.Helper()
	n, err := parseJSON([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return n
}
