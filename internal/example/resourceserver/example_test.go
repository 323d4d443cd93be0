package resourceserver_test

import (
	"fmt"
	"log"
	"net/http"

	"github.com/keyward/keyward/internal/example/resourceserver"
)

// An API whose /reports need the read:reports scope, in a token keyward
// issued or a client signed itself.
func Example() {
	v, err := resourceserver.New(resourceserver.Config{
		Issuer:       "http://localhost:8080",
		Audience:     "reports-api.example.com",
		ClientID:     "m2m_...", // this API's own client
		ClientSecret: "kw_sk_...",
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /reports", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := resourceserver.FromContext(r.Context())
		if !p.HasScope("read:reports") {
			http.Error(w, "insufficient scope", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "reports for %s of %s\n", p.ClientID, p.OrgID)
	})))
	_ = http.ListenAndServe("127.0.0.1:9090", mux)
}
