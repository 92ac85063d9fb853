package listtokens

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/okta-token-revoker/okta-token-revoker/internal/httpapi"
)

func TestParseQuery(t *testing.T) {
	longAfter := strings.Repeat("a", MaxAfterLength)
	tests := []struct {
		name    string
		raw     string
		allowed []string
		want    Query
		wantErr string // substring of the 400 message; "" = success
	}{
		{name: "empty list query", raw: "", allowed: listParams, want: Query{}},
		{name: "all list params", raw: "expand=scope&after=oar123&limit=50", allowed: listParams,
			want: Query{Expand: "scope", After: "oar123", Limit: 50}},
		{name: "limit min", raw: "limit=1", allowed: listParams, want: Query{Limit: 1}},
		{name: "limit max", raw: "limit=200", allowed: listParams, want: Query{Limit: 200}},
		{name: "limit with leading zero", raw: "limit=020", allowed: listParams, want: Query{Limit: 20}},
		{name: "escaped cursor", raw: "after=a%2Bb%3D", allowed: listParams, want: Query{After: "a+b="}},
		{name: "longest cursor", raw: "after=" + longAfter, allowed: listParams, want: Query{After: longAfter}},
		{name: "single expand", raw: "expand=scope", allowed: singleParams, want: Query{Expand: "scope"}},

		{name: "limit zero", raw: "limit=0", allowed: listParams, wantErr: `"limit" must be an integer from 1 to 200`},
		{name: "limit 201", raw: "limit=201", allowed: listParams, wantErr: `"limit" must be an integer from 1 to 200`},
		{name: "limit abc", raw: "limit=abc", allowed: listParams, wantErr: `"limit" must be an integer`},
		{name: "limit negative", raw: "limit=-1", allowed: listParams, wantErr: `"limit" must be an integer`},
		{name: "limit plus sign", raw: "limit=%2B5", allowed: listParams, wantErr: `"limit" must be an integer`},
		{name: "limit empty", raw: "limit=", allowed: listParams, wantErr: `"limit" must be an integer`},
		{name: "limit huge", raw: "limit=99999999999999999999999", allowed: listParams, wantErr: `"limit" must be an integer`},
		{name: "limit space", raw: "limit=+5", allowed: listParams, wantErr: `"limit" must be an integer`},
		{name: "expand foo", raw: "expand=foo", allowed: listParams, wantErr: `"expand" must be "scope"`},
		{name: "expand empty", raw: "expand=", allowed: listParams, wantErr: `"expand" must be "scope"`},
		{name: "expand case", raw: "expand=SCOPE", allowed: singleParams, wantErr: `"expand" must be "scope"`},
		{name: "after empty", raw: "after=", allowed: listParams, wantErr: `"after" must not be empty`},
		{name: "after too long", raw: "after=" + longAfter + "a", allowed: listParams, wantErr: "must not be longer than 1024"},
		{name: "after control char", raw: "after=a%0Db", allowed: listParams, wantErr: "printable ASCII"},
		{name: "after space", raw: "after=a+b", allowed: listParams, wantErr: "printable ASCII"},
		{name: "unknown param", raw: "filter=x", allowed: listParams, wantErr: `"filter" is not supported by this route (supported: expand, after, limit)`},
		{name: "wrong case name", raw: "Limit=5", allowed: listParams, wantErr: `"Limit" is not supported`},
		{name: "limit on single route", raw: "limit=5", allowed: singleParams, wantErr: `"limit" is not supported by this route (supported: expand)`},
		{name: "after on single route", raw: "after=x", allowed: singleParams, wantErr: `"after" is not supported`},
		{name: "any param on clients route", raw: "expand=scope", allowed: noParams, wantErr: "this route takes no query parameters"},
		{name: "bare name on clients route", raw: "x", allowed: noParams, wantErr: `"x" is not supported`},
		{name: "repeated limit", raw: "limit=5&limit=6", allowed: listParams, wantErr: `"limit" must be given at most once`},
		{name: "repeated identical", raw: "expand=scope&expand=scope", allowed: listParams, wantErr: `"expand" must be given at most once`},
		{name: "repeated after", raw: "after=a&after=b", allowed: listParams, wantErr: `"after" must be given at most once`},
		{name: "bad escape", raw: "limit=%zz", allowed: listParams, wantErr: "malformed query string"},
		{name: "semicolon", raw: "limit=5;expand=scope", allowed: listParams, wantErr: "malformed query string"},
		{name: "long hostile name truncated", raw: strings.Repeat("x", 500) + "=1", allowed: listParams, wantErr: `"` + strings.Repeat("x", 40) + `"...`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQuery(tt.raw, tt.allowed)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseQuery(%q) error = %v", tt.raw, err)
				}
				if got != tt.want {
					t.Fatalf("ParseQuery(%q) = %+v, want %+v", tt.raw, got, tt.want)
				}
				return
			}
			var se *httpapi.StatusError
			if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
				t.Fatalf("ParseQuery(%q) error = %v, want a 400 StatusError", tt.raw, err)
			}
			if !strings.Contains(se.Message, tt.wantErr) {
				t.Fatalf("ParseQuery(%q) message = %q, want it to contain %q", tt.raw, se.Message, tt.wantErr)
			}
			if len(se.Message) > 300 {
				t.Fatalf("message is %d bytes long; hostile input must not bloat it", len(se.Message))
			}
		})
	}
}

