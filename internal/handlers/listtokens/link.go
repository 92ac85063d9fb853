package listtokens

import (
	"strings"

	"github.com/okta-token-revoker/okta-token-revoker/internal/httpapi"
)

// NextURL returns the URL of the next page on this API's own route, as the
// caller reached it: scheme from X-Forwarded-Proto (https unless it says
// http), host from requestContext.domainName, and the path prefix the
// caller used before the route (a named stage such as /prod, or a custom
// domain's base path), then suffix (the route's path with validated IDs)
// and q's parameters.
//
// API Gateway already puts a named stage in rawPath, and leaves it out when
// the request came through a custom domain, so the prefix is taken from
// rawPath rather than added from requestContext.stage; the stage is only
// the fallback when rawPath does not end in the route's path.
//
// Only characters known to be safe are copied from the request, so the
// header cannot be used to inject anything; when the host is unusable the
// link is relative (RFC 8288 allows that).
func NextURL(req httpapi.Request, suffix string, q Query) string {
	var b strings.Builder
	if host := req.RequestContext.DomainName; validHost(host) {
		b.WriteString(scheme(req))
		b.WriteString("://")
		b.WriteString(host)
	}
	b.WriteString(pathPrefix(req, suffix))
	b.WriteString(suffix)
	if qs := q.Encode(); qs != "" {
		b.WriteByte('?')
		b.WriteString(qs)
	}
	return b.String()
}

// scheme honours X-Forwarded-Proto for local runs over plain HTTP; API
// Gateway itself only serves https.
func scheme(req httpapi.Request) string {
	for k, v := range req.Headers {
		if strings.EqualFold(k, "X-Forwarded-Proto") && strings.EqualFold(strings.TrimSpace(v), "http") {
			return "http"
		}
	}
	return "https"
}

func pathPrefix(req httpapi.Request, suffix string) string {
	if prefix, ok := strings.CutSuffix(req.RawPath, suffix); ok {
		if validPathPrefix(prefix) {
			return prefix
		}
		return ""
	}
	if stage := req.RequestContext.Stage; stage != "" && stage != "$default" && validPathPrefix("/"+stage) {
		return "/" + stage
	}
	return ""
}

// validHost accepts a DNS name or IPv4 address with an optional port.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(isAlnum(c) || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// validPathPrefix accepts "" or "/seg[/seg...]" with segments of
// unreserved characters (RFC 3986), which covers stage names and base paths.
func validPathPrefix(p string) bool {
	if p == "" {
		return true
	}
	if p[0] != '/' || strings.Contains(p, "//") || strings.HasSuffix(p, "/") || len(p) > 512 {
		return false
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
