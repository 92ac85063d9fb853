package oktafake

import (
	"errors"
	"fmt"
	"strings"
)

// A logFilter is a parsed System Log filter: a SCIM filter expression
// (https://developer.okta.com/docs/api/#filter) over the event's
// attributes, e.g. `eventType eq "user.lifecycle.suspend" or
// eventType eq "user.lifecycle.deactivate"`. Supported: eq ne co sw ew gt
// ge lt le pr, and, or, not, parentheses. Attributes are dotted paths into
// the event (target.id matches any target). String comparisons ignore case.
type logFilter interface {
	match(ev map[string]any) bool
}

// filterError is a filter Okta would reject; code is its error code.
type filterError struct {
	code, msg string
}

func (e *filterError) Error() string { return e.msg }

// maxFilterLength bounds the filter parameter, so a hostile filter cannot
// make the parser work hard.
const maxFilterLength = 4096

// parseFilter parses a filter expression; an empty one matches everything.
func parseFilter(s string) (logFilter, error) {
	if strings.TrimSpace(s) == "" {
		return matchAll{}, nil
	}
	if len(s) > maxFilterLength {
		return nil, &filterError{"E0000053", "filter too long"}
	}
	toks, err := tokenize(s)
	if err != nil {
		return nil, &filterError{"E0000053", err.Error()}
	}
	p := &filterParser{toks: toks}
	f, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, &filterError{"E0000053", fmt.Sprintf("unexpected %q", p.toks[p.pos].text)}
	}
	return f, nil
}

type tokKind int

const (
	tokWord tokKind = iota
	tokString
	tokOpen
	tokClose
)

type tok struct {
	kind tokKind
	text string
}

func tokenize(s string) ([]tok, error) {
	var toks []tok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, tok{tokOpen, "("})
			i++
		case c == ')':
			toks = append(toks, tok{tokClose, ")"})
			i++
		case c == '[' || c == ']':
			return nil, errors.New("the [ ] operator is not supported")
		case c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, errors.New("unterminated string")
			}
			toks = append(toks, tok{tokString, b.String()})
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n()\"[]", rune(s[j])) {
				j++
			}
			toks = append(toks, tok{tokWord, s[i:j]})
			i = j
		}
	}
	return toks, nil
}

type filterParser struct {
	toks []tok
	pos  int
}

// maxFilterDepth bounds nesting, so the recursion cannot blow the stack.
const maxFilterDepth = 32

func (p *filterParser) peekWord(w string) bool {
	return p.pos < len(p.toks) && p.toks[p.pos].kind == tokWord && strings.EqualFold(p.toks[p.pos].text, w)
}

func (p *filterParser) or(depth int) (logFilter, error) {
	if depth > maxFilterDepth {
		return nil, &filterError{"E0000053", "filter nested too deeply"}
	}
	left, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	terms := orFilter{left}
	for p.peekWord("or") {
		p.pos++
		right, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, right)
	}
	if len(terms) == 1 {
		return left, nil
	}
	return terms, nil
}

func (p *filterParser) and(depth int) (logFilter, error) {
	left, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	terms := andFilter{left}
	for p.peekWord("and") {
		p.pos++
		right, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, right)
	}
	if len(terms) == 1 {
		return left, nil
	}
	return terms, nil
}

func (p *filterParser) unary(depth int) (logFilter, error) {
	if p.peekWord("not") {
		p.pos++
		inner, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notFilter{inner}, nil
	}
	if p.pos < len(p.toks) && p.toks[p.pos].kind == tokOpen {
		p.pos++
		inner, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.pos >= len(p.toks) || p.toks[p.pos].kind != tokClose {
			return nil, &filterError{"E0000053", "missing )"}
		}
		p.pos++
		return inner, nil
	}
	return p.comparison()
}

var filterOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "ge": true, "lt": true, "le": true, "pr": true}

