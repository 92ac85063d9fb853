package oktafake

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func logUUIDs(t *testing.T, body []byte) []string {
	t.Helper()
	type ev struct {
		UUID string `json:"uuid"`
	}
	out := []string{}
	for _, e := range decode[[]ev](t, body) {
		out = append(out, e.UUID)
	}
	return out
}

func eventUUID(t *testing.T, ev json.RawMessage) string {
	t.Helper()
	return decode[struct {
		UUID string `json:"uuid"`
	}](t, ev).UUID
}

func logsPath(params url.Values) string { return "/api/v1/logs?" + params.Encode() }

func TestSystemLogPolling(t *testing.T) {
	clk := newFakeClock()
	s := NewTest(t, WithClock(clk.Now))
	actor := LogTarget{ID: "00uadmin", Type: "User"}
	add := func(eventType, userID string) string {
		ev := NewLogEventAt(clk.Now(), eventType, actor, LogTarget{ID: userID, Type: "User"})
		s.AddLogEvent(ev)
		clk.Advance(time.Second)
		return eventUUID(t, ev)
	}
	filter := `eventType eq "user.lifecycle.suspend" or eventType eq "user.lifecycle.deactivate"`

	// An empty log still answers with a next link to poll from.
	first := do(t, s, call{method: http.MethodGet, path: logsPath(url.Values{"filter": {filter}, "limit": {"2"}, "since": {clk.Now().Add(-time.Hour).Format(time.RFC3339)}})})
	if first.status != 200 || string(first.body) != "[]" || first.links()["next"] == "" {
		t.Fatalf("empty log: %d %s links %v", first.status, first.body, first.links())
	}
	next := first.links()["next"]

	want := []string{
		add("user.lifecycle.suspend", user1),
		add("user.lifecycle.deactivate", user2),
	}
	add("user.session.start", user1) // not in the filter
	want = append(want, add("user.lifecycle.suspend", user3))

	var got []string
	for range 10 {
		r := do(t, s, call{method: http.MethodGet, path: next})
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		page := logUUIDs(t, r.body)
		if len(page) > 2 {
			t.Fatalf("page of %d > limit 2", len(page))
		}
		got = append(got, page...)
		n := r.links()["next"]
		if n == "" {
			t.Fatal("polling page without next link")
		}
		u, _ := url.Parse(n)
		if u.Query().Get("filter") != filter || u.Query().Get("since") != "" || u.Query().Get("after") == "" || u.Scheme+"://"+u.Host != s.URL {
			t.Errorf("next link %q", n)
		}
		next = n
		if len(page) == 0 {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("polled %v, want %v", got, want)
	}

	// Events added later are picked up from the persisted cursor, once.
	later := add("user.lifecycle.deactivate", user1)
	r := do(t, s, call{method: http.MethodGet, path: next})
	if page := logUUIDs(t, r.body); !slices.Equal(page, []string{later}) {
		t.Errorf("after new event: %v, want [%s]", page, later)
	}
	next = r.links()["next"]
	if r := do(t, s, call{method: http.MethodGet, path: next}); string(r.body) != "[]" {
		t.Errorf("repeat after cursor: %s", r.body)
	}
}

func TestSystemLogSinceAndRawEvents(t *testing.T) {
	clk := newFakeClock()
	s := NewTest(t, WithClock(clk.Now))
	s.AddLogEvent(json.RawMessage(`{"uuid":"old","published":"2026-03-01T11:00:00.000Z","eventType":"user.lifecycle.suspend"}`))
	clk.Advance(time.Hour)
	since := clk.Now()
	raw := `{ "uuid": "new", "eventType": "user.lifecycle.suspend", "published": "2026-03-01T13:00:00.123Z", "extra": {"kept": [1, 2]} }`
	s.AddLogEvent(json.RawMessage(raw))

	r := do(t, s, call{method: http.MethodGet, path: logsPath(url.Values{"since": {since.Format(time.RFC3339Nano)}})})
	want := `[{"uuid":"new","eventType":"user.lifecycle.suspend","published":"2026-03-01T13:00:00.123Z","extra":{"kept":[1,2]}}]`
	if r.status != 200 || string(r.body) != want {
		t.Errorf("since query: %d %s\nwant %s", r.status, r.body, want)
	}
	// Without since, polling starts 7 days back: both events.
	if got := logUUIDs(t, do(t, s, call{method: http.MethodGet, path: "/api/v1/logs"}).body); !slices.Equal(got, []string{"old", "new"}) {
		t.Errorf("default since: %v", got)
	}
	// Missing uuid and published are filled in.
	s.AddLogEvent(json.RawMessage(`{"eventType":"x.y"}`))
	evs := decode[[]map[string]any](t, do(t, s, call{method: http.MethodGet, path: logsPath(url.Values{"filter": {`eventType eq "x.y"`}})}).body)
	if len(evs) != 1 || evs[0]["uuid"] == "" || evs[0]["published"] == nil {
		t.Errorf("filled event = %v", evs)
	}
}

func TestSystemLogBounded(t *testing.T) {
	clk := newFakeClock()
	s := NewTest(t, WithClock(clk.Now))
	base := clk.Now().Add(-time.Hour)
	var uuids []string
	// Stored out of published order, as Okta may.
	for _, offset := range []int{3, 1, 4, 0, 2} {
		ev := NewLogEventAt(base.Add(time.Duration(offset)*time.Minute), "user.lifecycle.suspend", LogTarget{ID: "00ua", Type: "User"})
		s.AddLogEvent(ev)
		uuids = append(uuids, eventUUID(t, ev))
	}
	byPublished := []string{uuids[3], uuids[1], uuids[4], uuids[0], uuids[2]}
	for _, tt := range []struct {
		name  string
		order string
		want  []string
	}{
		{"ascending", "ASCENDING", byPublished},
		{"descending", "DESCENDING", []string{byPublished[4], byPublished[3], byPublished[2], byPublished[1], byPublished[0]}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			next := s.URL + logsPath(url.Values{
				"since": {base.Format(time.RFC3339)}, "until": {clk.Now().Format(time.RFC3339)},
				"sortOrder": {tt.order}, "limit": {"2"},
			})
			var got []string
			pages := 0
			for next != "" && pages < 10 {
				r := do(t, s, call{method: http.MethodGet, path: next})
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.body)
				}
				got = append(got, logUUIDs(t, r.body)...)
				next = r.links()["next"]
				pages++
			}
			if !slices.Equal(got, tt.want) || pages != 3 {
				t.Errorf("got %v in %d pages, want %v in 3", got, pages, tt.want)
			}
		})
	}
	// until excludes later events.
	r := do(t, s, call{method: http.MethodGet, path: logsPath(url.Values{"since": {base.Format(time.RFC3339)}, "until": {base.Add(90 * time.Second).Format(time.RFC3339Nano)}})})
	if got := logUUIDs(t, r.body); !slices.Equal(got, byPublished[:2]) || r.links()["next"] != "" {
		t.Errorf("bounded until: %v next %q", got, r.links()["next"])
	}
}

