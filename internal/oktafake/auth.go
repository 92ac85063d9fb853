package oktafake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AccessTokenLifetime is the lifetime of access tokens from
// /oauth2/v1/token; Okta's is fixed at one hour.
const AccessTokenLifetime = time.Hour

// maxAssertionLifetime is how far in the future Okta accepts a client
// assertion's exp (plus a minute of clock skew).
const maxAssertionLifetime = time.Hour + time.Minute

// dpopProofMaxAge bounds the age (and the clock skew) of a DPoP proof.
const dpopProofMaxAge = 5 * time.Minute

const jwtBearerAssertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// asymmetricAlgs are the JWT algorithms Okta accepts for private_key_jwt
// and DPoP.
var asymmetricAlgs = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}

type oauthState struct {
	apps   map[string]*serviceApp
	tokens map[string]*accessToken
	// used holds the jti of accepted client assertions and DPoP proofs
	// until they expire, to refuse replays.
	used  map[string]time.Time
	nonce string
}

type serviceApp struct {
	clientID string
	keys     map[string]crypto.PublicKey // by kid; "" = no kid required
	scopes   []string                    // granted Okta scopes; nil = every okta.* scope
	dpop     bool
}

type accessToken struct {
	clientID string
	scopes   []string
	expires  time.Time
	jkt      string // JWK thumbprint of the DPoP key; "" = a Bearer token
}

func newOAuthState() oauthState {
	return oauthState{
		apps:   map[string]*serviceApp{},
		tokens: map[string]*accessToken{},
		used:   map[string]time.Time{},
		nonce:  randomID(32),
	}
}

// RegisterServiceApp registers an OAuth 2.0 service app that authenticates
// with private_key_jwt, signed by the private half of publicKey (*rsa or
// *ecdsa.PublicKey) under keyID. Registering another keyID for the same
// client adds a key (key rotation); an empty keyID accepts assertions
// without a kid. The app is granted every okta.* scope; see
// SetServiceAppScopes.
func (s *Server) RegisterServiceApp(clientID string, publicKey crypto.PublicKey, keyID string) {
	mustValidID("client id", clientID)
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.auth.apps[clientID]
	if a == nil {
		a = &serviceApp{clientID: clientID, keys: map[string]crypto.PublicKey{}}
		s.auth.apps[clientID] = a
	}
	a.keys[keyID] = publicKey
}

// NewServiceApp registers a service app with a fresh 2048-bit RSA key,
// granted exactly scopes (every okta.* scope when none are given), and
// returns the Okta API secret that authenticates as it, in the format the
// functions read: {"clientId", "privateKey" (PKCS#8 PEM), "keyId"}.
func (s *Server) NewServiceApp(clientID, keyID string, scopes ...string) (secret string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("service app key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("service app key: %w", err)
	}
	s.RegisterServiceApp(clientID, key.Public(), keyID)
	if len(scopes) > 0 {
		s.SetServiceAppScopes(clientID, scopes...)
	}
	b, err := json.Marshal(map[string]string{
		"clientId":   clientID,
		"privateKey": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"keyId":      keyID,
	})
	return string(b), err
}

// RemoveServiceAppKey removes a key from a service app, as deleting it from
// the app's JWKS in Okta would.
func (s *Server) RemoveServiceAppKey(clientID, keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.auth.apps[clientID]; a != nil {
		delete(a.keys, keyID)
	}
}

// SetServiceAppScopes limits the Okta scopes granted to a service app.
// Asking /oauth2/v1/token for another scope gets 400 invalid_scope.
func (s *Server) SetServiceAppScopes(clientID string, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.auth.apps[clientID]; a != nil {
		a.scopes = slices.Clone(scopes)
		if a.scopes == nil {
			a.scopes = []string{}
		}
	}
}

// RequireDPoP makes a service app require DPoP, like Okta's "Require DPoP
// header in token requests": the token request needs a DPoP proof carrying
// the server's nonce (the first attempt gets 400 use_dpop_nonce and a
// DPoP-Nonce header), the access token is of type DPoP and bound to the
// proof's key, and every API call needs "Authorization: DPoP <token>" and
// a fresh proof with htm, htu and ath.
func (s *Server) RequireDPoP(clientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.auth.apps[clientID]; a != nil {
		a.dpop = true
	}
}

// RevokeAccessTokens invalidates every access token issued so far, so the
// next API call with one gets 401.
func (s *Server) RevokeAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.auth.tokens)
}

// principal is who an API call authenticated as.
type principal struct {
	all    bool // SSWS: the admin's full privileges
	scopes []string
}

// allows reports whether the principal holds scope; a ".manage" scope
// includes the matching ".read".
func (p principal) allows(scope string) bool {
	if p.all || slices.Contains(p.scopes, scope) {
		return true
	}
	if base, ok := strings.CutSuffix(scope, ".read"); ok {
		return slices.Contains(p.scopes, base+".manage")
	}
	return false
}

