package ws

// Unexported encoders, for the black-box tests of the wire format.
var (
	EncodeReply = encodeReply
	EncodeKick  = encodeKick
)
