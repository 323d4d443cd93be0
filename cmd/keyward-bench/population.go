package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"net/url"

	"github.com/keyward/keyward/internal/secret"
)

// A population is the set of clients that seed writes and token loads:
// client i's id and plain secret derive from the population's name and i,
// so the load generator knows credentials that exist in the database only
// as keyward stores them (hashed and sealed). Ids and secrets have the
// shape of keyward's own: a prefix and 128 or 256 bits in lower-case base32.
type population struct{ key []byte }

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newPopulation(name string) population {
	sum := sha256.Sum256([]byte("keyward-bench population " + name))
	return population{key: sum[:]}
}

func (p population) text(label string, i, n int) string {
	m := hmac.New(sha256.New, p.key)
	fmt.Fprintf(m, "%s/%d", label, i)
	return lowerBase32.EncodeToString(m.Sum(nil)[:n])
}

func (p population) clientID(i int) string { return "m2m_" + p.text("client", i, 16) }

func (p population) plainSecret(i int) string {
	return secret.ClientSecretPrefix + p.text("secret", i, 32)
}

// orgID names organization k of one seeding run (run tells runs apart, so
// that runs with different layouts never share an organization).
func (p population) orgID(run string, k int) string { return "org_" + p.text("org "+run, k, 16) }

// basicAuth is client i's Authorization header for client_secret_basic.
func (p population) basicAuth(i int) string {
	return basicAuth(p.clientID(i), p.plainSecret(i))
}

// basicAuth encodes id and secret as RFC 6749 §2.3.1 asks: each
// form-urlencoded, then HTTP Basic.
func basicAuth(id, plain string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(plain)))
}
