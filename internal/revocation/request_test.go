package revocation

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	long := strings.Repeat("a", 101)
	tests := []struct {
		name      string
		body      string
		wantScope Scope
		wantErr   string // substring; "" means valid
	}{
		{"user", `{"userId":"00u1"}`, ScopeUser, ""},
		{"user client", `{"userId":"00u1","clientId":"0oa1"}`, ScopeUserClient, ""},
		{"user client token", `{"userId":"00u1","clientId":"0oa1","tokenId":"oar1"}`, ScopeUserClientToken, ""},
		{"user app", `{"userId":"00u1","appId":"0oa1"}`, ScopeUserApp, ""},
		{"app", `{"appId":"0oa1"}`, ScopeApp, ""},
		{"app token", `{"appId":"0oa1","tokenId":"oar1"}`, ScopeAppToken, ""},
		{"version 1 and extras", `{"version":1,"requestId":"r-1","userId":"00u1","reason":{"eventType":"x"}}`, ScopeUser, ""},
		{"null reason", `{"userId":"00u1","reason":null}`, ScopeUser, ""},
		{"custom client id 100 chars", `{"userId":"00u1","clientId":"` + strings.Repeat("c", 100) + `"}`, ScopeUserClient, ""},

		{"not json", `userId=00u1`, "", "not JSON"},
		{"array", `[{"userId":"00u1"}]`, "", "not a JSON object"},
		{"empty object", `{}`, "", "no valid combination"},
		{"typo clientID", `{"userId":"00u1","clientID":"0oa1"}`, "", `unknown field "clientID"`},
		{"typo userid", `{"userid":"00u1"}`, "", `unknown field "userid"`},
		{"duplicate key", `{"userId":"00u1","userId":"00u2"}`, "", `duplicate field "userId"`},
		{"trailing data", `{"userId":"00u1"} {"appId":"0oa1"}`, "", "trailing data"},
		{"number id", `{"userId":123}`, "", "userId must be a string"},
		{"empty id", `{"userId":""}`, "", "userId must not be empty"},
		{"token alone", `{"tokenId":"oar1"}`, "", "no valid combination"},
		{"client without user", `{"clientId":"0oa1"}`, "", "no valid combination"},
		{"user app token", `{"userId":"00u1","appId":"0oa1","tokenId":"oar1"}`, "", "no valid combination"},
		{"user client app", `{"userId":"00u1","clientId":"c","appId":"0oa1"}`, "", "no valid combination"},
		{"path traversal", `{"userId":"../../apps"}`, "", "invalid userId"},
		{"encoded slash", `{"userId":"00u1%2Fx"}`, "", "invalid userId"},
		{"too long", `{"userId":"` + long + `"}`, "", "invalid userId"},
		{"unicode", `{"appId":"0oä"}`, "", "invalid appId"},
		{"version 2", `{"version":2,"userId":"00u1"}`, "", "unsupported version 2"},
		{"version 0", `{"version":0,"userId":"00u1"}`, "", "version must be a positive integer"},
		{"version string", `{"version":"1","userId":"00u1"}`, "", "version must be a positive integer"},
		{"reason string", `{"userId":"00u1","reason":"because"}`, "", "reason must be a JSON object"},
		{"request id with space", `{"userId":"00u1","requestId":"a b"}`, "", "printable ASCII"},
		{"request id too long", `{"userId":"00u1","requestId":"` + strings.Repeat("r", 129) + `"}`, "", "requestId longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := Parse([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse(%s) = %+v, want error containing %q", tt.body, req, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v does not wrap ErrInvalid", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%s): %v", tt.body, err)
			}
			if got := req.Scope(); got != tt.wantScope {
				t.Errorf("Scope() = %q, want %q", got, tt.wantScope)
			}
		})
	}
}

func TestParseErrorDoesNotEchoHostileValues(t *testing.T) {
	hostile := "<script>" + strings.Repeat("x", 500)
	_, err := Parse([]byte(`{"userId":"` + hostile + `"}`))
	if err == nil {
		t.Fatal("want error")
	}
	if strings.Contains(err.Error(), "<script>") {
		t.Errorf("error echoes the value: %v", err)
	}
}

func TestParseBatch(t *testing.T) {
	reqs, err := ParseBatch([]byte(` [{"userId":"00u1"},{"appId":"0oa1","tokenId":"oar1"}] `))
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || reqs[0].UserID != "00u1" || reqs[1].Scope() != ScopeAppToken {
		t.Fatalf("got %+v", reqs)
	}

	one, err := ParseBatch([]byte(`{"appId":"0oa1"}`))
	if err != nil || len(one) != 1 || one[0].AppID != "0oa1" {
		t.Fatalf("single object: %+v, %v", one, err)
	}

	for _, body := range []string{``, `   `, `[]`, `[1]`, `[{"userId":"00u1"}`, `"x"`} {
		if _, err := ParseBatch([]byte(body)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseBatch(%q) error = %v, want ErrInvalid", body, err)
		}
	}

	_, err = ParseBatch([]byte(`[{"userId":"00u1"},{"clientID":"x"},{"tokenId":"t"}]`))
	if err == nil {
		t.Fatal("want error")
	}
	msg := err.Error()
	for _, want := range []string{"[1]:", `unknown field "clientID"`, "[2]:", "no valid combination"} {
		if !strings.Contains(msg, want) {
			t.Errorf("batch error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "[0]") {
		t.Errorf("batch error names the valid item: %q", msg)
	}
}

func TestWithRequestID(t *testing.T) {
	r := Request{UserID: "00u1"}.WithRequestID()
	if r.RequestID == "" {
		t.Fatal("no request id generated")
	}
	if got := (Request{RequestID: "mine"}).WithRequestID().RequestID; got != "mine" {
		t.Errorf("kept request id = %q, want mine", got)
	}
	if r2 := (Request{UserID: "00u1"}).WithRequestID(); r2.RequestID == r.RequestID {
		t.Error("two generated request ids are equal")
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"userId":"00u1"}`,
		`{"userId":"00u1","clientId":"0oa1","tokenId":"oar1","reason":{"a":1}}`,
		`{"appId":"0oa1","tokenId":"oar1","version":1,"requestId":"r"}`,
		`{"userId":"00u1","clientID":"x"}`,
		`[{"userId":"00u1"}]`,
		`{"userId":"..\/x"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		// Whatever parses must be a valid request with a known scope.
		if err := req.Validate(); err != nil {
			t.Fatalf("parsed request fails validation: %v", err)
		}
		if req.Scope() == "" {
			t.Fatalf("parsed request has no scope: %+v", req)
		}
		if _, err := ParseBatch(data); err != nil {
			t.Fatalf("ParseBatch rejects what Parse accepts: %v", err)
		}
	})
}

func TestSummarize(t *testing.T) {
	reqs := []Request{
		{RequestID: "r1", UserID: "00u1", ClientID: "0oa1", Reason: json.RawMessage(`{"source":"x"}`)},
		{RequestID: "r2", AppID: "0oa2", TokenID: "oar2"},
	}
	got, _ := json.Marshal(Summarize(reqs))
	want := `[{"requestId":"r1","scope":"` + string(reqs[0].Scope()) + `","userId":"00u1","reason":{"source":"x"}},` +
		`{"requestId":"r2","scope":"` + string(reqs[1].Scope()) + `","appId":"0oa2","reason":null}]`
	if string(got) != want {
		t.Errorf("Summarize = %s\nwant        %s", got, want)
	}
	if len(Summarize(nil)) != 0 {
		t.Error("Summarize(nil) is not empty")
	}
}
