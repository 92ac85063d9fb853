package okta

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseLinkHeader(t *testing.T) {
	const a, b = "https://acme.okta.com/api/v1/apps/x/tokens?limit=20", "https://acme.okta.com/api/v1/apps/x/tokens?after=abc&limit=20"
	cases := []struct {
		name   string
		values []string
		want   map[string]string
	}{
		{"none", nil, map[string]string{}},
		{"okta two headers", []string{`<` + a + `>; rel="self"`, `<` + b + `>; rel="next"`}, map[string]string{"self": a, "next": b}},
		{"comma joined", []string{`<` + a + `>; rel="self", <` + b + `>; rel="next"`}, map[string]string{"self": a, "next": b}},
		{"bare rel, no spaces", []string{`<` + b + `>;rel=next`}, map[string]string{"next": b}},
		{"rel list", []string{`<` + b + `>; rel="next last"`}, map[string]string{"next": b, "last": b}},
		{"case", []string{`<` + b + `>; REL="Next"`}, map[string]string{"next": b}},
		{"other params first", []string{`<` + b + `>; title="a, b; c"; rel="next"`}, map[string]string{"next": b}},
		{"escaped quote", []string{`<` + b + `>; title="say \"hi\""; rel=next`}, map[string]string{"next": b}},
		{"first rel wins", []string{`<` + a + `>; rel="next"; rel="self"`}, map[string]string{"next": a}},
		{"first link wins", []string{`<` + a + `>; rel="next"`, `<` + b + `>; rel="next"`}, map[string]string{"next": a}},
		{"comma in URI", []string{`<https://x/a?q=1,2>; rel="next"`}, map[string]string{"next": "https://x/a?q=1,2"}},
		{"no rel", []string{`<` + a + `>`}, map[string]string{}},
		{"garbage then valid", []string{`garbage; rel="next", <` + b + `>; rel="next"`}, map[string]string{"next": b}},
		{"garbage after uri", []string{`<` + a + `> junk; rel="next", <` + b + `>; rel="next"`}, map[string]string{"next": b}},
		{"unterminated uri", []string{`<` + a + `; rel="next"`}, map[string]string{}},
		{"unterminated quote", []string{`<` + a + `>; rel="next`}, map[string]string{"next": a}},
		{"empty uri", []string{`<>; rel="next"`}, map[string]string{}},
		{"empty values", []string{"", " , ,"}, map[string]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseLinkHeader(tc.values)
			if !maps.Equal(got, tc.want) {
				t.Errorf("ParseLinkHeader(%q) = %v, want %v", tc.values, got, tc.want)
			}
		})
	}
}

func FuzzParseLinkHeader(f *testing.F) {
	for _, s := range []string{
		`<https://acme.okta.com/api/v1/apps/x/tokens?after=abc&limit=20>; rel="next"`,
		`<a>; rel="self", <b>; rel=next`,
		`<a>; title="x\"y, z"; rel="next last"`,
		`junk, <b>;rel=next;`,
		`<`, `"`, `;;,,==`, `<a>; rel=`,
	} {
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, v1, v2 string) {
		links := ParseLinkHeader([]string{v1, v2})
		for rel, target := range links {
			if rel == "" || strings.ContainsAny(rel, " \t") || rel != strings.ToLower(rel) {
				t.Fatalf("bad relation %q", rel)
			}
			if target == "" || !strings.Contains(v1+v2, target) {
				t.Fatalf("target %q does not come from the input", target)
			}
		}
	})
}

func errorResponse(status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	req, _ := http.NewRequest("DELETE", "https://acme.okta.com/api/v1/apps/x/tokens?limit=1", nil)
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body)), Request: req}
}

