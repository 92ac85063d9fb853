package reconcile

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// hookFailure is what an event_hook.delivery event says about a failed
// delivery.
type hookFailure struct {
	UUID           string              `json:"uuid"`
	Published      string              `json:"published"`
	DisplayMessage string              `json:"displayMessage,omitempty"`
	Outcome        revocation.Outcome  `json:"outcome"`
	Hooks          []revocation.Target `json:"hooks,omitempty"` // the event's targets: the hook
	DebugData      map[string]any      `json:"debugData,omitempty"`
	raw            json.RawMessage
}

// decodeHookFailure reads the fields an operator needs; the rest of the
// event is logged raw.
func decodeHookFailure(ev revocation.Event, raw json.RawMessage) hookFailure {
	f := hookFailure{UUID: ev.UUID, Published: ev.Published, Outcome: ev.Outcome, Hooks: ev.Targets, raw: raw}
	var extra struct {
		DisplayMessage string `json:"displayMessage"`
		DebugContext   struct {
			DebugData map[string]any `json:"debugData"`
		} `json:"debugContext"`
	}
	if json.Unmarshal(raw, &extra) == nil {
		f.DisplayMessage = extra.DisplayMessage
		f.DebugData = extra.DebugContext.DebugData
	}
	return f
}

// reportHookFailures logs each failed delivery at ERROR, once: the event's
// uuid is recorded in the dedupe table like a queued event, so a page read
// twice, or the same event polled and streamed, is reported once. It
// returns how many it reported.
func (h *Handler) reportHookFailures(ctx context.Context, log *slog.Logger, source string, failures []hookFailure) int {
	if len(failures) == 0 {
		return 0
	}
	uuids := make([]string, len(failures))
	for i, f := range failures {
		uuids[i] = f.UUID
	}
	fresh := map[string]*dedupe.Claim{}
	unknown := map[string]bool{}
	for _, r := range h.store.ClaimAll(ctx, source, uuids) {
		switch {
		case r.Err != nil:
			unknown[r.EventUUID] = true // report rather than stay silent
		case r.Status == dedupe.Claimed:
			fresh[r.EventUUID] = r.Claim
		}
	}
	reported := 0
	var claims []*dedupe.Claim
	for _, f := range failures {
		c, isNew := fresh[f.UUID]
		if !isNew && !unknown[f.UUID] {
			continue
		}
		if isNew {
			delete(fresh, f.UUID) // one report per uuid
			claims = append(claims, c)
		} else {
			delete(unknown, f.UUID)
		}
		reported++
		log.ErrorContext(ctx, "Okta reports a failed event hook delivery: the events in it reach this service only through the System Log poll",
			slog.Any("hookDeliveryFailure", f), slog.String("event", string(f.raw)))
	}
	if err := h.store.ConfirmAll(context.WithoutCancel(ctx), claims); err != nil {
		log.WarnContext(ctx, "cannot record reported hook delivery failures; they may be reported again", slog.String("error", err.Error()))
	}
	return reported
}
