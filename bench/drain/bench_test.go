package drain

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/bench/sdkbaseline"
	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

var (
	revocations = flag.Int("drain.revocations", 200, "user-wide revocations per drain (2 Okta calls each)")
	limit       = flag.Int("drain.limit", 60, "the bucket's calls per window")
	window      = flag.Duration("drain.window", 2*time.Second, "the bucket's window (the fake ends windows on whole seconds)")
	showWindows = flag.Bool("drain.windows", false, "log every window of the bucket")
)

// BenchmarkDrain drains user-wide revocations through K = 1, 4 and 10
// execution environments of DefaultWorkers workers each, sharing one
// rate-limited bucket of the fake Okta org, with internal/okta's client
// (client=okta) and with okta-sdk-golang's strategy (client=sdk) side by
// side. Run it with `make bench`, or alone:
//
//	go test -run '^$' -bench Drain -benchtime 1x ./bench/drain
//
// Metrics: bucket-share (calls over the bucket's capacity in steady state,
// goal >= 0.90), fill (how full the windows were), 429-share (of all calls,
// goal < 0.02), 429s (steady-429s: in steady state), redelivered (revocations that failed and were queued
// again) and drain-s (time to drain).
func BenchmarkDrain(b *testing.B) {
	org := oktafake.New(oktafake.WithAPIToken(token))
	b.Cleanup(org.Close)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	clients := []struct {
		name string
		new  func() (revocation.OktaAPI, error)
	}{
		{"okta", func() (revocation.OktaAPI, error) {
			return okta.New(okta.Config{
				OrgURL:      org.URL,
				Credentials: okta.StaticCredentials(okta.Credentials{APIToken: token}),
				// Its own transport: environments share no connection.
				HTTPClient: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
				Logger:     quiet,
			})
		}},
		{"sdk", func() (revocation.OktaAPI, error) {
			// Retries enabled (the SDK's default is none) and MaxBackoff
			// as its README suggests, so it drains rather than fails.
			return sdkbaseline.New(sdkbaseline.Config{OrgURL: org.URL, APIToken: token, MaxRetries: 10, MaxBackoff: 30 * time.Second})
		}},
	}
	for _, k := range []int{1, 4, 10} {
		for _, c := range clients {
			b.Run(fmt.Sprintf("K=%d/client=%s", k, c.name), func(b *testing.B) {
				var share, fill, limited, drainS, rateLimited, steadyLimited, redelivered float64
				for range b.N {
					b.StopTimer()
					org.Reset()
					users := make([]string, *revocations)
					for i := range users {
						users[i] = fmt.Sprintf("00ubench%012d", i)
						org.AddToken(users[i], "0oabenchclient")
					}
					org.SetBucketRateLimit(oktafake.BucketOther, *limit, *window)
					b.StartTimer()
					res, err := Run(b.Context(), Config{
						Org: org, Bucket: oktafake.BucketOther, Users: users, Environments: k, NewClient: c.new,
					})
					if err != nil {
						b.Fatal(err)
					}
					if *showWindows {
						for i, w := range res.Windows {
							idle := time.Duration(0)
							if i > 0 {
								idle = w.Start.Sub(res.Windows[i-1].End)
							}
							b.Logf("window %d: idle before %v, length %v, used %d/%d, 429 %d", i, idle.Round(time.Millisecond), w.End.Sub(w.Start).Round(time.Millisecond), w.Used, w.Limit, w.Rejected)
						}
					}
					if res.Steady.Windows < 2 {
						b.Fatalf("only %d steady-state windows: raise -drain.revocations", res.Steady.Windows)
					}
					share += res.Steady.Share
					fill += res.Steady.Fill
					limited += res.RateLimitedShare()
					rateLimited += float64(res.RateLimited)
					steadyLimited += float64(res.Steady.Rejected)
					redelivered += float64(res.Redelivered)
					drainS += res.Duration.Seconds()
				}
				n := float64(b.N)
				b.ReportMetric(share/n, "bucket-share")
				b.ReportMetric(fill/n, "fill")
				b.ReportMetric(limited/n, "429-share")
				b.ReportMetric(rateLimited/n, "429s")
				b.ReportMetric(steadyLimited/n, "steady-429s")
				b.ReportMetric(redelivered/n, "redelivered")
				b.ReportMetric(drainS/n, "drain-s")
			})
		}
	}
}
