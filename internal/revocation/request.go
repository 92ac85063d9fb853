// Package revocation is the domain of okta-token-revoker: the revocation
// request (the queue's public contract), its validation, the policy that maps
// Okta events to requests, and the executor that turns a request into Okta
// calls. It knows nothing of Lambda, API Gateway or SQS.
package revocation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
)

// CurrentVersion is the newest request schema version this service reads.
// An absent version field means version 1.
const CurrentVersion = 1

// MaxRequestIDLength bounds caller-chosen request ids so they stay usable as
// log fields and SQS message attributes.
const MaxRequestIDLength = 128

// Request says what to revoke. Which ID fields are present selects the scope;
// see Scope. The JSON form is a public contract: other systems enqueue it.
type Request struct {
	// Version of the schema; 0 (absent) means 1.
	Version int `json:"version,omitempty"`
	// RequestID traces the request through logs; generated when absent.
	RequestID string `json:"requestId,omitempty"`
	UserID    string `json:"userId,omitempty"`
	ClientID  string `json:"clientId,omitempty"`
	AppID     string `json:"appId,omitempty"`
	TokenID   string `json:"tokenId,omitempty"`
	// Reason is a free-form JSON object explaining why, for example the Okta
	// event that caused the request. It is carried into audit logs verbatim.
	Reason json.RawMessage `json:"reason,omitempty"`
}

// Scope names what a request revokes.
type Scope string

// The scopes a valid request can have.
const (
	ScopeUser            Scope = "user"              // userId: every token of the user, all clients
	ScopeUserClient      Scope = "user-client"       // userId+clientId
	ScopeUserClientToken Scope = "user-client-token" // userId+clientId+tokenId
	ScopeUserApp         Scope = "user-app"          // userId+appId (client id resolved through Okta)
	ScopeApp             Scope = "app"               // appId: every token of the app
	ScopeAppToken        Scope = "app-token"         // appId+tokenId
)

// Scope reports the request's scope, or "" when its fields form no valid
// combination.
func (r Request) Scope() Scope {
	has := func(s string) bool { return s != "" }
	switch {
	case has(r.UserID) && !has(r.ClientID) && !has(r.AppID) && !has(r.TokenID):
		return ScopeUser
	case has(r.UserID) && has(r.ClientID) && !has(r.AppID) && !has(r.TokenID):
		return ScopeUserClient
	case has(r.UserID) && has(r.ClientID) && !has(r.AppID) && has(r.TokenID):
		return ScopeUserClientToken
	case has(r.UserID) && !has(r.ClientID) && has(r.AppID) && !has(r.TokenID):
		return ScopeUserApp
	case !has(r.UserID) && !has(r.ClientID) && has(r.AppID) && !has(r.TokenID):
		return ScopeApp
	case !has(r.UserID) && !has(r.ClientID) && has(r.AppID) && has(r.TokenID):
		return ScopeAppToken
	}
	return ""
}

// ErrInvalid marks a request that can never succeed, whatever Okta says.
var ErrInvalid = errors.New("invalid revocation request")

// Validate checks the request's shape and IDs. Errors wrap ErrInvalid.
func (r Request) Validate() error {
	if r.Version != 0 && r.Version != CurrentVersion {
		return fmt.Errorf("%w: unsupported version %d (this service reads version %d)", ErrInvalid, r.Version, CurrentVersion)
	}
	if len(r.RequestID) > MaxRequestIDLength {
		return fmt.Errorf("%w: requestId longer than %d characters", ErrInvalid, MaxRequestIDLength)
	}
	for _, c := range r.RequestID {
		if c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: requestId must be printable ASCII without spaces", ErrInvalid)
		}
	}
	if r.Scope() == "" {
		return fmt.Errorf("%w: fields %s form no valid combination (want userId; userId+clientId; userId+clientId+tokenId; userId+appId; appId; appId+tokenId)", ErrInvalid, r.fieldList())
	}
	for _, f := range []struct{ name, value string }{
		{"userId", r.UserID}, {"clientId", r.ClientID}, {"appId", r.AppID}, {"tokenId", r.TokenID},
	} {
		if f.value == "" {
			continue
		}
		if err := okta.ValidateID(f.name, f.value); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if len(r.Reason) > 0 {
		trimmed := bytes.TrimSpace(r.Reason)
		if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
			return fmt.Errorf("%w: reason must be a JSON object", ErrInvalid)
		}
	}
	return nil
}

