// Package samples names the values the sample events in events/ carry, so
// the tests and benchmarks that send those events agree with them and with
// each other. Change an event, change this file.
package samples

const (
	// HookSecret is the event hook secret the okta-hook-*.json events send
	// in their Authorization header.
	HookSecret = "sample-hook-secret-change-me"
	// HookUser is the user the okta-hook-*.json suspend events name.
	HookUser = "00ub0oNGTSWTBKOLGLNR"
	// User and Client are the user and OAuth client of the route events
	// (list-*.json, revoke-*.json) and of sqs-revocations.json.
	User   = "00u1a2b3c4d5e6f7g8h9"
	Client = "0oa1a2b3c4d5e6f7g8h9"
	// User2 is the second user of sqs-revocations.json.
	User2 = "00u9z8y7x6w5v4u3t2s1"
	// Token is the refresh token the single-token events name.
	Token = "oar1a2b3c4d5e6f7g8h9"
)
