package httpserver_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/httpserver"
	"github.com/keyward/keyward/internal/keys"
)

// consoleServer is keyward's router; serving the console touches no
// database, so none is needed.
func consoleServer(t *testing.T) http.Handler {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	km := keys.New(nil, nil, keys.Config{JWKSMaxAge: time.Minute}, time.Now, log)
	return httpserver.New(httpserver.Deps{Log: log, Issuer: "http://localhost:8080", Keys: km})
}

func consoleGet(t *testing.T, h http.Handler, method, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestConsole(t *testing.T) {
	h := consoleServer(t)

	t.Run("the page is served at /console with a CSP that allows no inline code", func(t *testing.T) {
		rec := consoleGet(t, h, "GET", "/console", nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		hd := rec.Header()
		want := map[string]string{
			"Content-Type":           "text/html; charset=utf-8",
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
			"X-Frame-Options":        "DENY",
			"Cache-Control":          "no-cache",
		}
		for k, v := range want {
			if got := hd.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		csp := hd.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
			"img-src 'self' data:", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "require-trusted-types-for 'script'"} {
			if !strings.Contains(csp, d+";") && !strings.HasSuffix(csp, d) {
				t.Errorf("the CSP %q lacks %q", csp, d)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("the CSP %q allows something unsafe", csp)
		}
		if hd.Get("ETag") == "" {
			t.Error("no ETag")
		}
		if body := rec.Body.String(); !strings.Contains(body, `<script type="module" src="console/app.js"></script>`) {
			t.Errorf("the page does not load console/app.js:\n%s", body)
		}
	})

	t.Run("assets are served with their types and the same headers", func(t *testing.T) {
		for path, ctype := range map[string]string{
			"/console/app.js":      "text/javascript; charset=utf-8",
			"/console/console.css": "text/css; charset=utf-8",
			"/console/favicon.svg": "image/svg+xml",
		} {
			rec := consoleGet(t, h, "GET", path, nil)
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != ctype {
				t.Errorf("%s: %d %q, want 200 %q", path, rec.Code, rec.Header().Get("Content-Type"), ctype)
			}
			if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s lacks the security headers: %v", path, rec.Header())
			}
		}
	})

	t.Run("a matching If-None-Match is answered 304", func(t *testing.T) {
		etag := consoleGet(t, h, "GET", "/console/app.js", nil).Header().Get("ETag")
		rec := consoleGet(t, h, "GET", "/console/app.js", http.Header{"If-None-Match": {etag}})
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("status %d with %d bytes, want 304 and none", rec.Code, rec.Body.Len())
		}
		if other := consoleGet(t, h, "GET", "/console/console.css", nil).Header().Get("ETag"); other == etag {
			t.Errorf("two files share the ETag %s", etag)
		}
	})

	t.Run("/console/ redirects to the page", func(t *testing.T) {
		rec := consoleGet(t, h, "GET", "/console/", nil)
		if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "../console" {
			t.Errorf("%d Location %q, want 301 ../console", rec.Code, rec.Header().Get("Location"))
		}
	})

	t.Run("HEAD is answered without a body", func(t *testing.T) {
		rec := consoleGet(t, h, "HEAD", "/console", nil)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("status %d with %d bytes", rec.Code, rec.Body.Len())
		}
	})

	t.Run("anything else under /console is 404 in the one error shape", func(t *testing.T) {
		for _, path := range []string{"/console/nope.js", "/console/index.html", "/console/..%2fgo.mod", "/console/e2e/package.json", "/console/app.js/x"} {
			rec := consoleGet(t, h, "GET", path, nil)
			var body struct{ Error string }
			if rec.Code != http.StatusNotFound || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error != "not_found" {
				t.Errorf("%s: %d %s, want 404 not_found", path, rec.Code, rec.Body)
			}
		}
	})

	t.Run("the console accepts no other method", func(t *testing.T) {
		rec := consoleGet(t, h, "POST", "/console", nil)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET" {
			t.Errorf("status %d Allow %q, want 405 GET", rec.Code, rec.Header().Get("Allow"))
		}
	})
}
