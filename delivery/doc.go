// Package delivery is parley's webhook engine: it sends the callbacks of
// spec section 1 to the app backend.
//
// Every callback is the same request on the wire: a POST to the configured
// URL with SdkAppid, CallbackCommand, contenttype=json, ClientIP and
// OptPlatform appended to whatever query the URL already has, plus Sign and
// RequestTime when a token is set (Sign is [Sign]), the body exactly as
// given, and the headers Content-Type: application/json, User-Agent: parley
// and X-Parley-Event-Id (and, for after-callbacks, X-Parley-Attempt, 1-based).
// A callback succeeded when the receiver answered HTTP 200 with a body that
// parses as JSON; anything else (another status, a body that is not JSON or
// larger than 64 KiB, a transport error, the timeout) is a failure.
//
// Before-callbacks go through a [Caller]: synchronous, bounded by the
// timeout, never retried; the engine decides what a failure means.
//
// After-callbacks go through a [Worker], which drains the durable outbox
// (the Event* methods of [parley.Store]). The engine writes an event in the
// same transaction as the change that causes it and calls [Worker.Notify]
// after the commit; the worker claims due events, posts them, and records
// each outcome: delivered, retried later per the retry schedule (spec
// decision 9.2, jittered ±10%), or dead-lettered once the schedule is used
// up.
//
// # Concurrency
//
// A Worker runs one claim loop, Concurrency sender goroutines and one
// flusher, all started by Start.
//
// The claim loop leases due events and hands them to the senders. At most
// Concurrency + BatchSize claimed events are unrecorded at any time (the
// window): up to Concurrency being attempted and up to BatchSize waiting
// for a sender, so the senders have work while the next claim commits. A
// claim asks for min(BatchSize, free room in the window). While full
// batches come back it claims again at once; while the window is full it
// waits for a quarter batch of room, so a busy worker claims in batches
// rather than a few rows per transaction. When nothing is due it sleeps
// until Notify, the earliest NextAttemptAt (EventNextDue), Shutdown, or 30
// seconds, whichever is first; the 30-second bound picks up events written
// by anything that does not call Notify, and leases that ran out.
//
// Senders make the HTTP attempts over one keep-alive client and pass each
// outcome to the flusher. The flusher writes outcomes back in batches: one
// transaction per flush holding EventMarkDelivered for every success and
// EventRetry or EventMarkDead for every failure, taking whatever outcomes
// queued up while the previous flush committed. An event leaves the window
// only once its outcome is queued, so when writes fall behind, claiming
// slows down with them rather than piling up unrecorded attempts.
//
// Notify never blocks: it leaves at most one pending wake-up.
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
//   - An event is attempted only under a lease taken by EventClaimDue,
//     long enough for the attempts queued ahead of it in the window, its
//     own attempt, and 30 seconds more (40 s with the defaults); while the
//     lease holds, no other claim returns it. Its outcome is written well
//     before the lease could pass unless the store is failing, in which
//     case the lease running out makes the event due again rather than
//     lost.
//   - Attempt n (1-based) is the event's Attempts+1. After attempt n fails
//     the event is retried after about RetrySchedule[n-1] if there is one,
//     else dead-lettered with its last error; an empty schedule dead-letters
//     on the first failure.
//   - Ordering: events are claimed in commit (Seq) order but delivered
//     concurrently, so a receiver may see them in a different order, and a
//     retried event arrives after later ones. Per-conversation ordering
//     (Event.Conversation) is not enforced yet.
package delivery
