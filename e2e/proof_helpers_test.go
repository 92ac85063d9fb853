package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/okta-token-revoker/okta-token-revoker/cmd/runlocal/stack"
	"github.com/okta-token-revoker/okta-token-revoker/internal/localesm"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
)

// ---------------------------------------------------------------- secrets

// watched is every output the suites produced (the stacks' logs, the
// functions' output, the API's answers) and every secret those outputs must
// never contain. Any secret found in any output is a leak, whichever stack
// it belongs to.
var watched struct {
	mu      sync.Mutex
	outputs []watchedOutput
	secrets map[string]string // fragment -> what it is
}

type watchedOutput struct {
	name string
	out  *logtest.Buffer
}

// watchForSecrets registers an output and the secrets (by name) it must
// never contain; scanForSecrets checks them all.
func watchForSecrets(name string, out *logtest.Buffer, secrets map[string]string) {
	watched.mu.Lock()
	watched.outputs = append(watched.outputs, watchedOutput{name, out})
	watched.mu.Unlock()
	for what, value := range secrets {
		watchSecret(what, value)
	}
}

// minSecretLen is the shortest fragment searched for: shorter ones would
// match by chance.
const minSecretLen = 16

// watchSecret adds a secret; see secretFragments.
func watchSecret(what, value string) {
	watched.mu.Lock()
	defer watched.mu.Unlock()
	if watched.secrets == nil {
		watched.secrets = map[string]string{}
	}
	maps.Copy(watched.secrets, secretFragments(what, value))
}

// secretFragments returns what to search for to find a secret, each with
// what it is. A PEM private key is searched line by line (a log that quoted
// any line of its body would leak key material); every other secret is
// also searched base64-encoded, at each of the three alignments, since API
// Gateway events carry bodies that way.
func secretFragments(what, value string) map[string]string {
	out := map[string]string{}
	add := func(fragment, kind string) {
		if len(fragment) >= minSecretLen {
			out[fragment] = kind
		}
	}
	value = strings.TrimSpace(value)
	if strings.Contains(value, "-----BEGIN") {
		for line := range strings.Lines(value) {
			if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") {
				add(line, what+" (a line of its PEM body)")
			}
		}
		return out
	}
	add(value, what)
	for pad := range 3 {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", pad) + value))
		// Drop the characters that also encode the padding or what follows.
		if len(enc) > 12 {
			add(enc[4:len(enc)-4], what+" (base64)")
		}
	}
	return out
}

// scanForSecrets searches every watched output for every watched secret.
func scanForSecrets() error {
	watched.mu.Lock()
	outputs := slices.Clone(watched.outputs)
	secrets := make(map[string]string, len(watched.secrets))
	for k, v := range watched.secrets {
		secrets[k] = v
	}
	watched.mu.Unlock()
	var errs []error
	for _, o := range outputs {
		if err := findSecrets(o.name, o.out.String(), secrets); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func findSecrets(name, text string, secrets map[string]string) error {
	var errs []error
	fragments := make([]string, 0, len(secrets))
	for f := range secrets {
		fragments = append(fragments, f)
	}
	// Longest first, so the excerpt shows no part of any secret.
	sort.Slice(fragments, func(i, j int) bool {
		return len(fragments[i]) > len(fragments[j]) || len(fragments[i]) == len(fragments[j]) && fragments[i] < fragments[j]
	})
	for _, f := range fragments {
		if i := strings.Index(text, f); i >= 0 {
			excerpt := text[max(0, i-200):min(len(text), i+len(f)+80)]
			for _, g := range fragments {
				excerpt = strings.ReplaceAll(excerpt, g, "<"+secrets[g]+">")
			}
			errs = append(errs, fmt.Errorf("the %s appears in the output of the %s: ...%s...", secrets[f], name, excerpt))
		}
	}
	return errors.Join(errs...)
}

// authRecorder wraps the fake Okta org's handler and registers every
// Authorization header value the functions send (SSWS tokens, OAuth access
// tokens) as a secret.
func authRecorder(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Authorization"); v != "" {
			_, cred, _ := strings.Cut(v, " ")
			watchSecret("Authorization header value sent to Okta", cred)
		}
		next.ServeHTTP(w, r)
	})
}

// ---------------------------------------------------------- proof stacks

// proofStack is a local stack of its own, for suites that need other
// settings than the shared one (faults, outages, service-app credentials).
type proofStack struct {
	*stack.Stack
	name string
	out  *logtest.Buffer
	sqs  *sqs.Client
	sm   *secretsmanager.Client
	// batches counts the SQS batches handled, and retried the messages
	// left on the queue for redelivery.
	batches, retried atomic.Int64
}

