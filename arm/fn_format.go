package arm

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goldenpipe/goldenpipe/internal/jsontree"
)

// format() is .NET's composite formatting as ARM's format function uses it
// (Microsoft Learn, template-functions-string#format, which points to
// .NET's "Composite formatting"): {index[,alignment][:formatString]}, {{ and
// }} for braces; numbers take .NET's standard numeric format strings
// (C, D, E, F, G, N, P, R, X with a precision) and custom ones (0 # . , %
// and quoted literals), in the invariant culture ARM formats with
// (format('{2:N0}', 8175133) is "8,175,133"). Strings and booleans ignore a
// format string, as .NET's do.
var formatFunctions = map[string]armFunc{
	"format": {min: 1, max: -1, call: formatFn},
}

func formatFn(_ *evaluator, a []*node, _ int) (*node, error) {
	f, err := wantString(a, 0)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '{' && i+1 < len(f) && f[i+1] == '{':
			b.WriteByte('{')
			i++
		case c == '}' && i+1 < len(f) && f[i+1] == '}':
			b.WriteByte('}')
			i++
		case c == '{':
			j := strings.IndexByte(f[i:], '}')
			if j < 0 {
				return nil, fmt.Errorf("%q has a \"{\" without \"}\"", clip(f))
			}
			item := f[i+1 : i+j]
			spec := ""
			if k := strings.IndexByte(item, ':'); k >= 0 {
				item, spec = item[:k], item[k+1:]
			}
			align := 0
			if k := strings.IndexByte(item, ','); k >= 0 {
				w, err := strconv.Atoi(strings.TrimSpace(item[k+1:]))
				if err != nil || w > 1000 || w < -1000 {
					return nil, fmt.Errorf("{%s} has an alignment that is not a whole number from -1000 to 1000", f[i+1:i+j])
				}
				item, align = item[:k], w
			}
			n, err := strconv.Atoi(strings.TrimSpace(item))
			if err != nil || n < 0 || n+1 >= len(a) {
				return nil, fmt.Errorf("{%s} names no argument (there are %d)", item, len(a)-1)
			}
			t, err := formatValue(a[n+1], spec)
			if err != nil {
				return nil, err
			}
			if pad := abs(align) - len([]rune(t)); pad > 0 {
				if align > 0 {
					t = strings.Repeat(" ", pad) + t
				} else {
					t += strings.Repeat(" ", pad)
				}
			}
			b.WriteString(t)
			i += j
		case c == '}':
			return nil, fmt.Errorf("%q has a \"}\" without \"{\"", clip(f))
		default:
			b.WriteByte(c)
		}
		if b.Len() > maxExprString {
			return nil, fmt.Errorf("the result is over %d bytes", maxExprString)
		}
	}
	return strNode(b.String()), nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// formatValue writes one argument with its format string.
func formatValue(v *node, spec string) (string, error) {
	if spec == "" || v.Kind != 'n' {
		return textOf(v)
	}
	if i, ok := jsontree.AsInt(v); ok {
		return formatNumber(float64(i), i, true, spec)
	}
	x, err := strconv.ParseFloat(v.Num.String(), 64)
	if err != nil {
		return "", fmt.Errorf("%s is not a number", v.Num)
	}
	return formatNumber(x, 0, false, spec)
}

// formatNumber applies a .NET numeric format string to x (isInt: the
// whole number i).
func formatNumber(x float64, i int64, isInt bool, spec string) (string, error) {
	letter := spec[0]
	prec := -1
	if len(spec) > 1 {
		p, err := strconv.Atoi(spec[1:])
		if err != nil || p < 0 || p > 99 {
			return customNumber(x, spec)
		}
		prec = p
	}
	if !(letter >= 'A' && letter <= 'Z' || letter >= 'a' && letter <= 'z') {
		return customNumber(x, spec)
	}
	def := func(d int) int {
		if prec < 0 {
			return d
		}
		return prec
	}
	switch letter {
	case 'D', 'd':
		if !isInt {
			return "", fmt.Errorf("the format %q is for whole numbers only", spec)
		}
		s := strconv.FormatUint(absInt(i), 10)
		if len(s) < prec {
			s = strings.Repeat("0", prec-len(s)) + s
		}
		if i < 0 {
			s = "-" + s
		}
		return s, nil
	case 'X', 'x':
		if !isInt {
			return "", fmt.Errorf("the format %q is for whole numbers only", spec)
		}
		s := strconv.FormatUint(uint64(i), 16)
		if letter == 'X' {
			s = strings.ToUpper(s)
		}
		if len(s) < prec {
			s = strings.Repeat("0", prec-len(s)) + s
		}
		return s, nil
	case 'F', 'f':
		return fixed(x, def(2), false), nil
	case 'N', 'n':
		return fixed(x, def(2), true), nil
	case 'C', 'c':
		s := fixed(math.Abs(x), def(2), true)
		if x < 0 {
			return "(¤" + s + ")", nil // the invariant culture's negative currency pattern
		}
		return "¤" + s, nil
	case 'P', 'p':
		return fixed(x*100, def(2), true) + " %", nil
	case 'E', 'e':
		p := def(6)
		s := strconv.FormatFloat(x, 'e', p, 64) // d.ddde+dd
		k := strings.IndexAny(s, "e")
		mant, exp := s[:k], s[k+1:]
		sign := exp[0]
		digits := strings.TrimLeft(exp[1:], "0")
		for len(digits) < 3 {
			digits = "0" + digits
		}
		return mant + string(letter) + string(sign) + digits, nil
	case 'G', 'g', 'R', 'r':
		if isInt && prec <= 0 {
			return strconv.FormatInt(i, 10), nil
		}
		if prec > 0 {
			return strconv.FormatFloat(x, 'g', prec, 64), nil
		}
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	}
	return customNumber(x, spec)
}

