package listtokens

import (
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/okta-token-revoker/okta-token-revoker/internal/httpapi"
)

func TestNextURL(t *testing.T) {
	const suffix = "/users/00u1/clients/0oa1/tokens"
	q := Query{After: "oar2", Limit: 5, Expand: "scope"}
	const qs = "?after=oar2&expand=scope&limit=5"
	tests := []struct {
		name    string
		rawPath string
		stage   string
		domain  string
		headers map[string]string
		q       Query
		want    string
	}{
		{name: "default stage", rawPath: suffix, stage: "$default", domain: "abc.execute-api.us-east-1.amazonaws.com",
			q: q, want: "https://abc.execute-api.us-east-1.amazonaws.com" + suffix + qs},
		{name: "named stage already in rawPath", rawPath: "/prod" + suffix, stage: "prod", domain: "abc.execute-api.us-east-1.amazonaws.com",
			q: q, want: "https://abc.execute-api.us-east-1.amazonaws.com/prod" + suffix + qs},
		{name: "custom domain with base path", rawPath: "/okta/v1" + suffix, stage: "prod", domain: "api.example.com",
			q: q, want: "https://api.example.com/okta/v1" + suffix + qs},
		{name: "rawPath not ending in route: stage fallback", rawPath: "/other", stage: "dev", domain: "h.example.com",
			q: q, want: "https://h.example.com/dev" + suffix + qs},
		{name: "rawPath not ending in route, default stage", rawPath: "/other", stage: "$default", domain: "h.example.com",
			q: q, want: "https://h.example.com" + suffix + qs},
		{name: "hostile prefix dropped", rawPath: "/a%0D%0AX:1" + suffix, stage: "$default", domain: "h.example.com",
			q: q, want: "https://h.example.com" + suffix + qs},
		{name: "dot-dot prefix dropped", rawPath: "/../x" + suffix, stage: "$default", domain: "h.example.com",
			q: q, want: "https://h.example.com" + suffix + qs},
		{name: "local http", rawPath: suffix, stage: "$default", domain: "127.0.0.1:3000", q: q,
			headers: map[string]string{"x-forwarded-proto": "http"},
			want:    "http://127.0.0.1:3000" + suffix + qs},
		{name: "unknown proto means https", rawPath: suffix, stage: "$default", domain: "h.example.com",
			headers: map[string]string{"X-Forwarded-Proto": "javascript"},
			q:       q, want: "https://h.example.com" + suffix + qs},
		{name: "hostile host gives relative link", rawPath: suffix, stage: "$default", domain: "evil.com/\r\nSet-Cookie: a",
			q: q, want: suffix + qs},
		{name: "no host gives relative link", rawPath: suffix, stage: "$default",
			q: Query{After: "oar2"}, want: suffix + "?after=oar2"},
		{name: "cursor escaped", rawPath: suffix, stage: "$default", domain: "h.example.com",
			q: Query{After: "a+b=&c"}, want: "https://h.example.com" + suffix + "?after=a%2Bb%3D%26c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httpapi.Request{
				RawPath: tt.rawPath,
				Headers: tt.headers,
				RequestContext: events.APIGatewayV2HTTPRequestContext{
					Stage:      tt.stage,
					DomainName: tt.domain,
				},
			}
			if got := NextURL(req, suffix, tt.q); got != tt.want {
				t.Fatalf("NextURL = %q\n want %q", got, tt.want)
			}
		})
	}
}
