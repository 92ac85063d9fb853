package benchkit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestTimingProxyForwardsAndAddsUpTime(t *testing.T) {
	const delay = 20 * time.Millisecond
	var gotHost, gotPath string
	downstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotPath = r.Host, r.URL.RequestURI()
		time.Sleep(delay)
		w.Header().Set("X-Downstream", "yes")
		_, _ = io.WriteString(w, "body:"+r.URL.Path)
	}))
	defer downstream.Close()

	p, err := NewTimingProxy(downstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	get := func(path string) {
		t.Helper()
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "body:"+path || resp.Header.Get("X-Downstream") != "yes" {
			t.Fatalf("GET %s through the proxy = %q, headers %v", path, body, resp.Header)
		}
	}
	get("/a")
	get("/b")
	if gotPath != "/b" || gotHost != p.URL[len("http://"):] {
		t.Errorf("downstream saw %s with Host %q, want /b with the proxy's Host (requests are signed with it)", gotPath, gotHost)
	}
	total, calls := p.Total()
	if calls != 2 || total < 2*delay {
		t.Errorf("Total = %v over %d calls, want at least %v over 2", total, calls, 2*delay)
	}

	p.Reset()
	if total, calls := p.Total(); total != 0 || calls != 0 {
		t.Errorf("after Reset Total = %v, %d", total, calls)
	}
}

func TestNewTimingProxyRejectsBadURL(t *testing.T) {
	if _, err := NewTimingProxy("http://[::1"); err == nil {
		t.Fatal("NewTimingProxy accepted a malformed URL")
	}
}
