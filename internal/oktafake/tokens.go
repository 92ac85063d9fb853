package oktafake

import (
	"crypto/sha256"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// DefaultPageLimit and MaxPageLimit are Okta's limits for token lists.
const (
	DefaultPageLimit = 20
	MaxPageLimit     = 200
)

const oktaTime = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(oktaTime) }

type href struct {
	Href  string `json:"href"`
	Title string `json:"title,omitempty"`
	Hints *hints `json:"hints,omitempty"`
}

type hints struct {
	Allow []string `json:"allow"`
}

// clientJSON is Okta's OAuth2Client.
type clientJSON struct {
	ClientID   string  `json:"client_id"`
	ClientName string  `json:"client_name"`
	ClientURI  *string `json:"client_uri"`
	LogoURI    *string `json:"logo_uri"`
	Links      struct {
		Grants href `json:"grants"`
		Tokens href `json:"tokens"`
	} `json:"_links"`
}

// tokenJSON is Okta's OAuth2RefreshToken.
type tokenJSON struct {
	ID          string         `json:"id"`
	Status      string         `json:"status"`
	Created     string         `json:"created"`
	LastUpdated string         `json:"lastUpdated"`
	ExpiresAt   string         `json:"expiresAt"`
	Issuer      string         `json:"issuer"`
	ClientID    string         `json:"clientId"`
	UserID      string         `json:"userId"`
	Scopes      []string       `json:"scopes"`
	Embedded    *tokenEmbedded `json:"_embedded,omitempty"`
	Links       tokenLinks     `json:"_links"`
}

type tokenEmbedded struct {
	Scopes []scopeJSON `json:"scopes"`
}

type scopeJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Links       struct {
		Scope href `json:"scope"`
	} `json:"_links"`
}

type tokenLinks struct {
	App                 href `json:"app"`
	Self                href `json:"self"`
	Revoke              href `json:"revoke"`
	Client              href `json:"client"`
	User                href `json:"user"`
	AuthorizationServer href `json:"authorizationServer"`
}

// renderToken builds the token's JSON; selfPath is the path of the token
// under the endpoint it was read from (user or app).
func (s *Server) renderTokenLocked(t *token, base, selfPath string, expand bool) tokenJSON {
	appID, label := t.clientID, t.clientID
	if a := s.org.byClient[t.clientID]; a != nil {
		appID, label = a.id, a.label
	}
	asURL := base + "/api/v1/authorizationServers/" + authServerID
	j := tokenJSON{
		ID: t.id, Status: t.status,
		Created: formatTime(t.created), LastUpdated: formatTime(t.updated), ExpiresAt: formatTime(t.expiry),
		Issuer:   base + "/oauth2/" + authServerID,
		ClientID: t.clientID, UserID: t.userID, Scopes: t.scopes,
	}
	j.Links.App = href{Href: base + "/api/v1/apps/" + appID, Title: label}
	j.Links.Self = href{Href: base + selfPath}
	j.Links.Revoke = href{Href: base + selfPath, Hints: &hints{Allow: []string{http.MethodDelete}}}
	j.Links.Client = href{Href: base + "/oauth2/v1/clients/" + t.clientID, Title: label}
	j.Links.User = href{Href: base + "/api/v1/users/" + t.userID}
	j.Links.AuthorizationServer = href{Href: asURL, Title: "default"}
	if expand {
		j.Embedded = &tokenEmbedded{Scopes: []scopeJSON{}}
		for _, name := range t.scopes {
			sc := scopeJSON{ID: scopeID(name), Name: name, Description: "Scope " + name}
			sc.Links.Scope = href{Href: asURL + "/scopes/" + sc.ID, Title: name}
			j.Embedded.Scopes = append(j.Embedded.Scopes, sc)
		}
	}
	return j
}

// scopeID derives a stable "scp..." id from a scope name.
func scopeID(name string) string {
	sum := sha256.Sum256([]byte(name))
	b := make([]byte, 17)
	for i := range b {
		b[i] = idAlphabet[int(sum[i])%len(idAlphabet)]
	}
	return "scp" + string(b)
}

// paging holds a list request's validated limit and after cursor.
type paging struct {
	limit  int
	after  string
	expand bool
}

// parsePaging validates limit (1..200, default 20) and expand.
func parsePaging(q url.Values) (paging, []string) {
	p := paging{limit: DefaultPageLimit, after: q.Get("after"), expand: q.Get("expand") == "scope"}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > MaxPageLimit {
			return p, []string{"limit: must be an integer between 1 and 200"}
		}
		p.limit = n
	}
	return p, nil
}

// pageLocked returns up to p.limit ACTIVE tokens after the cursor that match
// selects, and whether more follow. The cursor is the id of the last token
// of the previous page; tokens are never forgotten (a revoked one stays in
// the order), so a cursor stays valid and pages have no gaps or repeats.
func (s *Server) pageLocked(p paging, match func(*token) bool) ([]*token, bool, bool) {
	afterSeq := 0
	if p.after != "" {
		t := s.org.tokens[p.after]
		if t == nil {
			return nil, false, false
		}
		afterSeq = t.seq
	}
	var items []*token
	for _, t := range s.org.order {
		if t.seq <= afterSeq || t.status != StatusActive || !match(t) {
			continue
		}
		if len(items) == p.limit {
			return items, true, true
		}
		items = append(items, t)
	}
	return items, false, true
}

