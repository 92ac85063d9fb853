package lambdaruntime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// environment is one execution environment: a bootstrap process and the
// Runtime API server it polls.
type environment struct {
	f       *Function
	seq     int
	addr    string
	srv     *http.Server
	cmd     *exec.Cmd
	started time.Time

	next   chan *invocation // rendezvous between Invoke and GET /next
	exited chan struct{}    // closed when the process has exited and its output is flushed
	dying  chan struct{}    // closed by kill

	firstNext sync.Once

	mu           sync.Mutex
	initDuration time.Duration
	ready        bool           // the runtime has called /next at least once
	initErr      *FunctionError // posted to /init/error
	inflight     *invocation
	killed       bool
	exitErr      error
}

// invocation is one event on its way through an environment.
type invocation struct {
	id       string
	payload  []byte
	traceID  string
	deadline time.Time // set before the handoff to /next

	done      chan Result // buffered; filled once by /response or /error
	completed bool        // guarded by environment.mu
}

func (f *Function) startEnvironment(seq int) (*environment, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API listener: %w", err)
	}
	e := &environment{
		f:       f,
		seq:     seq,
		addr:    ln.Addr().String(),
		next:    make(chan *invocation),
		exited:  make(chan struct{}),
		dying:   make(chan struct{}),
		started: time.Now(),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", e.serveNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", e.serveResponse)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", e.serveError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", e.serveInitError)
	// Everything else, including the Extensions API, is a 404: aws-lambda-go
	// only logs a warning when WithEnableSIGTERM cannot register.
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()

	stdout := &lineSplitter{out: f.out}
	stderr := &lineSplitter{out: f.out}
	cmd := exec.Command(f.cfg.Bootstrap)
	cmd.Dir = filepath.Dir(f.cfg.Bootstrap)
	cmd.Env = e.environ()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = sysProcAttr()
	// A grandchild holding the output pipes must not keep Wait from returning.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		_ = e.srv.Close()
		return nil, fmt.Errorf("start %s: %w", f.cfg.Bootstrap, err)
	}
	e.cmd = cmd
	go func() {
		err := cmd.Wait()
		stdout.flush()
		stderr.flush()
		_ = e.srv.Close()
		e.mu.Lock()
		e.exitErr = err
		killed := e.killed
		e.mu.Unlock()
		if !killed {
			f.record(func(s *Stats) { s.Crashes++ })
			f.logger.Warn("execution environment exited", slog.Int("environment", seq), slog.Any("status", exitStatus(err)))
		}
		close(e.exited)
	}()
	return e, nil
}

