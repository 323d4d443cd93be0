package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/httpserver"
	"github.com/keyward/keyward/internal/keys"
)

// specResponses checks every answer of a test server against
// api/openapi.yaml: the status must be one the operation documents, the
// headers the document describes must fit their schemas, the Content-Type
// must be one it lists and the body must validate against that media type's
// schema (JSON Schema 2020-12, as OpenAPI 3.1 says). An answer to a path or
// method the document lacks must be keyward's 404 or 405 in the Error shape.
// So every test that talks to a test server also checks that the document
// describes what the server really says.
type specResponses struct {
	doc    *openapi3.T
	router routers.Router
}

var loadSpecResponses = sync.OnceValues(func() (*specResponses, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("load api/openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	// The routes are matched on their paths alone: a test server listens on
	// a port of its own, not on the document's example server.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route api/openapi.yaml: %w", err)
	}
	return &specResponses{doc: doc, router: router}, nil
})

// checkedAgainstSpec wraps a test server's handler: each response passes
// through to the client unchanged, then is checked against the document,
// and a mismatch fails t.
func checkedAgainstSpec(t *testing.T, next http.Handler) http.Handler {
	t.Helper()
	spec, err := loadSpecResponses()
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recordingWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if err := spec.check(r, rec.statusCode(), rec.Header(), rec.body.Bytes()); err != nil {
			t.Errorf("api/openapi.yaml does not describe the answer to %s %s (%d): %v\nbody: %.600s",
				r.Method, r.URL.RequestURI(), rec.statusCode(), err, rec.body.Bytes())
		}
	})
}

// check validates one answer.
func (s *specResponses) check(r *http.Request, status int, header http.Header, body []byte) error {
	if r.Method == http.MethodHead {
		return nil // keyward documents no HEAD; chi answers it as GET without a body
	}
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req := r.Clone(context.Background())
	req.URL = u
	req.Body = http.NoBody
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		// The legacy router answers new RouteErrors with the sentinels' text.
		var re *routers.RouteError
		if errors.As(err, &re) && (re.Reason == routers.ErrPathNotFound.Error() || re.Reason == routers.ErrMethodNotAllowed.Error()) {
			return s.checkUnrouted(status, header, body)
		}
		return fmt.Errorf("find the operation: %w", err)
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	// Say where and what, without the schema and value dumps.
	input.Options.WithCustomSchemaErrorFunc(func(e *openapi3.SchemaError) string {
		return fmt.Sprintf("at /%s: %s", strings.Join(e.JSONPointer(), "/"), e.Reason)
	})
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		return fmt.Errorf("operation %s: %w", route.Operation.OperationID, err)
	}
	ref := route.Operation.Responses.Status(status)
	if ref == nil || ref.Value == nil {
		return nil
	}
	// ValidateResponse lets any body through where the document describes
	// none (a 204, say): keyward must then send none. A redirection may
	// carry the short hypertext note net/http writes (RFC 9110 15.4).
	if len(ref.Value.Content) == 0 {
		if len(body) > 0 && (status < 300 || status >= 400) {
			return fmt.Errorf("operation %s: the document describes no body for %d, but the answer has one", route.Operation.OperationID, status)
		}
		return nil
	}
	// JSON Schema lets an object carry properties its schema does not name
	// unless it says additionalProperties: false; the document's answers
	// leave that open for clients' sake, but keyward must not send a field
	// the document does not describe.
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	if media := ref.Value.Content.Get(mt); media != nil && media.Schema != nil && strings.HasSuffix(mt, "json") {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("operation %s: the body is not JSON: %w", route.Operation.OperationID, err)
		}
		if err := undescribed(media.Schema.Value, v, ""); err != nil {
			return fmt.Errorf("operation %s: %w", route.Operation.OperationID, err)
		}
	}
	return nil
}

