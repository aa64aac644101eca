package manifest

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors, for errors.Is on file errors and on Document.Err.
var (
	// ErrTooLarge: a file or document is over its size limit, or a document
	// expands beyond MaxDocumentBytes through YAML aliases (billion laughs).
	ErrTooLarge = errors.New("too large")
	// ErrBinary: the file is not text kubectl reads: a NUL byte in the decoded
	// text (a binary file, or UTF-16 or UTF-32 without a byte order mark), or a
	// UTF-32 byte order mark.
	ErrBinary = errors.New("not text")
	// ErrTooDeep: a document nests deeper than MaxDepth.
	ErrTooDeep = errors.New("nesting too deep")
	// ErrSyntax: the document is not valid YAML/JSON or cannot be converted
	// to JSON (unknown anchor, .inf, content after "...", bad "---" line, a
	// JSON number out of float64 range...).
	ErrSyntax = errors.New("syntax error")
	// ErrNotObject: the document (or List item) is not a mapping, or a List
	// has no valid items array.
	ErrNotObject = errors.New("not a Kubernetes object")
	// ErrMissingField: kind or apiVersion is missing, empty or not a string.
	ErrMissingField = errors.New("missing field")
)

// Error is a problem located in an input file. Line is the 1-based file line,
// or 0 for problems with the file as a whole.
type Error struct {
	File string
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Err.Error()
	}
	return e.File + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// classified is an error message that matches one of the sentinel errors and
// keeps the underlying error (if any) in its chain.
type classified struct {
	kind error
	err  error
}

func (e *classified) Error() string   { return e.err.Error() }
func (e *classified) Unwrap() []error { return []error{e.kind, e.err} }

// newError returns an error with the given message that matches kind.
func newError(kind error, format string, args ...any) error {
	return &classified{kind: kind, err: fmt.Errorf(format, args...)}
}

// wrapError classifies err as kind, keeping its message.
func wrapError(kind, err error) error {
	return &classified{kind: kind, err: err}
}
