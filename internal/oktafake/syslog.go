package oktafake

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// System Log limits, as Okta documents them.
const (
	DefaultLogLimit = 100
	MaxLogLimit     = 1000
	// LogRetention is how far back since may reach (Okta: 180 days for the
	// query, 90 days of data).
	LogRetention = 180 * 24 * time.Hour
	// defaultLogWindow is since's default: 7 days before until.
	defaultLogWindow = 7 * 24 * time.Hour
)

// systemLog holds the org's LogEvents in storage order.
type systemLog struct {
	events []*logEvent
}

type logEvent struct {
	raw       json.RawMessage
	fields    map[string]any
	seq       int       // storage position, 1-based
	stored    time.Time // persistence time: when it was added
	published time.Time
}

// AddLogEvent appends a System Log event (a LogEvent object, as Okta
// returns it from /api/v1/logs and delivers it in event hooks). A missing
// uuid or published is filled in (published = now); the event's
// persistence time, which polling queries use, is the time of the call.
// It panics on anything that is not a JSON object, a bug in the test.
func (s *Server) AddLogEvent(ev json.RawMessage) {
	var fields map[string]any
	if err := json.Unmarshal(ev, &fields); err != nil || fields == nil {
		panic(fmt.Sprintf("oktafake: AddLogEvent: not a JSON object: %v", err))
	}
	now := s.now()
	raw := bytes.Clone(ev)
	changed := false
	if id, _ := fields["uuid"].(string); id == "" {
		fields["uuid"] = uuid.NewString()
		changed = true
	}
	if p, _ := fields["published"].(string); p == "" {
		fields["published"] = formatTime(now)
		changed = true
	}
	published, err := time.Parse(time.RFC3339Nano, fields["published"].(string))
	if err != nil {
		panic(fmt.Sprintf("oktafake: AddLogEvent: published: %v", err))
	}
	if changed {
		if raw, err = json.Marshal(fields); err != nil {
			panic(fmt.Sprintf("oktafake: AddLogEvent: %v", err))
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err == nil {
		raw = buf.Bytes()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syslog.events = append(s.syslog.events, &logEvent{
		// Okta's times have millisecond precision; so do cursors.
		raw: raw, fields: fields, seq: len(s.syslog.events) + 1, stored: now, published: published.Truncate(time.Millisecond),
	})
}

// LogTarget is an actor or target of a LogEvent.
type LogTarget struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	AlternateID string `json:"alternateId,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// NewLogEvent builds a LogEvent with a fresh uuid, published now (in UTC),
// outcome SUCCESS and the given actor and targets, for AddLogEvent and for
// event hook payloads in tests.
func NewLogEvent(eventType string, actor LogTarget, targets ...LogTarget) json.RawMessage {
	return NewLogEventAt(time.Now(), eventType, actor, targets...)
}

// NewLogEventAt is NewLogEvent with a given published time.
func NewLogEventAt(published time.Time, eventType string, actor LogTarget, targets ...LogTarget) json.RawMessage {
	if targets == nil {
		targets = []LogTarget{}
	}
	ev := map[string]any{
		"uuid":           uuid.NewString(),
		"published":      formatTime(published),
		"eventType":      eventType,
		"version":        "0",
		"severity":       "INFO",
		"displayMessage": eventType,
		"actor":          actor,
		"client":         map[string]any{"ipAddress": "192.0.2.10"},
		"outcome":        map[string]any{"result": "SUCCESS", "reason": nil},
		"target":         targets,
		"transaction":    map[string]any{"type": "WEB", "id": randomID(20)},
		"debugContext":   map[string]any{"debugData": map[string]any{"requestId": newRequestID()}},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic("oktafake: NewLogEvent: " + err.Error())
	}
	return b
}

// logQuery is a validated /api/v1/logs request.
type logQuery struct {
	since, until time.Time
	bounded      bool // until given or DESCENDING: published order, finite
	descending   bool
	limit        int
	filter       logFilter
	keywords     []string
	afterSeq     int       // polling cursor
	afterKey     time.Time // bounded cursor: published of the last event...
	afterKeySeq  int       // ...and its seq, to break ties
	hasAfter     bool
}

func (s *Server) parseLogQuery(w http.ResponseWriter, q url.Values) (logQuery, bool) {
	now := s.now()
	lq := logQuery{limit: DefaultLogLimit}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 || n > MaxLogLimit {
			writeValidationError(w, "limit: must be an integer between 0 and 1000")
			return lq, false
		}
		lq.limit = n
	}
	switch q.Get("sortOrder") {
	case "", "ASCENDING":
	case "DESCENDING":
		lq.descending = true
	default:
		writeValidationError(w, "sortOrder: must be ASCENDING or DESCENDING")
		return lq, false
	}
	lq.until = now
	if v := q.Get("until"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeValidationError(w, "until: must be an ISO 8601 timestamp")
			return lq, false
		}
		lq.until = t
		lq.bounded = true
	}
	lq.bounded = lq.bounded || lq.descending
	lq.since = lq.until.Add(-defaultLogWindow)
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeValidationError(w, "since: must be an ISO 8601 timestamp")
			return lq, false
		}
		lq.since = t
	}
	if lq.since.Before(now.Add(-LogRetention)) {
		writeError(w, http.StatusBadRequest, "E0000053", "Invalid request. since must be within the last 180 days.")
		return lq, false
	}
	f, err := parseFilter(q.Get("filter"))
	if err != nil {
		var fe *filterError
		if errors.As(err, &fe) {
			writeError(w, http.StatusBadRequest, fe.code, "Invalid search criteria.", fe.msg)
		} else {
			writeError(w, http.StatusBadRequest, "E0000053", "Invalid search criteria.")
		}
		return lq, false
	}
	lq.filter = f
	if v := q.Get("q"); v != "" {
		lq.keywords = strings.Fields(strings.ToLower(v))
		if len(lq.keywords) > 10 || slices.ContainsFunc(lq.keywords, func(k string) bool { return len(k) > 40 }) {
			writeValidationError(w, "q: at most 10 keywords of at most 40 characters")
			return lq, false
		}
	}
	if v := q.Get("after"); v != "" {
		ms, seqText, ok := strings.Cut(v, "_")
		msN, err1 := strconv.ParseInt(ms, 10, 64)
		seq, err2 := strconv.Atoi(seqText)
		if !ok || err1 != nil || err2 != nil || seq < 0 {
			writeValidationError(w, "after: invalid cursor")
			return lq, false
		}
		lq.hasAfter = true
		lq.afterSeq = seq
		lq.afterKey = time.UnixMilli(msN)
		lq.afterKeySeq = seq
	}
	return lq, true
}

func (lq logQuery) matches(e *logEvent) bool {
	if !lq.filter.match(e.fields) {
		return false
	}
	if len(lq.keywords) > 0 {
		text := strings.ToLower(string(e.raw))
		for _, k := range lq.keywords {
			if !strings.Contains(text, k) {
				return false
			}
		}
	}
	return true
}

func logCursor(t time.Time, seq int) string {
	ms := int64(0)
	if !t.IsZero() {
		ms = t.UnixMilli()
	}
	return strconv.FormatInt(ms, 10) + "_" + strconv.Itoa(seq)
}

// GET /api/v1/logs. Polling queries (no until, ascending) return events in
// storage order and always carry a next link, even on an empty page, whose
// cursor resumes exactly after the last event considered. Bounded queries
// return events by published time and a next link only while more remain.
func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request, base string) {
	q := r.URL.Query()
	lq, ok := s.parseLogQuery(w, q)
	if !ok {
		return
	}
	var items []json.RawMessage
	var next string
	s.mu.Lock()
	if lq.bounded {
		items, next = s.boundedLogPageLocked(lq)
	} else {
		items, next = s.pollLogPageLocked(lq)
	}
	s.mu.Unlock()

	setSelfLink(w, r, base)
	if next != "" {
		nq := url.Values{}
		for _, k := range []string{"filter", "q", "sortOrder"} {
			if v := q.Get(k); v != "" {
				nq.Set(k, v)
			}
		}
		if lq.bounded {
			nq.Set("since", lq.since.UTC().Format(time.RFC3339Nano))
			nq.Set("until", lq.until.UTC().Format(time.RFC3339Nano))
		}
		nq.Set("limit", strconv.Itoa(lq.limit))
		nq.Set("after", next)
		w.Header().Add("Link", "<"+base+"/api/v1/logs?"+nq.Encode()+`>; rel="next"`)
	}
	var body bytes.Buffer
	body.WriteByte('[')
	for i, raw := range items {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(raw)
	}
	body.WriteByte(']')
	writeRawJSON(w, http.StatusOK, body.Bytes())
}

func (s *Server) pollLogPageLocked(lq logQuery) ([]json.RawMessage, string) {
	items := []json.RawMessage{}
	pos := lq.afterSeq
	var posTime time.Time
	for _, e := range s.syslog.events {
		if e.seq <= pos {
			continue
		}
		if !lq.hasAfter && e.stored.Before(lq.since) {
			pos, posTime = e.seq, e.stored
			continue
		}
		if lq.matches(e) {
			if len(items) == lq.limit {
				break
			}
			items = append(items, e.raw)
		}
		pos, posTime = e.seq, e.stored
	}
	return items, logCursor(posTime, pos)
}

func (s *Server) boundedLogPageLocked(lq logQuery) ([]json.RawMessage, string) {
	var sel []*logEvent
	for _, e := range s.syslog.events {
		if !e.published.Before(lq.since) && e.published.Before(lq.until) && lq.matches(e) {
			sel = append(sel, e)
		}
	}
	order := func(a, b *logEvent) int {
		c := cmp.Or(a.published.Compare(b.published), cmp.Compare(a.seq, b.seq))
		if lq.descending {
			return -c
		}
		return c
	}
	slices.SortFunc(sel, order)
	if lq.hasAfter {
		// Drop everything up to and including the cursor's event.
		key := &logEvent{published: lq.afterKey, seq: lq.afterKeySeq}
		i, _ := slices.BinarySearchFunc(sel, key, order)
		for i < len(sel) && order(sel[i], key) <= 0 {
			i++
		}
		sel = sel[i:]
	}
	items := []json.RawMessage{}
	if lq.limit == 0 {
		return items, ""
	}
	for _, e := range sel {
		if len(items) == lq.limit {
			last := sel[len(items)-1]
			return items, logCursor(last.published, last.seq)
		}
		items = append(items, e.raw)
	}
	return items, ""
}
