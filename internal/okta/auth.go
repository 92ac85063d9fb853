package okta

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Access-token cache timing.
const (
	tokenRefreshMargin = time.Minute     // refresh this long before expiry
	assertionLifetime  = 5 * time.Minute // exp of the client assertion
	tokenFetchTimeout  = 30 * time.Second
	// tokenPath is the org authorization server's token endpoint.
	tokenPath     = "/oauth2/v1/token"
	maxDPoPRounds = 4 // token calls per fetch while Okta asks for DPoP proofs or nonces
)

// credentialError: no credential could be put on a request. rejected means
// Okta's token endpoint refused ours, so re-reading the secret may help.
type credentialError struct {
	rejected bool
	// oktaFailed: Okta's token endpoint failed (5xx, 429, no answer) after
	// the credentials were read; the error wraps what Okta did.
	oktaFailed bool
	err        error
}

func (e *credentialError) Error() string { return e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

// Is makes a refused credential a configuration problem (ErrUnauthorized),
// and a secret that could not be read (not an unusable one, and not Okta's
// token endpoint failing, which matches ErrServer, ErrRateLimited,
// ErrTimeout or ErrUnavailable through the wrapped error)
// ErrCredentialsUnavailable, so callers can tell "fix the secret" from
// "try again later" from "Okta is failing".
func (e *credentialError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.rejected
	case ErrCredentialsUnavailable:
		return !e.rejected && !e.oktaFailed && !errors.Is(e.err, ErrInvalidCredentials)
	}
	return false
}

// authenticator puts credentials on requests: SSWS, or an OAuth access
// token (Bearer or DPoP-bound) from the org authorization server.
type authenticator struct {
	c        *Client
	src      CredentialsSource
	scopes   string
	tokenURL string

	mu       sync.Mutex
	token    *accessToken
	inflight *tokenFetch
	// DPoP state, learned from Okta's answers.
	dpopKey       *ecdsa.PrivateKey
	dpopRequired  bool
	tokenNonce    string // DPoP-Nonce for the token endpoint
	resourceNonce string // DPoP-Nonce for resource calls, if Okta ever asks
}

type accessToken struct {
	value     string
	dpop      bool
	forCreds  string // identity of the credentials it was minted with
	refreshAt time.Time
}

type tokenFetch struct {
	forCreds string
	done     chan struct{}
	token    *accessToken
	err      error
}

func newAuthenticator(c *Client, src CredentialsSource, scopes string) *authenticator {
	return &authenticator{c: c, src: src, scopes: scopes, tokenURL: c.origin + tokenPath}
}

// authorize sets Authorization (and DPoP) on req.
func (a *authenticator) authorize(ctx context.Context, req *http.Request) error {
	creds, err := a.src.Credentials(ctx)
	if err != nil {
		return &credentialError{err: fmt.Errorf("okta: credentials: %w", err)}
	}
	if creds.APIToken != "" {
		if !isHeaderToken(creds.APIToken) {
			return &credentialError{err: fmt.Errorf("okta: credentials: %w: apiToken is not a valid header value", ErrInvalidCredentials)}
		}
		req.Header.Set("Authorization", "SSWS "+creds.APIToken)
		return nil
	}
	tok, err := a.accessToken(ctx, creds)
	if err != nil {
		return err
	}
	if !tok.dpop {
		req.Header.Set("Authorization", "Bearer "+tok.value)
		return nil
	}
	a.mu.Lock()
	nonce := a.resourceNonce
	a.mu.Unlock()
	proof, err := a.dpopProof(req.Method, req.URL, nonce, tok.value)
	if err != nil {
		return &credentialError{err: err}
	}
	req.Header.Set("Authorization", "DPoP "+tok.value)
	req.Header.Set("DPoP", proof)
	return nil
}

// invalidate drops the cached access token and tells the credentials
// source to re-read the secret.
func (a *authenticator) invalidate() {
	a.mu.Lock()
	a.token = nil
	a.mu.Unlock()
	a.src.Invalidate()
}