func TestQueryOfFallsBackToParameterMap(t *testing.T) {
	// Hand-written events may carry only queryStringParameters.
	req := httpapi.Request{QueryStringParameters: map[string]string{"limit": "7", "expand": "scope"}}
	got, err := queryOf(req, listParams)
	if err != nil || got != (Query{Expand: "scope", Limit: 7}) {
		t.Fatalf("queryOf = %+v, %v", got, err)
	}
	// The raw string wins: API Gateway joins repeats in the map, the raw
	// string shows them.
	req = httpapi.Request{RawQueryString: "limit=5&limit=6", QueryStringParameters: map[string]string{"limit": "5,6"}}
	if _, err := queryOf(req, listParams); err == nil || !strings.Contains(err.Error(), "at most once") {
		t.Fatalf("queryOf with repeated limit: error = %v, want repeated-parameter error", err)
	}
	req = httpapi.Request{QueryStringParameters: map[string]string{"limit": "5,6"}}
	if _, err := queryOf(req, listParams); err == nil {
		t.Fatal("queryOf with comma-joined limit: want an error")
	}
}

func TestQueryEncodeRoundTrip(t *testing.T) {
	tests := []Query{
		{},
		{Limit: 5},
		{Expand: "scope"},
		{After: "a+b=&c%d/e?f#g", Limit: 200, Expand: "scope"},
	}
	for _, q := range tests {
		got, err := ParseQuery(q.Encode(), listParams)
		if err != nil || got != q {
			t.Errorf("ParseQuery(%q) = %+v, %v; want %+v", q.Encode(), got, err, q)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{
		"", "expand=scope", "after=oar1&limit=20", "limit=0", "limit=201", "limit=abc", "limit=-1",
		"expand=foo", "limit=5&limit=5", "x=1", "a%zz", "limit=5;x", "after=%00", "&&&", "=", "limit=%2B5",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, allowed := range [][]string{listParams, singleParams, noParams} {
			q, err := ParseQuery(raw, allowed)
			if err != nil {
				var se *httpapi.StatusError
				if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
					t.Fatalf("ParseQuery(%q) error %v is not a 400 StatusError", raw, err)
				}
				if len(se.Message) > 300 {
					t.Fatalf("ParseQuery(%q) message is %d bytes", raw, len(se.Message))
				}
				continue
			}
			// Accepted queries hold only what the route allows, in range.
			if q.Expand != "" && q.Expand != ExpandScope {
				t.Fatalf("ParseQuery(%q) accepted expand %q", raw, q.Expand)
			}
			if q.Limit != 0 && (q.Limit < MinLimit || q.Limit > MaxLimit) {
				t.Fatalf("ParseQuery(%q) accepted limit %d", raw, q.Limit)
			}
			if validateAfter(q.After) != "" && q.After != "" {
				t.Fatalf("ParseQuery(%q) accepted after %q", raw, q.After)
			}
			values, _ := url.ParseQuery(raw)
			for name, vs := range values {
				if len(vs) != 1 {
					t.Fatalf("ParseQuery(%q) accepted repeated %q", raw, name)
				}
				allowedName := false
				for _, a := range allowed {
					allowedName = allowedName || a == name
				}
				if !allowedName {
					t.Fatalf("ParseQuery(%q) accepted parameter %q", raw, name)
				}
			}
			if (q.Limit != 0 || q.After != "") && len(allowed) != len(listParams) {
				t.Fatalf("ParseQuery(%q) accepted paging on a route without paging", raw)
			}
			// What we accept, we can put in a Link and read back unchanged.
			again, err := ParseQuery(q.Encode(), allowed)
			if err != nil || again != q {
				t.Fatalf("round trip of %+v: %+v, %v", q, again, err)
			}
			if q.Limit != 0 && values.Get(ParamLimit) != strconv.Itoa(q.Limit) && strings.TrimLeft(values.Get(ParamLimit), "0") != strconv.Itoa(q.Limit) {
				t.Fatalf("ParseQuery(%q) limit %d does not match %q", raw, q.Limit, values.Get(ParamLimit))
			}
		}
	})
}
