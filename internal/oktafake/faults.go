package oktafake

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Faults are injected into calls at random, deterministically for a Seed:
// the n-th call to arrive gets the n-th draw. Each call draws once; the
// shares add up (ServerErrorRate 0.2 + RateLimitRate 0.1 = 30% of calls
// fail). Faults never change state, unless ServerErrorAfterCommit.
type Faults struct {
	// ServerErrorRate is the share of calls answered 500 (Okta's E0000009
	// body), 502 or 503 (an HTML page from the edge, as a load balancer
	// would send).
	ServerErrorRate float64
	// RateLimitRate is the share answered 429 E0000047. The headers are
	// honest: with a bucket limit set they show the bucket's real state
	// (Remaining may be above 0); without one they look like Okta's
	// concurrency-limit 429 (Limit 0, Remaining 0, Reset in 1s).
	RateLimitRate float64
	// Latency is added to every call, before anything else happens.
	Latency time.Duration
	// HangRate is the share of calls that never answer: they block until the
	// client gives up (its request context ends), MaxHang passes (then 504)
	// or the server closes.
	HangRate float64
	// MaxHang bounds a hang; 0 means DefaultMaxHang.
	MaxHang time.Duration
	// Seed makes the sequence of faults reproducible.
	Seed int64
	// ServerErrorAfterCommit makes injected 5xx answers on DELETE calls
	// happen after the revocation took effect, as Okta may do: the state
	// changes, yet the client sees a failure. Default: no state change.
	ServerErrorAfterCommit bool
	// Paths limits faults to requests whose path has one of these prefixes
	// (e.g. "/api/v1/"); empty means every path, /oauth2/v1/token included.
	Paths []string
}

// Names of injected faults in Recorded.Fault and Stats.Faults.
const (
	FaultServerError = "server_error"
	FaultRateLimit   = "rate_limit"
	FaultHang        = "hang"
)

// SetFaults replaces the injected faults and restarts their sequence from
// f.Seed. The zero Faults turns injection off.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setFaultsLocked(f)
}

func (s *Server) setFaultsLocked(f Faults) {
	s.faults = f
	s.rng = rand.New(rand.NewPCG(uint64(f.Seed), 0x6f6b7461))
}

// drawFaultLocked decides the fault for one call. It always draws twice, so
// the sequence does not depend on which calls were faulted.
func (s *Server) drawFaultLocked(path string) faultDraw {
	x, y := s.rng.Float64(), s.rng.Float64()
	f := s.faults
	if len(f.Paths) > 0 && !slices.ContainsFunc(f.Paths, func(p string) bool { return strings.HasPrefix(path, p) }) {
		return faultDraw{}
	}
	switch {
	case x < f.ServerErrorRate:
		return faultDraw{kind: FaultServerError, status: []int{500, 502, 503}[int(y*3)%3]}
	case x < f.ServerErrorRate+f.RateLimitRate:
		return faultDraw{kind: FaultRateLimit}
	case x < f.ServerErrorRate+f.RateLimitRate+f.HangRate:
		return faultDraw{kind: FaultHang}
	}
	return faultDraw{}
}

type faultDraw struct {
	kind   string // "" = none
	status int    // for FaultServerError
}

// injectFault answers the call with the drawn fault. It reports whether it
// did; false means the call proceeds normally.
func (s *Server) injectFault(w *responseRecorder, r *http.Request, rt route, fd faultDraw, f Faults) bool {
	w.fault = fd.kind
	switch fd.kind {
	case FaultServerError:
		if f.ServerErrorAfterCommit && r.Method == http.MethodDelete {
			// Do the work, throw the answer away, then fail.
			s.route(&responseRecorder{ResponseWriter: discard{h: http.Header{}}}, r, rt)
		}
		writeServerError(w, fd.status)
	case FaultRateLimit:
		s.mu.Lock()
		bk := s.limits.buckets[rt.bucket]
		var limit, remaining int
		reset := s.now().Add(time.Second)
		if bk != nil {
			limit = bk.limit
			remaining, reset = bk.peek(s.now())
		}
		s.mu.Unlock()
		writeRateLimitHeaders(w, limit, remaining, reset)
		writeError(w, http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
	case FaultHang:
		maxHang := f.MaxHang
		if maxHang <= 0 {
			maxHang = DefaultMaxHang
		}
		if s.sleep(r, maxHang) {
			writeError(w, http.StatusGatewayTimeout, "E0000009", "Internal Server Error")
		}
	}
	return true
}

func writeServerError(w http.ResponseWriter, status int) {
	if status == http.StatusInternalServerError {
		writeError(w, status, "E0000009", "Internal Server Error")
		return
	}
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = w.Write([]byte("<html><head><title>" + http.StatusText(status) + "</title></head><body><h1>" + http.StatusText(status) + "</h1></body></html>\n"))
}

// discard is a ResponseWriter that drops everything.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
