package oktafake

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveHTTP is the pipeline every request goes through, in Okta's order as
// far as it is observable: request id, concurrency limit, rate-limit bucket,
// injected faults, authentication, then the endpoint.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	rw := &responseRecorder{ResponseWriter: w}
	rw.Header().Set("X-Okta-Request-Id", newRequestID())
	rt := matchRoute(r.Method, r.URL.EscapedPath())

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		writeError(rw, http.StatusServiceUnavailable, "E0000009", "Internal Server Error")
		return
	}
	s.active++
	s.inFlight++
	if s.inFlight > s.stats.MaxInFlight {
		s.stats.MaxInFlight = s.inFlight
	}
	inFlight := s.inFlight
	faults := s.faults
	fault := s.drawFaultLocked(r.URL.EscapedPath())
	s.mu.Unlock()

	defer func() {
		rec := Recorded{
			Method:    r.Method,
			Path:      r.URL.EscapedPath(),
			Query:     r.URL.RawQuery,
			Status:    rw.status,
			Time:      start,
			Duration:  s.now().Sub(start),
			RequestID: rw.Header().Get("X-Okta-Request-Id"),
			Auth:      authScheme(r),
			UserAgent: r.UserAgent(),
			Bucket:    rt.bucket,
			Fault:     rw.fault,
			Malformed: rt.malformed,
		}
		s.mu.Lock()
		s.inFlight--
		s.active--
		s.recordLocked(rec)
		if s.active == 0 {
			s.idle.Broadcast()
		}
		s.mu.Unlock()
	}()

	if faults.Latency > 0 && !s.sleep(r, faults.Latency) {
		rw.fault = "latency"
		return
	}

	if rt.api && s.concurrencyExceeded(inFlight) {
		rw.fault = "concurrency"
		writeRateLimitHeaders(rw, 0, 0, s.now().Add(time.Second))
		writeError(rw, http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
		return
	}

	if rt.api {
		if !s.takeRateLimit(rw, rt.bucket) {
			return
		}
	}

	if fault.kind != "" && s.injectFault(rw, r, rt, fault, faults) {
		return
	}

	s.route(rw, r, rt)
}

// route authenticates and dispatches a request that passed the limits.
func (s *Server) route(w *responseRecorder, r *http.Request, rt route) {
	if rt.kind == routeToken {
		s.handleTokenRequest(w, r)
		return
	}
	if rt.kind == routeNone {
		writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+truncate(r.URL.EscapedPath(), 200))
		return
	}
	if rt.kind == routeMethodNotAllowed {
		w.Header().Set("Allow", strings.Join(rt.allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method")
		return
	}
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if scope := rt.requiredScope(r.Method); !p.allows(scope) {
		writeError(w, http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
		return
	}
	if rt.badID != "" {
		// Okta looks the ID up and finds nothing.
		writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+truncate(rt.badID, 200)+" ("+rt.badIDKind+")")
		return
	}
	base := baseURL(r)
	switch rt.kind {
	case routeUserClients:
		s.handleUserClients(w, r, base, rt)
	case routeUserClientTokens:
		s.handleUserClientTokens(w, r, base, rt)
	case routeUserClientToken:
		s.handleUserClientToken(w, r, base, rt)
	case routeUserSessions:
		s.handleUserSessions(w, r, rt)
	case routeApp:
		s.handleApp(w, r, base, rt)
	case routeAppTokens:
		s.handleAppTokens(w, r, base, rt)
	case routeAppToken:
		s.handleAppToken(w, r, base, rt)
	case routeLogs:
		s.handleLogs(w, r, base)
	}
}

// sleep waits d, or less if the client gives up or the server closes. It
// reports whether the full time passed.
func (s *Server) sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.done:
		return false
	}
}

// baseURL is the origin the client used, so links work behind any listener.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// authScheme names the Authorization scheme without its credential.
func authScheme(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return ""
	}
	scheme, _, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "ssws":
		return "SSWS"
	case "bearer":
		return "Bearer"
	case "dpop":
		return "DPoP"
	}
	return "other"
}

func writeRateLimitHeaders(w http.ResponseWriter, limit, remaining int, reset time.Time) {
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(ceilSecond(reset).Unix(), 10))
}

// responseRecorder remembers the status written and which fault, if any,
// shaped the answer.
type responseRecorder struct {
	http.ResponseWriter
	status int
	fault  string
}

func (w *responseRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
