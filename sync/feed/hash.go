package feed

import (
	"crypto/sha256"
	"encoding/hex"
)

// Hash returns the hex SHA-256 of a record's exact bytes: the value the next
// record carries as Prev.
func Hash(rec []byte) string {
	sum := sha256.Sum256(rec)
	return hex.EncodeToString(sum[:])
}

// isHash reports whether s is a Hash: 64 lowercase hex digits.
func isHash(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
