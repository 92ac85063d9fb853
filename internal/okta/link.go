package okta

import "strings"

// ParseLinkHeader parses the Link header values of a response (RFC 8288) and
// returns each relation type, lower-cased, mapped to its target URI as
// written between the angle brackets. It accepts several Link headers and
// comma-joined link-values, quoted or bare parameter values and a rel
// listing several space-separated relation types. When a relation appears
// twice, the first wins. Malformed link-values are skipped; it never fails.
func ParseLinkHeader(values []string) map[string]string {
	links := make(map[string]string)
	for _, v := range values {
		p := linkParser{s: v}
		p.parse(links)
	}
	return links
}

type linkParser struct {
	s string
	i int
}

func (p *linkParser) parse(links map[string]string) {
	for {
		p.skip(" \t,")
		if p.i >= len(p.s) {
			return
		}
		if p.s[p.i] != '<' {
			p.skipValue()
			continue
		}
		end := strings.IndexByte(p.s[p.i+1:], '>')
		if end < 0 {
			return // an unterminated URI swallows the rest of the header
		}
		target := strings.TrimSpace(p.s[p.i+1 : p.i+1+end])
		p.i += end + 2
		var rels []string
		relSeen := false
		for {
			p.skip(" \t")
			if p.i >= len(p.s) || p.s[p.i] == ',' {
				break
			}
			if p.s[p.i] != ';' {
				p.skipValue() // garbage after the URI: drop this link-value
				rels = nil
				break
			}
			p.i++
			p.skip(" \t")
			name := strings.ToLower(p.token())
			p.skip(" \t")
			var value string
			if p.i < len(p.s) && p.s[p.i] == '=' {
				p.i++
				p.skip(" \t")
				if p.i < len(p.s) && p.s[p.i] == '"' {
					value = p.quoted()
				} else {
					value = p.token()
				}
			}
			// RFC 8288 3.3: occurrences after the first rel are ignored.
			if name == "rel" && !relSeen {
				relSeen = true
				rels = strings.Fields(strings.ToLower(value))
			}
		}
		if target == "" {
			continue
		}
		for _, rel := range rels {
			if _, ok := links[rel]; !ok {
				links[rel] = target
			}
		}
	}
}

// skip advances past any bytes in set.
func (p *linkParser) skip(set string) {
	for p.i < len(p.s) && strings.IndexByte(set, p.s[p.i]) >= 0 {
		p.i++
	}
}

// skipValue advances to the next comma outside quotes and angle brackets,
// that is, to the end of the current link-value.
func (p *linkParser) skipValue() {
	inQuote, inURI := false, false
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case inQuote && c == '\\':
			p.i++
		case c == '"' && !inURI:
			inQuote = !inQuote
		case c == '<' && !inQuote:
			inURI = true
		case c == '>' && !inQuote:
			inURI = false
		case c == ',' && !inQuote && !inURI:
			return
		}
	}
}

// token reads a bare parameter name or value.
func (p *linkParser) token() string {
	start := p.i
	for p.i < len(p.s) && strings.IndexByte(" \t;,=\"", p.s[p.i]) < 0 {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string starting at the opening quote, resolving
// backslash escapes. An unterminated string runs to the end of the header.
func (p *linkParser) quoted() string {
	var b strings.Builder
	for p.i++; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		switch {
		case c == '\\' && p.i+1 < len(p.s):
			p.i++
			b.WriteByte(p.s[p.i])
		case c == '"':
			p.i++
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