// noteDPoPNonce remembers a DPoP-Nonce a resource server sent with a 401.
func (a *authenticator) noteDPoPNonce(h http.Header) {
	if n := h.Get("DPoP-Nonce"); n != "" && isHeaderToken(n) {
		a.mu.Lock()
		a.resourceNonce = n
		a.mu.Unlock()
	}
}

// accessToken returns a cached token for creds or fetches one; concurrent
// callers share one fetch.
func (a *authenticator) accessToken(ctx context.Context, creds Credentials) (*accessToken, error) {
	id := credsIdentity(creds)
	a.mu.Lock()
	if t := a.token; t != nil && t.forCreds == id && time.Now().Before(t.refreshAt) {
		a.mu.Unlock()
		return t, nil
	}
	f := a.inflight
	if f == nil || f.forCreds != id {
		f = &tokenFetch{forCreds: id, done: make(chan struct{})}
		a.inflight = f
		// The fetch outlives a caller that gives up, so the others waiting
		// on it are not failed by that caller's cancellation.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tokenFetchTimeout)
		go func() {
			defer cancel()
			f.token, f.err = a.fetch(fctx, creds, id)
			a.mu.Lock()
			if f.err == nil {
				a.token = f.token
			}
			if a.inflight == f {
				a.inflight = nil
			}
			a.mu.Unlock()
			close(f.done)
		}()
	}
	a.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		// The secret was read: what keeps the token is Okta's token
		// endpoint, slow or rate limited, not the secret store.
		if at := a.c.pacer.spentUntil(bucketClass(http.MethodPost, tokenPath)); !at.IsZero() {
			return nil, &credentialError{oktaFailed: true, err: fmt.Errorf("okta: get access token: %w", &Error{
				Method: http.MethodPost, Path: tokenPath, StatusCode: http.StatusTooManyRequests,
				ErrorSummary:   "not sent: the token endpoint's rate limit is spent until its reset",
				RateLimitReset: at})}
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &credentialError{oktaFailed: true, err: fmt.Errorf("okta: get access token: %w: %w", ErrTimeout, ctx.Err())}
		}
		return nil, &credentialError{oktaFailed: true, err: fmt.Errorf("okta: get access token: %w", ctx.Err())}
	}
}

// credsIdentity tells credentials apart without keeping them: a rotated
// key or client gets a new token.
func credsIdentity(c Credentials) string {
	h := sha256.Sum256([]byte(c.ClientID + "\x00" + c.KeyID + "\x00" + c.PrivateKey))
	return string(h[:])
}

// fetch gets an access token with the client-credentials grant and a
// private_key_jwt client assertion, answering DPoP challenges.
func (a *authenticator) fetch(ctx context.Context, creds Credentials, id string) (*accessToken, error) {
	key, err := parsePrivateKey(creds.PrivateKey)
	if err != nil {
		return nil, &credentialError{err: fmt.Errorf("okta: credentials: %w", err)}
	}
	for round := 1; ; round++ {
		r, err := a.c.newRequest(http.MethodPost, a.tokenURL, func(_ context.Context, req *http.Request) error {
			return a.prepareTokenRequest(req, creds, key)
		}, false)
		if err != nil {
			return nil, err
		}
		resp, err := a.c.send(ctx, r)
		if err != nil {
			var ce *credentialError
			if errors.As(err, &ce) {
				return nil, err
			}
			// Already retried: the resource call must not retry it again.
			return nil, &credentialError{oktaFailed: true, err: fmt.Errorf("okta: get access token: %w", err)}
		}
		if resp.status == http.StatusOK {
			return a.parseTokenResponse(resp, id)
		}
		e := resp.apiError()
		if resp.status == http.StatusBadRequest && (e.ErrorCode == "use_dpop_nonce" || e.ErrorCode == "invalid_dpop_proof") && round < maxDPoPRounds {
			a.mu.Lock()
			a.dpopRequired = true
			if n := resp.header.Get("DPoP-Nonce"); n != "" && isHeaderToken(n) {
				a.tokenNonce = n
			}
			a.mu.Unlock()
			continue
		}
		if resp.status == http.StatusTooManyRequests || resp.status >= 500 {
			return nil, &credentialError{oktaFailed: true, err: fmt.Errorf("okta: get access token: %w", e)}
		}
		// 400 invalid_client / invalid_scope / unauthorized_client, 401:
		// our credentials or the app's grants are wrong.
		return nil, &credentialError{rejected: true, err: fmt.Errorf("okta: get access token: %w", e)}
	}
}

