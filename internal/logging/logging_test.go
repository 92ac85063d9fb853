package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIwMHUxIn0.c2lnbmF0dXJlLXZhbHVl"

// logOne logs one record through fn and returns it decoded.
func logOne(t *testing.T, ctx context.Context, fn func(l *slog.Logger, ctx context.Context)) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	fn(New(&buf, slog.LevelDebug), ctx)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1: %s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("not JSON: %v: %s", err, lines[0])
	}
	return rec
}

type secretValuer struct{}

func (secretValuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("clientId", "0oa1"), slog.String("privateKey", "-----BEGIN"))
}

func TestRedaction(t *testing.T) {
	tests := []struct {
		name string
		args []any
		want map[string]any // expected top-level fields (subset)
	}{
		{"authorization", []any{"authorization", "SSWS abc"}, map[string]any{"authorization": Redacted}},
		{"header case", []any{"Authorization", "whatever"}, map[string]any{"Authorization": Redacted}},
		{"api token variants", []any{"apiToken", "a", "api_token", "b", "X-Api-Token", "c"},
			map[string]any{"apiToken": Redacted, "api_token": Redacted, "X-Api-Token": Redacted}},
		{"private key", []any{"privateKey", "k", "private_key", "k"}, map[string]any{"privateKey": Redacted, "private_key": Redacted}},
		{"secret anywhere in key", []any{"clientSecret", "s", "hookSecretArn", "arn:..."}, map[string]any{"clientSecret": Redacted, "hookSecretArn": Redacted}},
		{"password", []any{"Password", "p"}, map[string]any{"Password": Redacted}},
		{"assertion", []any{"client_assertion", "a"}, map[string]any{"client_assertion": Redacted}},
		{"access token", []any{"access_token", "t", "accessToken", "t"}, map[string]any{"access_token": Redacted, "accessToken": Redacted}},
		{"bearer", []any{"bearer", "t"}, map[string]any{"bearer": Redacted}},
		{"non-string value", []any{"password", 1234}, map[string]any{"password": Redacted}},
		{"ids stay", []any{"tokenId", "oar1", "userId", "00u1", "clientId", "0oa1", "status", 200},
			map[string]any{"tokenId": "oar1", "userId": "00u1", "clientId": "0oa1", "status": float64(200)}},
		{"credential-shaped values", []any{"header", "SSWS 00abcdef", "h2", "Bearer x.y.z", "h3", "basic dXNlcjpwYXNz", "jwt", jwt, "pem", "-----BEGIN PRIVATE KEY-----\nMII..."},
			map[string]any{"header": Redacted, "h2": Redacted, "h3": Redacted, "jwt": Redacted, "pem": Redacted}},
		{"ordinary values stay", []any{"reason", "Bearer token missing from request", "eventType", "user.lifecycle.deactivate", "path", "/api/v1/users/00u1"},
			map[string]any{"reason": "Bearer token missing from request", "eventType": "user.lifecycle.deactivate", "path": "/api/v1/users/00u1"}},
		{"group member", []any{slog.Group("headers", "authorization", "SSWS x", "host", "acme.okta.com")},
			map[string]any{"headers": map[string]any{"authorization": Redacted, "host": "acme.okta.com"}}},
		{"group under sensitive key", []any{slog.Group("secret", "a", "1", "b", "2")}, map[string]any{"secret": Redacted}},
		{"LogValuer resolved first", []any{"creds", secretValuer{}},
			map[string]any{"creds": map[string]any{"clientId": "0oa1", "privateKey": Redacted}}},
		{"error with credential", []any{"error", errors.New("Bearer abc.def")}, map[string]any{"error": Redacted}},
		{"dpop", []any{"dpop", "proof", "DPoP", "x"}, map[string]any{"dpop": Redacted, "DPoP": Redacted}},
		// Credentials inside longer texts are cut out; the rest is kept.
		{"credential inside an error", []any{"error", errors.New("okta: GET /api/v1/x: header Authorization: Bearer 00abcdefghijklmnopqrstuv rejected")},
			map[string]any{"error": "okta: GET /api/v1/x: header Authorization: Bearer " + Redacted + " rejected"}},
		{"credentials inside a string", []any{"detail", "sent SSWS 00aBcDeFgHiJkLmNoPqRsTuV and " + jwt + " twice"},
			map[string]any{"detail": "sent SSWS " + Redacted + " and " + Redacted + " twice"}},
		// Structured values: a request's free-form reason, maps, structs.
		{"raw JSON reason", []any{"reason", json.RawMessage(`{"source":"x","apiToken":"00abcSECRET1","note":{"authorization":"SSWS 00abcSECRET2"},"ok":"fine"}`)},
			map[string]any{"reason": map[string]any{"source": "x", "apiToken": Redacted, "note": map[string]any{"authorization": Redacted}, "ok": "fine"}}},
		{"map", []any{"m", map[string]any{"password": "SECRET3", "user": "00u1", "list": []any{"Bearer x.y.z", 1}}},
			map[string]any{"m": map[string]any{"password": Redacted, "user": "00u1", "list": []any{Redacted, 1}}}},
		{"struct", []any{"s", struct {
			ClientAssertion string `json:"client_assertion"`
			Kid             string `json:"kid"`
		}{jwt, "k1"}}, map[string]any{"s": map[string]any{"client_assertion": Redacted, "kid": "k1"}}},
		{"JSON in a string", []any{"event", `{"uuid":"u1","debugContext":{"debugData":{"url":"/x?token=1","authorization":"Basic dXNlcjpwYXNz"}}}`},
			map[string]any{"event": `{"debugContext":{"debugData":{"authorization":"[REDACTED]","url":"/x?token=1"}},"uuid":"u1"}`}},
		{"clean structured values stay as they were", []any{"ids", []string{"a", "b"}, "reason", json.RawMessage(`{"b":1,"a":2}`), "event", `{"b":1,"a":2}`},
			map[string]any{"ids": []any{"a", "b"}, "reason": map[string]any{"b": 1, "a": 2}, "event": `{"b":1,"a":2}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := logOne(t, context.Background(), func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m", tt.args...) })
			for k, want := range tt.want {
				got, _ := json.Marshal(rec[k])
				wantJSON, _ := json.Marshal(want)
				if string(got) != string(wantJSON) {
					t.Errorf("%s = %s, want %s", k, got, wantJSON)
				}
			}
		})
	}
}

func TestRedactionThroughWithAndGroups(t *testing.T) {
	rec := logOne(t, context.Background(), func(l *slog.Logger, ctx context.Context) {
		l.With("apiToken", "SSWS x", "org", "acme").WithGroup("okta").With("password", "p").InfoContext(ctx, "m", "privateKey", "k", "userId", "00u1")
	})
	want := `{"apiToken":"[REDACTED]","okta":{"password":"[REDACTED]","privateKey":"[REDACTED]","userId":"00u1"},"org":"acme"}`
	delete(rec, "time")
	delete(rec, "level")
	delete(rec, "msg")
	if got, _ := json.Marshal(rec); string(got) != want {
		t.Fatalf("record = %s, want %s", got, want)
	}
}

func lambdaCtx(id string) context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: id})
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name string
		ctx  context.Context
		log  func(l *slog.Logger, ctx context.Context)
		want map[string]any
		none []string
	}{
		{"from lambda context", lambdaCtx("req-1"),
			func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") },
			map[string]any{"requestId": "req-1"}, []string{"awsRequestId"}},
		{"not a lambda context", context.Background(),
			func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") },
			nil, []string{"requestId", "awsRequestId"}},
		{"top level inside groups", lambdaCtx("req-2"),
			func(l *slog.Logger, ctx context.Context) {
				l.WithGroup("g").With("a", "1").InfoContext(ctx, "m", "b", "2")
			},
			map[string]any{"requestId": "req-2", "g": map[string]any{"a": "1", "b": "2"}}, nil},
		{"caller's requestId attribute kept", lambdaCtx("req-3"),
			func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m", "requestId", "revocation-9") },
			map[string]any{"requestId": "revocation-9", "awsRequestId": "req-3"}, nil},
		{"caller's requestId via With kept", lambdaCtx("req-4"),
			func(l *slog.Logger, ctx context.Context) { l.With("requestId", "r-1").InfoContext(ctx, "m") },
			map[string]any{"requestId": "r-1", "awsRequestId": "req-4"}, nil},
		{"requestId inside a group is no conflict", lambdaCtx("req-5"),
			func(l *slog.Logger, ctx context.Context) {
				l.WithGroup("req").InfoContext(ctx, "m", "requestId", "r-2")
			},
			map[string]any{"requestId": "req-5", "req": map[string]any{"requestId": "r-2"}}, []string{"awsRequestId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := logOne(t, tt.ctx, tt.log)
			for k, want := range tt.want {
				got, _ := json.Marshal(rec[k])
				wantJSON, _ := json.Marshal(want)
				if string(got) != string(wantJSON) {
					t.Errorf("%s = %s, want %s (record %v)", k, got, wantJSON, rec)
				}
			}
			for _, k := range tt.none {
				if _, ok := rec[k]; ok {
					t.Errorf("record has %s: %v", k, rec)
				}
			}
		})
	}
}

func TestFunctionName(t *testing.T) {
	old := lambdacontext.FunctionName
	t.Cleanup(func() { lambdacontext.FunctionName = old })
	for _, name := range []string{"okta-hook-dev", ""} {
		lambdacontext.FunctionName = name
		rec := logOne(t, context.Background(), func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") })
		got, ok := rec["functionName"]
		if name == "" && ok {
			t.Errorf("functionName %v logged without AWS_LAMBDA_FUNCTION_NAME", got)
		}
		if name != "" && got != name {
			t.Errorf("functionName = %v, want %q", got, name)
		}
	}
}

func TestLevel(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, slog.LevelWarn)
	l.Info("dropped")
	l.Warn("kept")
	if strings.Contains(buf.String(), "dropped") || !strings.Contains(buf.String(), `"level":"WARN","msg":"kept"`) {
		t.Fatalf("output: %s", buf.String())
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"", slog.LevelInfo, false},
		{"debug", slog.LevelDebug, false},
		{"DEBUG", slog.LevelDebug, false},
		{" info ", slog.LevelInfo, false},
		{"warn", slog.LevelWarn, false},
		{"Warning", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"info+2", slog.LevelInfo + 2, false},
		{"verbose", slog.LevelInfo, true},
		{"3", slog.LevelInfo, true},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		env      string
		debug    bool
		info     bool
		wantWarn bool
	}{
		{"", false, true, false},
		{"debug", true, true, false},
		{"error", false, false, false},
		{"loud", false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Setenv("LOG_LEVEL", tt.env)
			out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
			if err != nil {
				t.Fatal(err)
			}
			stdout := os.Stdout
			os.Stdout = out
			l := FromEnv()
			os.Stdout = stdout
			ctx := context.Background()
			if l.Enabled(ctx, slog.LevelDebug) != tt.debug || l.Enabled(ctx, slog.LevelInfo) != tt.info {
				t.Errorf("LOG_LEVEL=%q: debug %v info %v", tt.env, l.Enabled(ctx, slog.LevelDebug), l.Enabled(ctx, slog.LevelInfo))
			}
			out.Close()
			written, _ := os.ReadFile(out.Name())
			if got := strings.Contains(string(written), "invalid LOG_LEVEL"); got != tt.wantWarn {
				t.Errorf("warning logged = %v, want %v: %s", got, tt.wantWarn, written)
			}
		})
	}
}

func TestIsSensitiveValue(t *testing.T) {
	tests := map[string]bool{
		"SSWS 00abc": true, "ssws 00abc": true, "Bearer x": true, "DPoP eyJ": true, "Basic Zm9v": true,
		jwt: true, "-----BEGIN EC PRIVATE KEY-----": true,
		"-----BEGIN PUBLIC KEY-----": false, "eyJ.not.jwt with space": false, "SSWS": false,
		"user.lifecycle.deactivate": false, "00u1abc": false, "a.b.c": false, "": false,
	}
	for v, want := range tests {
		if got := IsSensitiveValue(v); got != want {
			t.Errorf("IsSensitiveValue(%q) = %v, want %v", v, got, want)
		}
	}
}

// FuzzLog checks that any key/value pair yields one valid JSON line and
// that a sensitive key's value never appears.
func FuzzLog(f *testing.F) {
	f.Add("apiToken", "00abcdefghijkl")
	f.Add("user", "SSWS 00abcdefghijkl")
	f.Add("", "")
	f.Add("a\"b", "\x00\xff")
	f.Fuzz(func(t *testing.T, key, value string) {
		var buf bytes.Buffer
		New(&buf, slog.LevelInfo).InfoContext(lambdaCtx("r"), "m", key, value, slog.Group("g", key, value))
		line := buf.String()
		if strings.Count(line, "\n") != 1 {
			t.Fatalf("not one line: %q", line)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("invalid JSON %q: %v", line, err)
		}
		switch key {
		case "", "time", "level", "msg", "g", "requestId", "awsRequestId", "functionName":
			return // collides with a field of the record itself
		}
		if IsSensitiveKey(key) || IsSensitiveValue(value) {
			// The JSON encoder replaces invalid UTF-8 in keys; look the
			// key up the way it was written.
			var k string
			quoted, _ := json.Marshal(key)
			_ = json.Unmarshal(quoted, &k)
			if rec[k] != Redacted {
				t.Fatalf("%q=%q not redacted: %s", key, value, line)
			}
		}
	})
}

func BenchmarkLog(b *testing.B) {
	var buf bytes.Buffer
	l := New(&buf, slog.LevelInfo)
	ctx := lambdaCtx("req")
	for b.Loop() {
		buf.Reset()
		l.InfoContext(ctx, "revoked", "userId", "00u1", "clientId", "0oa1", "status", 204)
	}
}

// FuzzRedact: whatever a string or JSON value holds, the record is one
// valid JSON line, and a token planted behind an authorization scheme is
// never written.
func FuzzRedact(f *testing.F) {
	f.Add(`{"reason":{"apiToken":"x"}}`, "prefix")
	f.Add(`[{"authorization":"SSWS abc"},"Bearer x.y.z"]`, "error: Bearer")
	f.Add("plain text", "")
	const token = "00PlantedTokenValue0123456789"
	f.Fuzz(func(t *testing.T, s, prefix string) {
		var buf bytes.Buffer
		l := New(&buf, slog.LevelInfo)
		args := []any{"s", s, "err", errors.New(prefix + " SSWS " + token + " " + s)}
		if json.Valid([]byte(s)) {
			args = append(args, "raw", json.RawMessage(s))
		}
		l.Info("m", args...)
		line := bytes.TrimSpace(buf.Bytes())
		if !json.Valid(line) || bytes.Count(line, []byte("\n")) != 0 {
			t.Fatalf("not one JSON line: %s", line)
		}
		if bytes.Contains(line, []byte(token)) && !strings.Contains(s, token) {
			t.Fatalf("planted token written: %s", line)
		}
	})
}
