// Package delivery is parley's webhook engine: it sends the callbacks of
// spec section 1 to the app backend.
//
// Every callback is the same request on the wire: a POST to the configured
// URL with SdkAppid, CallbackCommand, contenttype=json, ClientIP and
// OptPlatform appended to whatever query the URL already has, plus Sign and
// RequestTime when a token is set (Sign is [Sign]), the body exactly as
// given, and the headers Content-Type: application/json, User-Agent: parley
// and X-Parley-Event-Id (and, for after-callbacks, X-Parley-Attempt, 1-based).
// With Secrets configured it also carries the Standard Webhooks headers
// (https://www.standardwebhooks.com): webhook-id, the X-Parley-Event-Id
// value (an after-callback's event ID, stable across attempts; a fresh ID
// per before-callback); webhook-timestamp, the attempt's Unix seconds (the
// same as RequestTime); and webhook-signature, one "v1,<signature>" entry
// per secret, space-separated (see [WebhookSignature]).
// A callback succeeded when the receiver answered HTTP 200 with a body that
// parses as JSON; anything else (another status, a body that is not JSON or
// larger than 64 KiB, a transport error, the timeout) is a failure.
//
// Before-callbacks go through a [Caller]: synchronous, bounded by the
// timeout, never retried; the engine decides what a failure means.
//
// A Worker and a Caller each hold a circuit breaker for their URL. After
// BreakerThreshold failed attempts in a row (any failure above counts:
// a receiver answering 404 or garbage to every callback is as broken as
// one that is down, and one bad event cannot open it while others
// succeed in between) it opens for BreakerCooldown: the Worker claims and
// attempts nothing, and Call fails at once with [ErrBreakerOpen], so the
// engine applies its before-send policy without waiting for the timeout.
// Then one attempt goes as a probe (half-open): success closes the
// breaker, failure opens it again for twice the cool-down, up to
// BreakerMaxCooldown. Any success closes it. A failure that opens it with
// a 429 or 503 carrying Retry-After keeps it open at least that long.
// Each change of state is logged once, with the URL and the last error;
// BreakerState reports it.
//
// After-callbacks go through a [Worker], which drains the durable outbox
// (the Event* methods of [parley.Store]). The engine writes an event in the
// same transaction as the change that causes it and calls [Worker.Notify]
// after the commit; the worker claims due events, posts them, and records
// each outcome: delivered, retried later per the retry schedule (spec
// decision 9.2, jittered ±10%), or dead-lettered once the schedule is used
// up. With each outcome it records the attempt itself in the attempt log
// (parley.Attempt, Store.AttemptInsert): its number, when it started, the
// HTTP status (0 when no answer came), the latency, the first 1 KiB of the
// reply and the error. Before-callbacks are not events and are not logged
// there; their metrics count them.
//
// # Concurrency
//
// A Worker runs one claim loop, Concurrency sender goroutines and one
// flusher, all started by Start.
//
// The claim loop leases due events and hands them to the senders in
// chains: the events of one claim that share a conversation
// (parley.Event.Conversation), in Seq order. The store returns only a
// prefix of each conversation's pending events, and none of a conversation
// whose earliest pending event is leased or waiting for its retry, so a
// conversation has at most one chain in the worker at a time. A sender
// attempts a chain's events one after another. An event delivered, or
// dead-lettered because its retry schedule is used up, lets the next one
// go. An event that failed and will be retried ends the chain: the rest
// is released (given back unattempted) in the same write as the retry,
// and the store holds it back until the retried event is delivered or
// dead. Chains of different conversations go to different senders, up to
// Concurrency at once.
//
// At most Concurrency + BatchSize claimed events (events, not chains) are
// unrecorded at any time: the window, Concurrency for the senders and a
// batch more, so that the senders have work while the next claim commits.
// A claim asks for min(BatchSize, free room in the window). While full
// batches come back it claims again at once; while the window is full it
// waits for a quarter batch of room, so a busy worker claims in batches
// rather than a few rows per transaction. When nothing is due it sleeps
// until Notify, the earliest NextAttemptAt (EventNextDue), Shutdown, or
// 30 seconds, whichever is first; the 30-second bound picks up events
// written by anything that does not call Notify, and leases that ran out.
// An event held back behind an earlier one of its conversation is not due
// for EventNextDue: the flusher calls Notify when it writes the last
// report of a chain, which is what lets such events go.
//
// A chain is not cut for its length: a conversation with a backlog goes
// a claim at a time, and with a receiver that answers quickly every event
// of a claim is attempted. It is cut for time: a sender starts no attempt
// that could end after its chain's lease, less its 30-second margin (see
// Invariants), and releases the rest of the chain instead, to be claimed
// again with a fresh lease.
//
// The breaker gates the claim loop. While it is open the loop touches
// neither the store nor the receiver: it sleeps until the cool-down ends,
// and does not wake for Notify. When the cool-down ends it claims one
// event, whose attempt is the probe (the loop reserves the probe before
// it claims, so no sender can take it), then waits for the probe's
// outcome to close or reopen the breaker. An open breaker thus costs a
// claim and a write per cool-down, however many events wait. Chains
// claimed before it opened are not attempted: a sender asks the breaker
// before each attempt and, refused, releases the rest of its chain as it
// does when the lease runs short.
//
// Senders make the HTTP attempts over one keep-alive client and pass each
// outcome to the flusher. The flusher writes outcomes back in batches: one
// transaction per flush holding AttemptInsert for every attempt (one
// statement, whatever their number), EventMarkDelivered for every
// success, EventRetry or EventMarkDead for every failure, and EventRelease
// for the events given back, taking whatever queued up while the previous
// flush committed. An event leaves the window only once its outcome (or its
// release) is queued, so when writes fall behind, claiming slows down with
// them rather than piling up unrecorded attempts.
//
// Notify never blocks: it leaves at most one pending wake-up.
//
// # Metrics
//
// Given a [Metrics] (WorkerConfig.Metrics, CallerConfig.Metrics), the
// Worker counts and times its attempts, the Caller its calls, and both
// report their breaker's state; the outbox's backlog is read from the
// store at each scrape. The metric names and labels are listed on
// [Metrics].
//
// # Lifecycle
//
// NewWorker validates the configuration. Start calls EventReleaseLeases,
// because with one worker per store every lease that exists at start was
// left by a process that died mid-attempt, and those events are due again
// at once; then it starts the goroutines. Shutdown(ctx) stops claiming,
// lets the attempts in flight finish, writes their outcomes, and returns
// once every goroutine has stopped. Claimed events whose attempt had not
// begun are not attempted; if ctx expires first, attempts still in flight
// are cancelled. Either way those events are left leased, not failed: the
// next Start releases them and they are attempted again. Shutdown may be
// called more than once, and before Start.
//
// # Invariants
//
//   - At least once: an event is marked delivered only after its receiver
//     answered HTTP 200 with a JSON body, and only after that answer; a
//     crash or a failed write between the two means the event is sent
//     again. Receivers drop duplicates by X-Parley-Event-Id, which is the
//     event's ID, stable across attempts.
//   - An event is attempted only under a lease taken by EventClaimDue, of
//     (⌈(Concurrency+BatchSize)/Concurrency⌉ + min(32, BatchSize)) ×
//     Timeout + 30 seconds (100 s with the defaults): long enough for the
//     attempts ahead of its chain, Concurrency at a time, then 32 attempts
//     of its own chain, and the margin to record them. No attempt starts
//     that could end within the margin; while the lease holds, no other
//     claim returns the event. Its outcome is written well before the
//     lease could pass unless the store is failing, in which case the
//     lease running out makes the event due again rather than lost.
//   - The attempt log is written with the outcomes, in one transaction:
//     an outcome is never recorded without its attempt, nor an attempt
//     without its outcome. An attempt cut short by Shutdown's deadline,
//     or whose write failed, is in neither; its event is attempted again
//     under the same number. Attempts counts every attempt made, the one
//     that delivered an event included.
//   - Attempt n (1-based) is the event's Attempts+1. After attempt n fails
//     the event is retried after about RetrySchedule[n-1] if there is one,
//     else dead-lettered with its last error; an empty schedule dead-letters
//     on the first failure. A 429 or 503 with Retry-After (seconds or an
//     HTTP date) replaces that wait with the one asked for, capped at one
//     hour; the attempt counts as any other.
//   - An open breaker charges no event: events it holds back are released
//     unattempted, their Attempts and NextAttemptAt unchanged, so none is
//     retried or dead-lettered for it. Only the probe is an attempt, of one
//     event per cool-down, and it counts like any other (a receiver dead
//     for days uses up the schedules of the events it probes with, one
//     event per cool-down). Order per conversation is unchanged: a
//     released event is the earliest pending one of its conversation.
//   - Order: events of one conversation reach the receiver in commit (Seq)
//     order. Each is attempted only after the one before it was delivered
//     (answered HTTP 200 with JSON) or dead-lettered, never while another
//     event of its conversation is in flight, so of one conversation a
//     receiver sees event n, its retries if it failed (spread over hours
//     with the default schedule), then n+1. Counting only the first
//     request for each event ID, or only the first successful answer, the
//     order is commit order; an event is missing only if it was
//     dead-lettered without any attempt reaching the receiver. Repeats of
//     an ID already answered break the pattern (at least once): an event
//     delivered whose outcome write failed is sent again once its lease
//     passes, by then possibly after later events of its conversation;
//     one delivered when a crash, or Shutdown's deadline, cut its attempt
//     or write short is sent again at the next start, before the later
//     events. A receiver that answers after Timeout has failed that
//     attempt and may still be working on it when the next request
//     arrives (the retry, or the next event if that was the last attempt).
//     Different conversations are delivered in parallel, with no order
//     between them. A replayed or recovered event (an operator's
//     EventReplay or EventRecover) keeps its Seq: it arrives after the
//     later events of its conversation already delivered, goes before
//     those still pending, which wait for it, and may be attempted while
//     a later one claimed before the replay is still in flight.
package delivery
