// Package web holds keyward's admin console: plain ES modules, CSS and one
// HTML page in web/console, embedded into the binary and served at /console
// by internal/httpserver. Nothing is built or fetched: the files here are
// what the browser runs.
package web

import (
	"embed"
	"io/fs"
)

//go:embed console
var files embed.FS

// Console returns the console's files, index.html at its root.
func Console() fs.FS {
	sub, err := fs.Sub(files, "console")
	if err != nil {
		// fs.Sub fails only on an invalid name; "console" is valid.
		panic(err)
	}
	return sub
}
