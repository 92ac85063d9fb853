package revocation

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const (
	admin    = "00uadm1nXyZ12345h1d7"
	jane     = "00ub0oNGTSWTBKOLGLNR"
	john     = "00ub0oNGTSWTBKOLJOHN"
	portal   = "0oabskvc6442nkvQO0h7"
	crm      = "0oabskvc6442nkvQOCRM"
	appUser  = "0ua1ae5gw9d37jzgJ1d8"
	eventOne = "3f9a2b1c-f7e0-11f0-9c1d-5b1e2f3a4c5d"
)

func userTarget(id string) Target {
	return Target{ID: id, Type: TypeUser, AlternateID: id + "@acme.com"}
}
func appTarget(id string) Target {
	return Target{ID: id, Type: TypeAppInstance, DisplayName: "App " + id}
}

func adminActor() Actor { return Actor{ID: admin, Type: TypeUser, AlternateID: "it.admin@acme.com"} }

func event(eventType string, actor Actor, targets ...Target) Event {
	return Event{
		UUID:      eventOne,
		Published: "2026-03-02T10:15:01.201Z",
		EventType: eventType,
		Actor:     actor,
		Targets:   targets,
		Outcome:   Outcome{Result: "SUCCESS"},
	}
}

func TestIssueDefaults(t *testing.T) {
	want := []string{
		"application.lifecycle.deactivate", "application.lifecycle.delete",
		"application.user_membership.remove", "security.breached_credential.detected",
		"user.account.lock", "user.account.reset_password", "user.lifecycle.deactivate",
		"user.lifecycle.delete.initiated", "user.lifecycle.suspend", "user.mfa.factor.reset_all",
		"user.session.clear",
	}
	if got := DefaultEventTypes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("DefaultEventTypes() = %v, want %v", got, want)
	}
	known := KnownEventTypes()
	for _, d := range want {
		if !slices.Contains(known, d) {
			t.Errorf("default %q missing from KnownEventTypes", d)
		}
	}
	if !slices.IsSorted(known) {
		t.Errorf("KnownEventTypes not sorted: %v", known)
	}
}

