package secret

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func testKEK(b byte) []byte { return bytes.Repeat([]byte{b}, KEKSize) }

func TestSealOpen(t *testing.T) {
	old, err := NewKeyring(testKEK(1))
	if err != nil {
		t.Fatal(err)
	}
	rolled, err := NewKeyring(testKEK(2), testKEK(1))
	if err != nil {
		t.Fatal(err)
	}
	sealed, kekID := old.Seal([]byte("private key"), []byte("kid-1"))
	if bytes.Contains(sealed, []byte("private key")) {
		t.Fatal("sealed box contains the plaintext")
	}

	tests := []struct {
		name    string
		ring    *Keyring
		sealed  []byte
		ad      string
		kekID   string
		wantErr error
	}{
		{"opens under the same keyring", old, sealed, "kid-1", kekID, nil},
		{"opens under a keyring that lists the old KEK second", rolled, sealed, "kid-1", kekID, nil},
		{"refuses other associated data", old, sealed, "kid-2", kekID, ErrOpen},
		{"refuses a KEK that is not configured", old, sealed, "kid-1", rolled.PrimaryID(), ErrUnknownKEK},
		{"refuses a tampered box", old, flip(sealed), "kid-1", kekID, ErrOpen},
		{"refuses a truncated box", old, sealed[:10], "kid-1", kekID, ErrOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ring.Open(tt.sealed, []byte(tt.ad), tt.kekID)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && string(got) != "private key" {
				t.Fatalf("Open = %q", got)
			}
		})
	}
}

func flip(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)-1] ^= 1
	return c
}

func TestHashVerify(t *testing.T) {
	ring, _ := NewKeyring(testKEK(1))
	other, _ := NewKeyring(testKEK(3))
	plain := NewClientSecret()
	hash, kekID := ring.Hash(plain)

	tests := []struct {
		name  string
		ring  *Keyring
		plain string
		kekID string
		want  bool
	}{
		{"the secret verifies", ring, plain, kekID, true},
		{"another secret does not", ring, NewClientSecret(), kekID, false},
		{"a prefix of the secret does not", ring, plain[:len(plain)-1], kekID, false},
		{"another KEK's pepper does not", other, plain, kekID, false},
		{"an unknown KEK id does not", ring, plain, "0000000000000000", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ring.Verify(tt.plain, hash, tt.kekID); got != tt.want {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewClientSecret(t *testing.T) {
	a, b := NewClientSecret(), NewClientSecret()
	if a == b {
		t.Fatal("two secrets are equal")
	}
	if !strings.HasPrefix(a, ClientSecretPrefix) {
		t.Fatalf("secret %q lacks prefix %q", a, ClientSecretPrefix)
	}
	// 256 bits in base32 take 52 characters.
	if n := len(a) - len(ClientSecretPrefix); n != 52 {
		t.Fatalf("secret body is %d characters, want 52", n)
	}
	if Suffix(a) != a[len(a)-4:] {
		t.Fatalf("Suffix(%q) = %q", a, Suffix(a))
	}
}

func TestNewKeyringRejectsBadKeys(t *testing.T) {
	if _, err := NewKeyring(); err == nil {
		t.Error("NewKeyring() with no key succeeded")
	}
	if _, err := NewKeyring([]byte("short")); err == nil {
		t.Error("NewKeyring with a 5-byte key succeeded")
	}
}
