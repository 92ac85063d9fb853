package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

func TestClassify(t *testing.T) {
	reset := time.Now().Add(30 * time.Second)
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantHeader string // Retry-After, when set
	}{
		{"status error", Errorf(http.StatusRequestEntityTooLarge, "too big"), 413, "", ""},
		{"invalid id", okta.ValidateID("userId", "../x"), 400, "", ""},
		{"invalid request", fmt.Errorf("wrap: %w", revocation.ErrInvalid), 400, "", ""},
		{"okta 400", &okta.Error{StatusCode: 400, ErrorCode: "E0000001", ErrorSummary: "Api validation failed"}, 400, "E0000001", ""},
		{"okta 404", &okta.Error{StatusCode: 404, ErrorCode: "E0000007", RequestID: "req-1"}, 404, "E0000007", ""},
		{"okta 429", &okta.Error{StatusCode: 429, ErrorCode: "E0000047", RateLimitReset: reset}, 429, "E0000047", "30"},
		{"okta 429 unknown reset", &okta.Error{StatusCode: 429}, 429, "", "60"},
		{"okta 401", &okta.Error{StatusCode: 401, ErrorCode: "E0000011"}, 502, "E0000011", ""},
		// The token endpoint refusing a scope the service app was not
		// granted: ours to fix, whatever status Okta used.
		{"token request refused", fmt.Errorf("get access token: %w: %w", okta.ErrUnauthorized,
			&okta.Error{StatusCode: 400, ErrorCode: "invalid_scope", ErrorSummary: "The following scopes are not allowed: okta.users.manage"}), 502, "invalid_scope", ""},
		// One user's clients failing differently: the rate limit decides.
		{"okta 400 and 429 joined", errors.Join(&okta.Error{StatusCode: 400, ErrorCode: "E0000001"},
			&okta.Error{StatusCode: 429, ErrorCode: "E0000047", RateLimitReset: reset}), 429, "E0000047", "30"},
		{"okta 403", &okta.Error{StatusCode: 403, ErrorCode: "E0000006"}, 502, "E0000006", ""},
		{"okta 500", &okta.Error{StatusCode: 500, ErrorCode: "E0000009"}, 502, "E0000009", ""},
		{"okta 504", &okta.Error{StatusCode: 504}, 504, "", ""},
		{"timeout", fmt.Errorf("get: %w", okta.ErrTimeout), 504, "", ""},
		{"deadline", context.DeadlineExceeded, 504, "", ""},
		{"unavailable", fmt.Errorf("get: %w", okta.ErrUnavailable), 502, "", ""},
		{"credentials unusable", fmt.Errorf("read: %w", okta.ErrInvalidCredentials), 502, "", ""},
		{"credentials unreadable", fmt.Errorf("read: %w", okta.ErrCredentialsUnavailable), 503, "", ""},
		// A Secrets Manager timeout carries both; Okta was never called.
		{"credentials read timed out", fmt.Errorf("read: %w: %w", okta.ErrCredentialsUnavailable, context.DeadlineExceeded), 503, "", ""},
		{"unknown", errors.New("boom"), 500, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, headers := Classify(tt.err)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d", status, tt.wantStatus)
			}
			if body.OktaErrorCode != tt.wantCode {
				t.Errorf("oktaErrorCode = %q, want %q", body.OktaErrorCode, tt.wantCode)
			}
			if body.Message == "" {
				t.Error("empty message")
			}
			if strings.Contains(body.Message, "scopes") {
				t.Errorf("message %q repeats Okta's text about the service app", body.Message)
			}
			if got := headers["Retry-After"]; tt.wantHeader != "" && got != tt.wantHeader && !(tt.wantHeader == "30" && got == "29") {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantHeader)
			}
		})
	}
}

func TestClassifyHidesInternalErrors(t *testing.T) {
	_, body, _ := Classify(errors.New("secret value sk-123 leaked in a wrapped error"))
	if strings.Contains(body.Message, "sk-123") {
		t.Errorf("internal error text exposed: %q", body.Message)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tt := range []struct {
		reset time.Time
		want  string
	}{
		{time.Time{}, "60"},
		{now.Add(-time.Minute), "1"},
		{now.Add(1500 * time.Millisecond), "2"},
		{now.Add(45 * time.Second), "45"},
	} {
		if got := RetryAfter(tt.reset, now); got != tt.want {
			t.Errorf("RetryAfter(%v) = %q, want %q", tt.reset, got, tt.want)
		}
	}
}

func TestRouterServe(t *testing.T) {
	var logs bytes.Buffer
	r := NewRouter(slog.New(slog.NewJSONHandler(&logs, nil)))
	r.Handle("GET /users/{userId}/clients", func(ctx context.Context, req Request) (Response, error) {
		id, err := PathID(req, "userId")
		if err != nil {
			return Response{}, err
		}
		return JSON(http.StatusOK, map[string]string{"userId": id}), nil
	})
	iam := &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{UserARN: "arn:aws:iam::123456789012:user/ops"},
	}
	call := func(routeKey, userID string) Response {
		t.Helper()
		req := Request{RouteKey: routeKey, PathParameters: map[string]string{"userId": userID}}
		req.RequestContext.RequestID = "apigw-1"
		req.RequestContext.Authorizer = iam
		resp, err := r.Serve(context.Background(), req)
		if err != nil {
			t.Fatalf("Serve returned an error: %v", err)
		}
		if resp.Headers["Cache-Control"] != "no-store" {
			t.Errorf("Cache-Control = %q", resp.Headers["Cache-Control"])
		}
		return resp
	}

	if resp := call("GET /users/{userId}/clients", "00u1"); resp.StatusCode != 200 || resp.Body != `{"userId":"00u1"}` {
		t.Errorf("ok route: %d %s", resp.StatusCode, resp.Body)
	}

	resp := call("GET /users/{userId}/clients", "..%2F")
	if resp.StatusCode != 400 {
		t.Fatalf("invalid id: status %d", resp.StatusCode)
	}
	var body ErrorBody
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatal(err)
	}
	if body.RequestID != "apigw-1" || !strings.Contains(body.Message, "invalid userId") {
		t.Errorf("error body = %+v", body)
	}
	if resp.Headers["Content-Type"] != "application/json" {
		t.Errorf("Content-Type = %q", resp.Headers["Content-Type"])
	}
	if !strings.Contains(logs.String(), "arn:aws:iam::123456789012:user/ops") {
		t.Errorf("caller identity not logged: %s", logs.String())
	}

	if resp := call("DELETE /nowhere", "00u1"); resp.StatusCode != 404 {
		t.Errorf("unknown route: status %d", resp.StatusCode)
	}
}

func TestCallerIdentity(t *testing.T) {
	var req Request
	if got := CallerIdentity(req); got != "" {
		t.Errorf("no authorizer: %q", got)
	}
	req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{CallerID: "AIDA123"},
	}
	if got := CallerIdentity(req); got != "AIDA123" {
		t.Errorf("caller id fallback: %q", got)
	}
}
