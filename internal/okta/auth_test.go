package okta

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/secrets"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/outagesm"
)

// tokenServer is an org authorization server and resource server in one:
// it checks client assertions like Okta and hands out access tokens.
type tokenServer struct {
	t        *testing.T
	base     string
	clientID string
	keyID    string
	public   crypto.PublicKey
	alg      string
	expires  int // expires_in

	mu          sync.Mutex
	tokenCalls  int
	issued      []string
	jtis        map[string]bool
	rejectFirst int // resource calls answered 401 before accepting
	problems    []string
}

func (s *tokenServer) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth2/v1/token" {
		s.token(w, r)
		return
	}
	auth := r.Header.Get("Authorization")
	s.mu.Lock()
	valid := false
	for _, at := range s.issued {
		valid = valid || auth == "Bearer "+at
	}
	reject := s.rejectFirst > 0
	if reject {
		s.rejectFirst--
	}
	s.mu.Unlock()
	if !valid || reject {
		oktaError(w, 401, "E0000011", "Invalid token provided")
		return
	}
	w.WriteHeader(204)
}

func (s *tokenServer) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tokenCalls++
	s.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		s.problem("form: %v", err)
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" || f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" ||
		f.Get("scope") != "okta.users.read okta.users.manage okta.apps.read okta.apps.manage" {
		s.problem("form = %v", f)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		s.problem("Content-Type = %q", ct)
	}
	tok, err := jwt.Parse(f.Get("client_assertion"), func(tok *jwt.Token) (any, error) {
		if tok.Method.Alg() != s.alg {
			return nil, fmt.Errorf("alg %s, want %s", tok.Method.Alg(), s.alg)
		}
		if tok.Header["kid"] != s.keyID {
			return nil, fmt.Errorf("kid %v", tok.Header["kid"])
		}
		return s.public, nil
	}, jwt.WithAudience(s.base+"/oauth2/v1/token"), jwt.WithIssuer(s.clientID), jwt.WithSubject(s.clientID), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		s.problem("assertion: %v", err)
		w.WriteHeader(401)
		io.WriteString(w, `{"error":"invalid_client","error_description":"The client_assertion signature is invalid."}`)
		return
	}
	claims := tok.Claims.(jwt.MapClaims)
	exp, _ := claims.GetExpirationTime()
	iat, _ := claims.GetIssuedAt()
	if exp.Sub(iat.Time) > 5*time.Minute {
		s.problem("assertion lives %v", exp.Sub(iat.Time))
	}
	jti, _ := claims["jti"].(string)
	s.mu.Lock()
	if jti == "" || s.jtis[jti] {
		s.problems = append(s.problems, "jti missing or reused: "+jti)
	}
	s.jtis[jti] = true
	at := fmt.Sprintf("at-%d-secretaccesstoken", len(s.issued))
	s.issued = append(s.issued, at)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":%d,"access_token":%q,"scope":"okta.users.read"}`, s.expires, at)
}

func newTokenServer(t *testing.T, keyPEM string) (*tokenServer, string) {
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	s := &tokenServer{t: t, clientID: "0oaServiceApp", keyID: "kid-1", public: key.key.Public(), alg: key.alg, expires: 3600, jtis: map[string]bool{}}
	rec := newRecorder(t, s.ServeHTTP)
	s.base = rec.srv.URL
	t.Cleanup(func() {
		for _, p := range s.problems {
			t.Errorf("token server: %s", p)
		}
	})
	return s, rec.srv.URL
}

func TestOAuthTokenIsCachedAndRefreshed(t *testing.T) {
	keys := testKeys(t)
	for _, name := range []string{"rsa-pkcs1", "rsa-pkcs8", "ec-sec1", "ec-pkcs8", "ec384"} {
		t.Run(name, func(t *testing.T) {
			s, url := newTokenServer(t, keys[name])
			c := testClient(t, url, StaticCredentials(Credentials{ClientID: s.clientID, PrivateKey: keys[name], KeyID: s.keyID}))
			for range 5 {
				if err := c.RevokeAppTokens(context.Background(), cid); err != nil {
					t.Fatal(err)
				}
			}
			if s.tokenCalls != 1 {
				t.Errorf("%d token calls for 5 API calls, want 1", s.tokenCalls)
			}
			// Shortly before expiry the token is replaced.
			c.auth.mu.Lock()
			c.auth.token.refreshAt = time.Now().Add(-time.Second)
			c.auth.mu.Unlock()
			if err := c.RevokeAppTokens(context.Background(), cid); err != nil {
				t.Fatal(err)
			}
			if s.tokenCalls != 2 {
				t.Errorf("%d token calls after expiry, want 2", s.tokenCalls)
			}
		})
	}
}

