package oktahook

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestParseDelivery(t *testing.T) {
	const ok = `{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1",
		"source":"https://acme.okta.com/api/v1/eventHooks/who1","eventId":"d1","eventTime":"2026-03-02T10:15:04.512Z",
		"contentType":"application/json","future":{"x":1},
		"data":{"events":[{"uuid":"e1","eventType":"user.lifecycle.suspend"},null,{"uuid":"e2"}]}}`
	tests := []struct {
		name       string
		body       string
		wantErr    error
		wantMsg    string
		wantEvents int
		wantID     string
	}{
		{name: "valid", body: ok, wantEvents: 2, wantID: "d1"},
		{name: "surrounding whitespace", body: "\n " + ok + "\n", wantEvents: 2, wantID: "d1"},
		{name: "no data", body: `{"eventType":"com.okta.event_hook","eventId":"d2"}`, wantErr: ErrWrongEnvelope, wantMsg: "no data.events"},
		{name: "null data", body: `{"eventType":"com.okta.event_hook","eventId":"d3","data":null}`, wantErr: ErrWrongEnvelope, wantMsg: "no data.events"},
		{name: "no events", body: `{"eventType":"com.okta.event_hook","eventId":"d3","data":{}}`, wantErr: ErrWrongEnvelope, wantMsg: "no data.events"},
		{name: "null events", body: `{"eventType":"com.okta.event_hook","eventId":"d3","data":{"events":null}}`, wantErr: ErrWrongEnvelope, wantMsg: "no data.events"},
		{name: "empty events", body: `{"eventType":"com.okta.event_hook","eventId":"d4","data":{"events":[]}}`, wantID: "d4"},
		{name: "empty", body: "", wantErr: ErrMalformed, wantMsg: "empty body"},
		{name: "blank", body: " \n", wantErr: ErrMalformed, wantMsg: "empty body"},
		{name: "not json", body: "eventType=com.okta.event_hook", wantErr: ErrMalformed, wantMsg: "not a JSON object"},
		{name: "array", body: `[{"eventType":"com.okta.event_hook"}]`, wantErr: ErrMalformed, wantMsg: "not a JSON object"},
		{name: "null", body: `null`, wantErr: ErrMalformed, wantMsg: "not a JSON object"},
		{name: "truncated", body: ok[:len(ok)-5], wantErr: ErrMalformed},
		{name: "trailing data", body: ok + `{}`, wantErr: ErrMalformed, wantMsg: "trailing data"},
		{name: "events not an array", body: `{"eventType":"com.okta.event_hook","data":{"events":{}}}`, wantErr: ErrMalformed, wantMsg: `field "data.events"`},
		{name: "eventType not a string", body: `{"eventType":1}`, wantErr: ErrMalformed, wantMsg: `field "eventType" must not be a JSON number`},
		{name: "wrong envelope", body: `{"eventType":"com.okta.inline_hook","data":{"events":[]}}`, wantErr: ErrWrongEnvelope, wantMsg: `"com.okta.inline_hook"`},
		{name: "no envelope type", body: `{"data":{"events":[{"uuid":"e1"}]}}`, wantErr: ErrWrongEnvelope},
		{name: "a bare LogEvent", body: `{"uuid":"e1","eventType":"user.lifecycle.suspend"}`, wantErr: ErrWrongEnvelope},
		{name: "envelope type case", body: `{"eventType":"COM.OKTA.EVENT_HOOK"}`, wantErr: ErrWrongEnvelope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDelivery([]byte(tt.body))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("error %q does not contain %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDelivery: %v", err)
			}
			if len(d.Events) != tt.wantEvents || d.EventID != tt.wantID || d.EventType != EnvelopeEventType {
				t.Errorf("got %d events, eventId %q, type %q; want %d, %q", len(d.Events), d.EventID, d.EventType, tt.wantEvents, tt.wantID)
			}
		})
	}
}

func TestParseDeliveryEnvelopeFields(t *testing.T) {
	body := sampleBody(t, "okta-hook-suspend.json")
	d, err := ParseDelivery(body)
	if err != nil {
		t.Fatal(err)
	}
	want := Delivery{
		EventType: EnvelopeEventType, EventTypeVersion: "1.0", CloudEventsVersion: "0.1",
		Source:  "https://acme.okta.com/api/v1/eventHooks/who8ab12cdEFgh34i1d7",
		EventID: "5b1d5c1e-2f4a-4c0e-9b8e-0b6f6c3d2a11", EventTime: "2026-03-02T10:15:04.512Z",
		ContentType: "application/json",
	}
	got := d
	got.Events = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("envelope = %+v, want %+v", got, want)
	}
	if len(d.Events) != 1 {
		t.Fatalf("%d events, want 1", len(d.Events))
	}
	ev, err := DecodeEvent(d.Events[0])
	if err != nil {
		t.Fatal(err)
	}
	if ev.UUID != "3f9a2b1c-f7e0-11f0-9c1d-5b1e2f3a4c5d" || ev.EventType != "user.lifecycle.suspend" ||
		ev.Outcome.Result != "SUCCESS" || len(ev.Targets) != 1 || ev.Targets[0].ID != "00ub0oNGTSWTBKOLGLNR" || ev.Actor.Type != "User" {
		t.Errorf("decoded event %+v", ev)
	}
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr string
	}{
		{name: "object", raw: `{"uuid":"e1","target":[{"id":"00u1","type":"User"}]}`},
		{name: "nulls", raw: `{"uuid":null,"actor":null,"target":null,"outcome":{"result":null}}`},
		{name: "number", raw: `42`, wantErr: "event is not a JSON object"},
		{name: "string", raw: `"x"`, wantErr: "event is not a JSON object"},
		{name: "target not an array", raw: `{"uuid":"e1","target":{"id":"00u1"}}`, wantErr: `field "target" must not be a JSON object`},
		{name: "id not a string", raw: `{"uuid":"e1","target":[{"id":5,"type":"User"}]}`, wantErr: `field "target.id" must not be a JSON number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvent(json.RawMessage(tt.raw))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("DecodeEvent: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want ErrMalformed containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestHeader(t *testing.T) {
	headers := map[string]string{"authorization": "a", "X-Okta-Verification-Challenge": "c", "x-custom": "x"}
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"Authorization", "a", true},
		{"authorization", "a", true},
		{"AUTHORIZATION", "a", true},
		{"x-okta-verification-challenge", "c", true},
		{"X-Custom", "x", true},
		{"X-Missing", "", false},
	}
	for _, tt := range tests {
		got, ok := Header(headers, tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Header(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := Header(nil, "Authorization"); ok {
		t.Error("Header(nil) found a header")
	}
}

// sampleBody returns the body of a sample API Gateway event in events/.
func sampleBody(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		tb.Fatal(err)
	}
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(data, &req); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return []byte(req.Body)
}

func FuzzParseDelivery(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "okta-hook-*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		f.Add(sampleBody(f, filepath.Base(file)))
	}
	f.Add([]byte(`{"eventType":"com.okta.event_hook","data":{"events":[null,1,"x",{}]}}`))
	f.Add([]byte(`{"eventType":"com.okta.event_hook","data":{"events":[{"target":[{"id":1}]}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ParseDelivery(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrWrongEnvelope) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if d.EventType != EnvelopeEventType {
			t.Fatalf("accepted eventType %q", d.EventType)
		}
		for _, raw := range d.Events {
			if _, err := DecodeEvent(raw); err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified event error %v", err)
			}
		}
	})
}
