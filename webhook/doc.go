// Package webhook receives parley's callbacks in a Go app backend.
//
// It has the typed body of every command parley emits (the same JSON as
// on the wire), a [Handler] that verifies and dispatches them to typed
// funcs and writes the answer parley expects, typed before-send replies,
// and a [Dedup] to see each event once. It uses the standard library
// only and does not import parley, so a backend depends on nothing else.
//
// # Verification
//
// Parley can sign a callback two ways, and the Handler checks each one
// that is configured:
//
//   - Config.Token: Tencent's scheme. The query has Sign = hex(SHA-256(
//     token + RequestTime)) and RequestTime (Unix seconds), which must be
//     within Config.SignWindow of now. The hash covers no body, so it
//     proves only that the sender knows the token.
//   - Config.Secrets: Standard Webhooks (v1). The headers webhook-id,
//     webhook-timestamp and webhook-signature carry "v1,"+base64(HMAC-
//     SHA256(key, id.timestamp.body)), one entry per secret parley holds;
//     any entry matching any secret passes, which is what lets both ends
//     rotate secrets without a gap. The timestamp must be within
//     Config.Tolerance of now. This one covers the body.
//
// With neither configured the Handler checks only SdkAppid; use that only
// on a network nobody else can reach.
//
// # Delivery
//
// Parley delivers each after-callback at least once: it retries, on a
// schedule spanning about a day, every attempt that is not answered HTTP
// 200 with a JSON body. So a func that returns an error gets its event
// again later, and a func that succeeded may get it again too (a retry
// after a timeout, a replay by the operator); Config.Dedup drops those.
// Events of one conversation (a C2C pair, a group) arrive in commit
// order, the next after the previous one was answered or given up on.
//
// Before-send callbacks are answered synchronously within parley's 2 s
// timeout and never retried; when one fails parley applies its failure
// policy (deliver, or refuse with 80003).
package webhook
