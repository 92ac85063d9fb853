// Package logging builds the functions' JSON logger: log/slog's JSON handler
// on stdout, with the Lambda request id and function name on every record
// and secret-looking attributes redacted.
//
// Records keep slog's keys (time, level, msg). With the function's
// LoggingConfig LogFormat JSON, Lambda filters on the "level" key.
package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Keys added to every record.
const (
	// RequestIDKey holds the Lambda request id (lambdacontext's
	// AwsRequestID) of the invocation whose ctx was passed to the logger.
	RequestIDKey = "requestId"
	// AWSRequestIDKey holds the Lambda request id instead when the record
	// already has a top-level "requestId" attribute of its own.
	AWSRequestIDKey = "awsRequestId"
	// FunctionNameKey holds AWS_LAMBDA_FUNCTION_NAME.
	FunctionNameKey = "functionName"
)

// Redacted replaces the value of a redacted attribute.
const Redacted = "[REDACTED]"

// sensitiveKeyParts: an attribute whose key, lower-cased and without "-",
// "_" and ".", contains one of these is redacted, whatever its value.
var sensitiveKeyParts = []string{
	"authorization", "apitoken", "privatekey", "secret", "password", "passwd",
	"assertion", "accesstoken", "refreshtoken", "idtoken", "sessiontoken",
	"securitytoken", "bearer", "cookie", "dpop",
}

// IsSensitiveKey reports whether attributes named key are redacted:
// case-insensitively, ignoring "-", "_" and ".", the key is or contains
// authorization, apitoken, privatekey, secret, password, passwd, assertion,
// accesstoken, refreshtoken, idtoken, sessiontoken, securitytoken, bearer,
// cookie or dpop. (So "secretArn" is redacted too: over-redacting is the
// safe side; log it under another key such as "arn".)
func IsSensitiveKey(key string) bool {
	k := strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', '.':
			return -1
		}
		return r
	}, strings.ToLower(key))
	for _, part := range sensitiveKeyParts {
		if strings.Contains(k, part) {
			return true
		}
	}
	return false
}

// IsSensitiveValue reports whether a string value (or an error's text) is
// redacted whatever its key: credentials with a recognisable shape (an
// authorization value "SSWS|Bearer|Basic|DPoP <credential>", a PEM private
// key, a JWT).
func IsSensitiveValue(v string) bool {
	v = strings.TrimSpace(v)
	// "<scheme> <credential>": exactly two words, so prose such as
	// "Bearer token missing" is kept.
	if scheme, cred, ok := strings.Cut(v, " "); ok && cred != "" && !strings.ContainsAny(cred, " \t\r\n") {
		switch strings.ToLower(scheme) {
		case "ssws", "bearer", "basic", "dpop":
			return true
		}
	}
	if strings.Contains(v, "-----BEGIN") && strings.Contains(v, "PRIVATE KEY") {
		return true
	}
	return looksLikeJWT(v)
}

// looksLikeJWT: three base64url segments, the first a JSON object
// ("eyJ" is the encoding of `{"`).
func looksLikeJWT(v string) bool {
	if len(v) < 20 || !strings.HasPrefix(v, "eyJ") || strings.Count(v, ".") != 2 {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '=') {
			return false
		}
	}
	return true
}

// New returns a JSON logger writing to w at level and above. Every record
// gets "functionName" (when AWS_LAMBDA_FUNCTION_NAME is set) and, when the
// logging call's ctx is a Lambda invocation context, "requestId". String
// attributes whose key or value looks secret (IsSensitiveKey,
// IsSensitiveValue) are written as "[REDACTED]", including inside groups;
// a group under a sensitive key is redacted whole. Credentials inside
// longer texts are cut out, and JSON (text, maps, structs,
// json.RawMessage) is redacted key by key. Messages are not inspected:
// never put a secret in a message.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(NewHandler(w, level))
}

// NewHandler returns New's handler.
func NewHandler(w io.Writer, level slog.Leveler) slog.Handler {
	var root slog.Handler = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	if name := lambdacontext.FunctionName; name != "" {
		root = root.WithAttrs([]slog.Attr{slog.String(FunctionNameKey, name)})
	}
	return &handler{root: root, inner: root}
}

// FromEnv returns New(os.Stdout, level) with the level from LOG_LEVEL
// (debug, info, warn or error; default info). An invalid LOG_LEVEL is
// logged as a warning and info is used: a typo in a log setting should not
// stop the function.
func FromEnv() *slog.Logger {
	level, err := ParseLevel(os.Getenv("LOG_LEVEL"))
	logger := New(os.Stdout, level)
	if err != nil {
		logger.Warn("invalid LOG_LEVEL, logging at info", slog.String("error", err.Error()))
	}
	return logger
}

// ParseLevel parses a log level name: debug, info, warn (or warning) or
// error, in any case; "" is info. slog's offsets such as "info+2" are
// accepted too.
func ParseLevel(s string) (slog.Level, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return slog.LevelInfo, nil
	}
	if strings.EqualFold(s, "warning") {
		s = "warn"
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return level, nil
}

// handler wraps the JSON handler. Redaction happens here rather than in
// ReplaceAttr, which never sees group-valued attributes and so could not
// redact a group under a sensitive key.
type handler struct {
	root  slog.Handler // the JSON handler with functionName, no groups
	inner slog.Handler // root with ops applied
	// ops are the WithAttrs/WithGroup calls made on this handler, kept to
	// rebuild the chain with the request id at top level when groups are
	// open (rare).
	ops       []op
	hasGroups bool
	// ownRequestID: a top-level "requestId" attribute was added by
	// WithAttrs, so the Lambda id goes under AWSRequestIDKey.
	ownRequestID bool
}

