package oktafake

import (
	"maps"
	"slices"
	"time"
)

// Recorded is one request the fake received. It holds no credential: Auth
// is only the scheme.
type Recorded struct {
	Method    string
	Path      string // raw, as sent (escaped)
	Query     string // raw query string
	Status    int    // 0 when no answer was sent (the client gave up)
	Time      time.Time
	Duration  time.Duration
	RequestID string // X-Okta-Request-Id
	Auth      string // "SSWS", "Bearer", "DPoP", "other" or ""
	UserAgent string
	Bucket    Bucket // "" outside /api/v1
	// Fault names what shaped the answer besides the endpoint: an injected
	// fault (FaultServerError, FaultRateLimit, FaultHang), "ratelimit" (an
	// exhausted bucket), "concurrency" or "latency" (the client gave up
	// during the added latency). "" for a normal answer.
	Fault string
	// Malformed is true when the path is not a well-formed call of an
	// endpoint the fake models: unknown route, or an ID segment that is
	// empty, too long, escaped or has characters Okta IDs never have.
	Malformed bool
}

// Stats summarizes the requests received since the start or the last
// ResetRequests.
type Stats struct {
	Requests    int
	ByStatus    map[int]int // 0 = no answer sent
	RateLimited int         // 429s, whatever the cause
	ServerError int         // 5xx
	Faults      map[string]int
	Malformed   int
	MaxInFlight int            // most calls in flight at once
	ByBucket    map[Bucket]int // /api/v1 calls per bucket class
}

func (s *Server) recordLocked(rec Recorded) {
	s.requests = append(s.requests, rec)
	s.stats.Requests++
	s.stats.ByStatus[rec.Status]++
	if rec.Status == 429 {
		s.stats.RateLimited++
	}
	if rec.Status >= 500 {
		s.stats.ServerError++
	}
	if rec.Fault != "" {
		s.stats.Faults[rec.Fault]++
	}
	if rec.Malformed {
		s.stats.Malformed++
	}
	if rec.Bucket != "" {
		s.stats.ByBucket[rec.Bucket]++
	}
}

// Requests returns every request received, in the order they finished.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// MalformedRequests returns the requests whose path was malformed (see
// Recorded.Malformed). Suites assert it is empty.
func (s *Server) MalformedRequests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Recorded
	for _, r := range s.requests {
		if r.Malformed {
			out = append(out, r)
		}
	}
	return out
}

// Stats returns a snapshot of the request statistics.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByStatus = maps.Clone(s.stats.ByStatus)
	st.Faults = maps.Clone(s.stats.Faults)
	st.ByBucket = maps.Clone(s.stats.ByBucket)
	return st
}

// ResetRequests forgets the recorded requests and statistics.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetRequestsLocked()
}

func (s *Server) resetRequestsLocked() {
	s.requests = nil
	s.stats = Stats{ByStatus: map[int]int{}, Faults: map[string]int{}, ByBucket: map[Bucket]int{}, MaxInFlight: s.inFlight}
}

// InFlight reports how many calls are being handled right now.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}
