package report

import "errors"

// ErrPeriod: a period that is malformed or ends before it starts.
var ErrPeriod = errors.New("report: bad period")
