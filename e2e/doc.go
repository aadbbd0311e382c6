// Package e2e holds parley's end-to-end tests: a whole server booted
// in-process (parleytest), driven over real HTTP exactly as an app backend
// drives Tencent Cloud Chat, with a real webhook receiver.
package e2e
