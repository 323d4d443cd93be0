package httpserver

import (
	"github.com/go-chi/chi/v5"

	"github.com/keyward/keyward/internal/admin"
	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/oauth"
	"github.com/keyward/keyward/web"
)

// routes registers every route keyward serves. api/openapi.yaml documents
// exactly these; a test keeps the two in step.
func routes(r chi.Router, d Deps) {
	r.Get("/healthz", handleHealthz())
	r.Get("/readyz", handleReadyz(d))
	r.Get("/metrics", handleMetrics(d.Metrics))
	r.Get("/.well-known/jwks.json", handleJWKS(d.Keys))
	meta := handleMetadata(d.Issuer, d.Keys)
	r.Get("/.well-known/oauth-authorization-server", meta)
	r.Get("/.well-known/openid-configuration", meta)
	r.Get("/api/openapi.yaml", handleOpenAPI())

	// The admin console (web/): a page that signs in at /oauth/token and
	// drives /api/v1 like any other admin tool.
	console := handleConsole(d.Log, web.Console())
	r.Method("GET", "/console", console)
	r.Method("GET", "/console/", console)
	r.Method("GET", "/console/{asset}", console)

	r.Method("POST", "/oauth/token", shed(d.Log, d.MaxTokenRequests, oauth.HandleToken(d.Token)))
	r.Method("POST", "/oauth/introspect", oauth.HandleIntrospect(d.Token))
	r.Method("POST", "/oauth/revoke", oauth.HandleRevoke(d.Token))

	a := d.Admin
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(admin.Authenticate(a))
		// Every mutation below, whatever its outcome, gets an audit row.
		r.Use(audit.Middleware(d.Log, a.Store, audit.Who{
			Actor: admin.Actor, Source: oauth.SourceAddress, Organization: admin.AuditOrganization,
		}, a.Now))
		r.Method("GET", "/whoami", admin.HandleWhoami(a))
		r.Group(func(r chi.Router) {
			r.Use(admin.RequireAdmin(a))
			r.Method("POST", "/organizations", admin.HandleCreateOrganization(a))
			r.Method("GET", "/organizations", admin.HandleListOrganizations(a))
			r.Method("GET", "/audit_events", admin.HandleListAuditEvents(a))
			r.Method("GET", "/organizations/{org_id}", admin.HandleGetOrganization(a))
			r.Method("PATCH", "/organizations/{org_id}", admin.HandleUpdateOrganization(a))
			r.Method("DELETE", "/organizations/{org_id}", admin.HandleDeleteOrganization(a))

			r.Method("POST", "/organizations/{org_id}/clients", admin.HandleCreateClient(a))
			r.Method("GET", "/organizations/{org_id}/clients", admin.HandleListClients(a))
			r.Method("GET", "/organizations/{org_id}/clients/{client_id}", admin.HandleGetClient(a))
			r.Method("PATCH", "/organizations/{org_id}/clients/{client_id}", admin.HandleUpdateClient(a))
			r.Method("DELETE", "/organizations/{org_id}/clients/{client_id}", admin.HandleDeleteClient(a))

			r.Method("POST", "/organizations/{org_id}/clients/{client_id}/secrets", admin.HandleCreateSecret(a))
			r.Method("PATCH", "/organizations/{org_id}/clients/{client_id}/secrets/{secret_id}", admin.HandleUpdateSecret(a))
			r.Method("DELETE", "/organizations/{org_id}/clients/{client_id}/secrets/{secret_id}", admin.HandleDeleteSecret(a))

			r.Method("POST", "/organizations/{org_id}/clients/{client_id}/keys", admin.HandleCreateClientKey(a))
			r.Method("GET", "/organizations/{org_id}/clients/{client_id}/keys", admin.HandleListClientKeys(a))
			r.Method("DELETE", "/organizations/{org_id}/clients/{client_id}/keys/{key_id}", admin.HandleDeleteClientKey(a))

			r.Method("POST", "/organizations/{org_id}/clients/{client_id}/api_keys", admin.HandleCreateAPIKey(a))
			r.Method("GET", "/organizations/{org_id}/clients/{client_id}/api_keys", admin.HandleListAPIKeys(a))
			r.Method("PATCH", "/organizations/{org_id}/clients/{client_id}/api_keys/{api_key_id}", admin.HandleUpdateAPIKey(a))
			r.Method("DELETE", "/organizations/{org_id}/clients/{client_id}/api_keys/{api_key_id}", admin.HandleDeleteAPIKey(a))

			r.Method("GET", "/keys", admin.HandleListKeys(a))
			r.Method("POST", "/keys/rotate", admin.HandleRotateKeys(a))
			r.Method("POST", "/keys/{kid}/revoke", admin.HandleRevokeKey(a))
		})
	})
}
