package boltdb

import (
	"bytes"
	"hash/maphash"
)

// CheckStructure runs bbolt's consistency check in tx, which catches
// damage no caller's own check can see, such as a live page on the free
// list that a later write would overwrite. bbolt's Check reads every page
// in one call, so the mapping is released only after it: the peak is the
// file's size, which is why this is for audits, not for a start. Damage
// gives an error wrapping ErrCorrupt. Run it under Guard (View does).
func CheckStructure(tx *Tx) error {
	if err := touchAll(tx); err != nil {
		return err
	}
	var first error
	for err := range tx.Check() { // drained fully: Check's goroutine sends every error
		if first == nil {
			first = corruptf("file structure: %v", err)
		}
	}
	ReleaseMapped(tx)
	return first
}

// touchAll reads every byte of every key and value and seeks every key
// from the bucket's root, which reads the branch pages' keys too. A page
// damaged so that a key points outside the file then faults here, in the
// caller's goroutine, where Guard turns the fault into ErrCorrupt — and
// not in the goroutine bbolt's Check runs in, where the same fault would
// crash the process (the ledger's FuzzOpen found it).
func touchAll(tx *Tx) error {
	var h maphash.Hash
	var m ReadMeter
	var walk func(b *Bucket) error
	walk = func(b *Bucket) error {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			h.Write(k)
			h.Write(v)
			m.Read(tx, len(k)+len(v))
			if v == nil {
				nb := b.Bucket(k)
				if nb == nil {
					return corruptf("file structure: key %x has no value and is no bucket", k)
				}
				if err := walk(nb); err != nil {
					return err
				}
			}
			if sk, _ := b.Cursor().Seek(k); !bytes.Equal(sk, k) {
				return corruptf("file structure: key %x cannot be found from the root", k)
			}
		}
		return nil
	}
	return tx.ForEach(func(name []byte, b *Bucket) error { return walk(b) })
}