func TestSystemLogBadRequests(t *testing.T) {
	clk := newFakeClock()
	s := NewTest(t, WithClock(clk.Now))
	tests := []struct {
		name   string
		params url.Values
		code   string
	}{
		{"limit too big", url.Values{"limit": {"1001"}}, "E0000001"},
		{"limit negative", url.Values{"limit": {"-1"}}, "E0000001"},
		{"sortOrder", url.Values{"sortOrder": {"UP"}}, "E0000001"},
		{"since not a time", url.Values{"since": {"yesterday"}}, "E0000001"},
		{"until not a time", url.Values{"until": {"now"}}, "E0000001"},
		{"since too old", url.Values{"since": {clk.Now().Add(-200 * 24 * time.Hour).Format(time.RFC3339)}}, "E0000053"},
		{"filter on published", url.Values{"filter": {`published gt "2026-01-01T00:00:00Z"`}}, "E0000053"},
		{"unknown operator", url.Values{"filter": {`eventType is "x"`}}, "E0000031"},
		{"unterminated string", url.Values{"filter": {`eventType eq "x`}}, "E0000053"},
		{"unquoted string", url.Values{"filter": {`eventType eq x`}}, "E0000053"},
		{"brackets", url.Values{"filter": {`target[type eq "User"]`}}, "E0000053"},
		{"dangling or", url.Values{"filter": {`eventType eq "x" or`}}, "E0000053"},
		{"too many keywords", url.Values{"q": {"a b c d e f g h i j k"}}, "E0000001"},
		{"bad cursor", url.Values{"after": {"nope"}}, "E0000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, call{method: http.MethodGet, path: logsPath(tt.params)})
			if r.status != 400 || r.errorBody(t).ErrorCode != tt.code {
				t.Errorf("%d %s, want 400 %s", r.status, r.body, tt.code)
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	ev := map[string]any{}
	if err := json.Unmarshal(NewLogEvent("user.lifecycle.suspend", LogTarget{ID: "00uadmin", Type: "User"},
		LogTarget{ID: "00utarget", Type: "User"}, LogTarget{ID: "0oaapp", Type: "AppInstance"}), &ev); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		filter string
		want   bool
	}{
		{``, true},
		{`eventType eq "user.lifecycle.suspend"`, true},
		{`eventType eq "USER.LIFECYCLE.SUSPEND"`, true},
		{`eventType eq "user.lifecycle.deactivate"`, false},
		{`eventType eq "a" or eventType eq "user.lifecycle.suspend"`, true},
		{`eventType eq "a" OR eventType eq "b"`, false},
		{`eventType sw "user.lifecycle"`, true},
		{`eventType co "cycle"`, true},
		{`eventType ew "suspend"`, true},
		{`eventType ne "user.lifecycle.suspend"`, false},
		{`target.id eq "0oaapp"`, true},
		{`target.id eq "00uadmin"`, false},
		{`actor.id eq "00uadmin" and target.type eq "AppInstance"`, true},
		{`actor.id eq "00uadmin" and target.type eq "Group"`, false},
		{`(eventType eq "a" or eventType eq "user.lifecycle.suspend") and outcome.result eq "SUCCESS"`, true},
		{`not (outcome.result eq "SUCCESS")`, false},
		{`outcome.reason eq null`, true},
		{`actor.alternateId pr`, false},
		{`actor.id pr`, true},
		{`eventType eq "a\"b"`, false},
	}
	for _, tt := range tests {
		f, err := parseFilter(tt.filter)
		if err != nil {
			t.Errorf("parseFilter(%q): %v", tt.filter, err)
			continue
		}
		if got := f.match(ev); got != tt.want {
			t.Errorf("%q matched %v, want %v", tt.filter, got, tt.want)
		}
	}
	if _, err := parseFilter(strings.Repeat("(", 40) + `eventType eq "x"` + strings.Repeat(")", 40)); err == nil {
		t.Error("deep nesting accepted")
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, seed := range []string{
		`eventType eq "user.lifecycle.suspend" or eventType eq "user.lifecycle.deactivate"`,
		`eventType sw "event_hook"`,
		`target.id eq "00u1" and (outcome.result eq "SUCCESS" or not severity eq "WARN")`,
		`actor.id pr`,
		`eventType eq "a\"b\\"`,
		`((((`,
		`published gt "x"`,
		`a eq 1.5`,
	} {
		f.Add(seed)
	}
	ev := map[string]any{}
	_ = json.Unmarshal(NewLogEvent("user.lifecycle.suspend", LogTarget{ID: "00u1", Type: "User"}, LogTarget{ID: "00u2", Type: "User"}), &ev)
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := parseFilter(s)
		if err != nil {
			var fe *filterError
			if !errors.As(err, &fe) || (fe.code != "E0000053" && fe.code != "E0000031") {
				t.Fatalf("error %v is not a filterError with an Okta code", err)
			}
			return
		}
		flt.match(ev) // must not panic
	})
}
