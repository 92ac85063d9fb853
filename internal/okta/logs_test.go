package okta

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/fakeclock"
)

func TestLogsURL(t *testing.T) {
	c := sswsClient(t, "https://acme.okta.com")
	since := time.Date(2026, 3, 2, 10, 15, 4, 512_000_000, time.FixedZone("CET", 3600))
	tests := []struct {
		name    string
		q       LogQuery
		want    url.Values
		wantErr bool
	}{
		{name: "defaults", q: LogQuery{}, want: url.Values{"sortOrder": {"ASCENDING"}}},
		{name: "everything", q: LogQuery{EventTypes: []string{"user.lifecycle.suspend", "event_hook.delivery"}, Since: since, Limit: 1000},
			want: url.Values{
				"sortOrder": {"ASCENDING"},
				"limit":     {"1000"},
				"since":     {"2026-03-02T09:15:04.512Z"},
				"filter":    {`eventType eq "user.lifecycle.suspend" or eventType eq "event_hook.delivery"`},
			}},
		{name: "limit too large", q: LogQuery{Limit: MaxLogLimit + 1}, wantErr: true},
		{name: "negative limit", q: LogQuery{Limit: -1}, wantErr: true},
		{name: "quote in event type", q: LogQuery{EventTypes: []string{`a" or eventType pr or "`}}, wantErr: true},
		{name: "space in event type", q: LogQuery{EventTypes: []string{"user.lifecycle.suspend "}}, wantErr: true},
		{name: "empty event type", q: LogQuery{EventTypes: []string{""}}, wantErr: true},
		{name: "overlong event type", q: LogQuery{EventTypes: []string{strings.Repeat("a", maxEventTypeLength+1)}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.LogsURL(tt.q)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("LogsURL = %q, %v; want ErrInvalidArgument", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u := mustParseURL(t, got)
			if u.Scheme+"://"+u.Host != "https://acme.okta.com" || u.Path != "/api/v1/logs" {
				t.Errorf("URL %s, want https://acme.okta.com/api/v1/logs", got)
			}
			if q := u.Query(); q.Encode() != tt.want.Encode() {
				t.Errorf("query %s, want %s", q.Encode(), tt.want.Encode())
			}
			if u.Query().Has("until") {
				t.Error("until makes a bounded query, not a poll")
			}
		})
	}
}

func TestNextLogsRefusesForeignCursors(t *testing.T) {
	var calls int
	var mu sync.Mutex
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.Write([]byte("[]"))
	})
	c := sswsClient(t, srv.srv.URL)
	for _, cursor := range []string{
		"",
		"/api/v1/logs?after=1",
		"https://evil.example.com/api/v1/logs?after=1",
		strings.Replace(srv.srv.URL, "http://", "https://", 1) + "/api/v1/logs",
		srv.srv.URL + "/api/v1/users?after=1",
		srv.srv.URL + "/api/v1/logs/../users",
		srv.srv.URL + "/api/v1/logsx",
		strings.Replace(srv.srv.URL, "http://", "http://user:pw@", 1) + "/api/v1/logs",
		srv.srv.URL + "/api/v1/logs#frag",
		srv.srv.URL + "/api/v1/logs?after=" + strings.Repeat("a", maxLogCursorLength),
		"::not a url",
	} {
		_, err := c.NextLogs(context.Background(), cursor)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("NextLogs(%.80q) = %v, want ErrInvalidArgument", cursor, err)
		}
	}
	if calls != 0 {
		t.Fatalf("%d requests sent for refused cursors", calls)
	}
	if _, err := c.NextLogs(context.Background(), srv.srv.URL+"/api/v1/logs?after=1_2&limit=5"); err != nil {
		t.Fatalf("a cursor on the org: %v", err)
	}
	if got := srv.requests(); len(got) != 1 || got[0].RawQuery != "after=1_2&limit=5" {
		t.Fatalf("requests %+v, want the cursor sent verbatim", got)
	}
}

func TestListLogsRejectsAForeignNextLink(t *testing.T) {
	for _, link := range []string{
		`<https://evil.example.com/api/v1/logs?after=1>; rel="next"`,
		`</api/v1/users?after=1>; rel="next"`,
	} {
		srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", link)
			w.Write([]byte(`[{"uuid":"a"}]`))
		})
		c := sswsClient(t, srv.srv.URL)
		_, err := c.ListLogs(context.Background(), LogQuery{})
		if !errors.Is(err, ErrServer) || errors.Is(err, ErrInvalidArgument) {
			t.Errorf("link %s: err %v, want ErrServer only", link, err)
		}
	}
}

func TestListLogsErrors(t *testing.T) {
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter)
		status int // of the *Error; 0 = not an answer from Okta
		want   error
	}{
		{"not an array", func(w http.ResponseWriter) { w.Write([]byte(`{"uuid":"a"}`)) }, 0, ErrServer},
		{"bad filter", func(w http.ResponseWriter) { oktaError(w, 400, "E0000031", "Invalid search criteria.") }, 400, nil},
		{"no scope", func(w http.ResponseWriter) { oktaError(w, 403, "E0000006", "You do not have permission.") }, 403, ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { tt.answer(w) })
			c := sswsClient(t, srv.srv.URL)
			_, err := c.ListLogs(context.Background(), LogQuery{EventTypes: []string{"user.lifecycle.suspend"}})
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
			var oe *Error
			if errors.As(err, &oe) != (tt.status != 0) || tt.status != 0 && oe.StatusCode != tt.status {
				t.Errorf("err %v, want an Okta answer with status %d", err, tt.status)
			}
		})
	}
}

