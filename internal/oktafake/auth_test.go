package oktafake

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const serviceClient = "0oaservice0000000001"

func TestSSWSAndRotation(t *testing.T) {
	f := newFixture(t)
	path := "/api/v1/users/" + user1 + "/clients"
	tests := []struct {
		name   string
		auth   string
		status int
	}{
		{"valid", "SSWS " + DefaultAPIToken, 200},
		{"scheme is case-insensitive", "ssws " + DefaultAPIToken, 200},
		{"missing", "-", 401},
		{"wrong token", "SSWS wrong", 401},
		{"prefix of the token", "SSWS " + DefaultAPIToken[:5], 401},
		{"empty token", "SSWS ", 401},
		{"unknown bearer", "Bearer " + DefaultAPIToken, 401},
		{"other scheme", "Basic " + DefaultAPIToken, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, f.s, call{method: http.MethodGet, path: path, auth: tt.auth})
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d", r.status, tt.status)
			}
			if tt.status == 401 {
				if e := r.errorBody(t); e.ErrorCode != "E0000011" || e.ErrorSummary != "Invalid token provided" {
					t.Errorf("401 body %+v", e)
				}
			}
		})
	}

	f.s.SetAPIToken("rotated-token")
	if r := do(t, f.s, call{method: http.MethodGet, path: path}); r.status != 401 {
		t.Errorf("old token after rotation: %d", r.status)
	}
	if r := do(t, f.s, call{method: http.MethodGet, path: path, auth: "SSWS rotated-token"}); r.status != 200 {
		t.Errorf("new token after rotation: %d", r.status)
	}
	// A 401 never echoes the credential.
	r := do(t, f.s, call{method: http.MethodGet, path: path, auth: "SSWS secret-value-123"})
	if strings.Contains(string(r.body), "secret-value-123") {
		t.Error("401 body echoes the token")
	}
	for _, rec := range f.s.Requests() {
		if strings.Contains(rec.Path+rec.Query+rec.Auth, "token") {
			t.Errorf("recorded request carries a credential: %+v", rec)
		}
	}
}

// signer makes client assertions and DPoP proofs like a real client.
type signer struct {
	key    crypto.Signer
	method jwt.SigningMethod
	kid    string
}

// rsaKeys are generated once per test binary: 2048-bit generation is slow.
var rsaKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// newRSASigner returns a signer with the n-th shared RSA key.
func newRSASigner(n int, kid string) signer {
	return signer{key: rsaKeys()[n], method: jwt.SigningMethodRS256, kid: kid}
}

func newECSigner(t *testing.T, kid string) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{key: k, method: jwt.SigningMethodES256, kid: kid}
}

func (s signer) sign(t *testing.T, claims jwt.Claims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(s.method, claims)
	if s.kid != "" {
		tok.Header["kid"] = s.kid
	}
	for k, v := range header {
		tok.Header[k] = v
	}
	out, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s signer) jwk(t *testing.T) map[string]any {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	switch k := s.key.Public().(type) {
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		pt, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"kty": "EC", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:])}
	}
	t.Fatal("unknown key type")
	return nil
}

func assertionClaims(now time.Time, clientID, aud string) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{
		Issuer: clientID, Subject: clientID, Audience: jwt.ClaimStrings{aud},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
		ID: randomID(16),
	}
}

func tokenForm(assertion, scope string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {scope},
		"client_assertion_type": {jwtBearerAssertion},
		"client_assertion":      {assertion},
	}
}

func postToken(t *testing.T, s *Server, form url.Values, dpop string) reply {
	t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if dpop != "" {
		h["DPoP"] = dpop
	}
	return do(t, s, call{method: http.MethodPost, path: "/oauth2/v1/token", auth: "-", header: h, body: strings.NewReader(form.Encode())})
}

