package restapi

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/usersig"
)

// Authenticate checks r's query parameters and UserSig as every REST call
// is checked: the App admin, signed with the app's key. A refusal is a
// *parley.Error with Tencent's code. Endpoints served beside the REST API
// (parley listen's stream) use it to hold their callers to the same rules.
func (h *Handler) Authenticate(r *http.Request) error { return h.authenticate(r) }

// authenticate checks the query parameters and the caller's UserSig, and
// that the caller is the App admin.
func (h *Handler) authenticate(r *http.Request) error {
	// ParseQuery percent-decodes, so a usersig arrives the same whether the
	// client URL-encoded it or not (its alphabet is URL-safe either way). A
	// malformed escape elsewhere only drops that pair.
	q, _ := url.ParseQuery(r.URL.RawQuery)

	appID := q.Get("sdkappid")
	if appID == "" {
		return parley.NewError(parley.ErrSDKAppIDMissing)
	}
	if n, err := strconv.ParseUint(appID, 10, 64); err != nil || n != h.sdkAppID {
		return parley.Errorf(parley.ErrSDKAppIDInvalid, "SDKAppID invalid: %q is not this app's sdkappid", appID)
	}
	identifier := q.Get("identifier")
	if identifier == "" {
		return parley.Errorf(parley.ErrURLParams, "identifier is missing in URL")
	}
	// A UserSig never contains a space, so a space is a '+' of a sig in
	// standard base64 that was pasted unencoded and decoded as a query
	// space; usersig accepts the standard alphabet too.
	sig := strings.ReplaceAll(q.Get("usersig"), " ", "+")
	if sig == "" {
		return parley.Errorf(parley.ErrURLParams, "usersig is missing in URL")
	}
	if ct, ok := q["contenttype"]; ok && (len(ct) == 0 || ct[0] != "json") {
		return parley.Errorf(parley.ErrURLParams, "contenttype must be json")
	}
	if rnd, ok := q["random"]; ok {
		if len(rnd) == 0 {
			return parley.Errorf(parley.ErrURLParams, "random must be an integer in 0..4294967295")
		}
		if _, err := strconv.ParseUint(rnd[0], 10, 32); err != nil {
			return parley.Errorf(parley.ErrURLParams, "random must be an integer in 0..4294967295")
		}
	}

	if err := h.verifySig(sig, identifier); err != nil {
		return err
	}
	if identifier != h.admin {
		return parley.Errorf(parley.ErrNeedAdmin, "%s: %q is not the App admin", parley.ErrorText(parley.ErrNeedAdmin), identifier)
	}
	return nil
}

// verifySig verifies sig for identifier, from the cache when it can.
func (h *Handler) verifySig(sig, identifier string) error {
	now := h.now()
	key := sigKey{sig, identifier}
	if h.sigs != nil {
		if expires, ok := h.sigs.get(key); ok {
			if now.Unix() > expires {
				h.sigs.remove(key)
				return parley.NewError(parley.ErrUserSigExpired)
			}
			return nil
		}
	}
	err := VerifyUserSig(usersig.VerifyParams{
		UserSig:    sig,
		SDKAppID:   h.sdkAppID,
		Key:        h.secretKey,
		Identifier: identifier,
		Now:        now,
	})
	if err != nil {
		return err
	}
	// Only the admin's sigs are worth keeping: anyone else is refused with
	// 60010 right after, and must not be able to push the admin's out.
	if h.sigs != nil && identifier == h.admin {
		if expires, ok := sigExpiry(sig); ok {
			h.sigs.put(key, expires, now.Unix())
		}
	}
	return nil
}

// VerifyUserSig verifies a UserSig and answers a bad one with Tencent's
// codes, the same for REST calls and client logins: 70001 expired, 70003
// unparsable, 70009 signed with another key, 70013 made for another
// identifier, 70014 for another SDKAppID.
func VerifyUserSig(p usersig.VerifyParams) error {
	err := usersig.Verify(p)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, usersig.ErrExpired):
		return parley.NewError(parley.ErrUserSigExpired)
	case errors.Is(err, usersig.ErrMalformed):
		return parley.NewError(parley.ErrUserSigInvalid)
	case errors.Is(err, usersig.ErrBadSignature): // a userbuf mismatch too
		return parley.NewError(parley.ErrUserSigVerify)
	case errors.Is(err, usersig.ErrIdentifierMismatch):
		return parley.NewError(parley.ErrUserSigIdentifier)
	case errors.Is(err, usersig.ErrSDKAppIDMismatch):
		return parley.NewError(parley.ErrUserSigSDKAppID)
	}
	return parley.NewError(parley.ErrUserSigInvalid)
}

// sigExpiry reads the last second at which an already verified UserSig is
// valid (TLS.time + TLS.expire; spec section 6). Verify does not return it,
// so a cache miss decodes the sig a second time.
func sigExpiry(sig string) (int64, bool) {
	s, err := usersig.Decode(sig)
	if err != nil {
		return 0, false
	}
	if s.Expire > 0 && s.Time > math.MaxInt64-s.Expire {
		return math.MaxInt64, true
	}
	return s.Time + s.Expire, true
}

// sigCache remembers verified UserSigs until they expire. It is bounded:
// when full, expired entries go first, then arbitrary ones.
type sigCache struct {
	max int

	mu      sync.RWMutex
	entries map[sigKey]int64 // → last valid Unix second
}

// sigKey is a cache key: a struct rather than one joined string, so a
// lookup allocates nothing.
type sigKey struct {
	sig, identifier string
}

func newSigCache(max int) *sigCache {
	return &sigCache{max: max, entries: make(map[sigKey]int64)}
}

func (c *sigCache) get(key sigKey) (expires int64, ok bool) {
	c.mu.RLock()
	expires, ok = c.entries[key]
	c.mu.RUnlock()
	return expires, ok
}

func (c *sigCache) put(key sigKey, expires, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k, exp := range c.entries {
			if now > exp {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = expires
}

func (c *sigCache) remove(key sigKey) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}
