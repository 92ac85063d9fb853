package oktafake

import (
	"fmt"
	"slices"
	"time"
)

// Token statuses, as Okta spells them.
const (
	StatusActive  = "ACTIVE"
	StatusRevoked = "REVOKED"
)

// RefreshTokenLifetime is the expiresAt the fake gives new tokens (Okta's
// default idle expiry). The fake does not expire tokens by itself.
const RefreshTokenLifetime = 7 * 24 * time.Hour

// authServerID is the authorization server that "issued" every token.
const authServerID = "ausfake0rg0default0"

// org is the directory: users, app instances and refresh tokens.
type org struct {
	users    map[string]*user
	apps     map[string]*app // by app instance id
	byClient map[string]*app // by OAuth client_id
	tokens   map[string]*token
	order    []*token // creation order: the order of every list
	seq      int
}

type user struct {
	id               string
	sessionsRevoked  int
	sessionsWithAuth int
}

type app struct {
	id, clientID, label, status string
	created                     time.Time
}

type token struct {
	id, userID, clientID     string
	scopes                   []string
	status                   string
	created, updated, expiry time.Time
	seq                      int
}

func newOrg() org {
	return org{
		users:    map[string]*user{},
		apps:     map[string]*app{},
		byClient: map[string]*app{},
		tokens:   map[string]*token{},
	}
}

// TokenInfo is a refresh token as the fake stores it.
type TokenInfo struct {
	ID          string
	UserID      string
	ClientID    string
	Scopes      []string
	Status      string // StatusActive or StatusRevoked
	Created     time.Time
	LastUpdated time.Time
}

func (t *token) info() TokenInfo {
	return TokenInfo{
		ID: t.id, UserID: t.userID, ClientID: t.clientID, Scopes: slices.Clone(t.scopes),
		Status: t.status, Created: t.created, LastUpdated: t.updated,
	}
}

func mustValidID(kind, id string) {
	if !validID(id) {
		panic(fmt.Sprintf("oktafake: invalid %s %q: use 1 to %d letters, digits, '-' or '_'", kind, id, MaxIDLength))
	}
}

// AddUser adds a user (a no-op if it exists). It panics on an invalid ID,
// which is a bug in the test.
func (s *Server) AddUser(userID string) {
	mustValidID("user id", userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addUserLocked(userID)
}

func (s *Server) addUserLocked(userID string) {
	if s.org.users[userID] == nil {
		s.org.users[userID] = &user{id: userID}
	}
}

// DeleteUser deletes a user. Like Okta, its refresh tokens go with it: they
// become REVOKED, and every call about the user answers 404.
func (s *Server) DeleteUser(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.org.users, userID)
	s.revokeLocked(func(t *token) bool { return t.userID == userID })
}

// AddApp adds or replaces an OIDC app instance. clientID "" means the
// client_id equals the app id, Okta's default; name is the app's label,
// also reported as the client's client_name.
func (s *Server) AddApp(appID, clientID, name string) {
	if clientID == "" {
		clientID = appID
	}
	mustValidID("app id", appID)
	mustValidID("client id", clientID)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addAppLocked(appID, clientID, name)
}

func (s *Server) addAppLocked(appID, clientID, name string) *app {
	if old := s.org.apps[appID]; old != nil && s.org.byClient[old.clientID] == old {
		delete(s.org.byClient, old.clientID)
	}
	if name == "" {
		name = appID
	}
	a := &app{id: appID, clientID: clientID, label: name, status: StatusActive, created: s.now()}
	s.org.apps[appID] = a
	s.org.byClient[clientID] = a
	return a
}

// DeleteApp deletes an app instance. Like Okta, its refresh tokens go with
// it: they become REVOKED, and every call about the app answers 404.
func (s *Server) DeleteApp(appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.org.apps[appID]
	if a == nil {
		return
	}
	delete(s.org.apps, appID)
	if s.org.byClient[a.clientID] == a {
		delete(s.org.byClient, a.clientID)
	}
	s.revokeLocked(func(t *token) bool { return t.clientID == a.clientID })
}

