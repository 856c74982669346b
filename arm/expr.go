package arm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The part of the ARM template expression language that Image Builder
// templates use: "[function(args).property[index]]" strings, evaluated to
// JSON values (*node). Evaluation is bounded in steps, depth and size, so a
// hostile file cannot exhaust time or memory.

const (
	maxExprSteps  = 200_000 // function calls and lookups for one file
	maxExprDepth  = 64      // nesting of calls and of variables through variables
	maxExprString = MaxBytes
)

// exprError is an evaluation failure, reported as a problem at the path of
// the string that holds the expression; via names the variables (and
// parameters) it was reached through.
type exprError struct {
	msg string
	via []string
}

func (e *exprError) Error() string {
	if len(e.via) == 0 {
		return e.msg
	}
	via := e.via
	if len(via) > 6 {
		via = append(append(append([]string(nil), via[:3]...), fmt.Sprintf("(%d more)", len(via)-5)), via[len(via)-2:]...)
	}
	return "through " + strings.Join(via, " → ") + ": " + e.msg
}

// through adds the variable or parameter an error was reached through.
func through(err error, what string) error {
	var e *exprError
	if errors.As(err, &e) {
		return &exprError{msg: e.msg, via: append([]string{what}, e.via...)}
	}
	return &exprError{msg: err.Error(), via: []string{what}}
}

func exprErrorf(format string, args ...any) error {
	return &exprError{msg: fmt.Sprintf(format, args...)}
}

// IsExpression reports an ARM expression: a string in square brackets that
// does not start with "[[" (ARM's escape for a literal bracket).
func IsExpression(s string) bool {
	return len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' && !strings.HasPrefix(s, "[[")
}

// LooksLikeExpression reports a string that ARM would evaluate and that is
// not something else in brackets (a PowerShell type such as
// [Net.ServicePointManager]::… does not end in "]" or call a function).
func LooksLikeExpression(s string) bool {
	if !IsExpression(s) {
		return false
	}
	t := strings.TrimSpace(s[1 : len(s)-1])
	i := 0
	for i < len(t) && (isIdentByte(t[i]) || t[i] == '.') {
		i++
	}
	return i > 0 && i < len(t) && t[i] == '('
}

// unescapeLiteral turns ARM's "[[text]" into "[text]".
func unescapeLiteral(s string) string {
	if strings.HasPrefix(s, "[[") && strings.HasSuffix(s, "]") {
		return s[1:]
	}
	return s
}

// ---- syntax ----

type exprKind int

const (
	eCall exprKind = iota
	eString
	eNumber
	eProperty // x.name
	eIndex    // x[expr]
)

type expr struct {
	kind exprKind
	name string // function or property name, or the string literal
	num  int64
	args []*expr // call arguments; for eProperty/eIndex args[0] is the target (and args[1] the index)
}

type lexer struct {
	s     string
	pos   int
	depth int
}

func parseExpression(s string) (*expr, error) {
	if !IsExpression(s) {
		return nil, exprErrorf("not an expression")
	}
	l := &lexer{s: s[1 : len(s)-1]}
	e, err := l.expr()
	if err != nil {
		return nil, err
	}
	l.space()
	if l.pos != len(l.s) {
		return nil, exprErrorf("unexpected %q at column %d of the expression", l.rest(), l.pos+2)
	}
	return e, nil
}

func (l *lexer) rest() string {
	r := l.s[l.pos:]
	if len(r) > 20 {
		r = r[:20] + "…"
	}
	return r
}

func (l *lexer) space() {
	for l.pos < len(l.s) && (l.s[l.pos] == ' ' || l.s[l.pos] == '\t' || l.s[l.pos] == '\n' || l.s[l.pos] == '\r') {
		l.pos++
	}
}

func (l *lexer) peek() byte {
	l.space()
	if l.pos < len(l.s) {
		return l.s[l.pos]
	}
	return 0
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (l *lexer) ident() string {
	start := l.pos
	for l.pos < len(l.s) && isIdentByte(l.s[l.pos]) {
		l.pos++
	}
	return l.s[start:l.pos]
}

func (l *lexer) expr() (*expr, error) {
	l.depth++
	defer func() { l.depth-- }()
	if l.depth > maxExprDepth {
		return nil, exprErrorf("nested deeper than %d levels", maxExprDepth)
	}
	var e *expr
	switch c := l.peek(); {
	case c == '\'':
		s, err := l.literal()
		if err != nil {
			return nil, err
		}
		e = &expr{kind: eString, name: s}
	case c == '-' || c >= '0' && c <= '9':
		start := l.pos
		l.pos++
		for l.pos < len(l.s) && l.s[l.pos] >= '0' && l.s[l.pos] <= '9' {
			l.pos++
		}
		n, err := strconv.ParseInt(l.s[start:l.pos], 10, 64)
		if err != nil {
			return nil, exprErrorf("%q is not a whole number", l.s[start:l.pos])
		}
		e = &expr{kind: eNumber, num: n}
	case c != 0 && isIdentByte(c):
		name := l.ident()
		for l.pos < len(l.s) && l.s[l.pos] == '.' { // user-defined namespace.function
			l.pos++
			name += "." + l.ident()
		}
		if l.peek() != '(' {
			return nil, exprErrorf("%q must be followed by \"(\": ARM calls functions, it has no bare names", name)
		}
		l.pos++
		call := &expr{kind: eCall, name: name}
		if l.peek() == ')' {
			l.pos++
		} else {
			for {
				a, err := l.expr()
				if err != nil {
					return nil, err
				}
				call.args = append(call.args, a)
				if len(call.args) > 256 {
					return nil, exprErrorf("%s has too many arguments", name)
				}
				switch l.peek() {
				case ',':
					l.pos++
					continue
				case ')':
					l.pos++
				case 0:
					return nil, exprErrorf("the arguments of %s are not closed: a \")\" is missing", name)
				default:
					return nil, exprErrorf("expected \",\" or \")\" in the arguments of %s, found %q", name, l.rest())
				}
				break
			}
		}
		e = call
	case c == 0:
		return nil, exprErrorf("the expression ends too early")
	default:
		return nil, exprErrorf("unexpected %q", l.rest())
	}
	for {
		switch l.peek() {
		case '.':
			l.pos++
			l.space()
			name := l.ident()
			if name == "" {
				return nil, exprErrorf("a property name must follow \".\"")
			}
			e = &expr{kind: eProperty, name: name, args: []*expr{e}}
		case '[':
			l.pos++
			idx, err := l.expr()
			if err != nil {
				return nil, err
			}
			if l.peek() != ']' {
				return nil, exprErrorf("expected \"]\" after an index")
			}
			l.pos++
			e = &expr{kind: eIndex, args: []*expr{e, idx}}
		default:
			return e, nil
		}
	}
}

// literal reads a single-quoted string; ” is a quote.
func (l *lexer) literal() (string, error) {
	l.pos++ // opening quote
	var b strings.Builder
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		l.pos++
		if c == '\'' {
			if l.pos < len(l.s) && l.s[l.pos] == '\'' {
				b.WriteByte('\'')
				l.pos++
				continue
			}
			return b.String(), nil
		}
		b.WriteByte(c)
	}
	return "", exprErrorf("a string literal is not closed (a single quote is missing)")
}
