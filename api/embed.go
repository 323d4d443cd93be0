// Package api holds keyward's OpenAPI 3.1 document, api/openapi.yaml: the
// description of every endpoint the server serves, kept in step with the
// router and with every answer of the admin-API tests by tests in
// internal/httpserver, and served by keyward at GET /api/openapi.yaml.
package api

import _ "embed"

// OpenAPI is the YAML text of openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
