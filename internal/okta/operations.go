package okta

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ListOptions are the paging options of the token lists.
type ListOptions struct {
	Expand string // "" or "scope"
	After  string // opaque cursor from a previous Page.After
	Limit  int    // 0 = Okta's default (20), else 1..200
}

// MaxLimit is the largest page Okta serves for the token lists.
const MaxLimit = 200

// maxCursorLength bounds ListOptions.After; Okta's cursors are short.
const maxCursorLength = 1024

// Validate reports options Okta would refuse, wrapping ErrInvalidArgument.
func (o ListOptions) Validate() error {
	if o.Limit < 0 || o.Limit > MaxLimit {
		return fmt.Errorf("%w: limit must be 1..%d (or 0 for Okta's default)", ErrInvalidArgument, MaxLimit)
	}
	if err := validateExpand(o.Expand); err != nil {
		return err
	}
	if len(o.After) > maxCursorLength {
		return fmt.Errorf("%w: after cursor longer than %d characters", ErrInvalidArgument, maxCursorLength)
	}
	for _, r := range o.After {
		if r < 0x21 || r > 0x7e {
			return fmt.Errorf("%w: after cursor may contain only visible ASCII", ErrInvalidArgument)
		}
	}
	return nil
}

func validateExpand(expand string) error {
	if expand != "" && expand != "scope" {
		return fmt.Errorf("%w: expand must be \"\" or \"scope\"", ErrInvalidArgument)
	}
	return nil
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Expand != "" {
		q.Set("expand", o.Expand)
	}
	if o.After != "" {
		q.Set("after", o.After)
	}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	return q
}

// Page is one page of a list.
type Page struct {
	Items   []json.RawMessage // Okta's objects, byte-for-byte (no fields dropped)
	NextURL string            // Link rel="next", verbatim; "" on the last page
	After   string            // the after= cursor of NextURL; "" on the last page
}

// OAuth2Client is an item of ListUserClients.
type OAuth2Client struct {
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
}

// RefreshToken is the part of Okta's OAuth2RefreshToken most callers need;
// decode a Page item into it.
type RefreshToken struct {
	ID       string   `json:"id"`
	Status   string   `json:"status"`
	ClientID string   `json:"clientId"`
	UserID   string   `json:"userId"`
	Scopes   []string `json:"scopes"`
}

// apiPath joins validated IDs into an /api/v1 path. names and values
// alternate: literal segments are given with an empty name.
func apiPath(segments ...string) (string, error) {
	var b strings.Builder
	b.WriteString("/api/v1")
	for i := 0; i < len(segments); i += 2 {
		name, value := segments[i], segments[i+1]
		if name != "" {
			if err := ValidateID(name, value); err != nil {
				return "", err
			}
			value = url.PathEscape(value)
		}
		b.WriteString("/" + value)
	}
	return b.String(), nil
}

// do sends an authenticated call and returns the 2xx response, or an
// *Error for any other answer.
func (c *Client) do(ctx context.Context, method, path string, q url.Values) (*response, error) {
	u := c.origin + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return c.doURL(ctx, method, u)
}

func (c *Client) doURL(ctx context.Context, method, rawURL string) (*response, error) {
	r, err := c.newRequest(method, rawURL, c.auth.authorize, true)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	if resp.status < 200 || resp.status > 299 {
		return nil, resp.apiError()
	}
	return resp, nil
}

// page decodes a list response: a JSON array and its Link header.
func (c *Client) page(resp *response) (Page, error) {
	var p Page
	if err := json.Unmarshal(resp.body, &p.Items); err != nil {
		return Page{}, fmt.Errorf("okta: %s %s: %w: response is not a JSON array", resp.req.method, resp.req.path, ErrServer)
	}
	next := ParseLinkHeader(resp.header.Values("Link"))["next"]
	if next == "" {
		return p, nil
	}
	if u, err := url.Parse(next); err == nil && !u.IsAbs() {
		// Okta sends absolute links; resolve a relative one against the
		// request so NextURL is always usable as is.
		if base, err := url.Parse(resp.req.url); err == nil {
			next = base.ResolveReference(u).String()
		}
	}
	p.NextURL = next
	if u, err := url.Parse(next); err == nil {
		p.After = u.Query().Get("after")
	}
	return p, nil
}

