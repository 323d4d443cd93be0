package store

// The list queries, for the plan tests in package store_test.
const (
	ListOrganizationsSQL = listOrganizationsSQL
	OrganizationCountSQL = organizationCountSQL
	ListClientsSQL       = listClientsSQL
	ClientCountSQL       = clientCountSQL
	LoadSecretsSQL       = loadSecretsSQL
)
