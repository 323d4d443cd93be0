package httpserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/keyward/keyward/internal/jsonhttp"
)

// consoleCSP lets the console run nothing but its own files: no inline
// script or style, no eval, no other origin to talk to, no framing, and
// Trusted Types required, so that a string can never be parsed as HTML by
// the page (every name a user typed is rendered as text).
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; " +
	"require-trusted-types-for 'script'"

// consoleFile is one file of the console, read once at start-up.
type consoleFile struct {
	name  string
	body  []byte
	ctype string
	etag  string
}

// consoleTypes are the Content-Types of the console's files, by extension;
// set here rather than looked up in the system's MIME tables, which vary.
var consoleTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
}

// handleConsole serves the admin console (package web): index.html at
// /console and every other top-level file at /console/{asset}; /console/
// redirects to /console, whose page loads its files as console/NAME. The
// files are read into memory once; anything else under /console is 404.
//
// Responses are revalidated (no-cache with an ETag) rather than cached for
// a time: the file names carry no content hash, and a new keyward must not
// run an old console.
func handleConsole(log *slog.Logger, fsys fs.FS) http.Handler {
	files := map[string]consoleFile{}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		log.Error("the console's files cannot be read", "err", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			log.Error("a console file cannot be read", "file", e.Name(), "err", err)
			continue
		}
		ctype, ok := consoleTypes[path.Ext(e.Name())]
		if !ok {
			ctype = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		files[e.Name()] = consoleFile{name: e.Name(), body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	notFound := jsonhttp.NewError(http.StatusNotFound, "not_found", "no such file in the console")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "index.html"
		if r.URL.Path != "/console" {
			name = chi.URLParam(r, "asset")
			if name == "" && strings.HasSuffix(r.URL.Path, "/console/") {
				// Relative, so that it holds behind a proxy that adds a
				// path prefix (http.Redirect would make it absolute).
				w.Header().Set("Location", "../console")
				w.WriteHeader(http.StatusMovedPermanently)
				return
			}
			// The page lives at /console only: its relative links would
			// break anywhere else.
			if name == "index.html" {
				name = ""
			}
		}
		f, ok := files[name]
		if !ok {
			jsonhttp.WriteError(w, r, log, notFound)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Type", f.ctype)
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
	})
}