func (p *filterParser) comparison() (logFilter, error) {
	if p.pos >= len(p.toks) || p.toks[p.pos].kind != tokWord {
		return nil, &filterError{"E0000053", "expected an attribute"}
	}
	attr := p.toks[p.pos].text
	p.pos++
	if attr == "published" || strings.HasPrefix(attr, "published.") {
		return nil, &filterError{"E0000053", "published may not be used in a filter; use since and until"}
	}
	if p.pos >= len(p.toks) || p.toks[p.pos].kind != tokWord {
		return nil, &filterError{"E0000053", "expected an operator after " + attr}
	}
	op := strings.ToLower(p.toks[p.pos].text)
	if !filterOps[op] {
		return nil, &filterError{"E0000031", "invalid operator " + p.toks[p.pos].text}
	}
	p.pos++
	c := compareFilter{path: strings.Split(attr, "."), op: op}
	if op == "pr" {
		return c, nil
	}
	if p.pos >= len(p.toks) || (p.toks[p.pos].kind != tokString && p.toks[p.pos].kind != tokWord) {
		return nil, &filterError{"E0000053", "expected a value after " + op}
	}
	c.value = p.toks[p.pos].text
	c.quoted = p.toks[p.pos].kind == tokString
	if !c.quoted && !isFilterLiteral(c.value) {
		return nil, &filterError{"E0000053", "string values must be quoted"}
	}
	p.pos++
	return c, nil
}

// isFilterLiteral accepts the unquoted SCIM literals: true, false, null and
// numbers.
func isFilterLiteral(v string) bool {
	switch strings.ToLower(v) {
	case "true", "false", "null":
		return true
	}
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !(v[i] >= '0' && v[i] <= '9' || v[i] == '.' || v[i] == '-') {
			return false
		}
	}
	return true
}

type matchAll struct{}

func (matchAll) match(map[string]any) bool { return true }

type orFilter []logFilter

func (f orFilter) match(ev map[string]any) bool {
	for _, t := range f {
		if t.match(ev) {
			return true
		}
	}
	return false
}

type andFilter []logFilter

func (f andFilter) match(ev map[string]any) bool {
	for _, t := range f {
		if !t.match(ev) {
			return false
		}
	}
	return true
}

type notFilter struct{ inner logFilter }

func (f notFilter) match(ev map[string]any) bool { return !f.inner.match(ev) }

type compareFilter struct {
	path   []string
	op     string
	value  string
	quoted bool
}

func (f compareFilter) match(ev map[string]any) bool {
	vals := lookup(ev, f.path)
	if f.op == "ne" {
		for _, v := range vals {
			if f.compare(v) {
				return false
			}
		}
		return true
	}
	for _, v := range vals {
		if f.op == "pr" {
			if v != nil {
				return true
			}
			continue
		}
		if f.compare(v) {
			return true
		}
	}
	return false
}

// compare applies the operator to one attribute value (ne is eq inverted
// by the caller).
func (f compareFilter) compare(v any) bool {
	if v == nil {
		return !f.quoted && strings.EqualFold(f.value, "null") && (f.op == "eq" || f.op == "ne")
	}
	got := strings.ToLower(fmt.Sprint(v))
	want := strings.ToLower(f.value)
	switch f.op {
	case "eq", "ne":
		return got == want
	case "co":
		return strings.Contains(got, want)
	case "sw":
		return strings.HasPrefix(got, want)
	case "ew":
		return strings.HasSuffix(got, want)
	case "gt":
		return got > want
	case "ge":
		return got >= want
	case "lt":
		return got < want
	case "le":
		return got <= want
	}
	return false
}

// lookup returns the values at path; arrays along the way fan out, so
// target.id yields the id of every target.
func lookup(v any, path []string) []any {
	if len(path) == 0 {
		if arr, ok := v.([]any); ok {
			return arr
		}
		return []any{v}
	}
	switch x := v.(type) {
	case map[string]any:
		child, ok := x[path[0]]
		if !ok {
			return nil
		}
		return lookup(child, path[1:])
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, lookup(e, path)...)
		}
		return out
	}
	return nil
}
