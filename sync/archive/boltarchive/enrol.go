package boltarchive

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/archive"
)

// kKey is the till's enrolled key, in its bucket beside kState and
// kStatus: 32-byte Ed25519 public key | i64 enrolled at (unix ns). A till
// without one was never enrolled, so archives written before keys were
// kept read as they are.
var kKey = []byte("key")

const keyLen = ed25519.PublicKeySize + 8

func encodeKey(pub ed25519.PublicKey, at time.Time) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, keyLen), pub...), uint64(at.UnixNano()))
}

func decodeKey(v []byte) (ed25519.PublicKey, time.Time, bool) {
	if len(v) != keyLen {
		return nil, time.Time{}, false
	}
	pub := ed25519.PublicKey(bytes.Clone(v[:ed25519.PublicKeySize]))
	return pub, time.Unix(0, int64(binary.BigEndian.Uint64(v[ed25519.PublicKeySize:]))), true
}

// Enroll keeps the tills' public keys in one transaction; see
// archive.Store. A till not seen before gets its buckets, and is listed
// from now on.
func (a *Archive) Enroll(ctx context.Context, keys []archive.EnrolledKey) error {
	if err := archive.ValidateKeys(keys); err != nil {
		return fmt.Errorf("boltarchive: enroll: %w", err)
	}
	if len(keys) == 0 {
		return nil
	}
	keys = archive.LatestKeys(keys)
	now := a.opts.Now()
	err := a.update(ctx, func(tx *boltdb.Tx) error {
		tills := tx.Bucket(bTills)
		for _, k := range keys {
			t, err := loadTill(tills, tillName(k.Pharmacy, k.Till))
			if err == nil && t == nil {
				t, err = createTill(tills, k.Pharmacy, k.Till)
			}
			if err != nil {
				return err
			}
			if old, _, ok := decodeKey(t.b.Get(kKey)); ok && old.Equal(k.Key) {
				continue // the same key: keep when it was enrolled
			}
			if err := t.b.Put(kKey, encodeKey(k.Key, now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltarchive: enroll %d keys: %w", len(keys), err)
	}
	return nil
}

// Key returns a till's enrolled key, or an error wrapping
// archive.ErrNotFound.
func (a *Archive) Key(ctx context.Context, pharmacy, till string) (ed25519.PublicKey, error) {
	var pub ed25519.PublicKey
	err := a.view(ctx, func(tx *boltdb.Tx) error {
		t, err := loadTill(tx.Bucket(bTills), tillName(pharmacy, till))
		if err != nil {
			return err
		}
		if t == nil {
			return archive.ErrNotFound
		}
		pub, _, err = tillKey(t)
		if err == nil && pub == nil {
			err = archive.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltarchive: key %s/%s: %w", pharmacy, till, err)
	}
	return pub, nil
}

// tillKey reads t's enrolled key and when it was enrolled; nil if none.
func tillKey(t *tillData) (ed25519.PublicKey, time.Time, error) {
	v := t.b.Get(kKey)
	if v == nil {
		return nil, time.Time{}, nil
	}
	pub, at, ok := decodeKey(v)
	if !ok {
		return nil, time.Time{}, corruptf("till %s: enrolled key of %d bytes", t, len(v))
	}
	return pub, at, nil
}
