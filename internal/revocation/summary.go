package revocation

import "encoding/json"

// Summary is what a producer logs of each request it queued: enough to
// find the request again (id, scope, target, reason) without the rest.
type Summary struct {
	RequestID string          `json:"requestId"`
	Scope     string          `json:"scope"`
	UserID    string          `json:"userId,omitempty"`
	AppID     string          `json:"appId,omitempty"`
	Reason    json.RawMessage `json:"reason"`
}

// Summarize returns the Summary of each request, in order.
func Summarize(reqs []Request) []Summary {
	out := make([]Summary, len(reqs))
	for i, r := range reqs {
		out[i] = Summary{RequestID: r.RequestID, Scope: string(r.Scope()), UserID: r.UserID, AppID: r.AppID, Reason: r.Reason}
	}
	return out
}