// TestPollingTheFakeSystemLog polls the fake org the way the reconciler
// does: filter, since, the next link as the cursor, resumed later.
func TestPollingTheFakeSystemLog(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
	org := oktafake.NewTest(t, oktafake.WithClock(clock.Now))
	c := testClient(t, org.URL, StaticCredentials(Credentials{APIToken: oktafake.DefaultAPIToken}))
	ctx := context.Background()

	user := oktafake.LogTarget{ID: "00ub0oNGTSWTBKOLGLNR", Type: "User"}
	add := func(eventType string) string {
		ev := oktafake.NewLogEventAt(clock.Now(), eventType, user, user)
		org.AddLogEvent(ev)
		var v struct{ UUID string }
		json.Unmarshal(ev, &v)
		clock.Advance(time.Second)
		return v.UUID
	}
	uuids := func(p LogPage) []string {
		var out []string
		for _, ev := range p.Events {
			var v struct{ UUID string }
			if err := json.Unmarshal(ev, &v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v.UUID)
		}
		return out
	}

	old := add("user.lifecycle.suspend") // before since: not read
	clock.Advance(time.Hour)
	since := clock.Now().Add(-time.Minute)
	a := add("user.lifecycle.suspend")
	add("user.session.start") // filtered out
	b := add("event_hook.delivery")
	c3 := add("user.lifecycle.deactivate")

	q := LogQuery{EventTypes: []string{"user.lifecycle.suspend", "user.lifecycle.deactivate", "event_hook.delivery"}, Since: since, Limit: 2}
	p1, err := c.ListLogs(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := uuids(p1); strings.Join(got, ",") != a+","+b {
		t.Fatalf("page 1 %v, want [%s %s] (not %s)", got, a, b, old)
	}
	if p1.NextURL == "" {
		t.Fatal("polling page without a next link")
	}
	again, err := c.NextLogs(ctx, p1.URL)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(uuids(again), ",") != a+","+b {
		t.Fatalf("re-reading page 1 gave %v", uuids(again))
	}
	p2, err := c.NextLogs(ctx, p1.NextURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := uuids(p2); strings.Join(got, ",") != c3 {
		t.Fatalf("page 2 %v, want [%s]", got, c3)
	}
	p3, err := c.NextLogs(ctx, p2.NextURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(p3.Events) != 0 || p3.NextURL == "" {
		t.Fatalf("caught up: %d events, next %q; want none and a next link", len(p3.Events), p3.NextURL)
	}
	// Later: the stored cursor resumes exactly after what was read.
	d := add("user.lifecycle.suspend")
	p4, err := c.NextLogs(ctx, p3.NextURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := uuids(p4); strings.Join(got, ",") != d {
		t.Fatalf("resumed page %v, want [%s]", got, d)
	}
	for _, r := range org.Requests() {
		if r.Path != "/api/v1/logs" {
			t.Errorf("unexpected request %s %s", r.Method, r.Path)
		}
	}
}

// FuzzLogCursor: whatever a stored cursor holds, NextLogs either refuses it
// without sending anything, or sends it to the org's /api/v1/logs.
func FuzzLogCursor(f *testing.F) {
	var mu sync.Mutex
	var got []recorded
	srv := newRecorder(f, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, recorded{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone()})
		mu.Unlock()
		w.Write([]byte("[]"))
	})
	c := sswsClient(f, srv.srv.URL, func(cfg *Config) { cfg.MaxAttempts = 1 })
	host := strings.TrimPrefix(srv.srv.URL, "http://")
	f.Add(srv.srv.URL + "/api/v1/logs?after=1_2&limit=10")
	f.Add("http://" + host + "/api/v1/logs/../users")
	f.Add("http://" + host + "@evil.example.com/api/v1/logs")
	f.Add("http://evil.example.com/api/v1/logs#http://" + host)
	f.Add("http://" + host + "/api/v1/%6cogs")
	f.Add("http://" + strings.ToUpper(host) + "/api/v1/logs")
	f.Add("")
	f.Fuzz(func(t *testing.T, cursor string) {
		mu.Lock()
		got = nil
		mu.Unlock()
		_, err := c.NextLogs(context.Background(), cursor)
		mu.Lock()
		sent := got
		mu.Unlock()
		if errors.Is(err, ErrInvalidArgument) {
			if len(sent) != 0 {
				t.Fatalf("refused cursor %q was sent: %+v", cursor, sent)
			}
			return
		}
		for _, r := range sent {
			if r.Path != "/api/v1/logs" || r.Method != http.MethodGet {
				t.Fatalf("cursor %q sent %s %s", cursor, r.Method, r.Path)
			}
		}
	})
}

// FuzzLogFilter: an accepted event type list always yields a filter of
// exactly one eq clause per type, with nothing else in it.
func FuzzLogFilter(f *testing.F) {
	f.Add("user.lifecycle.suspend", "event_hook.delivery")
	f.Add(`a" or eventType pr or "`, "b")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		filter, err := LogFilter([]string{a, b})
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("error %v is not ErrInvalidArgument", err)
			}
			return
		}
		if want := `eventType eq "` + a + `" or eventType eq "` + b + `"`; filter != want {
			t.Fatalf("filter %q, want %q", filter, want)
		}
		if strings.Count(filter, `"`) != 4 || strings.Count(filter, " or ") != 1 {
			t.Fatalf("filter %q has injected syntax", filter)
		}
	})
}