// object checks that a body is one JSON object and returns it as is.
func object(resp *response) (json.RawMessage, error) {
	b := bytes.TrimSpace(resp.body)
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return nil, fmt.Errorf("okta: %s %s: %w: response is not a JSON object", resp.req.method, resp.req.path, ErrServer)
	}
	return json.RawMessage(b), nil
}

// ListUserClients lists the OAuth clients holding grants or tokens for the
// user: GET /api/v1/users/{userId}/clients.
func (c *Client) ListUserClients(ctx context.Context, userID string) (Page, error) {
	path, err := apiPath("", "users", "userId", userID, "", "clients")
	if err != nil {
		return Page{}, fmt.Errorf("okta: list user clients: %w", err)
	}
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return Page{}, err
	}
	return c.page(resp)
}

// ListUserClientTokens lists the user's refresh tokens for a client:
// GET /api/v1/users/{userId}/clients/{clientId}/tokens.
func (c *Client) ListUserClientTokens(ctx context.Context, userID, clientID string, opts ListOptions) (Page, error) {
	path, err := apiPath("", "users", "userId", userID, "", "clients", "clientId", clientID, "", "tokens")
	if err == nil {
		err = opts.Validate()
	}
	if err != nil {
		return Page{}, fmt.Errorf("okta: list user client tokens: %w", err)
	}
	resp, err := c.do(ctx, http.MethodGet, path, opts.query())
	if err != nil {
		return Page{}, err
	}
	return c.page(resp)
}

// GetUserClientToken gets one of the user's refresh tokens for a client:
// GET /api/v1/users/{userId}/clients/{clientId}/tokens/{tokenId}. expand is
// "" or "scope".
func (c *Client) GetUserClientToken(ctx context.Context, userID, clientID, tokenID, expand string) (json.RawMessage, error) {
	path, err := apiPath("", "users", "userId", userID, "", "clients", "clientId", clientID, "", "tokens", "tokenId", tokenID)
	if err == nil {
		err = validateExpand(expand)
	}
	if err != nil {
		return nil, fmt.Errorf("okta: get user client token: %w", err)
	}
	resp, err := c.do(ctx, http.MethodGet, path, expandQuery(expand))
	if err != nil {
		return nil, err
	}
	return object(resp)
}

// RevokeUserClientTokens revokes all of the user's refresh tokens for a
// client: DELETE /api/v1/users/{userId}/clients/{clientId}/tokens. A 404
// comes back as an *Error (IsNotFound): nothing left to revoke.
func (c *Client) RevokeUserClientTokens(ctx context.Context, userID, clientID string) error {
	path, err := apiPath("", "users", "userId", userID, "", "clients", "clientId", clientID, "", "tokens")
	if err != nil {
		return fmt.Errorf("okta: revoke user client tokens: %w", err)
	}
	_, err = c.do(ctx, http.MethodDelete, path, nil)
	return err
}

// RevokeUserClientToken revokes one refresh token (and its access tokens):
// DELETE /api/v1/users/{userId}/clients/{clientId}/tokens/{tokenId}.
func (c *Client) RevokeUserClientToken(ctx context.Context, userID, clientID, tokenID string) error {
	path, err := apiPath("", "users", "userId", userID, "", "clients", "clientId", clientID, "", "tokens", "tokenId", tokenID)
	if err != nil {
		return fmt.Errorf("okta: revoke user client token: %w", err)
	}
	_, err = c.do(ctx, http.MethodDelete, path, nil)
	return err
}

