package policy

import "errors"

// ErrCatalog reports a catalogue that does not load. The error it heads
// lists every problem found, one per line, each with its CSV line number.
var ErrCatalog = errors.New("policy: bad catalogue")

// ErrPolicy reports a policy file that does not load. The error it heads
// lists every problem found, one per line, each with its JSON path.
var ErrPolicy = errors.New("policy: bad policy file")