func TestDecodeError(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	cases := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   Error
	}{
		{"okta 404", 404, h("X-Okta-Request-Id", "reqA"),
			`{"errorCode":"E0000007","errorSummary":"Not found: Resource not found: x (AppInstance)","errorLink":"E0000007","errorId":"oaeX","errorCauses":[]}`,
			Error{StatusCode: 404, ErrorCode: "E0000007", ErrorSummary: "Not found: Resource not found: x (AppInstance)", ErrorLink: "E0000007", ErrorID: "oaeX", RequestID: "reqA"}},
		{"causes", 400, nil,
			`{"errorCode":"E0000001","errorSummary":"Api validation failed","errorCauses":[{"errorSummary":"limit: bad"},{"errorSummary":42},"junk",{"errorSummary":""},{"errorSummary":"after: bad"}]}`,
			Error{StatusCode: 400, ErrorCode: "E0000001", ErrorSummary: "Api validation failed", ErrorCauses: []string{"limit: bad", "after: bad"}}},
		{"429 reset", 429, h("X-Rate-Limit-Reset", "1767225600", "X-Rate-Limit-Remaining", "0"),
			`{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}`,
			Error{StatusCode: 429, ErrorCode: "E0000047", ErrorSummary: "API call exceeded rate limit due to too many requests.", RateLimitReset: time.Unix(1767225600, 0)}},
		{"429 bad reset", 429, h("X-Rate-Limit-Reset", "soon"), ``, Error{StatusCode: 429}},
		{"oauth error", 401, nil, `{"error":"invalid_client","error_description":"The client_assertion signature is invalid."}`,
			Error{StatusCode: 401, ErrorCode: "invalid_client", ErrorSummary: "The client_assertion signature is invalid."}},
		{"html from a proxy", 502, h("Content-Type", "text/html"), `<html><body>Bad Gateway</body></html>`, Error{StatusCode: 502}},
		{"empty", 503, nil, ``, Error{StatusCode: 503}},
		{"wrong types", 500, nil, `{"errorCode":5,"errorSummary":["x"],"errorCauses":"no"}`, Error{StatusCode: 500}},
		{"json array", 500, nil, `[1,2]`, Error{StatusCode: 500}},
		{"control chars", 403, h("X-Okta-Request-Id", "a\x01b"), `{"errorCode":"E0000006","errorSummary":"line1\nline2\u0000"}`,
			Error{StatusCode: 403, ErrorCode: "E0000006", ErrorSummary: "line1 line2", RequestID: "a b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := DecodeError(errorResponse(tc.status, tc.header, tc.body))
			tc.want.Method, tc.want.Path = "DELETE", "/api/v1/apps/x/tokens"
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("DecodeError =\n %#v\nwant\n %#v", *got, tc.want)
			}
		})
	}
}

func TestDecodeErrorCapsHugeBodies(t *testing.T) {
	summary := strings.Repeat("s", 10000)
	causes := make([]string, 100)
	for i := range causes {
		causes[i] = fmt.Sprintf(`{"errorSummary":"c%d"}`, i)
	}
	body := `{"errorCode":"E0000001","errorSummary":"` + summary + `","errorCauses":[` + strings.Join(causes, ",") + `]}`
	got := DecodeError(errorResponse(400, nil, body))
	if len(got.ErrorSummary) > maxErrorFieldLen+len("…") || len(got.ErrorCauses) != maxErrorCauses {
		t.Errorf("summary %d bytes, %d causes", len(got.ErrorSummary), len(got.ErrorCauses))
	}
	// A body past the read cap is not decoded (and not read to the end).
	huge := `{"errorCode":"E0000001","errorSummary":"` + strings.Repeat("x", maxErrorBodyBytes) + `"}`
	resp := errorResponse(400, nil, huge)
	got = DecodeError(resp)
	if got.ErrorCode != "" {
		t.Errorf("decoded a truncated body: %+v", got)
	}
	rest, _ := io.ReadAll(resp.Body)
	if len(rest) == 0 {
		t.Error("DecodeError read past its cap")
	}
}

func FuzzDecodeError(f *testing.F) {
	f.Add(404, "r1", "1767225600", `{"errorCode":"E0000007","errorSummary":"Not found","errorId":"x","errorCauses":[{"errorSummary":"c"}]}`)
	f.Add(429, "", "x", `{"errorCode":"E0000047"}`)
	f.Add(401, "", "", `{"error":"invalid_client","error_description":"bad"}`)
	f.Add(502, "", "", `<html>`)
	f.Add(500, "\x00", "-1", `{"errorCauses":[null,1,"x",{}]}`)
	f.Fuzz(func(t *testing.T, status int, requestID, reset, body string) {
		h := http.Header{}
		h.Set("X-Okta-Request-Id", requestID)
		h.Set("X-Rate-Limit-Reset", reset)
		e := DecodeError(errorResponse(status, h, body))
		if e.StatusCode != status {
			t.Fatalf("status %d, want %d", e.StatusCode, status)
		}
		for _, s := range append([]string{e.ErrorCode, e.ErrorSummary, e.ErrorLink, e.ErrorID, e.RequestID}, e.ErrorCauses...) {
			if len(s) > maxErrorFieldLen+len("…") || strings.ContainsAny(s, "\n\r\x00") {
				t.Fatalf("unsafe field %q", s)
			}
		}
		if len(e.ErrorCauses) > maxErrorCauses {
			t.Fatalf("%d causes", len(e.ErrorCauses))
		}
		_ = e.Error()
	})
}

