package websocket

import (
	"errors"
	"strconv"
)

// Opcode is a frame's opcode (RFC 6455 section 5.2).
type Opcode byte

// The opcodes of RFC 6455. OpContinuation never leaves the package: ReadMessage
// returns whole messages.
const (
	OpContinuation Opcode = 0
	OpText         Opcode = 1
	OpBinary       Opcode = 2
	OpClose        Opcode = 8
	OpPing         Opcode = 9
	OpPong         Opcode = 10
)

func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "opcode " + strconv.Itoa(int(o))
}

func (o Opcode) control() bool { return o&0x8 != 0 }

// Close codes (RFC 6455 section 7.4.1). CloseNoStatus and CloseAbnormal are
// never sent: they report a close frame without a code and a connection that
// ended without a close frame.
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	CloseProtocolError   = 1002
	CloseUnsupportedData = 1003
	CloseNoStatus        = 1005
	CloseAbnormal        = 1006
	CloseInvalidPayload  = 1007
	ClosePolicyViolation = 1008
	CloseTooBig          = 1009
	CloseInternal        = 1011
)

// ErrCloseSent is returned by writes after this side sent its close frame.
var ErrCloseSent = errors.New("websocket: close frame already sent")

// CloseError ends a connection: ReadMessage returns one once the connection
// is closed, whoever closed it and however.
//
// Local is false when the peer sent a close frame (Code and Reason are its)
// or the connection dropped without one (Code is CloseAbnormal). Local is
// true when this side decided: a protocol violation detected here (Code is
// what was sent to the peer), or Close or CloseNow called.
//
// When the connection ended on an I/O error (a drop, the idle timeout, a
// local close), the error is wrapped: errors.Is(err, os.ErrDeadlineExceeded),
// errors.Is(err, net.ErrClosed) and errors.Is(err, io.EOF) work.
type CloseError struct {
	Code   int
	Reason string
	Local  bool
	err    error
}

func (e *CloseError) Error() string {
	s := "websocket: close " + strconv.Itoa(e.Code)
	if e.Local {
		s = "websocket: closed here with " + strconv.Itoa(e.Code)
	}
	if e.Reason != "" {
		s += " " + strconv.Quote(e.Reason)
	}
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *CloseError) Unwrap() error { return e.err }

// validCode reports whether code may appear in a close frame: the codes
// RFC 6455 and the IANA registry define for the wire, and the ranges
// reserved for libraries (3000-3999) and applications (4000-4999).
func validCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
