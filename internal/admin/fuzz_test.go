package admin

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/jsonhttp"
)

// FuzzReadObject feeds the admin API's body decoder arbitrary bytes: it
// must never panic, must refuse with a 4xx, and what it accepts must be
// one JSON object of unique keys whose values are valid JSON.
func FuzzReadObject(f *testing.F) {
	f.Add([]byte(`{"display_name":"Acme","external_id":null}`))
	f.Add([]byte(`{"name":"n","scopes":["a","b"],"custom_claims":[{"key":"k","value":"v"}],"expiry":3600}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte(`{"custom_claims":[{"key":"a","key":"b"}]}`))
	f.Add([]byte(`[[[[[[[[[[[[1]]]]]]]]]]]]`))
	f.Add([]byte(`{"s":"\u0000\"}{["} trailing`))
	f.Add([]byte("\xff\xfe"))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/api/v1/organizations", strings.NewReader(string(body)))
		o, err := readObject(r, true)
		if err != nil {
			var e *jsonhttp.Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 {
				t.Fatalf("refusal %v is not a 4xx", err)
			}
			return
		}
		for k, v := range o {
			if !json.Valid(v) {
				t.Fatalf("field %q holds invalid JSON %q", k, v)
			}
		}
		if len(strings.TrimSpace(string(body))) > 0 {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body, &m); err != nil || len(m) != len(o) {
				t.Fatalf("accepted %q, which is not one object of %d unique keys (%v)", body, len(o), err)
			}
		}
	})
}
