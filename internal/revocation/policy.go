package revocation

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
)

// Event is the part of an Okta System Log LogEvent that the policy reads. It
// is the object Okta delivers in an event hook's data.events[] and returns
// from GET /api/v1/logs. Decoding is lenient: unknown fields are ignored and
// null is read as the zero value, since Okta adds fields without notice.
type Event struct {
	UUID      string `json:"uuid"`
	Published string `json:"published"` // ISO 8601, kept verbatim
	EventType string `json:"eventType"`
	Actor     Actor  `json:"actor"`
	// Targets are matched by Type, never by position: their order is not
	// documented and differs between event types.
	Targets []Target `json:"target"`
	Outcome Outcome  `json:"outcome"`
}

// Actor is who caused an event: an admin, the user themself, or a system
// principal.
type Actor struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	AlternateID string `json:"alternateId"`
	DisplayName string `json:"displayName"`
}

// Target is an entity an event acted on.
type Target struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	AlternateID string `json:"alternateId"`
	DisplayName string `json:"displayName"`
}

// Outcome is an event's result (SUCCESS, FAILURE, SKIPPED, ...).
type Outcome struct {
	Result string `json:"result"`
	Reason string `json:"reason"`
}

// The Okta entity types the policy reads from actors and targets.
const (
	TypeUser        = "User"
	TypeAppInstance = "AppInstance"
)

// OutcomeSuccess is the only outcome the policy acts on.
const OutcomeSuccess = "SUCCESS"

// action is what an event type revokes.
type action int

const (
	// revokeUser revokes every token of each User target.
	revokeUser action = iota + 1
	// revokeUserApp revokes the tokens of the one User for the one
	// AppInstance target.
	revokeUserApp
	// revokeApp revokes every token of each AppInstance target.
	revokeApp
)

// rule is one row of the mapping table.
type rule struct {
	action action
	// actorFallback allows using the actor as the user when the event has no
	// User target. Only for events a user causes on themself (self-service
	// unlock, password change, breach of their own credentials): on admin
	// events the actor is the admin, whose tokens must not be revoked.
	actorFallback bool
	// isDefault puts the type in DefaultEventTypes.
	isDefault bool
}

// rules is the mapping table: every event type the service knows. A type
// not listed here is never acted on. Types left out on purpose:
//   - user.session.end: an ordinary logout; revoking every refresh token on
//     each sign-out would break every native app of the user.
//   - user.risk.detect, user.risk.change: the risk level is in debugData,
//     which the policy does not read; acting on every LOW risk signal would
//     revoke far too often.
//   - group.user_membership.remove: a group does not name the apps whose
//     access it granted, so the only possible action (all of the user's
//     tokens) is much wider than the change.
var rules = map[string]rule{
	// Defaults: the user lost access or their credentials may be known to
	// someone else.
	"user.lifecycle.suspend":          {action: revokeUser, isDefault: true},
	"user.lifecycle.deactivate":       {action: revokeUser, isDefault: true},
	"user.lifecycle.delete.initiated": {action: revokeUser, isDefault: true},
	// A lockout is caused by the user's own failed sign-ins: the actor may be
	// the user.
	"user.account.lock": {action: revokeUser, actorFallback: true, isDefault: true},
	// Self-service resets name the user as actor only.
	"user.account.reset_password": {action: revokeUser, actorFallback: true, isDefault: true},
	// The actor may be the admin who reset the factors: no fallback.
	"user.mfa.factor.reset_all": {action: revokeUser, isDefault: true},
	// An admin (or breached-credential protection) cleared the sessions.
	"user.session.clear": {action: revokeUser, isDefault: true},
	// Okta names the affected user as the actor.
	"security.breached_credential.detected": {action: revokeUser, actorFallback: true, isDefault: true},
	"application.user_membership.remove":    {action: revokeUserApp, isDefault: true},
	"application.lifecycle.deactivate":      {action: revokeApp, isDefault: true},
	"application.lifecycle.delete":          {action: revokeApp, isDefault: true},

	// Known but off by default; enable with REVOKE_ON_EVENTS.
	// A password change, admin or self-service (actor = user).
	"user.account.update_password": {action: revokeUser, actorFallback: true},
	// The user reports activity they did not cause: the user is the actor.
	"user.account.report_suspicious_activity_by_enduser": {action: revokeUser, actorFallback: true},
	// Universal Logout was triggered for the user; this also covers tokens
	// Okta's own logout does not reach. The user is a target.
	"user.authentication.universal_logout": {action: revokeUser},
}

// ParseEventTypes parses a configured list of event types
// (REVOKE_ON_EVENTS): comma-separated, spaces allowed, empty for
// DefaultEventTypes. An unknown type is an error, never ignored, so every
// producer maps events the same way.
func ParseEventTypes(list string) ([]string, error) {
	var types []string
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name != "" {
			types = append(types, name)
		}
	}
	if len(types) == 0 {
		return DefaultEventTypes(), nil
	}
	if _, err := NewPolicy(types); err != nil {
		return nil, err
	}
	return types, nil
}