// writeTokenPage writes a list answer with Okta's Link headers.
func writeTokenPage(w http.ResponseWriter, r *http.Request, base string, p paging, items []tokenJSON, more bool) {
	setSelfLink(w, r, base)
	if more && len(items) > 0 {
		q := r.URL.Query()
		q.Set("after", items[len(items)-1].ID)
		q.Set("limit", strconv.Itoa(p.limit))
		w.Header().Add("Link", "<"+base+r.URL.EscapedPath()+"?"+q.Encode()+`>; rel="next"`)
	}
	if items == nil {
		items = []tokenJSON{}
	}
	writeJSON(w, http.StatusOK, items)
}

func setSelfLink(w http.ResponseWriter, r *http.Request, base string) {
	self := base + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		self += "?" + r.URL.RawQuery
	}
	w.Header().Add("Link", "<"+self+`>; rel="self"`)
}

func notFound(w http.ResponseWriter, id, kind string) {
	writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+id+" ("+kind+")")
}

// GET /api/v1/users/{userId}/clients: the clients for which the user holds
// ACTIVE refresh tokens, in the order they first got one.
func (s *Server) handleUserClients(w http.ResponseWriter, r *http.Request, base string, rt route) {
	s.mu.Lock()
	if s.org.users[rt.userID] == nil {
		s.mu.Unlock()
		notFound(w, rt.userID, "User")
		return
	}
	clients := []clientJSON{}
	seen := map[string]bool{}
	for _, t := range s.org.order {
		if t.userID != rt.userID || t.status != StatusActive || seen[t.clientID] {
			continue
		}
		seen[t.clientID] = true
		c := clientJSON{ClientID: t.clientID, ClientName: t.clientID}
		if a := s.org.byClient[t.clientID]; a != nil {
			c.ClientName = a.label
		}
		prefix := base + "/api/v1/users/" + rt.userID + "/clients/" + t.clientID
		c.Links.Grants = href{Href: prefix + "/grants"}
		c.Links.Tokens = href{Href: prefix + "/tokens"}
		clients = append(clients, c)
	}
	s.mu.Unlock()
	setSelfLink(w, r, base)
	writeJSON(w, http.StatusOK, clients)
}

// userClientLocked checks that the user and the client exist.
func (s *Server) userClientLocked(w http.ResponseWriter, rt route) bool {
	if s.org.users[rt.userID] == nil {
		notFound(w, rt.userID, "User")
		return false
	}
	if s.org.byClient[rt.clientID] == nil {
		notFound(w, rt.clientID, "OAuth2Client")
		return false
	}
	return true
}

// GET|DELETE /api/v1/users/{userId}/clients/{clientId}/tokens
func (s *Server) handleUserClientTokens(w http.ResponseWriter, r *http.Request, base string, rt route) {
	match := func(t *token) bool { return t.userID == rt.userID && t.clientID == rt.clientID }
	prefix := "/api/v1/users/" + rt.userID + "/clients/" + rt.clientID + "/tokens/"
	s.listOrRevoke(w, r, base, match, prefix, func() bool { return s.userClientLocked(w, rt) })
}

// GET|DELETE /api/v1/apps/{appId}/tokens
func (s *Server) handleAppTokens(w http.ResponseWriter, r *http.Request, base string, rt route) {
	var clientID string
	match := func(t *token) bool { return t.clientID == clientID }
	prefix := "/api/v1/apps/" + rt.appID + "/tokens/"
	s.listOrRevoke(w, r, base, match, prefix, func() bool {
		a := s.org.apps[rt.appID]
		if a == nil {
			notFound(w, rt.appID, "AppInstance")
			return false
		}
		clientID = a.clientID
		return true
	})
}

