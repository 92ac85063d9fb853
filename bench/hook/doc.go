// Package hook benchmarks the okta-hook handler as the function wires it
// (the Secrets Manager cache, the SQS publisher, the JSON logger) against
// moto_server: deliveries of 1, 10 and 50 suspend events, one after the
// other, as one execution environment receives them.
//
// Run it with `make bench`, or alone:
//
//	go test -run '^$' -bench Hook -benchtime 200x ./bench/hook
//
// Metrics: deliveries/s and events/s (one environment, sequential), and the
// p50 and p99 latency of one delivery (p50-ms, p99-ms). Every benchmark
// checks that each delivery was answered 200 and that every event reached
// the queue.
package hook
