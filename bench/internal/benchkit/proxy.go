package benchkit

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// TimingProxy is a reverse proxy in front of a downstream service (moto_server,
// the fake Okta org) that adds up how long the requests through it took,
// from the request's arrival to the end of its response. A benchmark points
// a function at the proxy and subtracts the total from the function's own
// latency: what is left is the function's own cost, whatever the
// downstream's speed. The total includes the proxy's hop to the
// downstream (connection setup included), so it slightly overstates the
// downstream's service time and understates the function's.
type TimingProxy struct {
	// URL is the proxy's base URL, to use in place of the downstream's.
	URL string

	srv *httptest.Server

	mu    sync.Mutex
	total time.Duration
	calls int
}

// NewTimingProxy starts a TimingProxy in front of target (a base URL such
// as http://127.0.0.1:5000). Close it when done.
func NewTimingProxy(target string) (*TimingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // signed requests (SigV4) sign the Host header
		},
	}
	p := &TimingProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rp.ServeHTTP(w, r)
		took := time.Since(start)
		p.mu.Lock()
		p.total += took
		p.calls++
		p.mu.Unlock()
	}))
	p.URL = p.srv.URL
	return p, nil
}

// Reset zeroes the totals.
func (p *TimingProxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.calls = 0, 0
}

// Total returns the summed duration of the requests since the last Reset
// and how many there were.
func (p *TimingProxy) Total() (time.Duration, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total, p.calls
}

// Close stops the proxy.
func (p *TimingProxy) Close() { p.srv.Close() }
