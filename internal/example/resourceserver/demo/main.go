// Command demo is an API behind the resourceserver middleware, for trying
// keyward's tokens by hand: GET /hello answers who the bearer token speaks
// for. Settings come from the environment:
//
//	KEYWARD_ISSUER     keyward's issuer URL (default http://localhost:8080)
//	API_AUDIENCE       this API's identifier in access tokens' aud (required)
//	API_CLIENT_ID      this API's own client at keyward (required)
//	API_CLIENT_SECRET  its secret (required)
//	API_ADDR           where to listen (default 127.0.0.1:9090)
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/keyward/keyward/internal/example/resourceserver"
)

func main() {
	issuer := os.Getenv("KEYWARD_ISSUER")
	if issuer == "" {
		issuer = "http://localhost:8080"
	}
	addr := os.Getenv("API_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9090"
	}
	v, err := resourceserver.New(resourceserver.Config{
		Issuer:       issuer,
		Audience:     os.Getenv("API_AUDIENCE"),
		ClientID:     os.Getenv("API_CLIENT_ID"),
		ClientSecret: os.Getenv("API_CLIENT_SECRET"),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo: set API_AUDIENCE, API_CLIENT_ID and API_CLIENT_SECRET:", err)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /hello", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := resourceserver.FromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"client_id": p.ClientID, "org_id": p.OrgID, "scopes": p.Scopes, "kind": p.Kind})
	})))
	log.Printf("demo API on http://%s/hello, trusting %s", addr, issuer)
	log.Fatal(http.ListenAndServe(addr, mux))
}
