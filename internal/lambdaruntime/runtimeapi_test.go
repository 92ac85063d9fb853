package lambdaruntime

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// newBareEnvironment is an environment without a process, to drive the
// Runtime API handlers directly.
func newBareEnvironment(t *testing.T, inflightID string) (*environment, *invocation) {
	t.Helper()
	f, _ := newTestFunction(t, nil)
	e := &environment{f: f, exited: make(chan struct{}), dying: make(chan struct{})}
	inv := &invocation{id: inflightID, done: make(chan Result, 1)}
	e.inflight = inv
	e.ready = true
	return e, inv
}

func serve(e *environment, method, path, body string, header http.Header) *httptest.ResponseRecorder {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", e.serveResponse)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", e.serveError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", e.serveInitError)
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

func TestRuntimeAPIStates(t *testing.T) {
	const id = "11111111-2222-4333-8444-555555555555"
	tests := []struct {
		name       string
		calls      []string // "response" or "error", each to path id unless prefixed "other:"
		wantStatus []int
		wantResult Result
	}{
		{"response accepted once", []string{"response", "response"}, []int{202, 403}, Result{Payload: []byte(`{"ok":true}`)}},
		{"error accepted once", []string{"error", "response"}, []int{202, 403}, Result{Error: &FunctionError{Message: "boom", Type: "errorString"}}},
		{"unknown request id", []string{"other:response", "response"}, []int{400, 202}, Result{Payload: []byte(`{"ok":true}`)}},
		{"init error after init", []string{"init", "response"}, []int{403, 202}, Result{Payload: []byte(`{"ok":true}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, inv := newBareEnvironment(t, id)
			for i, call := range tt.calls {
				reqID := id
				if rest, ok := strings.CutPrefix(call, "other:"); ok {
					call, reqID = rest, "99999999-2222-4333-8444-555555555555"
				}
				var rec *httptest.ResponseRecorder
				switch call {
				case "response":
					rec = serve(e, "POST", "/2018-06-01/runtime/invocation/"+reqID+"/response", `{"ok":true}`, nil)
				case "error":
					rec = serve(e, "POST", "/2018-06-01/runtime/invocation/"+reqID+"/error", `{"errorMessage":"boom","errorType":"errorString"}`, nil)
				case "init":
					rec = serve(e, "POST", "/2018-06-01/runtime/init/error", `{"errorMessage":"late","errorType":"X"}`, nil)
				}
				if rec.Code != tt.wantStatus[i] {
					t.Errorf("call %d (%s): status %d, want %d: %s", i, call, rec.Code, tt.wantStatus[i], rec.Body)
				}
			}
			got := <-inv.done
			if string(got.Payload) != string(tt.wantResult.Payload) {
				t.Errorf("payload = %s, want %s", got.Payload, tt.wantResult.Payload)
			}
			if (got.Error == nil) != (tt.wantResult.Error == nil) || (got.Error != nil && (got.Error.Message != tt.wantResult.Error.Message || got.Error.Type != tt.wantResult.Error.Type)) {
				t.Errorf("error = %+v, want %+v", got.Error, tt.wantResult.Error)
			}
		})
	}
}

func TestReadFunctionError(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		header string
		want   FunctionError
	}{
		{"lambda json", `{"errorMessage":"m","errorType":"T"}`, "", FunctionError{Message: "m", Type: "T"}},
		{"type from header", `{"errorMessage":"m"}`, "HeaderType", FunctionError{Message: "m", Type: "HeaderType"}},
		{"plain text", "  something broke \n", "", FunctionError{Message: "something broke", Type: "Unhandled"}},
		{"empty", "", "", FunctionError{Type: "Unhandled"}},
		{"json without fields", `{"other":1}`, "", FunctionError{Message: `{"other":1}`, Type: "Unhandled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.header != "" {
				req.Header.Set("Lambda-Runtime-Function-Error-Type", tt.header)
			}
			got := readFunctionError(req)
			if got.Message != tt.want.Message || got.Type != tt.want.Type {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func FuzzReadFunctionError(f *testing.F) {
	for _, s := range []string{`{"errorMessage":"m","errorType":"T","stackTrace":[{"path":"x"}]}`, "", "text", `{"errorType":1}`, "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		fe := readFunctionError(req)
		if fe.Type == "" {
			t.Fatalf("empty error type for %q", body)
		}
		// What the runner reports must always serialise.
		if _, err := json.Marshal(fe); err != nil {
			t.Fatalf("result does not marshal: %v", err)
		}
	})
}

func TestLineSplitter(t *testing.T) {
	var out strings.Builder
	lo := &lineOutput{w: &out, prefix: "[F] "}
	s := &lineSplitter{out: lo}
	for _, chunk := range []string{"a", "b\nc\r\n", "", "d\n\npartial"} {
		if n, err := s.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	s.flush()
	long := strings.Repeat("x", maxLineLength+10)
	_, _ = io.WriteString(s, long+"\n")
	want := "[F] ab\n[F] c\n[F] d\n[F] \n[F] partial\n[F] " + long[:maxLineLength] + "\n[F] " + long[maxLineLength:] + "\n"
	if out.String() != want {
		t.Errorf("output mismatch: got %d bytes, want %d", len(out.String()), len(want))
	}
}
