package bundle

import "errors"

// Errors callers branch on. Every error the package returns wraps at most
// one of these.
var (
	// ErrBadBundle: the payload is not a bundle envelope, or a field is
	// missing or malformed.
	ErrBadBundle = errors.New("bundle: malformed")

	// ErrBadSignature: the signature does not verify with the bureau key.
	ErrBadSignature = errors.New("bundle: signature does not verify")

	// ErrOtherRegion: a correctly signed bundle for another region.
	ErrOtherRegion = errors.New("bundle: for another region")

	// ErrNotNewer: a correctly signed bundle whose version is not higher
	// than the one in force (a replay of an older bundle, or the same one
	// again).
	ErrNotNewer = errors.New("bundle: version not newer than the one in force")
)
