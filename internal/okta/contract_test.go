//go:build linux

package okta

// Contract tests: every operation is sent to Stoplight Prism serving Okta's
// official OpenAPI spec (testdata/token-management-openapi.yaml), which
// validates the request (path, method, query parameters and their ranges,
// authentication) and answers from the spec's examples. A request the
// spec does not allow fails the test.
//
// Prism comes from tools/prism (npm ci --prefix tools/prism). One Prism is
// started lazily for the whole package and stopped by TestMain.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	prismBin  = "../../tools/prism/node_modules/.bin/prism"
	prismSpec = "testdata/token-management-openapi.yaml"
)

var prism struct {
	once sync.Once
	url  string
	err  error
	cmd  *exec.Cmd
	done chan struct{}
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopPrism()
	os.Exit(code)
}

// prismURL starts Prism on first use and returns its base URL. Without
// the binary the test is skipped on a developer machine and fails in CI.
func prismURL(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(prismBin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Prism is not installed (%v): CI must run `npm ci --prefix tools/prism` first", err)
		}
		t.Skip("Prism is not installed: run `npm ci --prefix tools/prism` to run the Okta contract tests")
	}
	prism.once.Do(func() { prism.url, prism.err = startPrism() })
	if prism.err != nil {
		t.Fatalf("start Prism: %v", prism.err)
	}
	return prism.url
}

func startPrism() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	bin, _ := filepath.Abs(prismBin)
	cmd := exec.Command(bin, "mock", "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-v", "warn", prismSpec)
	out := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, killed as a whole at the end, and SIGTERM if
	// this test binary dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	prism.cmd, prism.done = cmd, make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(prism.done) }()

	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-prism.done:
			return "", fmt.Errorf("prism exited before it was ready: %v; its output ends with:\n%s", waitErr, out)
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(url + "/api/v1/users/00u1/clients") // no auth: Prism answers 401 once up
		if err == nil {
			resp.Body.Close()
			return url, nil
		}
	}
	stopPrism()
	return "", fmt.Errorf("prism did not answer within 60 s; its output ends with:\n%s", out)
}

// tailBuffer keeps the last 8 KiB written to it: Prism's log, shown only
// when it fails to start.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 8<<10; over > 0 {
		b.buf = b.buf[over:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func stopPrism() {
	if prism.cmd == nil || prism.cmd.Process == nil {
		return
	}
	pgid := prism.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-prism.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-prism.done
	}
	prism.cmd = nil
}

// violation is one entry of Prism's sl-violations header.
type violation struct {
	Location []string `json:"location"`
	Severity string   `json:"severity"`
	Code     string   `json:"code"`
	Message  string   `json:"message"`
}

// contractTransport adds a Prefer header to every request and collects
// the request-side violations Prism reports.
type contractTransport struct {
	prefer string

	mu         sync.Mutex
	violations []string
	statuses   []int
}

func (c *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.prefer != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Prefer", c.prefer)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statuses = append(c.statuses, resp.StatusCode)
	if h := resp.Header.Get("sl-violations"); h != "" {
		var vs []violation
		if err := json.Unmarshal([]byte(h), &vs); err != nil {
			c.violations = append(c.violations, "unparsable sl-violations: "+h)
		}
		for _, v := range vs {
			if len(v.Location) > 0 && v.Location[0] == "request" {
				c.violations = append(c.violations, fmt.Sprintf("%s %s: %s %s", req.Method, req.URL.Path, strings.Join(v.Location, "."), v.Message))
			}
		}
	}
	return resp, nil
}

func contractClient(t *testing.T, tr *contractTransport) *Client {
	return sswsClient(t, prismURL(t), func(cfg *Config) {
		cfg.HTTPClient = &http.Client{Transport: tr}
		cfg.MaxAttempts = 2
	})
}

func TestContractEveryOperationConformsToOktaSpec(t *testing.T) {
	for _, op := range operations() {
		t.Run(op.name, func(t *testing.T) {
			tr := &contractTransport{}
			c := contractClient(t, tr)
			err := op.call(context.Background(), c)
			if err != nil && !(op.name == "AppClientID" && strings.Contains(err.Error(), "AppClientID =")) {
				t.Fatalf("Prism refused the call: %v", err)
			}
			for _, v := range tr.violations {
				t.Errorf("request violates Okta's contract: %s", v)
			}
			if len(tr.statuses) != 1 || tr.statuses[0]/100 != 2 {
				t.Errorf("statuses %v, want one 2xx", tr.statuses)
			}
		})
	}
	// The walkers too: UserClientIDs decodes Okta's own example list.
	tr := &contractTransport{}
	ids, err := contractClient(t, tr).UserClientIDs(context.Background(), uid)
	if err != nil || len(ids) == 0 || len(tr.violations) != 0 {
		t.Errorf("UserClientIDs = %v, %v, violations %v", ids, err, tr.violations)
	}
}

func TestContractErrorExamplesDecode(t *testing.T) {
	cases := []struct {
		prefer string
		code   string
		check  func(error) bool
	}{
		{"code=404", "E0000007", IsNotFound},
		{"code=403", "E0000006", IsConfigProblem},
		{"code=429", "E0000047", func(err error) bool { _, ok := RateLimitReset(err); return ok }},
	}
	for _, tc := range cases {
		for _, op := range operations() {
			t.Run(tc.prefer+"/"+op.name, func(t *testing.T) {
				tr := &contractTransport{prefer: tc.prefer}
				err := op.call(context.Background(), contractClient(t, tr))
				var e *Error
				if !errors.As(err, &e) || e.ErrorCode != tc.code || e.ErrorSummary == "" || e.ErrorID == "" || !tc.check(err) {
					t.Fatalf("err = %#v, want an *Error with %s", err, tc.code)
				}
				for _, v := range tr.violations {
					t.Errorf("request violates Okta's contract: %s", v)
				}
			})
		}
	}
}

// TestContractPrismRejectsWhatTheClientNeverSends shows the contract test
// can fail: Prism refuses a request outside the spec, and the client keeps
// such requests from being sent at all.
func TestContractPrismRejectsWhatTheClientNeverSends(t *testing.T) {
	base := prismURL(t)
	req, _ := http.NewRequest("GET", base+"/api/v1/users/"+uid+"/clients/"+cid+"/tokens?limit=500", nil)
	req.Header.Set("Authorization", "SSWS x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 422 {
		t.Errorf("limit=500: Prism answered %d, want 422", resp.StatusCode)
	}
	tr := &contractTransport{}
	if _, err := contractClient(t, tr).ListUserClientTokens(context.Background(), uid, cid, ListOptions{Limit: 500}); !errors.Is(err, ErrInvalidArgument) || len(tr.statuses) != 0 {
		t.Errorf("the client sent limit=500: %v, %v", err, tr.statuses)
	}
}
