package arm

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/goldenpipe/goldenpipe/internal/jsontree"
)

// The comparison functions of ARM templates (Microsoft Learn,
// template-functions-comparison): greater, greaterOrEquals, less and
// lessOrEquals compare whole numbers by value and strings as .NET's
// culture-aware comparison does (the page's example: greater('A', 'a') is
// true, less('A', 'a') is false).
var comparisonFunctions = map[string]armFunc{
	"greater":         compare(func(c int) bool { return c > 0 }),
	"greaterorequals": compare(func(c int) bool { return c >= 0 }),
	"less":            compare(func(c int) bool { return c < 0 }),
	"lessorequals":    compare(func(c int) bool { return c <= 0 }),
}

func compare(op func(c int) bool) armFunc {
	return armFunc{min: 2, max: 2, call: func(_ *evaluator, a []*node, _ int) (*node, error) {
		if x, ok := jsontree.AsInt(a[0]); ok {
			y, err := wantInt(a, 1)
			if err != nil {
				return nil, err
			}
			return boolNode(op(cmpInt(x, y))), nil
		}
		if a[0].Kind != '"' {
			return nil, fmt.Errorf("argument 1 must be a string or a whole number, not %s", a[0].Describe())
		}
		y, err := wantString(a, 1)
		if err != nil {
			return nil, err
		}
		return boolNode(op(cultureCompare(a[0].Str, y))), nil
	}}
}

func cmpInt(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// asciiPunctuation is the order of ASCII punctuation and symbols in the
// Unicode Collation Algorithm's default table (DUCET), which ICU's root
// collation, and so .NET's invariant culture on Linux, follow: they sort
// before digits, and digits before letters.
const asciiPunctuation = "\t\n\v\f\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"

// latinBase maps the accented letters of Latin-1 to their base letter:
// ICU weighs them as the base letter first, the accent second.
var latinBase = func() map[rune]rune {
	m := map[rune]rune{}
	for base, accented := range map[rune]string{
		'a': "àáâãäåÀÁÂÃÄÅ", 'c': "çÇ", 'e': "èéêëÈÉÊË", 'i': "ìíîïÌÍÎÏ", 'n': "ñÑ",
		'o': "òóôõöøÒÓÔÕÖØ", 'u': "ùúûüÙÚÛÜ", 'y': "ýÿÝ",
	} {
		for _, r := range accented {
			m[r] = base
		}
	}
	return m
}()

// accentRank orders accents as the Unicode Collation Algorithm's default
// table weighs them at the second level: acute, grave, circumflex, ring,
// diaeresis, tilde, cedilla, stroke.
func accentRank(r rune) int {
	for i, set := range []string{"áéíóúýÁÉÍÓÚÝ", "àèìòùÀÈÌÒÙ", "âêîôûÂÊÎÔÛ", "åÅ", "äëïöüÿÄËÏÖÜ", "ãñõÃÑÕ", "çÇ", "øØ"} {
		if strings.ContainsRune(set, r) {
			return i + 1
		}
	}
	return 0
}

// primaryWeight is a character's weight at the first level of the
// comparison: punctuation, then digits, then letters without regard to
// case or accent. Other characters outside ASCII are weighed by their
// lowercase code point after every ASCII one (an approximation of ICU's
// root collation).
func primaryWeight(r rune) int {
	if b, ok := latinBase[r]; ok {
		r = b
	}
	switch {
	case r < 0x80 && strings.ContainsRune(asciiPunctuation, r):
		return strings.IndexRune(asciiPunctuation, r) + 1
	case r >= '0' && r <= '9':
		return 100 + int(r-'0')
	case r >= 'a' && r <= 'z':
		return 200 + int(r-'a')
	case r >= 'A' && r <= 'Z':
		return 200 + int(r-'A')
	case r < 0x80:
		return 60 + int(r) // control characters
	}
	return 1000 + int(unicode.ToLower(r))
}

// cultureCompare compares two strings as .NET's culture-aware
// String.Compare does at its default strength: first by letters without
// regard to case or accent (and punctuation before digits before letters),
// then, on a tie, an unaccented letter before an accented one ("e" < "é"),
// then a lowercase letter before its uppercase form ("a" < "A" < "b"), each
// at the first place they differ; finally by code point, so that only
// equal strings compare equal.
func cultureCompare(x, y string) int {
	rx, ry := []rune(x), []rune(y)
	for i := 0; i < len(rx) && i < len(ry); i++ {
		if c := cmpInt(int64(primaryWeight(rx[i])), int64(primaryWeight(ry[i]))); c != 0 {
			return c
		}
	}
	if c := cmpInt(int64(len(rx)), int64(len(ry))); c != 0 {
		return c
	}
	for i := range rx {
		_, ax := latinBase[rx[i]]
		_, ay := latinBase[ry[i]]
		switch {
		case !ax && ay:
			return -1
		case ax && !ay:
			return 1
		case ax && ay && accentRank(rx[i]) != accentRank(ry[i]):
			return cmpInt(int64(accentRank(rx[i])), int64(accentRank(ry[i])))
		}
	}
	for i := range rx {
		lx, ly := unicode.IsLower(rx[i]), unicode.IsLower(ry[i])
		switch {
		case lx && !ly:
			return -1
		case !lx && ly:
			return 1
		}
	}
	return strings.Compare(x, y)
}
