package okta

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// Credentials authenticate the client to Okta: either an SSWS API token, or
// an OAuth 2.0 service app (client credentials with private_key_jwt).
//
// Its String, GoString and LogValue methods redact every secret, so a
// Credentials value printed or logged by mistake leaks nothing.
type Credentials struct {
	APIToken   string // SSWS token; or:
	ClientID   string // OAuth 2.0 service app (client credentials, private_key_jwt)
	PrivateKey string // PEM (PKCS#1 or PKCS#8, RSA or EC)
	KeyID      string // kid of the key registered in Okta
}

// ErrInvalidCredentials: the Okta API secret cannot be used. Its messages
// never quote the secret.
var ErrInvalidCredentials = errors.New("okta: invalid credentials")

// maxSecretBytes bounds the secret ParseCredentials accepts; a PEM RSA-4096
// key is about 3.3 KB.
const maxSecretBytes = 64 << 10

// ParseCredentials parses the Okta API secret's SecretString: JSON
// {"apiToken":"..."} or {"clientId":"...","privateKey":"<PEM>","keyId":"..."};
// a non-JSON plain string is an API token. The private key is parsed here,
// so a broken key is reported when the secret is read, not at the first call.
// Errors wrap ErrInvalidCredentials and never contain the secret.
func ParseCredentials(secret string) (Credentials, error) {
	s := strings.TrimSpace(secret)
	if s == "" {
		return Credentials{}, fmt.Errorf("%w: secret is empty", ErrInvalidCredentials)
	}
	if len(s) > maxSecretBytes {
		return Credentials{}, fmt.Errorf("%w: secret is longer than %d bytes", ErrInvalidCredentials, maxSecretBytes)
	}
	if s[0] != '{' {
		c := Credentials{APIToken: s}
		return c, c.validate()
	}
	var raw struct {
		APIToken   *string `json:"apiToken"`
		ClientID   *string `json:"clientId"`
		PrivateKey *string `json:"privateKey"`
		KeyID      *string `json:"keyId"`
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		// The decoder's message may quote part of the secret: report only
		// where it broke.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Credentials{}, fmt.Errorf("%w: secret is not valid JSON (at byte %d)", ErrInvalidCredentials, syn.Offset)
		}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return Credentials{}, fmt.Errorf("%w: field %q must be a string", ErrInvalidCredentials, typ.Field)
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			// Quote the name only when it looks like a field name, so a
			// secret mistakenly stored as a key is never echoed.
			if n, uerr := strconv.Unquote(name); uerr != nil || !isFieldName(n) {
				name = "(name not shown)"
			}
			return Credentials{}, fmt.Errorf("%w: unknown field %s (want apiToken, or clientId, privateKey and keyId)", ErrInvalidCredentials, name)
		}
		return Credentials{}, fmt.Errorf("%w: secret is not a valid JSON object", ErrInvalidCredentials)
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		return Credentials{}, fmt.Errorf("%w: secret has data after the JSON object", ErrInvalidCredentials)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return strings.TrimSpace(*p)
	}
	c := Credentials{APIToken: str(raw.APIToken), ClientID: str(raw.ClientID), KeyID: str(raw.KeyID)}
	if raw.PrivateKey != nil {
		// Secrets Manager consoles and shells often store the PEM with
		// literal "\n" sequences; accept both.
		c.PrivateKey = strings.TrimSpace(strings.ReplaceAll(*raw.PrivateKey, `\n`, "\n"))
	}
	return c, c.validate()
}

// validate checks that c holds exactly one usable kind of credential.
func (c Credentials) validate() error {
	oauth := c.ClientID != "" || c.PrivateKey != "" || c.KeyID != ""
	switch {
	case c.APIToken != "" && oauth:
		return fmt.Errorf("%w: give either apiToken or clientId/privateKey/keyId, not both", ErrInvalidCredentials)
	case c.APIToken != "":
		if !isHeaderToken(c.APIToken) {
			return fmt.Errorf("%w: apiToken may contain only printable ASCII without spaces", ErrInvalidCredentials)
		}
		return nil
	case !oauth:
		return fmt.Errorf("%w: no apiToken and no clientId", ErrInvalidCredentials)
	case c.ClientID == "":
		return fmt.Errorf("%w: clientId is missing", ErrInvalidCredentials)
	case c.PrivateKey == "":
		return fmt.Errorf("%w: privateKey is missing", ErrInvalidCredentials)
	}
	if !isHeaderToken(c.ClientID) {
		return fmt.Errorf("%w: clientId may contain only printable ASCII without spaces", ErrInvalidCredentials)
	}
	if c.KeyID != "" && !isHeaderToken(c.KeyID) {
		return fmt.Errorf("%w: keyId may contain only printable ASCII without spaces", ErrInvalidCredentials)
	}
	_, err := parsePrivateKey(c.PrivateKey)
	return err
}

// isHeaderToken reports whether s is safe inside an HTTP header or a JWT
// claim without quoting: visible ASCII, no spaces.
func isHeaderToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return s != ""
}

