package oktafake

import (
	"net/http"
	"slices"
	"strings"
)

// Bucket is an Okta rate-limit bucket class. Okta matches a request to a
// bucket by its path; the fake models the classes that matter here.
type Bucket string

const (
	// BucketApps is /api/v1/apps and everything under it (app tokens).
	BucketApps Bucket = "apps"
	// BucketLogs is /api/v1/logs, the System Log.
	BucketLogs Bucket = "logs"
	// BucketOther is every other /api/v1 call (users, clients, sessions).
	BucketOther Bucket = "other"
)

// Buckets lists every bucket class.
func Buckets() []Bucket { return []Bucket{BucketApps, BucketLogs, BucketOther} }

type routeKind int

const (
	routeNone routeKind = iota // no such endpoint
	routeMethodNotAllowed
	routeToken // POST /oauth2/v1/token
	routeUserClients
	routeUserClientTokens
	routeUserClientToken
	routeUserSessions
	routeApp
	routeAppTokens
	routeAppToken
	routeLogs
)

// route is a request path matched against the endpoints the fake serves.
type route struct {
	kind   routeKind
	api    bool   // under /api/v1: rate limited and authenticated
	bucket Bucket // "" outside /api/v1
	allow  []string

	userID, clientID, appID, tokenID string

	// malformed: the path is not a well-formed call of a modelled endpoint
	// (unknown route, empty or invalid ID segment, escapes, dot segments).
	malformed bool
	// badID is the first ID segment that is not a valid Okta ID, with the
	// kind of resource Okta would have looked for.
	badID, badIDKind string
}

type pattern struct {
	kind    routeKind
	segs    []string // literal, or ":user" ":client" ":app" ":token"
	methods []string
}

var patterns = []pattern{
	{routeUserClients, []string{"users", ":user", "clients"}, []string{http.MethodGet}},
	{routeUserClientTokens, []string{"users", ":user", "clients", ":client", "tokens"}, []string{http.MethodGet, http.MethodDelete}},
	{routeUserClientToken, []string{"users", ":user", "clients", ":client", "tokens", ":token"}, []string{http.MethodGet, http.MethodDelete}},
	{routeUserSessions, []string{"users", ":user", "sessions"}, []string{http.MethodDelete}},
	{routeApp, []string{"apps", ":app"}, []string{http.MethodGet}},
	{routeAppTokens, []string{"apps", ":app", "tokens"}, []string{http.MethodGet, http.MethodDelete}},
	{routeAppToken, []string{"apps", ":app", "tokens", ":token"}, []string{http.MethodGet, http.MethodDelete}},
	{routeLogs, []string{"logs"}, []string{http.MethodGet}},
}

// matchRoute matches the raw (escaped) path. It never unescapes: Okta IDs
// contain no characters that need escaping, so an escape in an ID segment
// is itself a malformed request.
func matchRoute(method, escapedPath string) route {
	if escapedPath == "/oauth2/v1/token" {
		if method != http.MethodPost {
			return route{kind: routeMethodNotAllowed, allow: []string{http.MethodPost}}
		}
		return route{kind: routeToken}
	}
	rest, ok := strings.CutPrefix(escapedPath, "/api/v1/")
	if !ok {
		return route{kind: routeNone, malformed: true}
	}
	segs := strings.Split(rest, "/")
	rt := route{api: true, bucket: bucketOf(segs[0])}
	for _, p := range patterns {
		if len(p.segs) != len(segs) || !literalsMatch(p.segs, segs) {
			continue
		}
		rt.kind = p.kind
		for i, ps := range p.segs {
			if !strings.HasPrefix(ps, ":") {
				continue
			}
			v := segs[i]
			switch ps {
			case ":user":
				rt.userID = v
			case ":client":
				rt.clientID = v
			case ":app":
				rt.appID = v
			case ":token":
				rt.tokenID = v
			}
			if !validID(v) {
				rt.malformed = true
				if rt.badID == "" {
					rt.badID, rt.badIDKind = v, resourceKind(ps)
				}
			}
		}
		if !slices.Contains(p.methods, method) {
			rt.kind = routeMethodNotAllowed
			rt.allow = p.methods
		}
		return rt
	}
	rt.kind = routeNone
	rt.malformed = true
	return rt
}

// literalsMatch compares the literal segments of a pattern; ID segments
// match anything, including an empty segment (which is then invalid).
func literalsMatch(pat, segs []string) bool {
	for i, ps := range pat {
		if !strings.HasPrefix(ps, ":") && ps != segs[i] {
			return false
		}
	}
	return true
}

func bucketOf(first string) Bucket {
	switch first {
	case "apps":
		return BucketApps
	case "logs":
		return BucketLogs
	}
	return BucketOther
}

func resourceKind(seg string) string {
	switch seg {
	case ":user":
		return "User"
	case ":client":
		return "OAuth2Client"
	case ":app":
		return "AppInstance"
	}
	return "OAuth2RefreshToken"
}

// requiredScope is the OAuth scope Okta requires for the call; "manage"
// scopes include "read".
func (rt route) requiredScope(method string) string {
	write := method != http.MethodGet
	switch rt.bucket {
	case BucketApps:
		if write {
			return "okta.apps.manage"
		}
		return "okta.apps.read"
	case BucketLogs:
		return "okta.logs.read"
	}
	if write {
		return "okta.users.manage"
	}
	return "okta.users.read"
}

// MaxIDLength is the longest ID the fake accepts, like Okta's custom
// client_id limit.
const MaxIDLength = 100

// validID reports whether v is a syntactically valid Okta ID: 1 to 100
// letters, digits, '-' or '_'. It mirrors okta.ValidateID, duplicated so
// that package okta's own tests can import this package.
func validID(v string) bool {
	if v == "" || len(v) > MaxIDLength {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
