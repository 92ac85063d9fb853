// Package oktahook reads Okta event hook calls: the one-time verification
// challenge, the shared-secret header Okta authenticates with, and the
// delivery envelope around the System Log events. It knows nothing of
// Lambda or SQS; see internal/handlers/oktahook for the function.
package oktahook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// EnvelopeEventType is the eventType of every event hook delivery.
const EnvelopeEventType = "com.okta.event_hook"

// VerificationHeader carries the one-time challenge of Okta's verification
// GET.
const VerificationHeader = "x-okta-verification-challenge"

// ErrMalformed marks a body that is not a JSON event hook delivery.
var ErrMalformed = errors.New("malformed event hook delivery")

// ErrWrongEnvelope marks valid JSON whose eventType is not
// EnvelopeEventType: something other than an event hook delivery.
var ErrWrongEnvelope = errors.New("not an event hook delivery")

// Delivery is one POST from Okta: an envelope around one or more System Log
// events. Events are kept raw so one event Okta renders oddly cannot make
// the others unreadable; decode them with DecodeEvent.
type Delivery struct {
	EventType          string
	EventTypeVersion   string
	CloudEventsVersion string
	Source             string // https://{org}/api/v1/eventHooks/{id}
	EventID            string // the delivery's id
	EventTime          string
	ContentType        string
	Events             []json.RawMessage // data.events[], without null items
}

// ParseDelivery decodes a delivery body. Errors wrap ErrMalformed (not JSON,
// not an object, data.events not an array, trailing data) or
// ErrWrongEnvelope (eventType is not com.okta.event_hook). Unknown fields
// are ignored. A delivery without events is valid.
func ParseDelivery(body []byte) (Delivery, error) {
	// The same fields as Delivery, with data.events where Okta puts them.
	var wire struct {
		EventType          string `json:"eventType"`
		EventTypeVersion   string `json:"eventTypeVersion"`
		CloudEventsVersion string `json:"cloudEventsVersion"`
		Source             string `json:"source"`
		EventID            string `json:"eventId"`
		EventTime          string `json:"eventTime"`
		ContentType        string `json:"contentType"`
		Data               *struct {
			Events []json.RawMessage `json:"events"`
		} `json:"data"`
	}
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return Delivery{}, fmt.Errorf("%w: empty body", ErrMalformed)
	case trimmed[0] != '{':
		return Delivery{}, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&wire); err != nil {
		return Delivery{}, fmt.Errorf("%w: %w", ErrMalformed, describe(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return Delivery{}, fmt.Errorf("%w: trailing data after the JSON object", ErrMalformed)
	}
	d := Delivery{
		EventType: wire.EventType, EventTypeVersion: wire.EventTypeVersion, CloudEventsVersion: wire.CloudEventsVersion,
		Source: wire.Source, EventID: wire.EventID, EventTime: wire.EventTime, ContentType: wire.ContentType,
	}
	if d.EventType != EnvelopeEventType {
		return Delivery{}, fmt.Errorf("%w: eventType %q, want %q", ErrWrongEnvelope, truncate(d.EventType, 64), EnvelopeEventType)
	}
	if wire.Data == nil || wire.Data.Events == nil {
		// Okta always sends data.events; without it this is not a delivery.
		return Delivery{}, fmt.Errorf("%w: no data.events array", ErrWrongEnvelope)
	}
	for _, ev := range wire.Data.Events {
		// A null item is no event; keeping it would only produce a
		// confusing decode error later.
		if !bytes.Equal(ev, []byte("null")) {
			d.Events = append(d.Events, ev)
		}
	}
	return d, nil
}

// DecodeEvent decodes one raw event of a delivery. It fails only when a
// field the policy reads has the wrong JSON type or the item is not an
// object.
func DecodeEvent(raw json.RawMessage) (revocation.Event, error) {
	var ev revocation.Event
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return ev, fmt.Errorf("%w: event is not a JSON object", ErrMalformed)
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return revocation.Event{}, fmt.Errorf("%w: event: %w", ErrMalformed, describe(err))
	}
	return ev, nil
}

// describe shortens JSON errors to what helps the sender, without echoing
// input.
func describe(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Errorf("field %q must not be a JSON %s", typeErr.Field, typeErr.Value)
	}
	return err
}

// VerificationResponse is the body answering a verification challenge.
type VerificationResponse struct {
	Verification string `json:"verification"`
}

// Header returns the value of the named header, matched case-insensitively:
// API Gateway lower-cases names, other front ends may not.
func Header(headers map[string]string, name string) (string, bool) {
	if v, ok := headers[name]; ok {
		return v, true
	}
	if v, ok := headers[strings.ToLower(name)]; ok {
		return v, true
	}
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
