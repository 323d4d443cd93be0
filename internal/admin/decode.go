package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward/internal/jsonhttp"
)

// object is a request body's top-level JSON object, each field still raw, so
// that PATCH can tell a missing field from a present one and every error can
// name its field.
type object map[string]json.RawMessage

// readObject reads a JSON object from the body. An empty body is an empty
// object when emptyOK. Duplicate keys, trailing data and non-objects are
// 400; a body over the limit is 413.
func readObject(r *http.Request, emptyOK bool) (object, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if jsonhttp.IsTooLarge(err) {
			return nil, jsonhttp.TooLarge()
		}
		return nil, errInvalid("the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return object{}, nil
		}
		return nil, errInvalid("the request body must be a JSON object")
	}
	if !utf8.Valid(body) {
		return nil, errInvalid("the request body is not valid UTF-8")
	}
	if nestedDeeperThan(body, maxDepth) {
		return nil, errInvalid(fmt.Sprintf("the request body nests JSON deeper than %d levels", maxDepth))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, errInvalid("the request body is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errInvalid("the request body must be a JSON object")
	}
	o := object{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errInvalid("the request body is not valid JSON")
		}
		key := tok.(string) // inside an object, the decoder yields only string keys here
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errInvalid("the request body is not valid JSON")
		}
		if _, dup := o[key]; dup {
			return nil, errInvalid(fmt.Sprintf("the field %q appears more than once", key))
		}
		if k, dup := repeatedKey(json.NewDecoder(bytes.NewReader(raw))); dup {
			return nil, fieldError(key, fmt.Sprintf("the key %q appears more than once in one object", k))
		}
		o[key] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, errInvalid("the request body is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errInvalid("the request body has data after the JSON object")
	}
	return o, nil
}

// repeatedKey reports a key that appears twice in one object anywhere in
// the next value of dec, which must be valid JSON. Decoders disagree on
// which of two such keys wins, so nested objects refuse them as the top
// level does.
func repeatedKey(dec *json.Decoder) (string, bool) {
	tok, err := dec.Token()
	if err != nil {
		return "", false
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return "", false
			}
			key, _ := tok.(string)
			if seen[key] {
				return key, true
			}
			seen[key] = true
			if k, dup := repeatedKey(dec); dup {
				return k, true
			}
		}
		dec.Token() // the closing }
	case json.Delim('['):
		for dec.More() {
			if k, dup := repeatedKey(dec); dup {
				return k, true
			}
		}
		dec.Token() // the closing ]
	}
	return "", false
}

// only refuses fields other than allowed.
func (o object) only(allowed ...string) error {
	var unknown []string
	for k := range o {
		found := false
		for _, a := range allowed {
			found = found || k == a
		}
		if !found {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return errInvalid(fmt.Sprintf("unknown field %q; allowed: %s", unknown[0], strings.Join(allowed, ", ")))
}

func (o object) has(name string) bool {
	_, ok := o[name]
	return ok
}

func (o object) isNull(name string) bool {
	return string(bytes.TrimSpace(o[name])) == "null"
}

// fieldError is a 400 naming the field.
func fieldError(name, problem string) error {
	return errInvalid(name + ": " + problem)
}

// str decodes a present string field; null is refused.
func (o object) str(name string) (string, error) {
	var s string
	if o.isNull(name) || json.Unmarshal(o[name], &s) != nil {
		return "", fieldError(name, "must be a string")
	}
	return s, nil
}

// strings decodes a present array-of-strings field; null is refused.
func (o object) strings(name string) ([]string, error) {
	var raw []json.RawMessage
	if o.isNull(name) || json.Unmarshal(o[name], &raw) != nil {
		return nil, fieldError(name, "must be an array of strings")
	}
	out := make([]string, len(raw))
	for i, r := range raw {
		if json.Unmarshal(r, &out[i]) != nil || bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
			return nil, fieldError(fmt.Sprintf("%s[%d]", name, i), "must be a string")
		}
	}
	return out, nil
}

// boolean decodes a present boolean field; null is refused.
func (o object) boolean(name string) (bool, error) {
	switch string(bytes.TrimSpace(o[name])) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fieldError(name, "must be true or false")
}

// integer decodes a present integer field.
func (o object) integer(name string) (int, error) {
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(o[name]))
	dec.UseNumber()
	// A json.Number also takes a quoted number ("3600"); only a JSON number
	// is an integer here.
	if o.isNull(name) || bytes.HasPrefix(bytes.TrimSpace(o[name]), []byte(`"`)) || dec.Decode(&n) != nil {
		return 0, fieldError(name, "must be an integer")
	}
	i, err := n.Int64()
	if err != nil || i > 1<<31 || i < -(1<<31) {
		return 0, fieldError(name, "must be an integer")
	}
	return int(i), nil
}

// checkText checks a human-readable string: length in characters within
// [min, max], and no control characters.
func checkText(name, s string, min, max int) error {
	n := utf8.RuneCountInString(s)
	if n < min || n > max {
		if min > 0 {
			return fieldError(name, fmt.Sprintf("must be %d to %d characters", min, max))
		}
		return fieldError(name, fmt.Sprintf("must be at most %d characters", max))
	}
	if min > 0 && strings.TrimSpace(s) == "" {
		return fieldError(name, "must not be blank")
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return fieldError(name, "must not contain control characters")
		}
	}
	return nil
}

// maxDepth bounds the nesting of request bodies: keyward's deepest is 3
// (an object of an array of objects), and a deep one costs memory and time
// in every decoder it passes.
const maxDepth = 8

// nestedDeeperThan reports whether the JSON text b opens more than max
// arrays or objects inside one another, skipping brackets in strings.
func nestedDeeperThan(b []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > max {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}
