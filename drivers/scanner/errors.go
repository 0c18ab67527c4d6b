package scanner

import "errors"

// ErrUnreadable reports a line that is not a code tillguard knows, or a
// known kind of code that is malformed (bad check digit, broken GS1 string,
// unknown AIM id). Every error from Classify and ParseGS1 wraps it, with
// the precise reason after it; callers show "unreadable code — scan again"
// and record the line, and never turn it into an item.
var ErrUnreadable = errors.New("scanner: unreadable code")
