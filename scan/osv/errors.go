package osv

import "errors"

var (
	// ErrInvalidRecord is returned by ParseRecord for data that is not an
	// OSV record: malformed JSON, a missing id, an affected package without
	// an ecosystem or name, a range without events.
	ErrInvalidRecord = errors.New("invalid OSV record")
	// ErrInvalidDatabase is returned when vulnerability data cannot be
	// loaded: an unreadable path, a damaged zip file, an invalid record, a
	// file or a whole source above its size cap. A DB keeps the data it
	// already holds when a reload fails with this error.
	ErrInvalidDatabase = errors.New("invalid OSV database")
	// ErrNoDatabase is returned by a Scanner that has no vulnerability data
	// yet (its DB was never loaded).
	ErrNoDatabase = errors.New("no OSV database loaded")
	// ErrInvalidOption is returned by constructors for an invalid option or
	// source.
	ErrInvalidOption = errors.New("invalid option")
)