// isFieldName reports whether s looks like a JSON field name rather than a
// value: 1 to 32 letters or underscores.
func isFieldName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}

// signingKey is a parsed private key with the JWS algorithm that fits it.
type signingKey struct {
	key crypto.Signer
	alg string // RS256, ES256, ES384, ES512
}

// parsePrivateKey decodes a PEM private key: PKCS#1 RSA, SEC 1 EC or PKCS#8
// (RSA or EC). Errors never contain key material.
func parsePrivateKey(pemText string) (signingKey, error) {
	block, rest := pem.Decode([]byte(pemText))
	if block == nil {
		return signingKey{}, fmt.Errorf("%w: privateKey is not PEM", ErrInvalidCredentials)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return signingKey{}, fmt.Errorf("%w: privateKey has more than one PEM block", ErrInvalidCredentials)
	}
	if len(block.Headers) > 0 {
		return signingKey{}, fmt.Errorf("%w: privateKey is encrypted or has PEM headers; store it unencrypted", ErrInvalidCredentials)
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return signingKey{}, fmt.Errorf("%w: privateKey PEM block is not a private key (want RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY)", ErrInvalidCredentials)
	}
	if err != nil {
		// x509's messages describe the structure, never the key bytes.
		return signingKey{}, fmt.Errorf("%w: privateKey: %v", ErrInvalidCredentials, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return signingKey{}, fmt.Errorf("%w: privateKey: RSA key has %d bits, want at least 2048", ErrInvalidCredentials, k.N.BitLen())
		}
		return signingKey{key: k, alg: "RS256"}, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return signingKey{key: k, alg: "ES256"}, nil
		case elliptic.P384():
			return signingKey{key: k, alg: "ES384"}, nil
		case elliptic.P521():
			return signingKey{key: k, alg: "ES512"}, nil
		}
		return signingKey{}, fmt.Errorf("%w: privateKey: unsupported EC curve", ErrInvalidCredentials)
	}
	return signingKey{}, fmt.Errorf("%w: privateKey: unsupported key type %T (want RSA or EC)", ErrInvalidCredentials, key)
}

const redacted = "[redacted]"

// String describes c without any secret.
func (c Credentials) String() string {
	switch {
	case c.APIToken != "":
		return "okta.Credentials{APIToken:" + redacted + "}"
	case c.ClientID != "":
		return fmt.Sprintf("okta.Credentials{ClientID:%q, KeyID:%q, PrivateKey:%s}", c.ClientID, c.KeyID, redacted)
	}
	return "okta.Credentials{}"
}

// GoString is String, so %#v redacts too.
func (c Credentials) GoString() string { return c.String() }

// LogValue makes slog log c without secrets.
func (c Credentials) LogValue() slog.Value {
	if c.APIToken != "" {
		return slog.GroupValue(slog.String("kind", "ssws"), slog.String("apiToken", redacted))
	}
	return slog.GroupValue(slog.String("kind", "oauth"), slog.String("clientId", c.ClientID),
		slog.String("keyId", c.KeyID), slog.String("privateKey", redacted))
}

// CredentialsSource supplies credentials; the client calls Invalidate after
// a 401 and re-reads once, so a rotated secret is picked up.
type CredentialsSource interface {
	Credentials(ctx context.Context) (Credentials, error)
	Invalidate()
}

// StaticCredentials returns a CredentialsSource that always returns c.
// Invalidate does nothing.
func StaticCredentials(c Credentials) CredentialsSource { return staticCredentials{c} }

type staticCredentials struct{ c Credentials }

func (s staticCredentials) Credentials(context.Context) (Credentials, error) { return s.c, nil }
func (staticCredentials) Invalidate()                                        {}

// SecretSource is what internal/secrets.Cache provides. Expire makes the
// next read go to the store but keeps the cached value to serve if the
// store cannot be read: a 401 may mean only that an access token expired
// or a DPoP nonce is due, and must not cost the client a secret it can
// still use while Secrets Manager is down.
type SecretSource interface {
	Current(ctx context.Context) (string, error)
	Expire()
}

// CredentialsFromSecret parses the secret on each (cached) read. The last
// parse is remembered, so an unchanged secret is not parsed again.
func CredentialsFromSecret(s SecretSource) CredentialsSource {
	return &secretCredentials{src: s}
}

type secretCredentials struct {
	src SecretSource

	mu     sync.Mutex
	raw    string // the secret last parsed
	parsed Credentials
}

func (s *secretCredentials) Credentials(ctx context.Context) (Credentials, error) {
	raw, err := s.src.Current(ctx)
	if err != nil {
		return Credentials{}, fmt.Errorf("read okta api secret: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if raw == s.raw && raw != "" {
		return s.parsed, nil
	}
	c, err := ParseCredentials(raw)
	if err != nil {
		return Credentials{}, fmt.Errorf("parse okta api secret: %w", err)
	}
	s.raw, s.parsed = raw, c
	return c, nil
}

func (s *secretCredentials) Invalidate() { s.src.Expire() }

// truncate shortens s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
