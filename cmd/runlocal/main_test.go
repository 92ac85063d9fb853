package main

import (
	"strings"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/oktahook"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

func TestSuspendDeliveryIsWhatOktaSends(t *testing.T) {
	body := suspendDelivery("http://127.0.0.1:1234", "00udemoalice00000001", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	d, err := oktahook.ParseDelivery(body)
	if err != nil {
		t.Fatalf("ParseDelivery: %v", err)
	}
	if len(d.Events) != 1 || d.EventID == "" || !strings.HasPrefix(d.Source, "http://127.0.0.1:1234/api/v1/eventHooks/") {
		t.Fatalf("delivery = %+v", d)
	}
	ev, err := oktahook.DecodeEvent(d.Events[0])
	if err != nil {
		t.Fatal(err)
	}
	policy, err := revocation.NewPolicy(revocation.DefaultEventTypes())
	if err != nil {
		t.Fatal(err)
	}
	reqs, skip := policy.Map(ev)
	if len(reqs) != 1 || reqs[0].UserID != "00udemoalice00000001" || reqs[0].Scope() != revocation.ScopeUser {
		t.Errorf("policy mapped the demo event to %+v (skip %q), want one user-wide request", reqs, skip)
	}
}

func TestParametersFlag(t *testing.T) {
	p := parameters{}
	for _, v := range []string{"DryRun=true", "LogLevel=debug", "Empty="} {
		if err := p.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	if got := p.String(); got != "DryRun=true,Empty=,LogLevel=debug" {
		t.Errorf("String() = %q", got)
	}
	for _, bad := range []string{"novalue", "=x"} {
		if err := p.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

func TestRealOkta(t *testing.T) {
	tests := []struct {
		name                string
		url, token, json    string
		wantURL, wantSecret string
		wantErr             string
	}{
		{name: "fake by default"},
		{name: "token", url: "https://acme.okta.com", token: "t0k", wantURL: "https://acme.okta.com", wantSecret: "t0k"},
		{name: "json", url: "https://acme.okta.com", json: `{"apiToken":"x"}`, wantURL: "https://acme.okta.com", wantSecret: `{"apiToken":"x"}`},
		{name: "both", url: "https://acme.okta.com", token: "a", json: "b", wantErr: "not both"},
		{name: "no url", token: "a", wantErr: "OKTA_ORG_URL is not"},
		{name: "no credentials", url: "https://acme.okta.com", wantErr: "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OKTA_ORG_URL", tt.url)
			t.Setenv("OKTA_API_TOKEN", tt.token)
			t.Setenv("OKTA_API_SECRET_JSON", tt.json)
			url, secret, err := realOkta()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || url != tt.wantURL || secret != tt.wantSecret {
				t.Errorf("realOkta() = %q, %q, %v", url, secret, err)
			}
		})
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	var out, errOut strings.Builder
	for _, args := range [][]string{{"-demo-only", "-no-demo"}, {"-log-level", "loud"}, {"extra"}, {"-param", "x"}, {"-schedule-every", "-1s"}, {"-schedule-every", "soon"}} {
		if err := run(args, &out, &errOut); err == nil {
			t.Errorf("run(%v) succeeded", args)
		}
	}
}

// TestRunKeepsARealOrgOnLoopback: the local API checks no SigV4, so with a
// real Okta org it must not be reachable from the network.
func TestRunKeepsARealOrgOnLoopback(t *testing.T) {
	t.Setenv("OKTA_ORG_URL", "https://acme.okta.com")
	t.Setenv("OKTA_API_TOKEN", "00token")
	t.Setenv("OKTA_API_SECRET_JSON", "")
	for _, addr := range []string{"0.0.0.0:3000", "192.0.2.10:3000", "[::]:3000"} {
		var out, errOut strings.Builder
		err := run([]string{"-addr", addr, "-template", "no-such-template.yaml"}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "must listen on loopback") {
			t.Errorf("-addr %s with a real org: %v, want a refusal", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:3000", ":3000", "localhost:3000", "[::1]:3000"} {
		if !loopback(addr) {
			t.Errorf("loopback(%q) = false", addr)
		}
	}
}
