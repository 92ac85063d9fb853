// Package sdkbaseline is the benchmarks' stand-in for okta-sdk-golang v6: a
// minimal Okta client that handles rate limits and failures the way that
// SDK does (see ../../shared/research/okta.md, section 5), so the drain
// benchmark can compare internal/okta's pacing with it side by side:
//
//   - no proactive pacing: every call is sent at once;
//   - after a 429 it waits X-Rate-Limit-Reset − Date + 1 s (capped at
//     MaxBackoff, no jitter) and retries, at most MaxRetries times; a 429
//     without Date or X-Rate-Limit-Reset is final;
//   - 5xx answers and transport errors are never retried (the SDK retries
//     io.EOF; the benchmarks inject no transport faults).
//
// It is a benchmark baseline, not a client to deploy: it only does what
// the drain benchmark needs (SSWS, the executor's calls, one page of a
// user's clients).
package sdkbaseline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
)

// Config configures a Client.
type Config struct {
	OrgURL   string // e.g. http://127.0.0.1:8080
	APIToken string // SSWS
	// MaxRetries is the number of 429 retries (okta-sdk-golang's
	// WithRateLimitMaxRetries; its effective default is 0).
	MaxRetries int
	// MaxBackoff caps one wait (WithRateLimitMaxBackOff); 0 means no cap.
	MaxBackoff time.Duration
	// HTTPClient; default a new client with its own transport.
	HTTPClient *http.Client
}

// Client calls Okta the way okta-sdk-golang does. It implements
// revocation.OktaAPI.
type Client struct {
	cfg   Config
	http  *http.Client
	sleep func(context.Context, time.Duration) error
}

// New returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.OrgURL == "" || cfg.APIToken == "" {
		return nil, errors.New("sdkbaseline: OrgURL and APIToken are required")
	}
	if cfg.MaxRetries < 0 || cfg.MaxBackoff < 0 {
		return nil, errors.New("sdkbaseline: MaxRetries and MaxBackoff must not be negative")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return &Client{cfg: cfg, http: hc, sleep: sleep}, nil
}

// ErrUnsupported is returned by the calls the baseline does not implement.
var ErrUnsupported = errors.New("sdkbaseline: not supported by the benchmark baseline")

// UserClientIDs lists the client_ids of a user's OAuth clients (one page).
func (c *Client) UserClientIDs(ctx context.Context, userID string) ([]string, error) {
	resp, err := c.do(ctx, http.MethodGet, "/api/v1/users/"+url.PathEscape(userID)+"/clients")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
		return nil, fmt.Errorf("%w: a second page of clients", ErrUnsupported)
	}
	var clients []struct {
		ClientID string `json:"client_id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&clients); err != nil {
		return nil, fmt.Errorf("list clients of user %s: %w", userID, err)
	}
	ids := make([]string, 0, len(clients))
	for _, cl := range clients {
		ids = append(ids, cl.ClientID)
	}
	return ids, nil
}

// RevokeUserClientTokens revokes a user's tokens for one client.
func (c *Client) RevokeUserClientTokens(ctx context.Context, userID, clientID string) error {
	return c.delete(ctx, "/api/v1/users/"+url.PathEscape(userID)+"/clients/"+url.PathEscape(clientID)+"/tokens")
}

// RevokeUserClientToken revokes one token of a user for one client.
func (c *Client) RevokeUserClientToken(ctx context.Context, userID, clientID, tokenID string) error {
	return c.delete(ctx, "/api/v1/users/"+url.PathEscape(userID)+"/clients/"+url.PathEscape(clientID)+"/tokens/"+url.PathEscape(tokenID))
}

// RevokeAppTokens revokes every token of an app.
func (c *Client) RevokeAppTokens(ctx context.Context, appID string) error {
	return c.delete(ctx, "/api/v1/apps/"+url.PathEscape(appID)+"/tokens")
}

// RevokeAppToken revokes one token of an app.
func (c *Client) RevokeAppToken(ctx context.Context, appID, tokenID string) error {
	return c.delete(ctx, "/api/v1/apps/"+url.PathEscape(appID)+"/tokens/"+url.PathEscape(tokenID))
}

// RevokeUserSessions ends a user's sessions, and their tokens if asked.
func (c *Client) RevokeUserSessions(ctx context.Context, userID string, oauthTokens bool) error {
	return c.delete(ctx, "/api/v1/users/"+url.PathEscape(userID)+"/sessions?oauthTokens="+strconv.FormatBool(oauthTokens))
}

// AppClientID is not supported: the drain benchmark revokes user-wide.
func (c *Client) AppClientID(context.Context, string) (string, error) {
	return "", ErrUnsupported
}

func (c *Client) delete(ctx context.Context, path string) error {
	resp, err := c.do(ctx, http.MethodDelete, path)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.Body.Close()
}

// do sends the request, retrying 429s only, and returns a 2xx response or
// an *okta.Error (or a transport error).
func (c *Client) do(ctx context.Context, method, path string) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, c.cfg.OrgURL+path, nil)
		if err != nil {
			return nil, fmt.Errorf("sdkbaseline: %s %s: %w", method, path, err)
		}
		req.Header.Set("Authorization", "SSWS "+c.cfg.APIToken)
		req.Header.Set("Accept", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			// Transport errors are final, as in the SDK.
			return nil, fmt.Errorf("sdkbaseline: %s %s: %w", method, req.URL.Path, err)
		}
		if resp.StatusCode < 300 {
			return resp, nil
		}
		oerr := okta.DecodeError(resp)
		oerr.Attempts = attempt
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || attempt > c.cfg.MaxRetries {
			return nil, oerr
		}
		wait, ok := RetryAfter(resp.Header)
		if !ok {
			return nil, oerr // the SDK gives up without Date and Reset
		}
		if c.cfg.MaxBackoff > 0 {
			wait = min(wait, c.cfg.MaxBackoff)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, errors.Join(oerr, err)
		}
	}
}

// RetryAfter is okta-sdk-golang's wait after a 429: X-Rate-Limit-Reset
// minus the response's Date, plus one second. Both headers have a
// resolution of one second. ok is false when either is missing or invalid.
func RetryAfter(h http.Header) (wait time.Duration, ok bool) {
	reset, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-Rate-Limit-Reset")), 10, 64)
	if err != nil {
		return 0, false
	}
	date, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return 0, false
	}
	// Whole seconds, as the SDK computes it; a reset in the past means
	// retry at once.
	wait = time.Duration(reset-date.Unix()+1) * time.Second
	return max(wait, 0), true
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