// startProofStack starts a stack with the bootstraps TestMain built, the
// template's settings unless opts says otherwise, and every output captured
// and watched for secrets. It is closed when the test ends. With
// E2E_OUTPUT_DIR set, its output is written there as <test name>.log.
func startProofStack(t *testing.T, name string, opts stack.Options) *proofStack {
	t.Helper()
	p := &proofStack{name: name, out: &logtest.Buffer{}}
	opts.TemplatePath = "../template.yaml"
	opts.RepoDir = ".."
	opts.SkipBuild = true // TestMain built them
	opts.Addr = "127.0.0.1:0"
	opts.FunctionOutput = p.out
	opts.Logger = slog.New(slog.NewTextHandler(p.out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Parameters == nil {
		opts.Parameters = map[string]string{"LogLevel": "debug"}
	}
	if opts.PollWaitTime == 0 {
		opts.PollWaitTime = time.Second
	}
	opts.OktaMiddleware = authRecorder
	// No schedule timers: a reconcile poll firing mid-run would queue work
	// the suites do not account for.
	opts.ScheduleEvery = -1
	onBatch := opts.OnBatch
	opts.OnBatch = func(fn string, r localesm.BatchReport) {
		p.batches.Add(1)
		p.retried.Add(int64(len(r.Retried)))
		if onBatch != nil {
			onBatch(fn, r)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start the %s: %v\n%s", name, err, p.out.String())
	}
	p.Stack = s
	p.sqs = sqs.NewFromConfig(s.Moto.AWSConfig())
	p.sm = secretsmanager.NewFromConfig(s.Moto.AWSConfig())
	watchForSecrets(name, p.out, map[string]string{
		"hook secret":    s.HookSecret,
		"Okta API token": s.OktaAPIToken,
	})
	p.watchAPISecret(s.OktaAPISecret)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop the %s: %v", name, err)
		}
		if err := scanForSecrets(); err != nil {
			t.Error(err)
		}
		if dir := os.Getenv("E2E_OUTPUT_DIR"); dir != "" {
			// For CI artifacts and for reading what a passing run did.
			file := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".log")
			if err := os.WriteFile(file, []byte(p.out.String()), 0o644); err != nil {
				t.Errorf("write the output of the %s: %v", name, err)
			}
		}
		if t.Failed() {
			out := p.out.String()
			t.Logf("---- output of the %s (last 64 KB) ----\n%s", name, out[max(0, len(out)-64<<10):])
		}
	})
	return p
}

// watchAPISecret registers the values of an Okta API secret (its JSON
// fields, and the whole) as secrets.
func (p *proofStack) watchAPISecret(secret string) {
	var fields map[string]string
	if json.Unmarshal([]byte(secret), &fields) == nil {
		if v := fields["apiToken"]; v != "" {
			watchSecret("Okta API token", v)
		}
		if v := fields["privateKey"]; v != "" {
			watchSecret("Okta private key", v)
		}
	}
	watchSecret("Okta API secret", secret)
}

func (p *proofStack) call(t *testing.T, method, path string, body []byte, headers map[string]string) response {
	t.Helper()
	return callAPI(t, p.URL, p.out, method, path, body, headers)
}

func (p *proofStack) hookHeaders() map[string]string {
	return map[string]string{p.HookAuthHeader: p.HookSecret, "Content-Type": "application/json"}
}

// sendMessage puts body on the revocation queue, as another producer would.
func (p *proofStack) sendMessage(t *testing.T, body string) {
	t.Helper()
	_, err := p.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(p.RevocationQueue.URL), MessageBody: aws.String(body),
	})
	if err != nil {
		t.Fatalf("send a revocation request: %v", err)
	}
}

// checkFunctions fails the test if a function crashed or timed out.
func (p *proofStack) checkFunctions(t *testing.T) {
	t.Helper()
	for name, f := range p.Functions {
		st := f.Stats()
		t.Logf("%s %s: %d invocations, %d cold starts, %d timeouts, %d crashes", p.name, name, st.Invocations, st.ColdStarts, st.Timeouts, st.Crashes)
		if st.Crashes != 0 || st.Timeouts != 0 {
			t.Errorf("%s: %d crashes, %d timeouts; want none", name, st.Crashes, st.Timeouts)
		}
	}
}

// ------------------------------------------------------------ assertions

// errorFields are the fields of the one JSON error shape (httpapi.ErrorBody).
var errorFields = map[string]bool{"message": true, "details": true, "oktaErrorCode": true, "oktaRequestId": true, "requestId": true}

// wantError checks that r is an error answer with one of the statuses and
// the JSON error shape: a non-empty message, only the shape's fields, and,
// when a function answered, API Gateway's request id (so an operator can
// find the logs). API Gateway's own answers (404 for no route, 413 over its
// payload limit) are {"message":"..."} only.
func wantError(t *testing.T, what string, r response, statuses ...int) {
	t.Helper()
	if !slices.Contains(statuses, r.Status) {
		t.Errorf("%s: %s, want status %v", what, r, statuses)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Errorf("%s: the answer is not a JSON object: %s", what, r)
		return
	}
	for k := range body {
		if !errorFields[k] {
			t.Errorf("%s: unexpected field %q in the error answer %s", what, k, r.Body)
		}
	}
	if m, _ := body["message"].(string); strings.TrimSpace(m) == "" {
		t.Errorf("%s: no message in %s", what, r.Body)
	}
	if id, ok := body["requestId"]; ok && id != r.Header.Get("Apigw-Requestid") {
		t.Errorf("%s: requestId %v differs from the apigw-requestid header %q", what, id, r.Header.Get("Apigw-Requestid"))
	}
	gatewayAnswer := len(body) == 1 && (r.Status == http.StatusNotFound || r.Status == http.StatusRequestEntityTooLarge)
	if _, ok := body["requestId"]; !ok && !gatewayAnswer {
		t.Errorf("%s: no requestId in the function's error answer %s", what, r.Body)
	}
}

// oktaPathSegment is what every segment of a path sent to Okta must look
// like: a literal of Okta's API or an ID (okta.ValidateID's alphabet and
// length). No escapes, no dots, no empty segments.
var oktaPathSegment = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// checkOktaPaths fails the test if any request the fake org received since
// the from-th had a path that is not a well-formed Okta call.
func checkOktaPaths(t *testing.T, org *oktafake.Server, from int) {
	t.Helper()
	reqs := org.Requests()
	for _, r := range reqs[min(from, len(reqs)):] {
		bad := r.Malformed || !strings.HasPrefix(r.Path, "/")
		for _, seg := range strings.Split(strings.TrimPrefix(r.Path, "/"), "/") {
			bad = bad || !oktaPathSegment.MatchString(seg)
		}
		if bad {
			t.Errorf("Okta was called with a malformed path: %s %s?%s", r.Method, r.Path, r.Query)
		}
	}
}