func TestOAuthTokenRefreshMargin(t *testing.T) {
	keys := testKeys(t)
	s, url := newTokenServer(t, keys["ec-sec1"])
	c := testClient(t, url, StaticCredentials(Credentials{ClientID: s.clientID, PrivateKey: keys["ec-sec1"], KeyID: s.keyID}))
	before := time.Now()
	if err := c.RevokeAppTokens(context.Background(), cid); err != nil {
		t.Fatal(err)
	}
	c.auth.mu.Lock()
	refresh := c.auth.token.refreshAt.Sub(before)
	c.auth.mu.Unlock()
	if refresh < 58*time.Minute || refresh > 59*time.Minute+time.Second {
		t.Errorf("a 1 h token is refreshed after %v, want about 59 min", refresh)
	}
}

func TestOAuthConcurrentCallersShareOneTokenFetch(t *testing.T) {
	keys := testKeys(t)
	s, url := newTokenServer(t, keys["ec-sec1"])
	c := testClient(t, url, StaticCredentials(Credentials{ClientID: s.clientID, PrivateKey: keys["ec-sec1"], KeyID: s.keyID}))
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 20 {
		wg.Go(func() {
			if err := c.RevokeAppTokens(context.Background(), cid); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 || s.tokenCalls != 1 {
		t.Errorf("%d failures, %d token calls; want 0 and 1", failed.Load(), s.tokenCalls)
	}
}

func TestOAuth401GetsANewToken(t *testing.T) {
	keys := testKeys(t)
	s, url := newTokenServer(t, keys["rsa-pkcs8"])
	s.rejectFirst = 1
	secret := &rotatingSecret{value: `{"clientId":"0oaServiceApp","privateKey":` + jsonQuote(keys["rsa-pkcs8"]) + `,"keyId":"kid-1"}`}
	c := testClient(t, url, CredentialsFromSecret(secret))
	if err := c.RevokeAppTokens(context.Background(), cid); err != nil {
		t.Fatal(err)
	}
	if s.tokenCalls != 2 || secret.expiries != 1 {
		t.Errorf("%d token calls, %d expiries; want 2 and 1", s.tokenCalls, secret.expiries)
	}
}

func TestOAuthRefusedCredentialsAreAConfigProblem(t *testing.T) {
	keys := testKeys(t)
	s, url := newTokenServer(t, keys["ec-sec1"])
	s.keyID = "another-kid" // Okta does not know our key
	secret := &rotatingSecret{value: `{"clientId":"0oaServiceApp","privateKey":` + jsonQuote(keys["ec-sec1"]) + `,"keyId":"kid-1"}`}
	c := testClient(t, url, CredentialsFromSecret(secret))
	err := c.RevokeAppTokens(context.Background(), cid)
	var e *Error
	if !IsConfigProblem(err) || !errors.Is(err, ErrUnauthorized) || IsRetryable(err) || !errors.As(err, &e) || e.ErrorCode != "invalid_client" {
		t.Fatalf("err = %v", err)
	}
	if s.tokenCalls != 2 || secret.expiries != 1 {
		t.Errorf("%d token calls, %d expiries; want 2 (re-read once) and 1", s.tokenCalls, secret.expiries)
	}
	s.mu.Lock()
	s.problems = nil // the refusals were the point
	s.mu.Unlock()
}

func TestOAuthTokenEndpointOutage(t *testing.T) {
	keys := testKeys(t)
	var calls atomic.Int32
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		oktaError(w, 503, "", "")
	})
	c := testClient(t, rec.srv.URL, StaticCredentials(Credentials{ClientID: "0oa", PrivateKey: keys["ec-sec1"]}), func(cfg *Config) { cfg.MaxAttempts = 3 })
	err := c.RevokeAppTokens(context.Background(), cid)
	if !errors.Is(err, ErrServer) || !IsRetryable(err) || IsConfigProblem(err) {
		t.Fatalf("err = %v", err)
	}
	// The secret was read; Okta failed. Callers that check for unreadable
	// credentials first (the revoker stops a batch for them) must not
	// take this for one.
	if errors.Is(err, ErrCredentialsUnavailable) {
		t.Errorf("err = %v matches ErrCredentialsUnavailable", err)
	}
	if calls.Load() != 3 {
		t.Errorf("%d calls, want 3 (the token call retried, not retried again by the API call)", calls.Load())
	}
}

func jsonQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// dpopServer requires DPoP like Okta: a proof on the token call, then its
// nonce, then DPoP-bound tokens with proofs carrying ath on API calls.
type dpopServer struct {
	base  string
	nonce string

	mu         sync.Mutex
	steps      []string
	accessTok  string
	boundThumb string
	problems   []string
}

func (s *dpopServer) fail(format string, args ...any) {
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

// verifyProof checks a DPoP proof and returns its claims and key thumbprint.
func verifyProof(proof string) (jwt.MapClaims, string, error) {
	var thumb string
	tok, err := jwt.Parse(proof, func(tok *jwt.Token) (any, error) {
		if tok.Header["typ"] != "dpop+jwt" {
			return nil, fmt.Errorf("typ %v", tok.Header["typ"])
		}
		jwk, ok := tok.Header["jwk"].(map[string]any)
		if !ok || jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
			return nil, fmt.Errorf("jwk %v", tok.Header["jwk"])
		}
		x, err1 := base64.RawURLEncoding.DecodeString(jwk["x"].(string))
		y, err2 := base64.RawURLEncoding.DecodeString(jwk["y"].(string))
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("bad jwk coordinates")
		}
		if _, hasD := jwk["d"]; hasD {
			return nil, errors.New("jwk leaks the private key")
		}
		thumb = jwk["x"].(string) + jwk["y"].(string)
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuedAt())
	if err != nil {
		return nil, "", err
	}
	return tok.Claims.(jwt.MapClaims), thumb, nil
}

func (s *dpopServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	proof := r.Header.Get("DPoP")
	if r.URL.Path == "/oauth2/v1/token" {
		if proof == "" {
			s.steps = append(s.steps, "no proof")
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"invalid_dpop_proof","error_description":"The DPoP proof JWT header is missing."}`)
			return
		}
		claims, thumb, err := verifyProof(proof)
		if err != nil {
			s.fail("token proof: %v", err)
			w.WriteHeader(400)
			return
		}
		if claims["htm"] != "POST" || claims["htu"] != s.base+"/oauth2/v1/token" || claims["ath"] != nil {
			s.fail("token proof claims %v", claims)
		}
		if claims["nonce"] != s.nonce {
			s.steps = append(s.steps, "no nonce")
			w.Header().Set("DPoP-Nonce", s.nonce)
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof."}`)
			return
		}
		s.steps = append(s.steps, "token")
		s.accessTok, s.boundThumb = "dpop-bound-secret-token", thumb
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"token_type":"DPoP","expires_in":3600,"access_token":"dpop-bound-secret-token","scope":"okta.users.manage"}`)
		return
	}
	if r.Header.Get("Authorization") != "DPoP "+s.accessTok {
		s.fail("API Authorization = %q", r.Header.Get("Authorization"))
		w.WriteHeader(401)
		return
	}
	claims, thumb, err := verifyProof(proof)
	if err != nil {
		s.fail("API proof: %v", err)
		w.WriteHeader(401)
		return
	}
	sum := sha256.Sum256([]byte(s.accessTok))
	wantHTU := s.base + r.URL.Path // no query
	if claims["htm"] != r.Method || claims["htu"] != wantHTU || claims["ath"] != base64.RawURLEncoding.EncodeToString(sum[:]) || thumb != s.boundThumb || claims["jti"] == "" {
		s.fail("API proof claims %v (want htm %s htu %s)", claims, r.Method, wantHTU)
	}
	s.steps = append(s.steps, r.Method)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, "[]")
}

func TestDPoPNonceFlow(t *testing.T) {
	keys := testKeys(t)
	s := &dpopServer{nonce: "nonce-1"}
	rec := newRecorder(t, s.ServeHTTP)
	s.base = rec.srv.URL
	c := testClient(t, rec.srv.URL, StaticCredentials(Credentials{ClientID: "0oaDPoP", PrivateKey: keys["rsa-pkcs8"], KeyID: "k"}))
	if _, err := c.ListUserClientTokens(context.Background(), uid, cid, ListOptions{Limit: 5}); err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeUserClientTokens(context.Background(), uid, cid); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.problems {
		t.Error(p)
	}
	if got := strings.Join(s.steps, ","); got != "no proof,no nonce,token,GET,DELETE" {
		t.Errorf("steps = %s", got)
	}
}

// TestAgainstOktaFake runs the client against the stateful fake with each
// kind of credential it supports.
func TestAgainstOktaFake(t *testing.T) {
	keys := testKeys(t)
	ecKey, _ := parsePrivateKey(keys["ec-pkcs8"])
	rsaKey, _ := parsePrivateKey(keys["rsa-pkcs1"])
	cases := []struct {
		name  string
		creds Credentials
		setup func(*oktafake.Server)
	}{
		{"ssws", Credentials{APIToken: oktafake.DefaultAPIToken}, func(*oktafake.Server) {}},
		{"oauth-rsa", Credentials{ClientID: "0oaSvcRSA", PrivateKey: keys["rsa-pkcs1"], KeyID: "rsa1"}, func(f *oktafake.Server) {
			f.RegisterServiceApp("0oaSvcRSA", rsaKey.key.Public(), "rsa1")
		}},
		{"oauth-ec-dpop", Credentials{ClientID: "0oaSvcEC", PrivateKey: keys["ec-pkcs8"], KeyID: "ec1"}, func(f *oktafake.Server) {
			f.RegisterServiceApp("0oaSvcEC", ecKey.key.Public(), "ec1")
			f.RequireDPoP("0oaSvcEC")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := oktafake.NewTest(t)
			tc.setup(fake)
			fake.AddApp("0oaAppInstance1", "custom-client-1", "Portal")
			for range 3 {
				fake.AddToken(uid, "custom-client-1")
			}
			other := fake.AddToken(uid, "0oaOtherClient")
			appTok := fake.AddToken("00uSomeoneElse", "custom-client-1")
			c := testClient(t, fake.URL, StaticCredentials(tc.creds))
			ctx := context.Background()

			clientID, err := c.AppClientID(ctx, "0oaAppInstance1")
			if err != nil || clientID != "custom-client-1" {
				t.Fatalf("AppClientID = %q, %v", clientID, err)
			}
			ids, err := c.UserClientIDs(ctx, uid)
			if err != nil || len(ids) != 2 {
				t.Fatalf("UserClientIDs = %v, %v", ids, err)
			}
			first, err := c.ListUserClientTokens(ctx, uid, clientID, ListOptions{Limit: 2, Expand: "scope"})
			if err != nil || len(first.Items) != 2 || first.NextURL == "" || first.After == "" {
				t.Fatalf("first page: %+v, %v", first, err)
			}
			var n int
			for item, err := range c.Items(ctx, first) {
				if err != nil {
					t.Fatal(err)
				}
				var tok RefreshToken
				if err := jsonUnmarshal(item, &tok); err != nil || tok.Status != "ACTIVE" || tok.ClientID != clientID || tok.UserID != uid {
					t.Fatalf("token %s: %v", item, err)
				}
				n++
			}
			if n != 3 {
				t.Errorf("walked %d tokens, want 3", n)
			}
			if _, err := c.GetUserClientToken(ctx, uid, "0oaOtherClient", other, "scope"); err != nil {
				t.Errorf("GetUserClientToken: %v", err)
			}
			if err := c.RevokeUserClientTokens(ctx, uid, clientID); err != nil {
				t.Fatal(err)
			}
			if left := fake.ActiveTokens(uid, clientID); len(left) != 0 {
				t.Errorf("still active: %v", left)
			}
			if err := c.RevokeUserClientToken(ctx, uid, "0oaOtherClient", other); err != nil {
				t.Fatal(err)
			}
			if err := c.RevokeUserClientToken(ctx, uid, "0oaOtherClient", "oarNoSuchToken00000"); !IsNotFound(err) {
				t.Errorf("revoking an unknown token: %v, want not found", err)
			}
			page, err := c.ListAppTokens(ctx, "0oaAppInstance1", ListOptions{})
			if err != nil || len(page.Items) != 1 {
				t.Fatalf("ListAppTokens = %+v, %v", page, err)
			}
			if _, err := c.GetAppToken(ctx, "0oaAppInstance1", appTok, ""); err != nil {
				t.Errorf("GetAppToken: %v", err)
			}
			if err := c.RevokeAppTokens(ctx, "0oaAppInstance1"); err != nil {
				t.Fatal(err)
			}
			if len(fake.ActiveTokens("", "")) != 0 {
				t.Errorf("active tokens left: %v", fake.ActiveTokens("", ""))
			}
			if err := c.RevokeUserSessions(ctx, uid, true); err != nil {
				t.Errorf("RevokeUserSessions: %v", err)
			}
			if total, withTokens := fake.SessionRevocations(uid); total != 1 || withTokens != 1 {
				t.Errorf("session revocations %d/%d", total, withTokens)
			}
			if bad := fake.MalformedRequests(); len(bad) != 0 {
				t.Errorf("malformed requests: %+v", bad)
			}
			for _, r := range fake.Requests() {
				if r.UserAgent != UserAgent {
					t.Errorf("User-Agent %q", r.UserAgent)
				}
			}
		})
	}
}

func TestRotatedAPITokenIsPickedUpAfter401(t *testing.T) {
	fake := oktafake.NewTest(t, oktafake.WithAPIToken("first-token"))
	fake.AddToken(uid, cid)
	secret := &rotatingSecret{value: "first-token"}
	c := testClient(t, fake.URL, CredentialsFromSecret(secret))
	if _, err := c.ListUserClients(context.Background(), uid); err != nil {
		t.Fatal(err)
	}
	// Rotation: Okta now wants the new token; our cache still has the old.
	fake.SetAPIToken("second-token")
	secret.mu.Lock()
	secret.stale, secret.value = "first-token", "second-token"
	secret.mu.Unlock()
	if err := c.RevokeUserClientTokens(context.Background(), uid, cid); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if len(fake.ActiveTokens(uid, cid)) != 0 || secret.expiries != 1 {
		t.Errorf("tokens left %v, expiries %d", fake.ActiveTokens(uid, cid), secret.expiries)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func TestOAuthTokenEndpointHangIsATimeout(t *testing.T) {
	keys := testKeys(t)
	rec := newRecorder(t, hang)
	c := testClient(t, rec.srv.URL, StaticCredentials(Credentials{ClientID: "0oa", PrivateKey: keys["ec-sec1"]}), func(cfg *Config) {
		cfg.MaxAttempts = 2
		cfg.AttemptTimeout = 50 * time.Millisecond
	})
	err := c.RevokeAppTokens(context.Background(), cid)
	if !errors.Is(err, ErrTimeout) || !IsRetryable(err) || IsConfigProblem(err) {
		t.Fatalf("err = %v", err)
	}
	// The caller gave up waiting on Okta's token endpoint, not on the
	// secret: the routes answer 504, not 503.
	if errors.Is(err, ErrCredentialsUnavailable) {
		t.Errorf("err = %v matches ErrCredentialsUnavailable", err)
	}
}

// TestOAuthTokenEndpointRateLimited: while the token endpoint's bucket is
// spent, a caller whose attempt ends before the reset gets a rate-limit
// error carrying the reset, so the revoker defers the message to it.
func TestOAuthTokenEndpointRateLimited(t *testing.T) {
	keys := testKeys(t)
	reset := time.Now().Add(3 * time.Second).Truncate(time.Second)
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Rate-Limit-Limit", "100")
		w.Header().Set("X-Rate-Limit-Remaining", "0")
		w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
		oktaError(w, http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
	})
	c := testClient(t, rec.srv.URL, StaticCredentials(Credentials{ClientID: "0oa", PrivateKey: keys["ec-sec1"]}), func(cfg *Config) {
		cfg.AttemptTimeout = 300 * time.Millisecond
	})
	err := c.RevokeAppTokens(context.Background(), cid)
	at, ok := RateLimitReset(err)
	if !ok || errors.Is(err, ErrCredentialsUnavailable) || IsConfigProblem(err) {
		t.Fatalf("err = %v; want a rate-limit error, not unreadable credentials", err)
	}
	if at.Before(reset) || at.After(reset.Add(maxResetJitter+resetSlack)) {
		t.Errorf("reset %v, want about %v", at, reset)
	}
}

// TestOAuth401DuringSecretsOutage: a 401 for an access token Okta no
// longer accepts makes the client re-read the secret; with Secrets Manager
// down, the cached secret must still serve to get a new token.
func TestOAuth401DuringSecretsOutage(t *testing.T) {
	keys := testKeys(t)
	s, url := newTokenServer(t, keys["rsa-pkcs8"])
	s.rejectFirst = 1
	sm := &outagesm.SM{Value: `{"clientId":"0oaServiceApp","privateKey":` + jsonQuote(keys["rsa-pkcs8"]) + `,"keyId":"kid-1"}`}
	cache := secrets.NewCache(sm, "okta-api", time.Hour, secrets.WithLogger(slog.New(slog.DiscardHandler)))
	if _, err := cache.Current(context.Background()); err != nil {
		t.Fatal(err)
	}
	sm.Down.Store(true)
	c := testClient(t, url, CredentialsFromSecret(cache))
	if err := c.RevokeAppTokens(context.Background(), cid); err != nil {
		t.Fatalf("revoke after a 401 with Secrets Manager down: %v", err)
	}
	if s.tokenCalls != 2 {
		t.Errorf("%d token calls, want 2 (a new token after the 401)", s.tokenCalls)
	}
}