type op struct {
	group string // WithGroup when attrs is nil
	attrs []slog.Attr
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	ownRequestID := h.ownRequestID
	r.Attrs(func(a slog.Attr) bool {
		if !h.hasGroups && a.Key == RequestIDKey {
			ownRequestID = true
		}
		out.AddAttrs(redact(a))
		return true
	})
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok || lc.AwsRequestID == "" {
		return h.inner.Handle(ctx, out)
	}
	key := RequestIDKey
	if ownRequestID {
		key = AWSRequestIDKey
	}
	id := slog.String(key, lc.AwsRequestID)
	if !h.hasGroups {
		out.AddAttrs(id)
		return h.inner.Handle(ctx, out)
	}
	// Put the id at top level, outside the open groups.
	inner := h.root.WithAttrs([]slog.Attr{id})
	for _, o := range h.ops {
		if o.attrs == nil {
			inner = inner.WithGroup(o.group)
		} else {
			inner = inner.WithAttrs(o.attrs)
		}
	}
	return inner.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	redacted := make([]slog.Attr, len(attrs))
	own := h.ownRequestID
	for i, a := range attrs {
		redacted[i] = redact(a)
		if !h.hasGroups && a.Key == RequestIDKey {
			own = true
		}
	}
	return &handler{
		root:         h.root,
		inner:        h.inner.WithAttrs(redacted),
		ops:          append(h.ops[:len(h.ops):len(h.ops)], op{attrs: redacted}),
		hasGroups:    h.hasGroups,
		ownRequestID: own,
	}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{
		root:         h.root,
		inner:        h.inner.WithGroup(name),
		ops:          append(h.ops[:len(h.ops):len(h.ops)], op{group: name}),
		hasGroups:    true,
		ownRequestID: h.ownRequestID,
	}
}

// redact returns a with secret-looking values replaced by Redacted: a
// sensitive key or a credential-shaped value redacts the whole attribute; a
// credential inside a longer text (an error quoting a header) is cut out
// of it; JSON, as text or as a structured value (a map, a struct, a
// json.RawMessage such as a request's reason), is redacted key by key.
func redact(a slog.Attr) slog.Attr {
	if IsSensitiveKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		text := v.String()
		if IsSensitiveValue(text) {
			return slog.String(a.Key, Redacted)
		}
		if j, ok := redactJSONText(text); ok {
			return slog.String(a.Key, j)
		}
		if scrubbed := scrub(text); scrubbed != text {
			return slog.String(a.Key, scrubbed)
		}
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			text := err.Error()
			if IsSensitiveValue(text) {
				return slog.String(a.Key, Redacted)
			}
			if scrubbed := scrub(text); scrubbed != text {
				return slog.String(a.Key, scrubbed)
			}
			break
		}
		if j, ok := redactStructured(v.Any()); ok {
			return slog.Any(a.Key, j)
		}
	case slog.KindGroup:
		group := v.Group()
		out := make([]slog.Attr, len(group))
		for i, g := range group {
			out[i] = redact(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// embeddedCredential finds credentials inside longer texts: an
// authorization value of at least 16 characters after its scheme (shorter
// words are prose: "Bearer token missing"), or a JWT. Compiled on first
// use, not at init: most invocations never need it, and init is cold start.
var embeddedCredential = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)\b(ssws|bearer|basic|dpop)(\s+)[A-Za-z0-9\-._~+/]{16,}=*|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)
})

// scrub replaces the credentials embedded in text by Redacted, keeping
// the scheme word so the text still reads.
func scrub(text string) string {
	if !mayHoldCredential(text) {
		return text
	}
	return embeddedCredential().ReplaceAllStringFunc(text, func(m string) string {
		if strings.HasPrefix(m, "eyJ") {
			return Redacted
		}
		i := strings.IndexAny(m, " \t\r\n")
		return m[:i+1] + Redacted
	})
}

// mayHoldCredential is a cheap test before the regular expression.
func mayHoldCredential(text string) bool {
	if strings.Contains(text, "eyJ") {
		return true
	}
	lower := strings.ToLower(text)
	for _, scheme := range []string{"ssws", "bearer", "basic", "dpop"} {
		if strings.Contains(lower, scheme) {
			return true
		}
	}
	return false
}

// redactJSONText redacts text that is a JSON object or array; ok is false
// when it is not JSON or holds nothing to redact.
func redactJSONText(text string) (string, bool) {
	t := strings.TrimSpace(text)
	if t == "" || (t[0] != '{' && t[0] != '[') {
		return "", false
	}
	out, ok := redactJSON([]byte(t))
	return string(out), ok
}

// redactStructured redacts a value that encodes as a JSON object or array;
// ok is false when it does not, or holds nothing to redact.
func redactStructured(v any) (json.RawMessage, bool) {
	b, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, false
		}
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return nil, false
	}
	return redactJSON(b)
}

// redactJSON walks a JSON document and redacts sensitive keys and
// credential-shaped or credential-holding strings; ok is false when there
// was nothing to redact (the caller keeps the value as it was).
func redactJSON(b []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, false
	}
	doc, changed := redactValue(doc)
	if !changed {
		return nil, false
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, false
	}
	return out, true
}

func redactValue(v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		changed := false
		for k, e := range x {
			if IsSensitiveKey(k) {
				x[k] = Redacted
				changed = true
				continue
			}
			if r, c := redactValue(e); c {
				x[k] = r
				changed = true
			}
		}
		return x, changed
	case []any:
		changed := false
		for i, e := range x {
			if r, c := redactValue(e); c {
				x[i] = r
				changed = true
			}
		}
		return x, changed
	case string:
		if IsSensitiveValue(x) {
			return Redacted, true
		}
		if s := scrub(x); s != x {
			return s, true
		}
	}
	return v, false
}
