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
