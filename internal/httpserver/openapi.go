package httpserver

import (
	"net/http"
	"strconv"

	"github.com/keyward/keyward/api"
)

// handleOpenAPI serves api/openapi.yaml, the description of every route
// here, as it was embedded in this binary: tools (Swagger UI, client
// generators, linters) read the document of the server they talk to.
func handleOpenAPI() http.HandlerFunc {
	body := api.OpenAPI
	length := strconv.Itoa(len(body))
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/yaml") // RFC 9512
		h.Set("Content-Length", length)
		h.Set("Cache-Control", "public, max-age=300")
		w.Write(body)
	}
}
