// Package e2e tests okta-token-revoker end to end through the real function
// binaries: the local stack (cmd/runlocal/stack) builds every function of
// template.yaml for the host, runs the bootstraps under the local Lambda
// Runtime API with moto_server for SQS and Secrets Manager and the fake
// Okta org, and the tests drive it over HTTP and SQS like Okta, operators
// and other producers would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"

	"github.com/okta-token-revoker/okta-token-revoker/cmd/runlocal/stack"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
)

// Short queue settings so a poison message reaches the dead-letter queue in
// seconds: it is received maxReceiveCount times, visibilityTimeout apart.
const (
	visibilityTimeout = 2 * time.Second
	maxReceiveCount   = 2
	// waitLimit bounds every wait for something asynchronous.
	waitLimit = 30 * time.Second
)

var (
	local *stack.Stack
	// captured holds everything the stack and the functions wrote, and every
	// HTTP answer the tests received, for the secrets check.
	captured logtest.Buffer
	sqsAPI   *sqs.Client
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	window := time.Duration(0)
	s, err := stack.Start(ctx, stack.Options{
		TemplatePath:      "../template.yaml",
		RepoDir:           "..",
		Addr:              "127.0.0.1:0",
		VisibilityTimeout: visibilityTimeout,
		MaxReceiveCount:   maxReceiveCount,
		BatchingWindow:    &window,
		PollWaitTime:      time.Second,
		ScheduleEvery:     -1, // no reconcile timer: the tests drive every function themselves
		FunctionOutput:    &captured,
		Logger:            slog.New(slog.NewTextHandler(&captured, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Parameters:        map[string]string{"LogLevel": "debug"},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: start the local stack: %v\n%s", err, captured.String())
		return 1
	}
	local = s
	sqsAPI = sqs.NewFromConfig(s.Moto.AWSConfig())
	watchForSecrets("e2e stack", &captured, map[string]string{"hook secret": s.HookSecret, "Okta API token": s.OktaAPIToken})
	code := m.Run()
	if err := s.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stop the local stack: %v\n", err)
		code = 1
	}
	// Everything every stack logged and answered, whichever tests ran.
	if err := scanForSecrets(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		code = 1
	}
	if code != 0 {
		// What the functions logged is usually the explanation.
		fmt.Fprintf(os.Stderr, "---- captured output of the local stack ----\n%s\n", captured.String())
	}
	return code
}

// response is one answer of the local API.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) String() string { return strconv.Itoa(r.Status) + " " + string(r.Body) }

// call sends one request to the local API and records the answer in
// captured.
func call(t *testing.T, method, path string, body []byte, headers map[string]string) response {
	t.Helper()
	return callAPI(t, local.URL, &captured, method, path, body, headers)
}

// callAPI sends one request to the API at baseURL and records the answer
// in out.
func callAPI(t *testing.T, baseURL string, out io.Writer, method, path string, body []byte, headers map[string]string) response {
	t.Helper()
	r, err := send(baseURL, out, method, path, body, headers)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is callAPI for goroutines other than the test's: it returns the
// error instead of ending the test.
func send(baseURL string, out io.Writer, method, path string, body []byte, headers map[string]string) (response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, baseURL+path, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read: %w", method, path, err)
	}
	// The answer is recorded whole; the request's query is not, since a
	// test may put a secret there on purpose (it must not authenticate).
	target, query, _ := strings.Cut(path, "?")
	if query != "" {
		target += "?<query>"
	}
	fmt.Fprintf(out, "HTTP %s %s -> %d %v %s\n", method, target, resp.StatusCode, resp.Header, b)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// getArray GETs path and decodes a 200 JSON array answer.
func getArray(t *testing.T, path string) []map[string]any {
	t.Helper()
	r := call(t, http.MethodGet, path, nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %s", path, r)
	}
	var items []map[string]any
	if err := json.Unmarshal(r.Body, &items); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, r.Body)
	}
	return items
}

// eventually polls cond until it holds or waitLimit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, waitLimit, what, cond)
}

// eventuallyWithin polls cond until it holds or limit passes.
func eventuallyWithin(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hookDelivery is an Okta event hook delivery with one System Log event of
// eventType targeting userID.
func hookDelivery(eventType, userID string) []byte {
	return oktaDelivery(local.OktaOrgURL, uuid.NewString(), eventType, userID)
}

// oktaDelivery is an Okta event hook delivery from the org at orgURL with
// one System Log event of eventType per user, targeting that user. Okta
// redelivers a delivery with the same eventId and event uuids; pass the
// same eventID to get the same body.
func oktaDelivery(orgURL, eventID, eventType string, userIDs ...string) []byte {
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	events := make([]any, len(userIDs))
	for i, userID := range userIDs {
		events[i] = map[string]any{
			"uuid":           uuid.NewSHA1(uuid.NameSpaceURL, []byte(eventID+"/"+userID)).String(),
			"published":      now,
			"eventType":      eventType,
			"version":        "0",
			"displayMessage": "e2e",
			"severity":       "INFO",
			"actor":          map[string]any{"id": "00uadmine2e000000001", "type": "User", "alternateId": "admin@example.com", "displayName": "Admin"},
			"outcome":        map[string]any{"result": "SUCCESS"},
			"target":         []any{map[string]any{"id": userID, "type": "User", "alternateId": userID + "@example.com", "displayName": "User"}},
		}
	}
	b, _ := json.Marshal(map[string]any{
		"eventType":          "com.okta.event_hook",
		"eventTypeVersion":   "1.0",
		"cloudEventsVersion": "0.1",
		"source":             orgURL + "/api/v1/eventHooks/whoe2etest0000000001",
		"eventId":            eventID,
		"eventTime":          now,
		"contentType":        "application/json",
		"data":               map[string]any{"events": events},
	})
	return b
}

// newUser adds a user with tokens for the given clients to the fake org and
// returns the user id and the token ids by client.
func newUser(t *testing.T, clients ...string) (string, map[string][]string) {
	t.Helper()
	return newUserIn(t, local.Okta, clients...)
}

// newUserIn is newUser in the fake org org.
func newUserIn(t *testing.T, org *oktafake.Server, clients ...string) (string, map[string][]string) {
	t.Helper()
	id := fmt.Sprintf("00ue2e%014d", userSeq.Add())
	org.AddUser(id)
	tokens := map[string][]string{}
	for _, c := range clients {
		tokens[c] = append(tokens[c], org.AddToken(id, c, "openid", "offline_access"))
	}
	return id, tokens
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) Add() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

var userSeq counter

// queueDepth is the number of visible and in-flight messages of a queue.
func queueDepth(t *testing.T, url string) int {
	t.Helper()
	return queueDepthOf(t, sqsAPI, url)
}

// queueDepthOf is queueDepth through the SQS client api.
func queueDepthOf(t *testing.T, api *sqs.Client, url string) int {
	t.Helper()
	out, err := api.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatalf("queue attributes of %s: %v", url, err)
	}
	visible, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible + inFlight
}