// prepareTokenRequest builds one token call: a fresh client assertion (Okta
// refuses a reused jti) and, once Okta asked for it, a DPoP proof.
func (a *authenticator) prepareTokenRequest(req *http.Request, creds Credentials, key signingKey) error {
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": creds.ClientID,
		"sub": creds.ClientID,
		"aud": a.tokenURL,
		"iat": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
		"jti": rand.Text(),
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(key.alg), claims)
	if creds.KeyID != "" {
		tok.Header["kid"] = creds.KeyID
	}
	assertion, err := tok.SignedString(key.key)
	if err != nil {
		return &credentialError{err: errors.New("okta: sign client assertion: " + err.Error())}
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {a.scopes},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")

	a.mu.Lock()
	dpop, nonce := a.dpopRequired, a.tokenNonce
	a.mu.Unlock()
	if dpop {
		proof, err := a.dpopProof(http.MethodPost, req.URL, nonce, "")
		if err != nil {
			return &credentialError{err: err}
		}
		req.Header.Set("DPoP", proof)
	}
	return nil
}

// parseTokenResponse reads {"token_type","expires_in","access_token"}.
func (a *authenticator) parseTokenResponse(resp *response, id string) (*accessToken, error) {
	var body struct {
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		AccessToken string          `json:"access_token"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		return nil, &credentialError{err: fmt.Errorf("okta: get access token: %w: token response is not JSON", ErrServer)}
	}
	if !isHeaderToken(body.AccessToken) {
		return nil, &credentialError{err: fmt.Errorf("okta: get access token: %w: token response has no usable access_token", ErrServer)}
	}
	lifetime := time.Hour // Okta's fixed lifetime for org AS tokens
	if n, err := strconv.ParseFloat(strings.Trim(string(body.ExpiresIn), `"`), 64); err == nil && n > 0 {
		lifetime = time.Duration(n * float64(time.Second))
	}
	refresh := max(lifetime-tokenRefreshMargin, lifetime/2)
	tok := &accessToken{value: body.AccessToken, forCreds: id, refreshAt: time.Now().Add(refresh)}
	switch {
	case strings.EqualFold(body.TokenType, "DPoP"):
		tok.dpop = true
	case strings.EqualFold(body.TokenType, "Bearer"), body.TokenType == "":
	default:
		return nil, &credentialError{err: fmt.Errorf("okta: get access token: %w: unsupported token_type %q", ErrServer, truncate(body.TokenType, 32))}
	}
	return tok, nil
}

// dpopProof signs a DPoP proof (RFC 9449) for method and u with the
// client's ephemeral P-256 key; accessToken, when set, is bound via ath.
func (a *authenticator) dpopProof(method string, u *url.URL, nonce, accessToken string) (string, error) {
	a.mu.Lock()
	if a.dpopKey == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			a.mu.Unlock()
			return "", fmt.Errorf("okta: generate DPoP key: %w", err)
		}
		a.dpopKey = k
	}
	key := a.dpopKey
	a.mu.Unlock()

	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return "", fmt.Errorf("okta: DPoP key: %w", err)
	}
	raw := pub.Bytes() // 0x04 || X (32) || Y (32)
	htu := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	claims := jwt.MapClaims{
		"htm": method,
		"htu": htu.String(),
		"iat": time.Now().Unix(),
		"jti": rand.Text(),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["typ"] = "dpop+jwt"
	tok.Header["jwk"] = map[string]string{
		"kty": "EC",
		"crv": "P-256",
		"x":   base64.RawURLEncoding.EncodeToString(raw[1:33]),
		"y":   base64.RawURLEncoding.EncodeToString(raw[33:65]),
	}
	proof, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("okta: sign DPoP proof: %w", err)
	}
	return proof, nil
}
