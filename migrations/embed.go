// Package migrations holds keyward's database schema as goose SQL migrations,
// embedded so that the binary can apply them without the source tree.
package migrations

import "embed"

// FS holds every migration file, in goose's version order.
//
//go:embed *.sql
var FS embed.FS