func TestNewPolicy(t *testing.T) {
	tests := []struct {
		name    string
		types   []string
		want    []string
		wantErr string
	}{
		{name: "nil means defaults", types: nil, want: DefaultEventTypes()},
		{name: "subset", types: []string{"user.lifecycle.suspend"}, want: []string{"user.lifecycle.suspend"}},
		{name: "opt-in type", types: []string{"user.account.update_password", "user.lifecycle.suspend"}, want: []string{"user.account.update_password", "user.lifecycle.suspend"}},
		{name: "duplicates collapse", types: []string{"user.lifecycle.suspend", "user.lifecycle.suspend"}, want: []string{"user.lifecycle.suspend"}},
		{name: "unknown", types: []string{"user.lifecycle.suspend", "user.session.end"}, wantErr: `unknown event type "user.session.end"`},
		{name: "case matters", types: []string{"User.Lifecycle.Suspend"}, wantErr: `unknown event type "User.Lifecycle.Suspend"`},
		{name: "typo", types: []string{"user.lifecycle.suspended", "x"}, wantErr: `unknown event type "user.lifecycle.suspended", "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPolicy(tt.types)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewPolicy(%v) error = %v, want containing %q", tt.types, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "known: ") {
					t.Errorf("error %q does not list the known types", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewPolicy(%v): %v", tt.types, err)
			}
			if got := p.EventTypes(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("EventTypes() = %v, want %v", got, tt.want)
			}
		})
	}
}

// want is a request's target; Reason and RequestID are checked separately.
type want struct{ user, app string }

func TestPolicyMap(t *testing.T) {
	all, err := NewPolicy(KnownEventTypes())
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := NewPolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	self := Actor{ID: jane, Type: TypeUser, AlternateID: "jane@acme.com"}
	system := Actor{ID: "0oasystem000000000", Type: "PublicClientApp"}
	failure := func(ev Event, result string) Event { ev.Outcome = Outcome{Result: result, Reason: "denied"}; return ev }

	tests := []struct {
		name     string
		policy   *Policy
		ev       Event
		want     []want
		wantSkip string
	}{
		// Each default type in its documented shape.
		{name: "suspend", ev: event("user.lifecycle.suspend", adminActor(), userTarget(jane)), want: []want{{user: jane}}},
		{name: "deactivate", ev: event("user.lifecycle.deactivate", adminActor(), userTarget(jane)), want: []want{{user: jane}}},
		{name: "delete initiated", ev: event("user.lifecycle.delete.initiated", adminActor(), userTarget(jane)), want: []want{{user: jane}}},
		{name: "lock with target", ev: event("user.account.lock", system, userTarget(jane)), want: []want{{user: jane}}},
		{name: "lock self (actor fallback)", ev: event("user.account.lock", self), want: []want{{user: jane}}},
		{name: "reset password by admin", ev: event("user.account.reset_password", adminActor(), userTarget(jane)), want: []want{{user: jane}}},
		{name: "reset password self-service", ev: event("user.account.reset_password", self), want: []want{{user: jane}}},
		{name: "mfa reset all", ev: event("user.mfa.factor.reset_all", adminActor(), userTarget(jane)), want: []want{{user: jane}}},
		{name: "session clear", ev: event("user.session.clear", adminActor(), userTarget(jane)), want: []want{{user: jane}}},
		{name: "breached credential (actor)", ev: event("security.breached_credential.detected", self), want: []want{{user: jane}}},
		{name: "breached credential (target wins over actor)", ev: event("security.breached_credential.detected", adminActor(), userTarget(jane)), want: []want{{user: jane}}},
		{
			name: "app unassignment, targets in any order",
			ev: event("application.user_membership.remove", adminActor(),
				Target{ID: appUser, Type: "AppUser"}, userTarget(jane), appTarget(portal)),
			want: []want{{user: jane, app: portal}},
		},
		{name: "app deactivate", ev: event("application.lifecycle.deactivate", adminActor(), appTarget(portal)), want: []want{{app: portal}}},
		{name: "app delete", ev: event("application.lifecycle.delete", adminActor(), appTarget(portal)), want: []want{{app: portal}}},

		// Opt-in types.
		{name: "update password self", policy: all, ev: event("user.account.update_password", self), want: []want{{user: jane}}},
		{name: "report suspicious", policy: all, ev: event("user.account.report_suspicious_activity_by_enduser", self), want: []want{{user: jane}}},
		{name: "universal logout", policy: all, ev: event("user.authentication.universal_logout", system, userTarget(jane)), want: []want{{user: jane}}},
		{name: "known type not enabled", ev: event("user.account.update_password", self), wantSkip: `event type "user.account.update_password" is not enabled`},

		// Targets.
		{name: "several users", ev: event("user.lifecycle.suspend", adminActor(), userTarget(jane), userTarget(john), userTarget(jane)), want: []want{{user: jane}, {user: john}}},
		{name: "suspend without target never falls back to the admin", ev: event("user.lifecycle.suspend", adminActor()), wantSkip: "no User target"},
		{name: "mfa reset without target never falls back", ev: event("user.mfa.factor.reset_all", self), wantSkip: "no User target"},
		{name: "lock with non-user actor", ev: event("user.account.lock", system), wantSkip: "no User target and the actor is not a User"},
		{name: "lock with user actor lacking id", ev: event("user.account.lock", Actor{Type: TypeUser}), wantSkip: "no User target and the actor is not a User"},
		{name: "target with empty id ignored", ev: event("user.lifecycle.suspend", adminActor(), Target{Type: TypeUser}), wantSkip: "no User target"},
		{name: "type matched exactly", ev: event("user.lifecycle.suspend", adminActor(), Target{ID: jane, Type: "user"}), wantSkip: "no User target"},
		{name: "app unassignment without app", ev: event("application.user_membership.remove", adminActor(), userTarget(jane)), wantSkip: "no AppInstance target"},
		{name: "app unassignment without user (actor not used)", ev: event("application.user_membership.remove", adminActor(), appTarget(portal)), wantSkip: "no User target"},
		{name: "app unassignment ambiguous", ev: event("application.user_membership.remove", adminActor(), userTarget(jane), userTarget(john), appTarget(portal)), wantSkip: "ambiguous targets: 2 User, 1 AppInstance (want one of each)"},
		{name: "app unassignment two apps", ev: event("application.user_membership.remove", adminActor(), userTarget(jane), appTarget(portal), appTarget(crm)), wantSkip: "ambiguous targets: 1 User, 2 AppInstance (want one of each)"},
		{name: "app lifecycle ignores users", ev: event("application.lifecycle.delete", adminActor(), userTarget(jane), appTarget(portal)), want: []want{{app: portal}}},
		{name: "app lifecycle without app", ev: event("application.lifecycle.delete", adminActor(), userTarget(jane)), wantSkip: "no AppInstance target"},
		{name: "no targets at all", ev: event("application.lifecycle.deactivate", adminActor()), wantSkip: "no AppInstance target"},
		{name: "invalid user id", ev: event("user.lifecycle.suspend", adminActor(), userTarget("../../apps")), wantSkip: "invalid userId: may contain only letters, digits, '-' and '_'"},
		{name: "invalid actor id", ev: event("user.account.lock", Actor{ID: "a b", Type: TypeUser}), wantSkip: "invalid userId: may contain only letters, digits, '-' and '_'"},
		{name: "invalid app id", ev: event("application.lifecycle.delete", adminActor(), appTarget(strings.Repeat("x", 101))), wantSkip: "invalid appId: longer than 100 characters"},

		// Outcomes and unknowns.
		{name: "failure", ev: failure(event("user.lifecycle.suspend", adminActor(), userTarget(jane)), "FAILURE"), wantSkip: "outcome FAILURE is not SUCCESS"},
		{name: "deny", ev: failure(event("user.account.lock", self), "DENY"), wantSkip: "outcome DENY is not SUCCESS"},
		{name: "no outcome", ev: failure(event("user.lifecycle.suspend", adminActor(), userTarget(jane)), ""), wantSkip: "outcome (none) is not SUCCESS"},
		{name: "lower-case success", ev: failure(event("user.lifecycle.suspend", adminActor(), userTarget(jane)), "success"), want: []want{{user: jane}}},
		{name: "unknown type", ev: event("user.session.start", self, userTarget(jane)), wantSkip: `event type "user.session.start" is not handled`},
		{name: "no event type", ev: event("", self, userTarget(jane)), wantSkip: `event type "" is not handled`},
		{name: "no uuid", ev: func() Event {
			e := event("user.lifecycle.suspend", adminActor(), userTarget(jane))
			e.UUID = ""
			return e
		}(), wantSkip: "event has no uuid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			if p == nil {
				p = defaults
			}
			reqs, skip := p.Map(tt.ev)
			if skip != tt.wantSkip {
				t.Fatalf("skip = %q, want %q", skip, tt.wantSkip)
			}
			if tt.wantSkip != "" {
				if len(reqs) != 0 {
					t.Fatalf("skipped event yielded requests %+v", reqs)
				}
				return
			}
			var got []want
			ids := map[string]bool{}
			for _, r := range reqs {
				got = append(got, want{user: r.UserID, app: r.AppID})
				if err := r.Validate(); err != nil {
					t.Errorf("request %+v invalid: %v", r, err)
				}
				if r.ClientID != "" || r.TokenID != "" || r.Version != 0 {
					t.Errorf("request %+v has unexpected fields", r)
				}
				reason, err := r.DecodeReason()
				if err != nil {
					t.Fatalf("reason %s: %v", r.Reason, err)
				}
				if wantReason := EventReason(tt.ev); !reflect.DeepEqual(reason, wantReason) {
					t.Errorf("reason = %+v, want %+v", reason, wantReason)
				}
				if r.RequestID == "" || ids[r.RequestID] {
					t.Errorf("request id %q empty or repeated", r.RequestID)
				}
				ids[r.RequestID] = true
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("requests = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRequestIDsAreStable(t *testing.T) {
	p, err := NewPolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := event("user.lifecycle.suspend", adminActor(), userTarget(jane))
	a, _ := p.Map(ev)
	b, _ := p.Map(ev)
	if a[0].RequestID != b[0].RequestID {
		t.Errorf("same event, different ids: %s, %s", a[0].RequestID, b[0].RequestID)
	}
	other := ev
	other.UUID = "4f9a2b1c-f7e0-11f0-9c1d-5b1e2f3a4c5d"
	c, _ := p.Map(other)
	if c[0].RequestID == a[0].RequestID {
		t.Errorf("different events, same id %s", a[0].RequestID)
	}
	john := event("user.lifecycle.suspend", adminActor(), userTarget(john))
	d, _ := p.Map(john)
	if d[0].RequestID == a[0].RequestID {
		t.Errorf("different targets, same id %s", a[0].RequestID)
	}
}

func TestEventDecodingIsLenient(t *testing.T) {
	raw := `{"uuid":"u1","published":"2026-03-02T10:15:01.201Z","eventType":"user.lifecycle.suspend",
		"version":"0","severity":"INFO","displayMessage":null,"futureField":{"x":[1,2]},
		"actor":{"id":"00uadm1nXyZ12345h1d7","type":"User","alternateId":null,"displayName":null,"detailEntry":null},
		"outcome":{"result":"SUCCESS","reason":null},
		"target":[{"id":"00ub0oNGTSWTBKOLGLNR","type":"User","detailEntry":{"a":1},"changeDetails":null}, null]}`
	var ev Event
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		t.Fatalf("decode: %v", err)
	}
	wantEv := Event{
		UUID: "u1", Published: "2026-03-02T10:15:01.201Z", EventType: "user.lifecycle.suspend",
		Actor:   Actor{ID: admin, Type: TypeUser},
		Targets: []Target{{ID: jane, Type: TypeUser}, {}},
		Outcome: Outcome{Result: "SUCCESS"},
	}
	if !reflect.DeepEqual(ev, wantEv) {
		t.Errorf("decoded %+v, want %+v", ev, wantEv)
	}
	var empty Event
	if err := json.Unmarshal([]byte(`{"actor":null,"target":null,"outcome":null}`), &empty); err != nil {
		t.Fatalf("decode nulls: %v", err)
	}
	if !reflect.DeepEqual(empty, Event{}) {
		t.Errorf("nulls decoded to %+v", empty)
	}
}

func TestBatch(t *testing.T) {
	p, err := NewPolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	withUUID := func(ev Event, id string) Event { ev.UUID = id; return ev }
	suspend := withUUID(event("user.lifecycle.suspend", adminActor(), userTarget(jane)), "e1")
	lock := withUUID(event("user.account.lock", Actor{ID: jane, Type: TypeUser}), "e2")
	unassign := withUUID(event("application.user_membership.remove", adminActor(), userTarget(jane), appTarget(portal)), "e3")
	suspendJohn := withUUID(event("user.lifecycle.deactivate", adminActor(), userTarget(john), userTarget(jane)), "e4")
	deactivate := withUUID(event("application.lifecycle.deactivate", adminActor(), appTarget(portal)), "e5")

	b := NewBatch(SourceEventHook, "delivery-1")
	added := 0
	for _, ev := range []Event{suspend, lock, unassign, suspendJohn, suspend, deactivate} {
		reqs, _ := p.Map(ev)
		added += b.Add(ev, reqs)
	}
	if b.Len() != 4 || added != 4 {
		t.Fatalf("Len() = %d, added %d; want 4 distinct requests", b.Len(), added)
	}
	type got struct {
		user, app string
		reason    Reason
	}
	var gots []got
	for _, r := range b.Requests() {
		if err := r.Validate(); err != nil {
			t.Errorf("invalid request %+v: %v", r, err)
		}
		reason, err := r.DecodeReason()
		if err != nil {
			t.Fatal(err)
		}
		gots = append(gots, got{r.UserID, r.AppID, reason})
	}
	reason := func(ev Event, merged ...string) Reason {
		r := EventReason(ev)
		r.Source, r.EventID, r.MergedEventUUIDs = SourceEventHook, "delivery-1", merged
		return r
	}
	wantGots := []got{
		{user: jane, reason: reason(suspend, "e2", "e4")},
		{user: jane, app: portal, reason: reason(unassign)},
		{user: john, reason: reason(suspendJohn)},
		{app: portal, reason: reason(deactivate)},
	}
	if !reflect.DeepEqual(gots, wantGots) {
		t.Errorf("requests:\n got %+v\nwant %+v", gots, wantGots)
	}
	// The merged request keeps the first event's request id.
	first, _ := p.Map(suspend)
	if b.Requests()[0].RequestID != first[0].RequestID {
		t.Errorf("merged request id %s, want the first event's %s", b.Requests()[0].RequestID, first[0].RequestID)
	}
	// A user.session.clear request does not end sessions; merged with an
	// event that needs them ended, that event leads the request.
	clear := withUUID(event("user.session.clear", adminActor(), userTarget(jane)), "e6")
	reset := withUUID(event("user.account.reset_password", adminActor(), userTarget(jane)), "e7")
	lock2 := withUUID(event("user.account.lock", Actor{ID: jane, Type: TypeUser}), "e8")
	sessions := NewBatch(SourceEventHook, "delivery-1")
	for _, ev := range []Event{clear, reset, lock2, clear} {
		reqs, _ := p.Map(ev)
		sessions.Add(ev, reqs)
	}
	if got := sessions.Requests(); len(got) != 1 || got[0].AnswersSessionClear() {
		t.Errorf("session clear then reset: %+v, want one request that ends sessions", got)
	} else if r, _ := got[0].DecodeReason(); !reflect.DeepEqual(r, reason(reset, "e6", "e8")) {
		t.Errorf("reason %+v, want %+v", r, reason(reset, "e6", "e8"))
	}
	// Reason JSON has the documented field names.
	var fields map[string]any
	if err := json.Unmarshal(b.Requests()[0].Reason, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"source", "eventId", "eventUuid", "eventType", "published", "mergedEventUuids"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("reason %s lacks %q", b.Requests()[0].Reason, k)
		}
	}
	if empty := NewBatch("okta-system-log", ""); empty.Add(suspend, nil) != 0 || len(empty.Requests()) != 0 {
		t.Errorf("empty batch not empty")
	}
}

// seedEvents returns the LogEvents in the sample deliveries in events/.
func seedEvents(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob("../../events/okta-hook-*.json")
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var apigw struct{ Body string }
		if err := json.Unmarshal(data, &apigw); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		var envelope struct {
			Data struct{ Events []json.RawMessage }
		}
		if json.Unmarshal([]byte(apigw.Body), &envelope) != nil {
			continue // the verification GET has no body
		}
		for _, ev := range envelope.Data.Events {
			out = append(out, ev)
		}
	}
	return out
}

func FuzzPolicyMap(f *testing.F) {
	for _, ev := range seedEvents(f) {
		f.Add(ev)
	}
	f.Add([]byte(`{"uuid":"u","eventType":"user.account.lock","actor":{"id":"00u1","type":"User"},"outcome":{"result":"SUCCESS"}}`))
	f.Add([]byte(`{"uuid":"u","eventType":"application.user_membership.remove","target":[{"id":"00u1","type":"User"},{"id":"0oa1","type":"AppInstance"}],"outcome":{"result":"SUCCESS"}}`))
	p, err := NewPolicy(KnownEventTypes())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev Event
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		reqs, skip := p.Map(ev)
		if (len(reqs) == 0) == (skip == "") {
			t.Fatalf("Map(%s) = %d requests, skip %q: want exactly one of them", data, len(reqs), skip)
		}
		b := NewBatch(SourceEventHook, "d")
		b.Add(ev, reqs)
		for _, r := range b.Requests() {
			if err := r.Validate(); err != nil {
				t.Fatalf("Map(%s) produced invalid request %+v: %v", data, r, err)
			}
			// What is queued must read back as the same request.
			body, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(body)
			if err != nil {
				t.Fatalf("queued request %s does not parse: %v", body, err)
			}
			if back.UserID != r.UserID || back.AppID != r.AppID || back.RequestID != r.RequestID {
				t.Fatalf("round trip changed %+v to %+v", r, back)
			}
		}
	})
}

func TestDecodeReason(t *testing.T) {
	for _, tt := range []struct {
		name    string
		raw     string
		want    Reason
		wantErr bool
	}{
		{name: "event reason", raw: `{"source":"okta-event-hook","eventUuid":"u1","eventType":"user.lifecycle.suspend","mergedEventUuids":["u2"]}`,
			want: Reason{Source: SourceEventHook, EventUUID: "u1", EventType: "user.lifecycle.suspend", MergedEventUUIDs: []string{"u2"}}},
		{name: "another producer's object", raw: `{"ticket":"SEC-1"}`, want: Reason{}},
		{name: "none", raw: "", wantErr: true},
		{name: "not an object", raw: `"because"`, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Request{RequestID: "r1", Reason: json.RawMessage(tt.raw)}.DecodeReason()
			if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("DecodeReason(%s) = %+v, %v; want %+v, error %v", tt.raw, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "r1") {
				t.Errorf("error %q does not name the request", err)
			}
		})
	}
}

func TestParseEventTypes(t *testing.T) {
	for _, tt := range []struct {
		list    string
		want    []string
		wantErr string
	}{
		{"", DefaultEventTypes(), ""},
		{" , ,", DefaultEventTypes(), ""},
		{"user.lifecycle.suspend", []string{"user.lifecycle.suspend"}, ""},
		{" user.lifecycle.suspend , user.account.lock ", []string{"user.lifecycle.suspend", "user.account.lock"}, ""},
		{"user.lifecycle.suspend,user.session.start", nil, `unknown event type "user.session.start"`},
	} {
		got, err := ParseEventTypes(tt.list)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseEventTypes(%q) = %v, %v; want error %q", tt.list, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseEventTypes(%q) = %v, %v; want %v", tt.list, got, err, tt.want)
		}
	}
}