// environ is the process environment: Lambda's defaults, the function's
// variables, then Lambda's reserved variables, which win.
func (e *environment) environ() []string {
	cfg := e.f.cfg
	vars := map[string]string{
		"PATH": "/usr/local/bin:/usr/bin:/bin:/opt/bin",
		"LANG": "en_US.UTF-8",
		"TZ":   ":UTC",
	}
	for k, v := range cfg.Env {
		vars[k] = v
	}
	stream := fmt.Sprintf("%s/[$LATEST]%s", e.started.UTC().Format("2006/01/02"), strings.ReplaceAll(newRequestID(), "-", ""))
	for k, v := range map[string]string{
		"_HANDLER":                        cfg.Handler,
		"AWS_REGION":                      cfg.Region,
		"AWS_DEFAULT_REGION":              cfg.Region,
		"AWS_LAMBDA_FUNCTION_NAME":        cfg.FunctionName,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(cfg.MemorySize),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + cfg.FunctionName,
		"AWS_LAMBDA_LOG_STREAM_NAME":      stream,
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_RUNTIME_API":          e.addr,
		"LAMBDA_TASK_ROOT":                filepath.Dir(cfg.Bootstrap),
		"LAMBDA_RUNTIME_DIR":              "/var/runtime",
		"AWS_ACCESS_KEY_ID":               cfg.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":           cfg.SecretAccessKey,
	} {
		vars[k] = v
	}
	if cfg.SessionToken != "" {
		vars["AWS_SESSION_TOKEN"] = cfg.SessionToken
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// run hands inv to the environment and waits for its outcome. retry is true
// when a warm environment died before taking the event, so the caller
// should try another one; in that case the environment is released.
func (e *environment) run(ctx context.Context, inv *invocation, cold bool) (res Result, retry bool, err error) {
	f := e.f
	var initTimeout <-chan time.Time
	if cold {
		t := time.NewTimer(f.cfg.InitTimeout - time.Since(e.started))
		defer t.Stop()
		initTimeout = t.C
	}
	inv.deadline = time.Now().Add(f.cfg.Timeout)
	select {
	case e.next <- inv:
	case <-e.exited:
		f.release(e)
		if !cold {
			return Result{}, true, nil
		}
		return e.initFailure(inv), false, nil
	case <-initTimeout:
		e.kill()
		f.release(e)
		f.record(func(s *Stats) { s.Crashes++ })
		msg := fmt.Sprintf("RequestId: %s Error: Init timed out after %.2f seconds", inv.id, f.cfg.InitTimeout.Seconds())
		f.out.line(msg)
		return Result{RequestID: inv.id, ColdStart: true, Error: &FunctionError{Type: ErrorTypeTimeout, Message: msg}}, false, nil
	case <-ctx.Done():
		f.release(e)
		return Result{}, false, ctx.Err()
	}
	start := time.Now()
	f.out.line(fmt.Sprintf("START RequestId: %s Version: $LATEST", inv.id))
	resc := make(chan Result, 1)
	go func() {
		r := e.await(inv, start)
		r.ColdStart = cold
		if cold {
			e.mu.Lock()
			r.InitDuration = e.initDuration
			e.mu.Unlock()
		}
		f.out.line("END RequestId: " + inv.id)
		report := fmt.Sprintf("REPORT RequestId: %s\tDuration: %.2f ms\tMemory Size: %d MB", inv.id, ms(r.Duration), f.cfg.MemorySize)
		if cold {
			report += fmt.Sprintf("\tInit Duration: %.2f ms", ms(r.InitDuration))
		}
		if r.Error != nil && r.Error.Type == ErrorTypeTimeout {
			report += "\tStatus: timeout"
		}
		f.out.line(report)
		f.release(e)
		resc <- r
	}()
	select {
	case r := <-resc:
		return r, false, nil
	case <-ctx.Done():
		return Result{}, false, ctx.Err()
	}
}

// await waits for the runtime's answer to a delivered invocation, the
// function timeout or the process's death.
func (e *environment) await(inv *invocation, start time.Time) Result {
	f := e.f
	timer := time.NewTimer(time.Until(inv.deadline))
	defer timer.Stop()
	var r Result
	select {
	case r = <-inv.done:
	case <-e.exited:
		// The runtime may have posted its error just before exiting (a
		// panic): prefer that answer.
		select {
		case r = <-inv.done:
		default:
			e.complete(inv, Result{}) // late answers are refused from now on
			e.mu.Lock()
			status := exitStatus(e.exitErr)
			e.mu.Unlock()
			r = Result{Error: &FunctionError{
				Type:    ErrorTypeExit,
				Message: fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", inv.id, status),
			}}
		}
	case <-timer.C:
		if !e.complete(inv, Result{}) {
			r = <-inv.done // answered at the last moment
			break
		}
		e.kill()
		f.record(func(s *Stats) { s.Timeouts++ })
		msg := fmt.Sprintf("Task timed out after %.2f seconds", f.cfg.Timeout.Seconds())
		f.out.line(fmt.Sprintf("%s %s %s", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), inv.id, msg))
		r = Result{Error: &FunctionError{Type: ErrorTypeTimeout, Message: fmt.Sprintf("RequestId: %s Error: %s", inv.id, msg)}}
	}
	r.RequestID = inv.id
	r.Duration = time.Since(start)
	return r
}

// initFailure is the result for an event whose cold environment died
// before asking for it.
func (e *environment) initFailure(inv *invocation) Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	res := Result{RequestID: inv.id, ColdStart: true}
	if e.initErr != nil {
		fe := *e.initErr
		res.Error = &fe
		return res
	}
	res.Error = &FunctionError{
		Type:    ErrorTypeExit,
		Message: fmt.Sprintf("RequestId: %s Error: Runtime exited without providing a reason: %s", inv.id, exitStatus(e.exitErr)),
	}
	return res
}

// complete records inv's outcome once; it reports false if it was already
// complete.
func (e *environment) complete(inv *invocation, r Result) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if inv.completed {
		return false
	}
	inv.completed = true
	inv.done <- r
	return true
}

func (e *environment) alive() bool {
	select {
	case <-e.exited:
		return false
	case <-e.dying:
		return false
	default:
		return true
	}
}

// kill ends the process group; it is safe to call more than once.
func (e *environment) kill() {
	e.mu.Lock()
	if e.killed {
		e.mu.Unlock()
		return
	}
	// Read the peak RSS before the runtime can hear of the shutdown (a 410
	// on /next): it exits at once, and an exited process has no VmHWM.
	var rss int64
	var rssOK bool
	select {
	case <-e.exited: // gone: its pid may belong to another process by now
	default:
		rss, rssOK = peakRSS(e.cmd.Process.Pid)
	}
	e.killed = true
	close(e.dying)
	e.mu.Unlock()
	if rssOK {
		e.f.record(func(s *Stats) { s.PeakRSS = append(s.PeakRSS, rss) })
	}
	// The whole process group, even if the bootstrap itself already exited:
	// a child it left behind must not outlive the environment.
	killProcess(e.cmd.Process)
}

