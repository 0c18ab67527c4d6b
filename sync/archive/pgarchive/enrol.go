package pgarchive

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tillguard/tillguard/sync/archive"
)

// Enroll keeps the tills' public keys in their rows, in one transaction;
// see archive.Store. It writes the rows in (pharmacy, till) order, the
// order every Put locks them in, and touches no row whose key is the same.
func (s *Store) Enroll(ctx context.Context, keys []archive.EnrolledKey) error {
	op := fmt.Sprintf("enroll %d keys", len(keys))
	if err := s.checkOpen(op); err != nil {
		return err
	}
	if err := archive.ValidateKeys(keys); err != nil {
		return fmt.Errorf("pgarchive: enroll: %w", err)
	}
	if len(keys) == 0 {
		return nil
	}
	keys = archive.LatestKeys(keys) // ON CONFLICT may not meet one row twice
	ps, ts, pubs := make([]string, len(keys)), make([]string, len(keys)), make([][]byte, len(keys))
	for i, k := range keys {
		ps[i], ts[i], pubs[i] = k.Pharmacy, k.Till, k.Key
	}
	now := s.opts.Now()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tills (pharmacy, till, key, key_at)
			SELECT p, t, k, $4 FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY AS u(p, t, k, i) ORDER BY i
			ON CONFLICT (pharmacy, till) DO UPDATE SET key = excluded.key, key_at = excluded.key_at
				WHERE tills.key IS DISTINCT FROM excluded.key`, ps, ts, pubs, now)
		return err
	})
	if err != nil {
		return s.fail(op, err)
	}
	for _, k := range keys {
		s.known.Store(tillKey{k.Pharmacy, k.Till}.String(), true)
	}
	return nil
}

// Key returns a till's enrolled key; see archive.Store.
func (s *Store) Key(ctx context.Context, pharmacy, till string) (ed25519.PublicKey, error) {
	op := "key " + pharmacy + "/" + till
	if err := s.checkOpen(op); err != nil {
		return nil, err
	}
	var pub []byte
	err := s.reconnecting(func() error {
		return s.pool.QueryRow(ctx, "SELECT key FROM tills WHERE pharmacy = $1 AND till = $2", pharmacy, till).Scan(&pub)
	})
	if errors.Is(err, pgx.ErrNoRows) || err == nil && pub == nil {
		return nil, fmt.Errorf("pgarchive: %s: %w", op, archive.ErrNotFound)
	}
	if err != nil {
		return nil, s.fail(op, err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("pgarchive: %s: a key of %d bytes in the database", op, len(pub))
	}
	return ed25519.PublicKey(pub), nil
}
