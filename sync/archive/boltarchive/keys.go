package boltarchive

import (
	"encoding/binary"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/archive"
)

// maxIndexed bounds a value from a record (a trace code, a card number, a
// sale id, a rule) that becomes part of an index key. A till's signature
// makes a record genuine, not sensible: a longer value is left out of the
// indexes rather than failing the batch on bbolt's key size limit, and a
// rule is cut to it.
const maxIndexed = 512

// appendStr appends u16 len | s; s is at most maxIndexed or a till id.
func appendStr(k []byte, s string) []byte {
	k = binary.BigEndian.AppendUint16(k, uint16(len(s)))
	return append(k, s...)
}

// cutKeyStr reads what appendStr wrote.
func cutKeyStr(k []byte) (string, []byte, bool) {
	if len(k) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(k))
	if len(k) < 2+n {
		return "", nil, false
	}
	return string(k[2 : 2+n]), k[2+n:], true
}

// encodeRef is str pharmacy | str till | u64 seq | id.
func encodeRef(r archive.RecordRef) []byte {
	v := appendStr(appendStr(nil, r.Pharmacy), r.Till)
	v = binary.BigEndian.AppendUint64(v, r.Seq)
	return append(v, r.ID...)
}

func decodeRef(v []byte) (archive.RecordRef, bool) {
	p, rest, ok := cutKeyStr(v)
	if !ok {
		return archive.RecordRef{}, false
	}
	t, rest, ok := cutKeyStr(rest)
	if !ok || len(rest) < 8 {
		return archive.RecordRef{}, false
	}
	return archive.RecordRef{Pharmacy: p, Till: t, Seq: binary.BigEndian.Uint64(rest), ID: string(rest[8:])}, true
}

// timeKey is t as unix ns offset by 2^63, so that byte order is time order;
// times outside what unix ns can hold are clamped.
func timeKey(t time.Time) []byte {
	var ns int64
	switch {
	case t.IsZero():
	case t.Year() < 1678:
		ns = -1 << 63
	case t.Year() > 2261:
		ns = 1<<63 - 1
	default:
		ns = t.UnixNano()
	}
	return boltdb.U64(uint64(ns) ^ 1<<63)
}

func fromTimeKey(k []byte) time.Time {
	v, _ := boltdb.GetU64(k)
	if v == 1<<63 {
		return time.Time{}
	}
	return time.Unix(0, int64(v^1<<63))
}

func hasPrefix(k, prefix []byte) bool {
	return len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
}

// lastWithPrefix positions c on the last key with prefix, or returns nil.
func lastWithPrefix(c *boltdb.Cursor, prefix []byte) (k, v []byte) {
	end := prefixEnd(prefix)
	if end == nil {
		k, v = c.Last()
	} else if k, v = c.Seek(end); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil || !hasPrefix(k, prefix) {
		return nil, nil
	}
	return k, v
}

// prefixEnd is the first key after every key with prefix; nil if none.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