// DefaultEventTypes returns the event types acted on when none are
// configured, sorted.
func DefaultEventTypes() []string {
	var types []string
	for name, r := range rules {
		if r.isDefault {
			types = append(types, name)
		}
	}
	sort.Strings(types)
	return types
}

// KnownEventTypes returns every event type the policy can act on, sorted.
func KnownEventTypes() []string {
	types := make([]string, 0, len(rules))
	for name := range rules {
		types = append(types, name)
	}
	sort.Strings(types)
	return types
}

// Policy maps Okta events to revocation requests for a configured set of
// event types. It is immutable and safe for concurrent use.
type Policy struct {
	rules map[string]rule
}

// NewPolicy returns a policy acting on eventTypes, each of which must be in
// KnownEventTypes: an unknown name is an error, never a silent no-op. An
// empty list means DefaultEventTypes.
func NewPolicy(eventTypes []string) (*Policy, error) {
	if len(eventTypes) == 0 {
		eventTypes = DefaultEventTypes()
	}
	p := &Policy{rules: make(map[string]rule, len(eventTypes))}
	var unknown []string
	for _, name := range eventTypes {
		r, ok := rules[name]
		if !ok {
			unknown = append(unknown, fmt.Sprintf("%q", name))
			continue
		}
		p.rules[name] = r
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown event type %s (known: %s)", strings.Join(unknown, ", "), strings.Join(KnownEventTypes(), ", "))
	}
	return p, nil
}

// EventTypes returns the event types the policy acts on, sorted.
func (p *Policy) EventTypes() []string {
	types := make([]string, 0, len(p.rules))
	for name := range p.rules {
		types = append(types, name)
	}
	sort.Strings(types)
	return types
}

// Map returns the revocation requests ev calls for, or none and the reason
// it was skipped. Each request carries EventReason(ev) as its Reason and a
// RequestID derived from the event uuid and the target, so the same event
// always yields the same request ids, whoever maps it.
func (p *Policy) Map(ev Event) (reqs []Request, skipReason string) {
	r, ok := p.rules[ev.EventType]
	if !ok {
		if _, known := rules[ev.EventType]; known {
			return nil, fmt.Sprintf("event type %q is not enabled", ev.EventType)
		}
		return nil, fmt.Sprintf("event type %q is not handled", ev.EventType)
	}
	if !strings.EqualFold(ev.Outcome.Result, OutcomeSuccess) {
		result := ev.Outcome.Result
		if result == "" {
			result = "(none)"
		}
		return nil, fmt.Sprintf("outcome %s is not %s", result, OutcomeSuccess)
	}
	if ev.UUID == "" {
		return nil, "event has no uuid"
	}

	var (
		users []string
		apps  = targetIDs(ev.Targets, TypeAppInstance)
	)
	if r.action == revokeUser || r.action == revokeUserApp {
		users = targetIDs(ev.Targets, TypeUser)
		if len(users) == 0 && r.actorFallback && ev.Actor.Type == TypeUser && ev.Actor.ID != "" {
			users = []string{ev.Actor.ID}
		}
	}
	for _, id := range users {
		if err := okta.ValidateID("userId", id); err != nil {
			return nil, err.Error()
		}
	}
	for _, id := range apps {
		if err := okta.ValidateID("appId", id); err != nil {
			return nil, err.Error()
		}
	}

	reason := EventReason(ev).JSON()
	switch r.action {
	case revokeUser:
		if len(users) == 0 {
			if r.actorFallback {
				return nil, "no User target and the actor is not a User"
			}
			return nil, "no User target"
		}
		for _, u := range users {
			reqs = append(reqs, Request{UserID: u, Reason: reason})
		}
	case revokeUserApp:
		// Exactly one of each: with several, which user lost which app is
		// ambiguous, and guessing could revoke the wrong tokens.
		switch {
		case len(users) == 0:
			return nil, "no User target"
		case len(apps) == 0:
			return nil, "no AppInstance target"
		case len(users) > 1 || len(apps) > 1:
			return nil, fmt.Sprintf("ambiguous targets: %d User, %d AppInstance (want one of each)", len(users), len(apps))
		}
		reqs = append(reqs, Request{UserID: users[0], AppID: apps[0], Reason: reason})
	case revokeApp:
		if len(apps) == 0 {
			return nil, "no AppInstance target"
		}
		for _, a := range apps {
			reqs = append(reqs, Request{AppID: a, Reason: reason})
		}
	}
	for i := range reqs {
		reqs[i].RequestID = requestID(ev.UUID, reqs[i])
	}
	return reqs, ""
}

// targetIDs returns the distinct non-empty ids of targets of type typ, in
// order of first appearance.
func targetIDs(targets []Target, typ string) []string {
	var ids []string
	for _, t := range targets {
		if t.Type == typ && t.ID != "" && !slices.Contains(ids, t.ID) {
			ids = append(ids, t.ID)
		}
	}
	return ids
}

// requestIDNamespace scopes the name-based (version 5) UUIDs of requests
// derived from Okta events.
var requestIDNamespace = uuid.MustParse("7d0f3e4a-6c2b-5b8e-9a1d-4f0e2c7b9a31")