// listOrRevoke serves a token collection: GET lists ACTIVE tokens a page at
// a time, DELETE revokes them all (204 even when there are none).
// exists runs under the lock and writes the 404 itself.
func (s *Server) listOrRevoke(w http.ResponseWriter, r *http.Request, base string, match func(*token) bool, selfPrefix string, exists func() bool) {
	var p paging
	if r.Method == http.MethodGet {
		var problems []string
		if p, problems = parsePaging(r.URL.Query()); problems != nil {
			writeValidationError(w, problems...)
			return
		}
	}
	s.mu.Lock()
	if !exists() {
		s.mu.Unlock()
		return
	}
	if r.Method == http.MethodDelete {
		s.revokeLocked(match)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	page, more, ok := s.pageLocked(p, match)
	if !ok {
		s.mu.Unlock()
		writeValidationError(w, "after: invalid cursor")
		return
	}
	items := make([]tokenJSON, 0, len(page))
	for _, t := range page {
		items = append(items, s.renderTokenLocked(t, base, selfPrefix+t.id, p.expand))
	}
	s.mu.Unlock()
	writeTokenPage(w, r, base, p, items, more)
}

// GET|DELETE /api/v1/users/{userId}/clients/{clientId}/tokens/{tokenId}
func (s *Server) handleUserClientToken(w http.ResponseWriter, r *http.Request, base string, rt route) {
	s.getOrRevokeOne(w, r, base, rt, func() bool { return s.userClientLocked(w, rt) },
		func(t *token) bool { return t.userID == rt.userID && t.clientID == rt.clientID },
		"/api/v1/users/"+rt.userID+"/clients/"+rt.clientID+"/tokens/"+rt.tokenID)
}

// GET|DELETE /api/v1/apps/{appId}/tokens/{tokenId}
func (s *Server) handleAppToken(w http.ResponseWriter, r *http.Request, base string, rt route) {
	var clientID string
	s.getOrRevokeOne(w, r, base, rt, func() bool {
		a := s.org.apps[rt.appID]
		if a == nil {
			notFound(w, rt.appID, "AppInstance")
			return false
		}
		clientID = a.clientID
		return true
	}, func(t *token) bool { return t.clientID == clientID }, "/api/v1/apps/"+rt.appID+"/tokens/"+rt.tokenID)
}

// getOrRevokeOne serves one token. A token that is unknown, REVOKED or
// belongs to another user or client does not exist here: 404.
func (s *Server) getOrRevokeOne(w http.ResponseWriter, r *http.Request, base string, rt route, exists func() bool, belongs func(*token) bool, selfPath string) {
	s.mu.Lock()
	if !exists() {
		s.mu.Unlock()
		return
	}
	t := s.org.tokens[rt.tokenID]
	if t == nil || t.status != StatusActive || !belongs(t) {
		s.mu.Unlock()
		notFound(w, rt.tokenID, "OAuth2RefreshToken")
		return
	}
	if r.Method == http.MethodDelete {
		t.status, t.updated = StatusRevoked, s.now()
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	j := s.renderTokenLocked(t, base, selfPath, r.URL.Query().Get("expand") == "scope")
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, j)
}

// DELETE /api/v1/users/{userId}/sessions?oauthTokens=true|false
func (s *Server) handleUserSessions(w http.ResponseWriter, r *http.Request, rt route) {
	q := r.URL.Query()
	oauthTokens := false
	for _, name := range []string{"oauthTokens", "forgetDevices"} {
		v, ok := q[name]
		if !ok {
			continue
		}
		b, err := strconv.ParseBool(v[0])
		if err != nil || (v[0] != "true" && v[0] != "false") {
			writeValidationError(w, name+": must be true or false")
			return
		}
		if name == "oauthTokens" {
			oauthTokens = b
		}
	}
	s.mu.Lock()
	u := s.org.users[rt.userID]
	if u == nil {
		s.mu.Unlock()
		notFound(w, rt.userID, "User")
		return
	}
	u.sessionsRevoked++
	if oauthTokens {
		u.sessionsWithAuth++
		s.revokeLocked(func(t *token) bool { return t.userID == rt.userID })
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// appJSON is the part of Okta's AppInstance (an OIDC app) callers read.
type appJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Label       string `json:"label"`
	Status      string `json:"status"`
	Created     string `json:"created"`
	LastUpdated string `json:"lastUpdated"`
	SignOnMode  string `json:"signOnMode"`
	Credentials struct {
		OAuthClient struct {
			AutoKeyRotation         bool   `json:"autoKeyRotation"`
			ClientID                string `json:"client_id"`
			TokenEndpointAuthMethod string `json:"token_endpoint_auth_method"`
		} `json:"oauthClient"`
	} `json:"credentials"`
	Settings struct {
		OAuthClient struct {
			GrantTypes      []string `json:"grant_types"`
			ApplicationType string   `json:"application_type"`
		} `json:"oauthClient"`
	} `json:"settings"`
	Links struct {
		Users  href `json:"users"`
		Groups href `json:"groups"`
	} `json:"_links"`
}

// GET /api/v1/apps/{appId}
func (s *Server) handleApp(w http.ResponseWriter, _ *http.Request, base string, rt route) {
	s.mu.Lock()
	a := s.org.apps[rt.appID]
	if a == nil {
		s.mu.Unlock()
		notFound(w, rt.appID, "AppInstance")
		return
	}
	var j appJSON
	j.ID, j.Name, j.Label, j.Status = a.id, "oidc_client", a.label, a.status
	j.Created, j.LastUpdated = formatTime(a.created), formatTime(a.created)
	j.SignOnMode = "OPENID_CONNECT"
	j.Credentials.OAuthClient.AutoKeyRotation = true
	j.Credentials.OAuthClient.ClientID = a.clientID
	j.Credentials.OAuthClient.TokenEndpointAuthMethod = "client_secret_basic"
	j.Settings.OAuthClient.GrantTypes = []string{"authorization_code", "refresh_token"}
	j.Settings.OAuthClient.ApplicationType = "web"
	j.Links.Users = href{Href: base + "/api/v1/apps/" + a.id + "/users"}
	j.Links.Groups = href{Href: base + "/api/v1/apps/" + a.id + "/groups"}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, j)
}
