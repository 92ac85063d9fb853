// Package coldstart benchmarks the cold start of each function's bootstrap,
// built exactly as `make build-<LogicalId>` builds it (for the host
// architecture), under the local Lambda Runtime API
// (internal/lambdaruntime), against moto_server and the fake Okta org. Each
// is compared with the smallest aws-lambda-go function (bench/minimal),
// built the same way: the floor no Go function can go below.
//
// Run it with `make bench`, or alone:
//
//	go test -run '^$' -bench ColdStart -benchtime 15x ./bench/coldstart
//
// Every iteration starts a fresh execution environment and sends it one
// representative event; the metrics are medians over the iterations:
//
//   - init-ms: exec to the runtime's first GET /next (Lambda's Init Duration)
//   - first-response-ms: exec to the first event's response
//   - first-invoke-ms: of which handling the event (after the first /next)
//   - floor-ms: the minimal function's first response, measured beside
//     this function's: every iteration also cold-starts the minimal
//     function, just before or just after (alternately), so that a change
//     in the machine's speed during the run moves both
//   - x-floor: first-response-ms over floor-ms (goal <= 3)
//   - calls, downstream-ms: the first event's calls to moto_server and the
//     fake Okta, and the time spent waiting on them (timed by a proxy in
//     front of each)
//   - own-ms: first-response-ms less downstream-ms, the function's own cost
//   - own-x-floor: own-ms over floor-ms: the
//     part of x-floor this code is responsible for (see BENCHMARKS.md)
//   - warm-response-ms: the same event again, in the now warm environment
//   - peak-rss-MB: the process's peak resident set size (goal < 24)
//   - binary-MB: the bootstrap's size (goal < 12)
//
// For reference, the first-call rows time a fresh AWS SDK client's first
// call to moto_server (call-ms): the functions make such calls on their
// first event, the minimal function makes none.
package coldstart