func (r Request) fieldList() string {
	var names []string
	for _, f := range []struct{ name, value string }{
		{"userId", r.UserID}, {"clientId", r.ClientID}, {"appId", r.AppID}, {"tokenId", r.TokenID},
	} {
		if f.value != "" {
			names = append(names, f.name)
		}
	}
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, "+")
}

// WithRequestID returns r with a generated request id when it has none.
func (r Request) WithRequestID() Request {
	if r.RequestID == "" {
		r.RequestID = uuid.NewString()
	}
	return r
}

// allowedFields are the request's JSON keys, matched case-sensitively:
// encoding/json alone would accept "clientID" for "clientId".
var allowedFields = map[string]bool{
	"version": true, "requestId": true, "userId": true, "clientId": true,
	"appId": true, "tokenId": true, "reason": true,
}

// Parse decodes and validates one request. It rejects unknown, duplicate or
// differently-cased keys, trailing data and non-string IDs, so a typo can
// never widen a revocation. Errors wrap ErrInvalid.
func Parse(data []byte) (Request, error) {
	raw, err := decodeObject(data)
	if err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return parseFields(raw)
}

// ParseBatch decodes a JSON array of requests, or a single request object,
// and validates every one. It returns the requests when all are valid, or
// an error per invalid item (index-prefixed) joined with errors.Join.
func ParseBatch(data []byte) ([]Request, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrInvalid)
	}
	if trimmed[0] != '[' {
		req, err := Parse(trimmed)
		if err != nil {
			return nil, err
		}
		return []Request{req}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(trimmed, &items); err != nil {
		return nil, fmt.Errorf("%w: body is not a JSON array of objects: %w", ErrInvalid, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: empty array", ErrInvalid)
	}
	reqs := make([]Request, 0, len(items))
	var errs []error
	for i, item := range items {
		req, err := Parse(item)
		if err != nil {
			errs = append(errs, fmt.Errorf("[%d]: %w", i, err))
			continue
		}
		reqs = append(reqs, req)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return reqs, nil
}

func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	fields := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
		key, _ := tok.(string)
		if !allowedFields[key] {
			return nil, fmt.Errorf("unknown field %q", key)
		}
		if _, dup := fields[key]; dup {
			return nil, fmt.Errorf("duplicate field %q", key)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("malformed value for %q: %w", key, err)
		}
		fields[key] = value
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return fields, nil
}

func parseFields(raw map[string]json.RawMessage) (Request, error) {
	var req Request
	str := func(key string, dst *string) error {
		v, ok := raw[key]
		if !ok {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("%w: %s must be a string", ErrInvalid, key)
		}
		if *dst == "" {
			return fmt.Errorf("%w: %s must not be empty", ErrInvalid, key)
		}
		return nil
	}
	for key, dst := range map[string]*string{
		"requestId": &req.RequestID, "userId": &req.UserID, "clientId": &req.ClientID,
		"appId": &req.AppID, "tokenId": &req.TokenID,
	} {
		if err := str(key, dst); err != nil {
			return Request{}, err
		}
	}
	if v, ok := raw["version"]; ok {
		if err := json.Unmarshal(v, &req.Version); err != nil || req.Version < 1 {
			return Request{}, fmt.Errorf("%w: version must be a positive integer", ErrInvalid)
		}
	}
	if v, ok := raw["reason"]; ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		req.Reason = v
	}
	if err := req.Validate(); err != nil {
		return Request{}, err
	}
	return req, nil
}
