package keys

import "errors"

var (
	// ErrInsecureKey: the key file can be read by group or others; it is
	// not used until its mode is fixed (chmod 600) or the key is rotated.
	ErrInsecureKey = errors.New("keys: key file readable by group or others")

	// ErrBadKey: a private or public key that does not parse as Ed25519.
	ErrBadKey = errors.New("keys: bad key")

	// ErrBadName: a pharmacy or till id, or an enrolment file name, that is
	// not a valid id (see feed.ValidID).
	ErrBadName = errors.New("keys: bad pharmacy or till id")
)
