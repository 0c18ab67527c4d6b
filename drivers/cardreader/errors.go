package cardreader

import "errors"

// Errors the caller branches on.
var (
	// ErrTimeout: no complete frame arrived before the deadline. For a
	// command it is an error of that command only; the driver carries on.
	ErrTimeout = errors.New("cardreader: reply timeout")
	// ErrPort: the port failed (closed, unplugged). Run returns it; reopen
	// the port and start again.
	ErrPort = errors.New("cardreader: port failed")

	// ErrShortFrame: ParseFrame needs more bytes to decide.
	ErrShortFrame = errors.New("cardreader: incomplete frame")
	// ErrBadFrame: the bytes do not start a valid frame (no STX, LEN out of
	// range, wrong BCC or ETX); a reader resynchronises on the next STX.
	ErrBadFrame = errors.New("cardreader: bad frame")

	// Reader status words other than 00 00.
	ErrNoCard         = errors.New("cardreader: no card (status 10 01)")
	ErrCardComm       = errors.New("cardreader: card communication error (status 10 02)")
	ErrUnknownCommand = errors.New("cardreader: unknown command (status 10 FF)")
	ErrStatus         = errors.New("cardreader: unexpected reader status")

	// ErrCardPulled: the card left, or lost contact, half-way through a
	// read. The card counts as not read.
	ErrCardPulled = errors.New("cardreader: card pulled during read")
	// ErrNoRecord: the card lacks a record (SW 6A 83).
	ErrNoRecord = errors.New("cardreader: record not found")
	// ErrCard: the card answered an APDU with an unexpected status word or
	// a record that does not decode.
	ErrCard = errors.New("cardreader: bad card answer")
	// ErrIncomplete: a record that a read card must have (01, 06, 07, 08,
	// 09) is missing or does not decode.
	ErrIncomplete = errors.New("cardreader: card data incomplete")
)
