// Package scope owns the syntax of OAuth scopes and the scopes keyward
// itself gives meaning to.
package scope

// The scopes that grant access to keyward's admin API.
const (
	Admin    = "keyward:admin"     // manages everything
	OrgAdmin = "keyward:org:admin" // manages the organization in the token's org_id
)

// ReservedPrefix starts every scope keyward gives meaning to; only an
// environment admin may register such a scope on a client.
const ReservedPrefix = "keyward:"

// Known reports whether s is one of keyward's own scopes.
func Known(s string) bool { return s == Admin || s == OrgAdmin }

// ValidToken reports whether s is an RFC 6749 section 3.3 scope-token: one
// or more of %x21 / %x23-5B / %x5D-7E.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}