// ListAppTokens lists an app's refresh tokens: GET /api/v1/apps/{appId}/tokens.
func (c *Client) ListAppTokens(ctx context.Context, appID string, opts ListOptions) (Page, error) {
	path, err := apiPath("", "apps", "appId", appID, "", "tokens")
	if err == nil {
		err = opts.Validate()
	}
	if err != nil {
		return Page{}, fmt.Errorf("okta: list app tokens: %w", err)
	}
	resp, err := c.do(ctx, http.MethodGet, path, opts.query())
	if err != nil {
		return Page{}, err
	}
	return c.page(resp)
}

// GetAppToken gets one of an app's refresh tokens:
// GET /api/v1/apps/{appId}/tokens/{tokenId}.
func (c *Client) GetAppToken(ctx context.Context, appID, tokenID, expand string) (json.RawMessage, error) {
	path, err := apiPath("", "apps", "appId", appID, "", "tokens", "tokenId", tokenID)
	if err == nil {
		err = validateExpand(expand)
	}
	if err != nil {
		return nil, fmt.Errorf("okta: get app token: %w", err)
	}
	resp, err := c.do(ctx, http.MethodGet, path, expandQuery(expand))
	if err != nil {
		return nil, err
	}
	return object(resp)
}

// RevokeAppTokens revokes all of an app's refresh tokens:
// DELETE /api/v1/apps/{appId}/tokens.
func (c *Client) RevokeAppTokens(ctx context.Context, appID string) error {
	path, err := apiPath("", "apps", "appId", appID, "", "tokens")
	if err != nil {
		return fmt.Errorf("okta: revoke app tokens: %w", err)
	}
	_, err = c.do(ctx, http.MethodDelete, path, nil)
	return err
}

// RevokeAppToken revokes one of an app's refresh tokens:
// DELETE /api/v1/apps/{appId}/tokens/{tokenId}.
func (c *Client) RevokeAppToken(ctx context.Context, appID, tokenID string) error {
	path, err := apiPath("", "apps", "appId", appID, "", "tokens", "tokenId", tokenID)
	if err != nil {
		return fmt.Errorf("okta: revoke app token: %w", err)
	}
	_, err = c.do(ctx, http.MethodDelete, path, nil)
	return err
}

// RevokeUserSessions ends all of the user's Okta sessions and, with
// oauthTokens, also revokes the OAuth tokens issued to the user:
// DELETE /api/v1/users/{userId}/sessions?oauthTokens=&forgetDevices=false.
// forgetDevices is sent as false: Identity Engine's default (true) would
// also clear the user's remembered factors on every device, which is more
// than ending sessions and differs between engines.
func (c *Client) RevokeUserSessions(ctx context.Context, userID string, oauthTokens bool) error {
	path, err := apiPath("", "users", "userId", userID, "", "sessions")
	if err != nil {
		return fmt.Errorf("okta: revoke user sessions: %w", err)
	}
	_, err = c.do(ctx, http.MethodDelete, path, url.Values{"oauthTokens": {strconv.FormatBool(oauthTokens)}, "forgetDevices": {"false"}})
	return err
}

// appClientIDTTL is how long AppClientID trusts a resolved client_id; it is
// immutable in Okta, the TTL only bounds memory and staleness after deletes.
const appClientIDTTL = 15 * time.Minute