// testKeys returns PEM private keys of each supported kind.
func testKeys(t testing.TB) map[string]string {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pkcs8 := func(k any) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	return map[string]string{
		"rsa-pkcs1": string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})),
		"rsa-pkcs8": pkcs8(rsaKey),
		"ec-sec1":   string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})),
		"ec-pkcs8":  pkcs8(ecKey),
		"ec384":     pkcs8(ec384),
	}
}

func TestParseCredentials(t *testing.T) {
	keys := testKeys(t)
	jsonStr := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	escapedNewlines := strings.ReplaceAll(keys["ec-pkcs8"], "\n", `\n`)
	cases := []struct {
		name   string
		secret string
		want   Credentials // zero: expect an error
	}{
		{"plain token", " 00abcDEF-_123 \n", Credentials{APIToken: "00abcDEF-_123"}},
		{"json token", `{"apiToken":"00abc"}`, Credentials{APIToken: "00abc"}},
		{"oauth rsa", `{"clientId":"0oa1","privateKey":` + jsonStr(keys["rsa-pkcs1"]) + `,"keyId":"kid1"}`,
			Credentials{ClientID: "0oa1", PrivateKey: strings.TrimSpace(keys["rsa-pkcs1"]), KeyID: "kid1"}},
		{"oauth ec no kid", `{"clientId":"0oa1","privateKey":` + jsonStr(keys["ec-sec1"]) + `}`,
			Credentials{ClientID: "0oa1", PrivateKey: strings.TrimSpace(keys["ec-sec1"])}},
		{"literal \\n in PEM", `{"clientId":"0oa1","privateKey":"` + escapedNewlines + `","keyId":"k"}`,
			Credentials{ClientID: "0oa1", PrivateKey: strings.TrimSpace(keys["ec-pkcs8"]), KeyID: "k"}},
		{"empty", "  ", Credentials{}},
		{"token with space", "00a b", Credentials{}},
		{"token with newline", "00a\nb", Credentials{}},
		{"bad json", `{"apiToken":"00abc"`, Credentials{}},
		{"trailing data", `{"apiToken":"00abc"} x`, Credentials{}},
		{"two objects", `{"apiToken":"00abc"}{}`, Credentials{}},
		{"unknown field", `{"token":"00abc"}`, Credentials{}},
		{"number", `{"apiToken":5}`, Credentials{}},
		{"both kinds", `{"apiToken":"a","clientId":"b","privateKey":` + jsonStr(keys["ec-sec1"]) + `}`, Credentials{}},
		{"no client id", `{"privateKey":` + jsonStr(keys["ec-sec1"]) + `}`, Credentials{}},
		{"no key", `{"clientId":"0oa1","keyId":"k"}`, Credentials{}},
		{"not pem", `{"clientId":"0oa1","privateKey":"abc"}`, Credentials{}},
		{"public key pem", `{"clientId":"0oa1","privateKey":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}`, Credentials{}},
		{"broken der", `{"clientId":"0oa1","privateKey":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"}`, Credentials{}},
		{"empty object", `{}`, Credentials{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCredentials(tc.secret)
			if tc.want == (Credentials{}) {
				if err == nil || !errors.Is(err, ErrInvalidCredentials) {
					t.Fatalf("ParseCredentials = %v, %v; want ErrInvalidCredentials", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseCredentials = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	for name, pemText := range keys {
		if _, err := parsePrivateKey(pemText); err != nil {
			t.Errorf("parsePrivateKey(%s): %v", name, err)
		}
	}
}

func TestParseCredentialsNeverQuotesTheSecret(t *testing.T) {
	const secret = "SuperSecretValue123"
	for _, s := range []string{
		`{"apiToken":"` + secret + `"`,
		`{"apiToken":"` + secret + `"} ` + secret,
		`{"` + secret + `":"x"}`,
		`{"apiToken":"` + secret + `","clientId":"` + secret + `"}`,
		`{"clientId":"x","privateKey":"` + secret + `"}`,
		`{"clientId":"x","privateKey":"-----BEGIN ` + secret + `-----\nAAAA\n-----END ` + secret + `-----"}`,
		secret + " with space",
		`{"apiToken":"` + secret + `\u0001"}`,
		`{"apiToken":["` + secret + `"]}`,
	} {
		_, err := ParseCredentials(s)
		if err == nil {
			t.Errorf("ParseCredentials(%q): no error", s)
			continue
		}
		if strings.Contains(err.Error(), secret[:8]) {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add(`{"apiToken":"00abc"}`)
	f.Add(`00abc`)
	f.Add(`{"clientId":"0oa","privateKey":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----","keyId":"k"}`)
	f.Add(`{"clientId":1}`)
	f.Add(`{`)
	f.Fuzz(func(t *testing.T, secret string) {
		c, err := ParseCredentials(secret)
		if err != nil {
			if !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("error does not wrap ErrInvalidCredentials: %v", err)
			}
			return
		}
		if (c.APIToken == "") == (c.ClientID == "") {
			t.Fatalf("accepted credentials must be exactly one kind: %v", c)
		}
		if c.APIToken != "" && !isHeaderToken(c.APIToken) {
			t.Fatalf("accepted an unsafe token")
		}
		const redactedToken = "okta.Credentials{APIToken:[redacted]}"
		if s := fmt.Sprintf("%v|%+v|%#v|%s", c, c, c, c); c.APIToken != "" && s != strings.Repeat(redactedToken+"|", 3)+redactedToken {
			t.Fatalf("formatting shows more than the redacted form: %s", s)
		}
	})
}

func TestCredentialsFormattingRedacts(t *testing.T) {
	keys := testKeys(t)
	for _, c := range []Credentials{
		{APIToken: testToken},
		{ClientID: "0oa1", PrivateKey: keys["ec-sec1"], KeyID: "kid"},
	} {
		var logged strings.Builder
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("creds", "c", c)
		out := fmt.Sprintf("%v|%+v|%#v|%s|%q", c, c, c, c, c) + logged.String()
		for _, secret := range []string{testToken, "PRIVATE KEY", c.PrivateKey} {
			if secret != "" && strings.Contains(out, secret) {
				t.Errorf("formatting leaks %q: %s", secret[:min(len(secret), 12)], out)
			}
		}
		if c.ClientID != "" && !strings.Contains(out, c.ClientID) {
			t.Errorf("client id should stay visible: %s", out)
		}
	}
}

func TestBucketClass(t *testing.T) {
	cases := []struct{ method, path, want string }{
		{"POST", "/oauth2/v1/token", "oauth2"},
		{"GET", "/api/v1/apps/0oa1", "apps"},
		{"DELETE", "/api/v1/apps/0oa1/tokens", "apps"},
		{"GET", "/api/v1/apps/0oa1/tokens/oar1", "apps"},
		{"GET", "/api/v1/apps", "apps"},
		{"GET", "/api/v1/users/00u1/clients", "GET users/clients"},
		{"GET", "/api/v1/users/00u1/clients/0oa/tokens", "GET users/clients"},
		{"DELETE", "/api/v1/users/00u1/clients/0oa/tokens/oar", "DELETE users/clients"},
		{"DELETE", "/api/v1/users/00u1/sessions", "DELETE users/sessions"},
		{"DELETE", "/api/v1/users/00u1", "DELETE users"},
		{"GET", "/api/v1/logs", "logs"},
		{"GET", "/api/v1/groups", "GET other"},
		{"GET", "/api/v1/applications", "GET other"},
	}
	for _, tc := range cases {
		if got := bucketClass(tc.method, tc.path); got != tc.want {
			t.Errorf("bucketClass(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestParseRateLimitHeaders(t *testing.T) {
	h := func(l, r, reset string) http.Header {
		return http.Header{"X-Rate-Limit-Limit": {l}, "X-Rate-Limit-Remaining": {r}, "X-Rate-Limit-Reset": {reset}}
	}
	if rl, ok := parseRateLimitHeaders(h("100", "42", "1767225600")); !ok || rl.limit != 100 || rl.remaining != 42 || rl.reset.Unix() != 1767225600 {
		t.Errorf("valid headers: %+v %v", rl, ok)
	}
	if rl, ok := parseRateLimitHeaders(h("10", "50", "1767225600")); !ok || rl.remaining != 10 {
		t.Errorf("remaining above limit must be clamped: %+v", rl)
	}
	for _, bad := range []http.Header{{}, h("x", "1", "1767225600"), h("1", "-1", "1767225600"), h("1", "1", "12"), h("1", "1", "")} {
		if _, ok := parseRateLimitHeaders(bad); ok {
			t.Errorf("accepted %v", bad)
		}
	}
}
