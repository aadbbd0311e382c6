package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/parley-im/parley"
)

// parley's own service, parley_webhook: the webhook outbox for an
// operator. Its calls are authenticated like every REST call and answer
// in the same envelope. Tencent has no such service, so its codes are
// the generic ones: an unparsable body is 60003, a field of the wrong
// type or value 90010, and an EventId the outbox does not hold
// parley.ErrEventNotFound (190001, in parley's own range).
//
//	list_events    {State?, Command?, Since?, Until?, Limit?, Cursor?}
//	               → {Events: [event], NextCursor}
//	get_event      {EventId} → {Event: event + Body, ClientIP, OptPlatform,
//	               Attempts: [{Attempt, Time, Status, LatencyMs, Response, Error}]}
//	replay_event   {EventId} → {Event: event}
//	recover_events {Since, Until?} → {Recovered: n}
//
// Times are Unix seconds; 0 means not set. list_events pages newest
// first, in Seq order: NextCursor, when not "", is the Cursor of the next
// page.

// Outbox is what the parley_webhook commands need of the store;
// parley.Store implements it.
type Outbox interface {
	EventList(ctx context.Context, p parley.EventListParams) ([]*parley.Event, error)
	EventGet(ctx context.Context, id string) (*parley.Event, error)
	AttemptList(ctx context.Context, eventID string) ([]parley.Attempt, error)
	EventReplay(ctx context.Context, p parley.EventReplayParams) (*parley.Event, error)
	EventRecover(ctx context.Context, p parley.EventRecoverParams) (int, error)
}

// MaxListEvents is the most events one list_events page holds, and its
// default.
const MaxListEvents = 100

// webhookRoute is a parley_webhook command. Without an Outbox configured
// the service does not exist: 60009, as for any unknown service.
func (h *Handler) webhookRoute(fn func(*Handler, *call) (any, error)) route {
	return route{service: "parley_webhook", limit: h.maxBodyBytes, badJSON: parley.ErrBodyJSON, serve: func(h *Handler, c *call) (any, error) {
		if h.outbox == nil {
			return nil, parley.Errorf(parley.ErrBadResource, "invalid service or command in URL: parley_webhook is not enabled on this server")
		}
		return fn(h, c)
	}}
}

// eventItem is one event of list_events, and the first fields of
// get_event's.
type eventItem struct {
	EventID       string `json:"EventId"`
	Seq           int64  `json:"Seq"`
	Command       string `json:"Command"`
	Conversation  string `json:"Conversation"`
	State         string `json:"State"`
	Attempts      int    `json:"Attempts"`
	CreatedAt     int64  `json:"CreatedAt"`
	NextAttemptAt int64  `json:"NextAttemptAt"` // 0 unless pending
	DeliveredAt   int64  `json:"DeliveredAt"`   // 0 unless delivered
	LastError     string `json:"LastError"`
}

func newEventItem(e *parley.Event) eventItem {
	it := eventItem{
		EventID:      e.ID,
		Seq:          e.Seq,
		Command:      e.Command,
		Conversation: e.Conversation,
		State:        string(e.State),
		Attempts:     e.Attempts,
		CreatedAt:    unixOrZero(e.CreatedAt),
		LastError:    e.LastError,
	}
	switch e.State {
	case parley.EventPending:
		it.NextAttemptAt = unixOrZero(e.NextAttemptAt)
	case parley.EventDelivered:
		it.DeliveredAt = unixOrZero(e.DeliveredAt)
	}
	return it
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

type listEventsResult struct {
	Events     []eventItem `json:"Events"`
	NextCursor string      `json:"NextCursor"`
}

func (h *Handler) listEvents(c *call) (any, error) {
	p := parley.EventListParams{Newest: true, Limit: MaxListEvents}
	state, _, err := c.f.string("State", parley.ErrFormat)
	if err != nil {
		return nil, err
	}
	switch s := parley.EventState(state); s {
	case "", parley.EventPending, parley.EventDelivered, parley.EventDead, parley.EventFailed:
		p.State = s
	default:
		return nil, parley.Errorf(parley.ErrFormat, "State %q is not pending, failed, delivered or dead", state)
	}
	if p.Command, _, err = c.f.string("Command", parley.ErrFormat); err != nil {
		return nil, err
	}
	if p.Command != "" && !slices.Contains(parley.Commands, p.Command) {
		return nil, parley.Errorf(parley.ErrFormat, "Command %q is not a callback command parley emits", p.Command)
	}
	if p.Since, p.Until, err = timeRange(c.f, false); err != nil {
		return nil, err
	}
	limit, present, err := c.f.int("Limit", parley.ErrFormat)
	if err != nil {
		return nil, err
	}
	if present {
		if limit < 1 || limit > MaxListEvents {
			return nil, parley.Errorf(parley.ErrFormat, "Limit %d is not in 1..%d", limit, MaxListEvents)
		}
		p.Limit = int(limit)
	}
	cursor, _, err := c.f.string("Cursor", parley.ErrFormat)
	if err != nil {
		return nil, err
	}
	if cursor != "" {
		seq, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || seq <= 0 {
			return nil, parley.Errorf(parley.ErrFormat, "Cursor %q is not a NextCursor list_events answered", cursor)
		}
		p.BeforeSeq = seq
	}

	// One more than asked says whether there is a next page.
	want := p.Limit
	p.Limit++
	events, err := h.outbox.EventList(c.ctx, p)
	if err != nil {
		return nil, err
	}
	res := listEventsResult{Events: make([]eventItem, 0, min(len(events), want))}
	for i, e := range events {
		if i == want {
			res.NextCursor = strconv.FormatInt(events[i-1].Seq, 10)
			break
		}
		res.Events = append(res.Events, newEventItem(e))
	}
	return res, nil
}

// timeRange reads Since and Until, Unix seconds, both inclusive: Until
// takes in the whole of its second.
func timeRange(f fields, sinceRequired bool) (since, until time.Time, err error) {
	s, hasSince, err := f.int("Since", parley.ErrFormat)
	if err != nil {
		return since, until, err
	}
	u, hasUntil, err := f.int("Until", parley.ErrFormat)
	if err != nil {
		return since, until, err
	}
	const maxSeconds = math.MaxInt64 / 1000 // what a millisecond time holds
	switch {
	case sinceRequired && !hasSince:
		return since, until, parley.Errorf(parley.ErrFormat, "Since is required: the Unix time (seconds) to recover events from")
	case hasSince && (s < 0 || s >= maxSeconds):
		return since, until, parley.Errorf(parley.ErrFormat, "Since %d is not a Unix time in seconds", s)
	case hasUntil && (u < 0 || u >= maxSeconds):
		return since, until, parley.Errorf(parley.ErrFormat, "Until %d is not a Unix time in seconds", u)
	case hasSince && hasUntil && u < s:
		return since, until, parley.Errorf(parley.ErrFormat, "Until %d is before Since %d", u, s)
	}
	if hasSince {
		since = time.Unix(s, 0)
	}
	if hasUntil {
		until = time.Unix(u, 0).Add(time.Second - time.Millisecond)
	}
	return since, until, nil
}

// eventID reads the EventId every single-event command names.
func eventID(f fields) (string, error) {
	id, _, err := f.string("EventId", parley.ErrFormat)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", parley.Errorf(parley.ErrFormat, "EventId is required")
	}
	return id, nil
}