// authenticate checks the Authorization header of an API call, and writes
// 401 E0000011 when it fails.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (principal, bool) {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	switch strings.ToLower(scheme) {
	case "ssws":
		s.mu.Lock()
		want := s.apiToken
		s.mu.Unlock()
		if want != "" && subtle.ConstantTimeCompare([]byte(cred), []byte(want)) == 1 {
			return principal{all: true}, true
		}
	case "bearer", "dpop":
		s.mu.Lock()
		at := s.auth.tokens[cred]
		var tok accessToken
		if at != nil {
			tok = *at
		}
		s.mu.Unlock()
		if at == nil || !s.now().Before(tok.expires) {
			break
		}
		dpop := strings.EqualFold(scheme, "dpop")
		if dpop != (tok.jkt != "") {
			// A DPoP-bound token used as a Bearer token, or the reverse.
			break
		}
		if dpop {
			htu := baseURL(r) + r.URL.EscapedPath()
			if _, jkt, err := s.verifyDPoPProof(r.Header.Get("DPoP"), r.Method, htu, cred); err != nil || jkt != tok.jkt {
				w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof", algs="`+strings.Join(asymmetricAlgs, " ")+`"`)
				break
			}
		}
		return principal{scopes: tok.scopes}, true
	}
	writeError(w, http.StatusUnauthorized, "E0000011", "Invalid token provided")
	return principal{}, false
}

// oauthError is the OAuth 2.0 error answer of /oauth2/v1/token.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, oauthError{Error: code, Description: description})
}

// tokenResponse is the answer of /oauth2/v1/token.
type tokenResponse struct {
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	AccessToken string `json:"access_token"`
	Scope       string `json:"scope"`
}

// handleTokenRequest serves POST /oauth2/v1/token for the client
// credentials grant with private_key_jwt, as Okta's org authorization
// server does for service apps.
func (s *Server) handleTokenRequest(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request must be application/x-www-form-urlencoded.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body could not be parsed.")
		return
	}
	form := r.PostForm
	if form.Get("grant_type") != "client_credentials" {
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server. Configured grant types: [client_credentials].")
		return
	}
	if form.Get("client_assertion_type") != jwtBearerAssertion {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "client_assertion_type is invalid.")
		return
	}
	assertion := form.Get("client_assertion")
	var unverified jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(assertion, &unverified); err != nil || unverified.Issuer == "" {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "The client_assertion token is invalid.")
		return
	}
	clientID := unverified.Issuer
	s.mu.Lock()
	app, found := s.serviceAppLocked(clientID)
	s.mu.Unlock()
	if !found || (form.Get("client_id") != "" && form.Get("client_id") != clientID) {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Invalid value for 'client_id' parameter.")
		return
	}
	tokenURL := baseURL(r) + "/oauth2/v1/token"

	var jkt string
	if app.dpop {
		proof := r.Header.Get("DPoP")
		if proof == "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_dpop_proof", "The DPoP proof JWT header is missing.")
			return
		}
		claims, thumb, err := s.verifyDPoPProof(proof, http.MethodPost, tokenURL, "")
		if err != nil {
			writeOAuthError(w, http.StatusBadRequest, "invalid_dpop_proof", "The DPoP proof JWT is invalid: "+err.Error())
			return
		}
		s.mu.Lock()
		nonce := s.auth.nonce
		s.mu.Unlock()
		if got, _ := claims["nonce"].(string); got != nonce {
			w.Header().Set("DPoP-Nonce", nonce)
			writeOAuthError(w, http.StatusBadRequest, "use_dpop_nonce", "Authorization server requires nonce in DPoP proof.")
			return
		}
		jkt = thumb
	}

	claims, problem := s.verifyAssertion(assertion, app, tokenURL)
	if problem != "" {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", problem)
		return
	}

	scopes := strings.Fields(form.Get("scope"))
	if len(scopes) == 0 {
		writeOAuthError(w, http.StatusBadRequest, "invalid_scope", "The authorization server resource does not have any configured default scopes, 'scope' must be provided.")
		return
	}
	var denied []string
	for _, sc := range scopes {
		if !strings.HasPrefix(sc, "okta.") || (app.scopes != nil && !slices.Contains(app.scopes, sc)) {
			denied = append(denied, sc)
		}
	}
	if len(denied) > 0 {
		writeOAuthError(w, http.StatusBadRequest, "invalid_scope", "The following scopes are not allowed: "+strings.Join(denied, ", "))
		return
	}

	now := s.now()
	value := rand.Text() + rand.Text()
	s.mu.Lock()
	if claims.ID != "" {
		key := "assertion:" + clientID + ":" + claims.ID
		if _, replay := s.auth.used[key]; replay {
			s.mu.Unlock()
			writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "The client_assertion token has already been used.")
			return
		}
		s.rememberLocked(key, claims.ExpiresAt.Time)
	}
	s.auth.tokens[value] = &accessToken{clientID: clientID, scopes: scopes, expires: now.Add(AccessTokenLifetime), jkt: jkt}
	s.mu.Unlock()
	tokenType := "Bearer"
	if jkt != "" {
		tokenType = "DPoP"
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		TokenType: tokenType, ExpiresIn: int(AccessTokenLifetime / time.Second),
		AccessToken: value, Scope: strings.Join(scopes, " "),
	})
}

