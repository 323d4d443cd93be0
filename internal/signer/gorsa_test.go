//go:build !openssl || !cgo

package signer

import "testing"

func TestThisBuildSignsWithCryptoRSA(t *testing.T) {
	if Impl != "go" || Description() != "go" {
		t.Errorf("Impl = %q, Description = %q; want go", Impl, Description())
	}
}