func absInt(i int64) uint64 {
	if i < 0 {
		return uint64(-(i + 1)) + 1
	}
	return uint64(i)
}

// fixed writes x with prec decimals (half away from zero, as .NET
// rounds), with "," between groups of three digits when grouped.
func fixed(x float64, prec int, grouped bool) string {
	neg := x < 0
	s := strconv.FormatFloat(roundAway(math.Abs(x), prec), 'f', prec, 64)
	intPart, frac := s, ""
	if k := strings.IndexByte(s, '.'); k >= 0 {
		intPart, frac = s[:k], s[k:]
	}
	if grouped {
		intPart = group(intPart)
	}
	s = intPart + frac
	if neg && strings.Trim(s, "0.,") != "" {
		s = "-" + s
	}
	return s
}

// roundAway rounds x ≥ 0 to prec decimals, a half away from zero.
func roundAway(x float64, prec int) float64 {
	if prec > 15 || x > 1e15 {
		return x
	}
	p := math.Pow(10, float64(prec))
	r := math.Floor(x*p+0.5) / p
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return x
	}
	return r
}

func group(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	head := len(digits) % 3
	if head > 0 {
		b.WriteString(digits[:head])
	}
	for k := head; k < len(digits); k += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(digits[k : k+3])
	}
	return b.String()
}

// customNumber applies a .NET custom numeric format string: 0 (a digit or
// zero), # (a digit if any), . (the decimal point), , (group separators
// when between placeholders), % (times 100), 'text' and "text" literals,
// \c escapes; only the first section (before ";") is used.
func customNumber(x float64, spec string) (string, error) {
	if k := strings.IndexByte(spec, ';'); k >= 0 {
		spec = spec[:k]
	}
	ns := scanNumberSpec(spec)
	if ns.percent {
		x *= 100
	}
	intPart, frac := ns.digits(x)
	return writeNumber(spec, x < 0, intPart, frac), nil
}

// numberSpec is what a custom numeric format string asks for.
type numberSpec struct {
	intPH     int  // placeholders before the decimal point
	firstZero int  // the first 0 among them, counted from 1; 0 when none
	fracZero  int  // fraction digits always written (up to the last 0)
	fracAll   int  // fraction placeholders
	grouped   bool // a , between integer placeholders
	percent   bool
}

// scanNumberSpec reads a custom numeric format string's placeholders,
// skipping its literals.
func scanNumberSpec(spec string) numberSpec {
	var ns numberSpec
	inFrac := false
	for i := 0; i < len(spec); i++ {
		switch c := spec[i]; c {
		case '0', '#':
			ns.placeholder(c, inFrac)
		case '.':
			inFrac = true
		case ',':
			if !inFrac && ns.intPH > 0 {
				ns.grouped = true
			}
		case '%':
			ns.percent = true
		case '\\':
			i++
		case '\'', '"':
			if k := strings.IndexByte(spec[i+1:], c); k >= 0 {
				i += k + 1
			}
		}
	}
	return ns
}

// placeholder counts a 0 or # placeholder, in the fraction or not.
func (ns *numberSpec) placeholder(c byte, inFrac bool) {
	if inFrac {
		ns.fracAll++
		if c == '0' {
			ns.fracZero = ns.fracAll
		}
		return
	}
	ns.intPH++
	if c == '0' && ns.firstZero == 0 {
		ns.firstZero = ns.intPH
	}
}

// digits writes |x|, rounded half away from zero, as the spec asks: the
// integer part zero-padded to the 0 placeholders (grouped when asked) and
// the fraction without the trailing zeros # allows to drop.
func (ns numberSpec) digits(x float64) (intPart, frac string) {
	minInt := 0
	if ns.firstZero > 0 {
		minInt = ns.intPH - ns.firstZero + 1
	}
	s := strconv.FormatFloat(roundAway(math.Abs(x), ns.fracAll), 'f', ns.fracAll, 64)
	intPart = s
	if k := strings.IndexByte(s, '.'); k >= 0 {
		intPart, frac = s[:k], s[k+1:]
	}
	intPart = strings.TrimLeft(intPart, "0")
	for len(intPart) < minInt {
		intPart = "0" + intPart
	}
	if ns.grouped {
		intPart = group(intPart)
	}
	for len(frac) > ns.fracZero && strings.HasSuffix(frac, "0") {
		frac = frac[:len(frac)-1]
	}
	return intPart, frac
}

// writeNumber writes the number where the spec's first placeholder
// stands (with a minus when negative and not all zeros), literals around
// it.
func writeNumber(spec string, negative bool, intPart, frac string) string {
	var b strings.Builder
	placed := false
	for i := 0; i < len(spec); i++ {
		switch c := spec[i]; c {
		case '0', '#', '.', ',':
			if !placed {
				placed = true
				if negative && (intPart+frac) != "" && strings.Trim(intPart+frac, "0,") != "" {
					b.WriteByte('-')
				}
				b.WriteString(intPart)
				if frac != "" {
					b.WriteString("." + frac)
				}
			}
		case '%':
			b.WriteByte('%')
		case '\\':
			if i+1 < len(spec) {
				i++
				b.WriteByte(spec[i])
			}
		case '\'', '"':
			if k := strings.IndexByte(spec[i+1:], c); k >= 0 {
				b.WriteString(spec[i+1 : i+1+k])
				i += k + 1
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