// requestID derives a stable request id from the event uuid and the
// request's target, so a redelivered or reconciled event yields the same id.
func requestID(eventUUID string, r Request) string {
	return uuid.NewSHA1(requestIDNamespace, []byte(eventUUID+"\x00"+dedupeKey(r))).String()
}

// dedupeKey identifies what a request revokes, for deduplication.
func dedupeKey(r Request) string {
	return strings.Join([]string{string(r.Scope()), r.UserID, r.ClientID, r.AppID, r.TokenID}, "\x00")
}

// Reason is the JSON object requests derived from Okta events carry in
// Request.Reason. Every producer of such requests (the event hook, a System
// Log reconciler, ...) uses it, so consumers and deduplication see one shape.
type Reason struct {
	// Source names the producer, e.g. SourceEventHook.
	Source string `json:"source,omitempty"`
	// EventID is the id of the event hook delivery the event came in.
	EventID string `json:"eventId,omitempty"`
	// EventUUID is the LogEvent's uuid: the key to deduplicate on across
	// deliveries and sources.
	EventUUID string `json:"eventUuid"`
	EventType string `json:"eventType"`
	Published string `json:"published,omitempty"`
	// MergedEventUUIDs lists further events of the same batch that called
	// for the same revocation, in order of appearance.
	MergedEventUUIDs []string `json:"mergedEventUuids,omitempty"`
}

// DecodeReason decodes r.Reason as the Reason requests derived from Okta
// events carry. Reason is free-form in the queue contract, so a request
// from another producer may have none or another shape: then it errs.
func (r Request) DecodeReason() (Reason, error) {
	var reason Reason
	if err := json.Unmarshal(r.Reason, &reason); err != nil {
		return Reason{}, fmt.Errorf("reason of request %s: %w", r.RequestID, err)
	}
	return reason, nil
}

// SourceEventHook is the Reason.Source of requests from the Okta event hook.
const SourceEventHook = "okta-event-hook"

// EventReason returns the Reason describing ev, without a source.
func EventReason(ev Event) Reason {
	return Reason{EventUUID: ev.UUID, EventType: ev.EventType, Published: ev.Published}
}

// JSON returns r encoded as a JSON object.
func (r Reason) JSON() json.RawMessage {
	// Marshalling a struct of strings cannot fail.
	b, _ := json.Marshal(r)
	return b
}

// Batch collects the requests of a set of events (one hook delivery, one page
// of the System Log) and keeps one request per distinct revocation, so each
// is queued once. It is not safe for concurrent use.
type Batch struct {
	source, eventID string
	seenEvents      map[string]bool
	byKey           map[string]int
	reqs            []Request
	reasons         []Reason
}

// NewBatch returns an empty batch whose requests' reasons name source and,
// when not empty, the hook delivery eventID.
func NewBatch(source, eventID string) *Batch {
	return &Batch{source: source, eventID: eventID, seenEvents: make(map[string]bool), byKey: make(map[string]int)}
}

// Add records the requests the policy mapped ev to. A request for a
// revocation already in the batch is merged into it: its event uuid is added
// to the first one's Reason.MergedEventUUIDs. An event uuid seen before in
// the batch is ignored. Add reports how many new requests it added.
func (b *Batch) Add(ev Event, reqs []Request) int {
	if len(reqs) == 0 || b.seenEvents[ev.UUID] {
		return 0
	}
	b.seenEvents[ev.UUID] = true
	added := 0
	for _, r := range reqs {
		k := dedupeKey(r)
		if i, ok := b.byKey[k]; ok {
			lead := &b.reasons[i]
			if slices.Contains(lead.MergedEventUUIDs, ev.UUID) || lead.EventUUID == ev.UUID {
				continue
			}
			if lead.EventType == EventSessionClear && ev.EventType != EventSessionClear {
				// A request queued for user.session.clear does not end
				// sessions (see Request.AnswersSessionClear); this event
				// needs them ended, so it leads the merged request.
				merged := append([]string{lead.EventUUID}, lead.MergedEventUUIDs...)
				*lead = EventReason(ev)
				lead.Source, lead.EventID, lead.MergedEventUUIDs = b.source, b.eventID, merged
				continue
			}
			lead.MergedEventUUIDs = append(lead.MergedEventUUIDs, ev.UUID)
			continue
		}
		reason := EventReason(ev)
		reason.Source, reason.EventID = b.source, b.eventID
		b.byKey[k] = len(b.reqs)
		b.reqs = append(b.reqs, r)
		b.reasons = append(b.reasons, reason)
		added++
	}
	return added
}

// Len returns the number of distinct requests in the batch.
func (b *Batch) Len() int { return len(b.reqs) }

// Requests returns the distinct requests in order of first appearance, each
// with its final Reason.
func (b *Batch) Requests() []Request {
	out := make([]Request, len(b.reqs))
	for i, r := range b.reqs {
		r.Reason = b.reasons[i].JSON()
		out[i] = r
	}
	return out
}