// eventNotFound turns the store's ErrNotFound into the answer that says
// so.
func eventNotFound(id string, err error) error {
	if errors.Is(err, parley.ErrNotFound) {
		return parley.Errorf(parley.ErrEventNotFound, "event %q not found in the outbox", id)
	}
	return err
}

type eventDetail struct {
	eventItem
	Body        json.RawMessage `json:"Body"`
	ClientIP    string          `json:"ClientIP"`
	OptPlatform string          `json:"OptPlatform"`
}

type attemptItem struct {
	Attempt   int     `json:"Attempt"`
	Time      int64   `json:"Time"`
	Status    int     `json:"Status"`    // 0 when no answer came
	LatencyMs float64 `json:"LatencyMs"` // to the microsecond
	Response  string  `json:"Response"`
	Error     string  `json:"Error"`
}

type getEventResult struct {
	Event    eventDetail   `json:"Event"`
	Attempts []attemptItem `json:"Attempts"`
}

func (h *Handler) getEvent(c *call) (any, error) {
	id, err := eventID(c.f)
	if err != nil {
		return nil, err
	}
	e, err := h.outbox.EventGet(c.ctx, id)
	if err != nil {
		return nil, eventNotFound(id, err)
	}
	attempts, err := h.outbox.AttemptList(c.ctx, id)
	if err != nil {
		return nil, err
	}
	body := json.RawMessage(e.Body)
	if !json.Valid(body) {
		// Never the case for what parley writes; shown as text rather
		// than failing the call that is there to inspect it.
		if body, err = json.Marshal(string(e.Body)); err != nil {
			return nil, err
		}
	}
	res := getEventResult{
		Event:    eventDetail{eventItem: newEventItem(e), Body: body, ClientIP: e.Origin.ClientIP, OptPlatform: e.Origin.OptPlatform},
		Attempts: make([]attemptItem, 0, len(attempts)),
	}
	for _, a := range attempts {
		res.Attempts = append(res.Attempts, attemptItem{
			Attempt:   a.Attempt,
			Time:      unixOrZero(a.StartedAt),
			Status:    a.Status,
			LatencyMs: float64(a.Latency.Microseconds()) / 1000,
			Response:  a.Response,
			Error:     a.Error,
		})
	}
	return res, nil
}

type replayEventResult struct {
	Event eventItem `json:"Event"`
}

func (h *Handler) replayEvent(c *call) (any, error) {
	id, err := eventID(c.f)
	if err != nil {
		return nil, err
	}
	e, err := h.outbox.EventReplay(c.ctx, parley.EventReplayParams{ID: id, At: h.now()})
	if err != nil {
		return nil, eventNotFound(id, err)
	}
	h.eventsDue()
	return replayEventResult{Event: newEventItem(e)}, nil
}

type recoverEventsResult struct {
	Recovered int `json:"Recovered"`
}

func (h *Handler) recoverEvents(c *call) (any, error) {
	since, until, err := timeRange(c.f, true)
	if err != nil {
		return nil, err
	}
	n, err := h.outbox.EventRecover(c.ctx, parley.EventRecoverParams{Since: since, Until: until, At: h.now()})
	if err != nil {
		return nil, err
	}
	if n > 0 {
		h.eventsDue()
	}
	return recoverEventsResult{Recovered: n}, nil
}

// eventsDue wakes whatever delivers the events just made due.
func (h *Handler) eventsDue() {
	if h.onEventsDue != nil {
		h.onEventsDue()
	}
}