// SetAppStatus sets an app's status (ACTIVE or INACTIVE), as deactivating
// it in Okta would. Its tokens are untouched.
func (s *Server) SetAppStatus(appID, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.org.apps[appID]; a != nil {
		a.status = status
	}
}

// AddToken issues an ACTIVE refresh token to userID for the OAuth client
// clientID and returns its id ("oar..."). A missing user is created, and a
// missing client gets an app instance whose id equals clientID. Scopes
// default to offline_access.
func (s *Server) AddToken(userID, clientID string, scopes ...string) string {
	mustValidID("user id", userID)
	mustValidID("client id", clientID)
	if len(scopes) == 0 {
		scopes = []string{"offline_access"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.org.byClient[clientID] == nil {
		if a := s.org.apps[clientID]; a != nil {
			panic(fmt.Sprintf("oktafake: AddToken: %s is an app id whose client_id is %s; pass the client_id", clientID, a.clientID))
		}
		s.addAppLocked(clientID, clientID, "")
	}
	s.addUserLocked(userID)
	now := s.now()
	id := newOktaID("oar")
	for s.org.tokens[id] != nil {
		id = newOktaID("oar")
	}
	s.org.seq++
	t := &token{
		id: id, userID: userID, clientID: clientID, scopes: slices.Clone(scopes),
		status: StatusActive, created: now, updated: now, expiry: now.Add(RefreshTokenLifetime),
		seq: s.org.seq,
	}
	s.org.tokens[id] = t
	s.org.order = append(s.org.order, t)
	return id
}

// ActiveTokens returns the ids of ACTIVE tokens, in creation order, of
// userID for clientID. An empty userID means every user, an empty clientID
// every client.
func (s *Server) ActiveTokens(userID, clientID string) []string {
	return s.tokenIDs(userID, clientID, StatusActive)
}

// RevokedTokens is ActiveTokens for REVOKED tokens.
func (s *Server) RevokedTokens(userID, clientID string) []string {
	return s.tokenIDs(userID, clientID, StatusRevoked)
}

func (s *Server) tokenIDs(userID, clientID, status string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := []string{}
	for _, t := range s.org.order {
		if t.status == status && (userID == "" || t.userID == userID) && (clientID == "" || t.clientID == clientID) {
			ids = append(ids, t.id)
		}
	}
	return ids
}

// Token returns a token by id, in any status.
func (s *Server) Token(tokenID string) (TokenInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.org.tokens[tokenID]
	if t == nil {
		return TokenInfo{}, false
	}
	return t.info(), true
}

// RevokeToken revokes a token as if Okta had (a user signing out, an
// admin); it reports whether the token was ACTIVE.
func (s *Server) RevokeToken(tokenID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.org.tokens[tokenID]
	if t == nil || t.status != StatusActive {
		return false
	}
	t.status, t.updated = StatusRevoked, s.now()
	return true
}

// SessionRevocations reports how many times DELETE /api/v1/users/{id}/sessions
// succeeded for userID, and how many of those had oauthTokens=true.
func (s *Server) SessionRevocations(userID string) (total, withOAuthTokens int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.org.users[userID]; u != nil {
		return u.sessionsRevoked, u.sessionsWithAuth
	}
	return 0, 0
}

// Reset empties the org (users, apps, tokens, System Log events) and the
// request log and statistics. Configuration (API token, service apps,
// rate limits, faults) is kept; rate-limit windows restart.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.org = newOrg()
	s.syslog = systemLog{}
	s.limits.restart()
	s.resetRequestsLocked()
}

// revokeLocked revokes every ACTIVE token that match selects and returns
// how many it revoked.
func (s *Server) revokeLocked(match func(*token) bool) int {
	now := s.now()
	n := 0
	for _, t := range s.org.order {
		if t.status == StatusActive && match(t) {
			t.status, t.updated = StatusRevoked, now
			n++
		}
	}
	return n
}