func TestOAuthTokenEndpoint(t *testing.T) {
	clk := newFakeClock()
	f := newFixture(t, WithClock(clk.Now))
	rsaKey := newRSASigner(0, "kid-rsa")
	ecKey := newECSigner(t, "kid-ec")
	stranger := newRSASigner(1, "kid-rsa")
	f.s.RegisterServiceApp(serviceClient, rsaKey.key.Public(), rsaKey.kid)
	f.s.RegisterServiceApp(serviceClient, ecKey.key.Public(), ecKey.kid)
	aud := f.s.URL + "/oauth2/v1/token"
	now := clk.Now()
	valid := assertionClaims(now, serviceClient, aud)
	const scopes = "okta.users.read okta.users.manage"

	with := func(mod func(*jwt.RegisteredClaims)) jwt.RegisteredClaims {
		c := assertionClaims(now, serviceClient, aud)
		mod(&c)
		return c
	}
	tests := []struct {
		name   string
		form   func() url.Values
		status int
		oauth  string // OAuth error code
	}{
		{"RS256", func() url.Values { return tokenForm(rsaKey.sign(t, valid, nil), scopes) }, 200, ""},
		{"ES256", func() url.Values {
			return tokenForm(ecKey.sign(t, assertionClaims(now, serviceClient, aud), nil), scopes)
		}, 200, ""},
		{"client_id matches", func() url.Values {
			v := tokenForm(rsaKey.sign(t, assertionClaims(now, serviceClient, aud), nil), scopes)
			v.Set("client_id", serviceClient)
			return v
		}, 200, ""},
		{"client_id differs", func() url.Values {
			v := tokenForm(rsaKey.sign(t, assertionClaims(now, serviceClient, aud), nil), scopes)
			v.Set("client_id", "0oaother")
			return v
		}, 401, "invalid_client"},
		{"replayed jti", func() url.Values { return tokenForm(rsaKey.sign(t, valid, nil), scopes) }, 401, "invalid_client"},
		{"wrong audience", func() url.Values {
			return tokenForm(rsaKey.sign(t, with(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"https://other/oauth2/v1/token"} }), nil), scopes)
		}, 401, "invalid_client"},
		{"sub differs from iss", func() url.Values {
			return tokenForm(rsaKey.sign(t, with(func(c *jwt.RegisteredClaims) { c.Subject = "someone" }), nil), scopes)
		}, 401, "invalid_client"},
		{"unknown client", func() url.Values {
			return tokenForm(rsaKey.sign(t, with(func(c *jwt.RegisteredClaims) { c.Issuer, c.Subject = "0oaunknown", "0oaunknown" }), nil), scopes)
		}, 401, "invalid_client"},
		{"expired", func() url.Values {
			return tokenForm(rsaKey.sign(t, with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) }), nil), scopes)
		}, 401, "invalid_client"},
		{"no exp", func() url.Values {
			return tokenForm(rsaKey.sign(t, with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil }), nil), scopes)
		}, 401, "invalid_client"},
		{"exp too far ahead", func() url.Values {
			return tokenForm(rsaKey.sign(t, with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(2 * time.Hour)) }), nil), scopes)
		}, 401, "invalid_client"},
		{"unknown kid", func() url.Values {
			return tokenForm(rsaKey.sign(t, assertionClaims(now, serviceClient, aud), map[string]any{"kid": "kid-other"}), scopes)
		}, 401, "invalid_client"},
		{"signed by another key", func() url.Values {
			return tokenForm(stranger.sign(t, assertionClaims(now, serviceClient, aud), nil), scopes)
		}, 401, "invalid_client"},
		{"HS256 with the kid", func() url.Values {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, assertionClaims(now, serviceClient, aud))
			tok.Header["kid"] = "kid-rsa"
			s, _ := tok.SignedString([]byte("shared"))
			return tokenForm(s, scopes)
		}, 401, "invalid_client"},
		{"alg none", func() url.Values {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, assertionClaims(now, serviceClient, aud))
			tok.Header["kid"] = "kid-rsa"
			s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			return tokenForm(s, scopes)
		}, 401, "invalid_client"},
		{"garbage assertion", func() url.Values { return tokenForm("not.a.jwt", scopes) }, 401, "invalid_client"},
		{"wrong grant type", func() url.Values {
			v := tokenForm(rsaKey.sign(t, assertionClaims(now, serviceClient, aud), nil), scopes)
			v.Set("grant_type", "password")
			return v
		}, 400, "unsupported_grant_type"},
		{"wrong assertion type", func() url.Values {
			v := tokenForm(rsaKey.sign(t, assertionClaims(now, serviceClient, aud), nil), scopes)
			v.Set("client_assertion_type", "urn:other")
			return v
		}, 401, "invalid_client"},
		{"no scope", func() url.Values { return tokenForm(rsaKey.sign(t, assertionClaims(now, serviceClient, aud), nil), "") }, 400, "invalid_scope"},
		{"not an Okta scope", func() url.Values {
			return tokenForm(rsaKey.sign(t, assertionClaims(now, serviceClient, aud), nil), "okta.users.read openid")
		}, 400, "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postToken(t, f.s, tt.form(), "")
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
			}
			if tt.oauth != "" {
				e := decode[oauthError](t, r.body)
				if e.Error != tt.oauth || e.Description == "" {
					t.Errorf("error = %+v, want %s", e, tt.oauth)
				}
				return
			}
			tr := decode[tokenResponse](t, r.body)
			if tr.TokenType != "Bearer" || tr.ExpiresIn != 3600 || tr.AccessToken == "" || tr.Scope != scopes {
				t.Errorf("token response = %+v", tr)
			}
		})
	}

	t.Run("not form encoded", func(t *testing.T) {
		r := do(t, f.s, call{method: http.MethodPost, path: "/oauth2/v1/token", auth: "-", header: map[string]string{"Content-Type": "application/json"}, body: strings.NewReader("{}")})
		if r.status != 400 || decode[oauthError](t, r.body).Error != "invalid_request" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
}

func getAccessToken(t *testing.T, s *Server, sg signer, now time.Time, scope string) string {
	t.Helper()
	r := postToken(t, s, tokenForm(sg.sign(t, assertionClaims(now, serviceClient, s.URL+"/oauth2/v1/token"), nil), scope), "")
	if r.status != 200 {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	return decode[tokenResponse](t, r.body).AccessToken
}

func TestBearerTokensAndScopes(t *testing.T) {
	clk := newFakeClock()
	f := newFixture(t, WithClock(clk.Now))
	sg := newECSigner(t, "k1")
	f.s.RegisterServiceApp(serviceClient, sg.key.Public(), sg.kid)
	readOnly := getAccessToken(t, f.s, sg, clk.Now(), "okta.users.read okta.apps.manage")

	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/v1/users/" + user1 + "/clients", 200},
		{"DELETE", "/api/v1/users/" + user1 + "/clients/" + app1 + "/tokens", 403},
		{"GET", "/api/v1/apps/" + app1 + "/tokens", 200}, // manage includes read
		{"DELETE", "/api/v1/apps/" + app2 + "/tokens", 204},
		{"GET", "/api/v1/logs", 403},
	}
	for _, tt := range tests {
		r := do(t, f.s, call{method: tt.method, path: tt.path, auth: "Bearer " + readOnly})
		if r.status != tt.status {
			t.Errorf("%s %s = %d, want %d: %s", tt.method, tt.path, r.status, tt.status, r.body)
		}
		if r.status == 403 && r.errorBody(t).ErrorCode != "E0000006" {
			t.Errorf("403 body %s", r.body)
		}
	}
	if r := do(t, f.s, call{method: http.MethodGet, path: tests[0].path, auth: "SSWS " + readOnly}); r.status != 401 {
		t.Errorf("access token as SSWS: %d", r.status)
	}

	// Expired after an hour.
	clk.Advance(AccessTokenLifetime)
	if r := do(t, f.s, call{method: http.MethodGet, path: tests[0].path, auth: "Bearer " + readOnly}); r.status != 401 {
		t.Errorf("expired access token: %d", r.status)
	}
	fresh := getAccessToken(t, f.s, sg, clk.Now(), "okta.users.read")
	if r := do(t, f.s, call{method: http.MethodGet, path: tests[0].path, auth: "Bearer " + fresh}); r.status != 200 {
		t.Errorf("fresh token: %d", r.status)
	}
	f.s.RevokeAccessTokens()
	if r := do(t, f.s, call{method: http.MethodGet, path: tests[0].path, auth: "Bearer " + fresh}); r.status != 401 {
		t.Errorf("revoked access token: %d", r.status)
	}

	// Scope grants and key removal.
	f.s.SetServiceAppScopes(serviceClient, "okta.users.read")
	r := postToken(t, f.s, tokenForm(sg.sign(t, assertionClaims(clk.Now(), serviceClient, f.s.URL+"/oauth2/v1/token"), nil), "okta.users.read okta.users.manage"), "")
	if e := decode[oauthError](t, r.body); r.status != 400 || e.Error != "invalid_scope" || !strings.Contains(e.Description, "okta.users.manage") {
		t.Errorf("ungranted scope: %d %s", r.status, r.body)
	}
	f.s.RemoveServiceAppKey(serviceClient, "k1")
	r = postToken(t, f.s, tokenForm(sg.sign(t, assertionClaims(clk.Now(), serviceClient, f.s.URL+"/oauth2/v1/token"), nil), "okta.users.read"), "")
	if r.status != 401 {
		t.Errorf("removed key: %d %s", r.status, r.body)
	}
}

type proofOpts struct {
	method, htu, nonce, accessToken string
	iat                             time.Time
	typ                             string
}

func (sg signer) proof(t *testing.T, o proofOpts) string {
	t.Helper()
	claims := jwt.MapClaims{"htm": o.method, "htu": o.htu, "iat": o.iat.Unix(), "jti": randomID(20)}
	if o.nonce != "" {
		claims["nonce"] = o.nonce
	}
	if o.accessToken != "" {
		sum := sha256.Sum256([]byte(o.accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	typ := o.typ
	if typ == "" {
		typ = "dpop+jwt"
	}
	noKid := sg
	noKid.kid = ""
	return noKid.sign(t, claims, map[string]any{"typ": typ, "jwk": sg.jwk(t)})
}

func TestDPoP(t *testing.T) {
	for _, keyType := range []string{"EC", "RSA"} {
		t.Run(keyType, func(t *testing.T) {
			clk := newFakeClock()
			f := newFixture(t, WithClock(clk.Now))
			clientKey := newRSASigner(0, "k1")
			dpopKey := newECSigner(t, "")
			if keyType == "RSA" {
				dpopKey = newRSASigner(2, "")
			}
			f.s.RegisterServiceApp(serviceClient, clientKey.key.Public(), clientKey.kid)
			f.s.RequireDPoP(serviceClient)
			tokenURL := f.s.URL + "/oauth2/v1/token"
			now := clk.Now()
			form := func() url.Values {
				return tokenForm(clientKey.sign(t, assertionClaims(now, serviceClient, tokenURL), nil), "okta.users.read")
			}

			if r := postToken(t, f.s, form(), ""); r.status != 400 || decode[oauthError](t, r.body).Error != "invalid_dpop_proof" {
				t.Fatalf("no proof: %d %s", r.status, r.body)
			}
			r := postToken(t, f.s, form(), dpopKey.proof(t, proofOpts{method: "POST", htu: tokenURL, iat: now}))
			nonce := r.header.Get("DPoP-Nonce")
			if r.status != 400 || decode[oauthError](t, r.body).Error != "use_dpop_nonce" || nonce == "" {
				t.Fatalf("first token call: %d %s nonce %q", r.status, r.body, nonce)
			}
			for name, o := range map[string]proofOpts{
				"wrong htm":   {method: "GET", htu: tokenURL, iat: now, nonce: nonce},
				"wrong htu":   {method: "POST", htu: f.s.URL + "/oauth2/v1/other", iat: now, nonce: nonce},
				"old iat":     {method: "POST", htu: tokenURL, iat: now.Add(-time.Hour), nonce: nonce},
				"wrong typ":   {method: "POST", htu: tokenURL, iat: now, nonce: nonce, typ: "JWT"},
				"wrong nonce": {method: "POST", htu: tokenURL, iat: now, nonce: "stale"},
			} {
				if r := postToken(t, f.s, form(), dpopKey.proof(t, o)); r.status != 400 {
					t.Errorf("%s: %d %s", name, r.status, r.body)
				}
			}
			r = postToken(t, f.s, form(), dpopKey.proof(t, proofOpts{method: "POST", htu: tokenURL, iat: now, nonce: nonce}))
			tr := decode[tokenResponse](t, r.body)
			if r.status != 200 || tr.TokenType != "DPoP" {
				t.Fatalf("token with nonce: %d %s", r.status, r.body)
			}
			at := tr.AccessToken

			path := "/api/v1/users/" + user1 + "/clients"
			htu := f.s.URL + path
			good := func() string { return dpopKey.proof(t, proofOpts{method: "GET", htu: htu, iat: now, accessToken: at}) }
			replayed := good()
			other := newECSigner(t, "")
			tests := []struct {
				name   string
				auth   string
				proof  string
				status int
			}{
				{"valid", "DPoP " + at, replayed, 200},
				{"replayed proof", "DPoP " + at, replayed, 401},
				{"as a Bearer token", "Bearer " + at, good(), 401},
				{"no proof", "DPoP " + at, "", 401},
				{"wrong method", "DPoP " + at, dpopKey.proof(t, proofOpts{method: "DELETE", htu: htu, iat: now, accessToken: at}), 401},
				{"wrong htu", "DPoP " + at, dpopKey.proof(t, proofOpts{method: "GET", htu: f.s.URL + "/api/v1/apps/x", iat: now, accessToken: at}), 401},
				{"no ath", "DPoP " + at, dpopKey.proof(t, proofOpts{method: "GET", htu: htu, iat: now}), 401},
				{"another key", "DPoP " + at, other.proof(t, proofOpts{method: "GET", htu: htu, iat: now, accessToken: at}), 401},
				{"htu with query is fine", "DPoP " + at, dpopKey.proof(t, proofOpts{method: "GET", htu: htu + "?x=1", iat: now, accessToken: at}), 200},
			}
			for _, tt := range tests {
				h := map[string]string{}
				if tt.proof != "" {
					h["DPoP"] = tt.proof
				}
				r := do(t, f.s, call{method: http.MethodGet, path: path, auth: tt.auth, header: h})
				if r.status != tt.status {
					t.Errorf("%s: %d, want %d: %s", tt.name, r.status, tt.status, r.body)
				}
			}
		})
	}
}

func TestJWKRejectsBadKeys(t *testing.T) {
	for name, k := range map[string]jwk{
		"private key":  {Kty: "EC", Crv: "P-256", X: "AA", Y: "AA", D: "AA"},
		"unknown kty":  {Kty: "oct"},
		"bad curve":    {Kty: "EC", Crv: "P-192", X: "AA", Y: "AA"},
		"short point":  {Kty: "EC", Crv: "P-256", X: "AA", Y: "AA"},
		"not on curve": {Kty: "EC", Crv: "P-256", X: strings.Repeat("A", 43), Y: strings.Repeat("B", 43)},
		"rsa no n":     {Kty: "RSA", E: "AQAB"},
		"rsa e=1":      {Kty: "RSA", N: "AQAB", E: "AQ"},
	} {
		if _, _, err := k.publicKey(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