func (e *environment) wait() { <-e.exited }

func (e *environment) serveNext(w http.ResponseWriter, r *http.Request) {
	e.firstNext.Do(func() {
		d := time.Since(e.started)
		e.mu.Lock()
		e.initDuration, e.ready = d, true
		e.mu.Unlock()
		e.f.record(func(s *Stats) { s.InitDurations = append(s.InitDurations, d) })
	})
	e.mu.Lock()
	prev := e.inflight
	e.inflight = nil
	e.mu.Unlock()
	if prev != nil {
		// Asking for the next event ends the previous one; one that got no
		// answer is an invalid response.
		e.complete(prev, Result{Error: &FunctionError{
			Type:    ErrorTypeInvalidResponse,
			Message: "the runtime asked for the next event without answering invocation " + prev.id,
		}})
	}
	select {
	case inv := <-e.next:
		e.mu.Lock()
		e.inflight = inv
		e.mu.Unlock()
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", e.f.arn)
		h.Set("Lambda-Runtime-Trace-Id", inv.traceID)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	case <-e.dying:
		writeRuntimeError(w, http.StatusGone, "Runtime.Shutdown", "the execution environment is shutting down")
	}
}

// current returns the in-flight invocation with the given id.
func (e *environment) current(id string) (*invocation, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inflight == nil || e.inflight.id != id {
		return nil, false
	}
	return e.inflight, !e.inflight.completed
}

func (e *environment) serveResponse(w http.ResponseWriter, r *http.Request) {
	inv, open := e.current(r.PathValue("id"))
	switch {
	case inv == nil:
		writeRuntimeError(w, http.StatusBadRequest, "InvalidRequestID", "unknown request id")
		return
	case !open:
		writeRuntimeError(w, http.StatusForbidden, "InvalidStateTransition", "the invocation already has an answer")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadSize+1))
	if err != nil {
		writeRuntimeError(w, http.StatusBadRequest, "InvalidRequest", "reading the response failed")
		return
	}
	if len(body) > MaxPayloadSize {
		e.complete(inv, Result{Error: &FunctionError{
			Type:    ErrorTypeResponseTooLarge,
			Message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxPayloadSize),
		}})
		writeRuntimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "response payload too large")
		return
	}
	if !e.complete(inv, Result{Payload: body}) {
		writeRuntimeError(w, http.StatusForbidden, "InvalidStateTransition", "the invocation already has an answer")
		return
	}
	writeAccepted(w)
}

func (e *environment) serveError(w http.ResponseWriter, r *http.Request) {
	inv, open := e.current(r.PathValue("id"))
	switch {
	case inv == nil:
		writeRuntimeError(w, http.StatusBadRequest, "InvalidRequestID", "unknown request id")
		return
	case !open:
		writeRuntimeError(w, http.StatusForbidden, "InvalidStateTransition", "the invocation already has an answer")
		return
	}
	fe := readFunctionError(r)
	if !e.complete(inv, Result{Error: fe}) {
		writeRuntimeError(w, http.StatusForbidden, "InvalidStateTransition", "the invocation already has an answer")
		return
	}
	writeAccepted(w)
}

func (e *environment) serveInitError(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	ready := e.ready
	e.mu.Unlock()
	if ready {
		writeRuntimeError(w, http.StatusForbidden, "InvalidStateTransition", "init already finished")
		return
	}
	fe := readFunctionError(r)
	e.mu.Lock()
	e.initErr = fe
	e.mu.Unlock()
	e.f.record(func(s *Stats) { s.Crashes++ })
	e.f.logger.Warn("init error", slog.Int("environment", e.seq), slog.String("errorType", fe.Type))
	writeAccepted(w)
	// Lambda ends an environment whose init failed.
	go e.kill()
}

// readFunctionError reads an /error or /init/error body: Lambda's
// {"errorMessage","errorType","stackTrace"} JSON, or anything else, which
// is kept as the message.
func readFunctionError(r *http.Request) *FunctionError {
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxPayloadSize))
	fe := &FunctionError{}
	if err := json.Unmarshal(body, fe); err != nil || (fe.Message == "" && fe.Type == "") {
		fe = &FunctionError{Message: strings.TrimSpace(string(body))}
	}
	if fe.Type == "" {
		fe.Type = r.Header.Get("Lambda-Runtime-Function-Error-Type")
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	return fe
}

func writeAccepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func writeRuntimeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(FunctionError{Type: typ, Message: msg})
}

func exitStatus(err error) string {
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return "exit status 0"
	case errors.As(err, &exitErr):
		return exitErr.ProcessState.String()
	default:
		return err.Error()
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
