// Package jsonhttp writes keyward's JSON responses and its one error shape,
// {"error": code, "error_description": sentence}, for every endpoint.
package jsonhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
)

// MaxBodyBytes bounds every request body; larger ones get 413.
const MaxBodyBytes = 1 << 20

// Error is an error with its response: status, code and a description for a
// human. Only 4xx descriptions reach the caller.
type Error struct {
	Status      int
	Code        string
	Description string
	// Header holds extra response headers, such as WWW-Authenticate or
	// Retry-After.
	Header http.Header
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// With returns a copy of e carrying one more response header.
func (e *Error) With(key, value string) *Error {
	c := *e
	c.Header = e.Header.Clone()
	if c.Header == nil {
		c.Header = http.Header{}
	}
	c.Header.Set(key, value)
	return &c
}

// NewError returns an *Error.
func NewError(status int, code, description string) *Error {
	return &Error{Status: status, Code: code, Description: description}
}

// Unavailable is the answer while the database cannot be reached.
func Unavailable() *Error {
	return NewError(http.StatusServiceUnavailable, "temporarily_unavailable",
		"the service is temporarily unavailable; retry shortly").With("Retry-After", "5")
}

// TooLarge is the answer to a body over MaxBodyBytes.
func TooLarge() *Error {
	return NewError(http.StatusRequestEntityTooLarge, "invalid_request",
		"the request body is larger than "+strconv.Itoa(MaxBodyBytes)+" bytes")
}

// IsTooLarge reports whether err came from reading past a MaxBytesReader's limit.
func IsTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// Write writes v as a JSON response with the given status: the bytes
// json.Marshal makes, encoded into a pooled buffer (the token endpoint
// writes one per token, and a full client cache leaves the collector little
// room: every copy saved is fewer collections).
func Write(w http.ResponseWriter, status int, v any) {
	buf := encodeBuffers.Get().(*bytes.Buffer)
	defer putEncodeBuffer(buf)
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		// Only values of keyward's own types are written; failing to encode
		// one is a programming error that must not reach the client half-done.
		WriteBytes(w, http.StatusInternalServerError, []byte(`{"error":"internal_error","error_description":"internal error"}`))
		return
	}
	b := buf.Bytes()
	WriteBytes(w, status, b[:len(b)-1]) // without the newline Encode adds
}

var encodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putEncodeBuffer returns buf to the pool unless a large response grew it.
func putEncodeBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= 64<<10 {
		encodeBuffers.Put(buf)
	}
}

// WriteBytes writes pre-encoded JSON.
func WriteBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

type body struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// WriteError answers with err: an *Error as itself (a 5xx without its
// description), anything else as a 500 that reveals nothing. 5xx causes are
// logged with the request id.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = NewError(http.StatusInternalServerError, "internal_error", "internal error")
	}
	for k, v := range e.Header {
		w.Header()[k] = v
	}
	b := body{Error: e.Code, Description: e.Description}
	if e.Status >= 500 {
		// A 500 is a defect worth an error line; a 503 (database away,
		// load shed) is expected under its conditions and said elsewhere.
		level := slog.LevelDebug
		if e.Status == http.StatusInternalServerError {
			level = slog.LevelError
		}
		log.LogAttrs(r.Context(), level, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", e.Status), slog.String("err", err.Error()))
		if e.Status == http.StatusInternalServerError {
			b.Description = "internal error"
		}
	}
	Write(w, e.Status, b)
}