// AppClientID resolves an app instance ID to its OAuth client_id (usually
// equal, not always): GET /api/v1/apps/{appId}, credentials.oauthClient.
// client_id, falling back to appID for apps without one. Answers are cached
// for 15 minutes; errors are not.
func (c *Client) AppClientID(ctx context.Context, appID string) (string, error) {
	path, err := apiPath("", "apps", "appId", appID)
	if err != nil {
		return "", fmt.Errorf("okta: resolve app client id: %w", err)
	}
	if id, ok := c.apps.get(appID); ok {
		return id, nil
	}
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return "", err
	}
	var app struct {
		Credentials struct {
			OAuthClient struct {
				ClientID string `json:"client_id"`
			} `json:"oauthClient"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal(resp.body, &app); err != nil {
		return "", fmt.Errorf("okta: GET %s: %w: app is not the expected JSON", path, ErrServer)
	}
	id := app.Credentials.OAuthClient.ClientID
	if id == "" {
		id = appID
	}
	c.apps.put(appID, id)
	return id, nil
}

// appClientIDCache maps app IDs to client_ids with a TTL.
type appClientIDCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]appClientIDEntry
}

type appClientIDEntry struct {
	clientID string
	expires  time.Time
}

// maxAppClientIDs bounds the cache; an org has far fewer OAuth apps.
const maxAppClientIDs = 10000

func (a *appClientIDCache) get(appID string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[appID]
	if !ok || time.Now().After(e.expires) {
		return "", false
	}
	return e.clientID, true
}

func (a *appClientIDCache) put(appID, clientID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if a.m == nil {
		a.m = make(map[string]appClientIDEntry)
	}
	if len(a.m) >= maxAppClientIDs {
		for k, e := range a.m {
			if now.After(e.expires) {
				delete(a.m, k)
			}
		}
		if len(a.m) >= maxAppClientIDs {
			clear(a.m)
		}
	}
	a.m[appID] = appClientIDEntry{clientID: clientID, expires: now.Add(a.ttl)}
}

// NextPage fetches the page after p by GETting p.NextURL verbatim. The URL
// must be on the org's origin under /api/v1/: credentials are never sent
// anywhere else. The next link is Okta's, so one that breaks that rule is
// Okta misbehaving (ErrServer), not the caller's mistake; the error does
// not repeat the link or the org's origin.
func (c *Client) NextPage(ctx context.Context, p Page) (Page, error) {
	if p.NextURL == "" {
		return Page{}, fmt.Errorf("okta: next page: %w: this is the last page", ErrInvalidArgument)
	}
	u, err := url.Parse(p.NextURL)
	if err != nil || !u.IsAbs() || !c.sameOrigin(u) || u.User != nil || u.Fragment != "" || !strings.HasPrefix(u.EscapedPath(), "/api/v1/") {
		return Page{}, fmt.Errorf("okta: next page: %w: Okta's next link is not an /api/v1/ URL on the org's origin", ErrServer)
	}
	resp, err := c.doURL(ctx, http.MethodGet, p.NextURL)
	if err != nil {
		return Page{}, err
	}
	return c.page(resp)
}

// Items walks all pages starting at first; iterate with
// `for item, err := range c.Items(ctx, first)`. An error ends the walk.
func (c *Client) Items(ctx context.Context, first Page) iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		p := first
		seen := make(map[string]bool)
		for {
			for _, item := range p.Items {
				if !yield(item, nil) {
					return
				}
			}
			if p.NextURL == "" {
				return
			}
			if seen[p.NextURL] {
				yield(nil, fmt.Errorf("okta: pagination: %w: the next link repeats an earlier page", ErrServer))
				return
			}
			seen[p.NextURL] = true
			next, err := c.NextPage(ctx, p)
			if err != nil {
				yield(nil, err)
				return
			}
			p = next
		}
	}
}

// UserClientIDs walks every page of the user's clients and returns their
// client_ids, each once, in Okta's order.
func (c *Client) UserClientIDs(ctx context.Context, userID string) ([]string, error) {
	first, err := c.ListUserClients(ctx, userID)
	if err != nil {
		return nil, err
	}
	var ids []string
	seen := make(map[string]bool)
	for item, err := range c.Items(ctx, first) {
		if err != nil {
			return nil, err
		}
		var cl OAuth2Client
		if err := json.Unmarshal(item, &cl); err != nil {
			return nil, fmt.Errorf("okta: list user clients: %w: client is not the expected JSON", ErrServer)
		}
		if cl.ClientID == "" || seen[cl.ClientID] {
			continue
		}
		seen[cl.ClientID] = true
		ids = append(ids, cl.ClientID)
	}
	return ids, nil
}

func expandQuery(expand string) url.Values {
	if expand == "" {
		return nil
	}
	return url.Values{"expand": {expand}}
}