// undescribed reports the first object member in v, at JSON pointer at,
// that schema does not name while leaving additionalProperties unsaid. A
// oneOf or anyOf is satisfied by any branch without such a member; allOf
// is not followed.
func undescribed(schema *openapi3.Schema, v any, at string) error {
	if schema == nil {
		return nil
	}
	if len(schema.OneOf)+len(schema.AnyOf) > 0 {
		var first error
		for _, br := range append(append(openapi3.SchemaRefs{}, schema.OneOf...), schema.AnyOf...) {
			err := undescribed(br.Value, v, at)
			if err == nil {
				return nil
			}
			if first == nil {
				first = err
			}
		}
		return first
	}
	switch v := v.(type) {
	case map[string]any:
		ap := schema.AdditionalProperties
		for k, el := range v {
			prop, named := schema.Properties[k]
			switch {
			case named && prop != nil:
				if err := undescribed(prop.Value, el, at+"/"+k); err != nil {
					return err
				}
			case ap.Schema != nil:
				if err := undescribed(ap.Schema.Value, el, at+"/"+k); err != nil {
					return err
				}
			case ap.Has == nil && len(schema.Properties) > 0:
				return fmt.Errorf("the answer has %s/%s, which the document does not describe", at, k)
			}
		}
	case []any:
		if schema.Items != nil {
			for i, el := range v {
				if err := undescribed(schema.Items.Value, el, fmt.Sprintf("%s/%d", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkUnrouted validates the answer to a path or method the document does
// not list: 404 not_found or 405, in the Error shape.
func (s *specResponses) checkUnrouted(status int, header http.Header, body []byte) error {
	if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		return fmt.Errorf("no operation of the document has this path and method, yet the answer is %d, not 404 or 405", status)
	}
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("Content-Type %q, want application/json", header.Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("the body is not JSON: %w", err)
	}
	errSchema := s.doc.Components.Schemas["Error"]
	if errSchema == nil || errSchema.Value == nil {
		return errors.New("the document has no Error schema")
	}
	if err := errSchema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("not an Error: %w", err)
	}
	return nil
}

// recordingWriter passes a response through and keeps a copy of it.
type recordingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(p)
	return w.ResponseWriter.Write(p)
}

func (w *recordingWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestSpecResponsesCatchDrift makes sure the check can fail: answers the
// document does not describe are reported, and ones it does are not.
func TestSpecResponsesCatchDrift(t *testing.T) {
	spec, err := loadSpecResponses()
	if err != nil {
		t.Fatal(err)
	}
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	whoami := `{"message":"authenticated as m2m_a","client_id":"m2m_a","organization_id":null,"scopes":["keyward:admin"],"time":"2026-11-22T10:08:12Z"}`
	cases := []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		wantErr            string // "" for an answer the document allows
	}{
		{"a documented answer", "GET", "/api/v1/whoami", 200, jsonHeader, whoami, ""},
		{"a null where the document allows one", "GET", "/api/v1/whoami", 200, jsonHeader,
			strings.Replace(whoami, `null`, `"org_x"`, 1), ""},
		{"a missing required field", "GET", "/api/v1/whoami", 200, jsonHeader,
			strings.Replace(whoami, `"client_id":"m2m_a",`, ``, 1), "client_id"},
		{"a field of the wrong type", "GET", "/api/v1/whoami", 200, jsonHeader,
			strings.Replace(whoami, `null`, `5`, 1), "organization_id"},
		{"a time that is not RFC 3339", "GET", "/api/v1/whoami", 200, jsonHeader,
			strings.Replace(whoami, `2026-11-22T10:08:12Z`, `yesterday`, 1), "date-time"},
		{"an undocumented status", "GET", "/api/v1/whoami", 418, jsonHeader,
			`{"error":"teapot","error_description":"short and stout"}`, "status is not supported"},
		{"an unlisted Content-Type", "GET", "/api/v1/whoami", 200, http.Header{"Content-Type": {"text/html"}}, whoami, "Content-Type"},
		{"a field the document does not describe", "GET", "/api/v1/whoami", 200, jsonHeader,
			strings.Replace(whoami, `"client_id":"m2m_a",`, `"client_id":"m2m_a","secret":"x",`, 1), "/secret"},
		{"a nested field the document does not describe", "GET", "/api/v1/organizations/org_x", 200, jsonHeader,
			`{"organization":{"id":"org_x","display_name":"Acme","external_id":null,"create_time":"2026-11-22T10:08:12Z","update_time":"2026-11-22T10:08:12Z","secret":"x"}}`,
			"/organization/secret"},
		{"a body where the document describes none", "DELETE", "/api/v1/organizations/org_x", 204, jsonHeader, `{}`, "no body"},
		{"an unknown path answered 404 as an Error", "GET", "/nowhere", 404, jsonHeader,
			`{"error":"not_found","error_description":"no such endpoint"}`, ""},
		{"an unknown path answered otherwise", "GET", "/nowhere", 200, jsonHeader, `{}`, "not 404 or 405"},
		{"a 405 that is not an Error", "PUT", "/healthz", 405, jsonHeader, `{"error":"invalid_request"}`, "error_description"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.path, nil)
			err := spec.check(r, c.status, c.header, []byte(c.body))
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("check = %v, want no error", err)
			case c.wantErr != "" && err == nil:
				t.Errorf("check accepted it, want an error mentioning %q", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Errorf("check = %v, want an error mentioning %q", err, c.wantErr)
			}
		})
	}
}

// TestOpenAPIDocumentServed: GET /api/openapi.yaml answers the document
// embedded in the binary, without authentication.
func TestOpenAPIDocumentServed(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	km := keys.New(nil, nil, keys.Config{JWKSMaxAge: time.Minute}, time.Now, log)
	h := checkedAgainstSpec(t, httpserver.New(httpserver.Deps{Log: log, Issuer: "http://localhost:8080", Keys: km}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/openapi.yaml", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/openapi.yaml = %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type = %q, want application/yaml", ct)
	}
	if !bytes.Equal(rec.Body.Bytes(), api.OpenAPI) {
		t.Errorf("the body (%d bytes) is not api/openapi.yaml (%d bytes)", rec.Body.Len(), len(api.OpenAPI))
	}
}