// serviceAppLocked returns a copy of the app, safe to use unlocked.
func (s *Server) serviceAppLocked(clientID string) (serviceApp, bool) {
	a := s.auth.apps[clientID]
	if a == nil {
		return serviceApp{}, false
	}
	c := *a
	c.keys = make(map[string]crypto.PublicKey, len(a.keys))
	for k, v := range a.keys {
		c.keys[k] = v
	}
	c.scopes = slices.Clone(a.scopes)
	return c, true
}

// verifyAssertion checks a private_key_jwt client assertion: signature by a
// registered key (kid), iss = sub = client_id, aud = the token URL, exp in
// the future and at most an hour ahead. problem is Okta's description of
// what is wrong, "" when the assertion is valid.
func (s *Server) verifyAssertion(assertion string, app serviceApp, tokenURL string) (claims *jwt.RegisteredClaims, problem string) {
	claims = &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(assertion, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if key, ok := app.keys[kid]; ok {
			return key, nil
		}
		return nil, errors.New("no registered key matches the kid")
	},
		jwt.WithValidMethods(asymmetricAlgs),
		jwt.WithIssuer(app.clientID),
		jwt.WithSubject(app.clientID),
		jwt.WithAudience(tokenURL),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now),
	)
	if err != nil {
		return nil, "The client_assertion token is invalid: " + err.Error()
	}
	if claims.ExpiresAt.After(s.now().Add(maxAssertionLifetime)) {
		return nil, "The client_assertion token has an expiration too far in the future."
	}
	return claims, ""
}

// verifyDPoPProof checks a DPoP proof (RFC 9449): typ dpop+jwt, an
// asymmetric alg, a public jwk that verifies the signature, htm, htu, a
// recent iat, a fresh jti and, for API calls, ath = hash of the access
// token. It returns the claims and the key's RFC 7638 thumbprint.
func (s *Server) verifyDPoPProof(proof, method, htu, accessTokenValue string) (jwt.MapClaims, string, error) {
	if proof == "" {
		return nil, "", errors.New("missing DPoP header")
	}
	var thumb string
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(proof, claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != "dpop+jwt" {
			return nil, errors.New("typ must be dpop+jwt")
		}
		raw, err := json.Marshal(t.Header["jwk"])
		if err != nil || t.Header["jwk"] == nil {
			return nil, errors.New("missing jwk")
		}
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, errors.New("invalid jwk")
		}
		pub, tp, err := k.publicKey()
		if err != nil {
			return nil, err
		}
		thumb = tp
		return pub, nil
	}, jwt.WithValidMethods(asymmetricAlgs), jwt.WithTimeFunc(s.now))
	if err != nil {
		return nil, "", fmt.Errorf("signature: %w", err)
	}
	if htm, _ := claims["htm"].(string); htm != method {
		return nil, "", errors.New("htm does not match the request method")
	}
	if got, _ := claims["htu"].(string); stripQuery(got) != htu {
		return nil, "", errors.New("htu does not match the request URL")
	}
	iat, err := claims.GetIssuedAt()
	now := s.now()
	if err != nil || iat == nil || iat.Before(now.Add(-dpopProofMaxAge)) || iat.After(now.Add(dpopProofMaxAge)) {
		return nil, "", errors.New("iat missing or not recent")
	}
	jti, _ := claims["jti"].(string)
	if jti == "" {
		return nil, "", errors.New("missing jti")
	}
	if accessTokenValue != "" {
		sum := sha256.Sum256([]byte(accessTokenValue))
		if ath, _ := claims["ath"].(string); ath != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return nil, "", errors.New("ath does not match the access token")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := "dpop:" + thumb + ":" + jti
	if _, replay := s.auth.used[key]; replay {
		return nil, "", errors.New("jti already used")
	}
	s.rememberLocked(key, iat.Add(2*dpopProofMaxAge))
	return claims, thumb, nil
}

func stripQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// rememberLocked records a used jti until expires, pruning expired ones
// now and then so the map stays small.
func (s *Server) rememberLocked(key string, expires time.Time) {
	if len(s.auth.used) >= 4096 {
		now := s.now()
		for k, exp := range s.auth.used {
			if exp.Before(now) {
				delete(s.auth.used, k)
			}
		}
	}
	s.auth.used[key] = expires
}
