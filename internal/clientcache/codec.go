package clientcache

import (
	"bytes"
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/keyward/keyward/internal/store"
)

// A cached client is kept as one byte slice rather than as a store.Client:
// a full cache is most of keyward's heap, and the collector has to look at
// every pointer in it on every cycle, which under the memory limit comes
// several times a second while tokens are issued. A store.Client with its
// secrets is a dozen objects and some forty pointers; its encoding is one
// object the collector does not scan (BenchmarkCollectFullCache).
//
// The encoding holds the client id and what the token path reads: the
// active secrets, with their sealed copies when the client may sign
// client_secret_jwt assertions with them (opened only in memory to verify
// one), and the registered public keys; not the name, the description or
// the bookkeeping times. Every
// string and byte string as a uvarint length and its bytes, every number as
// a varint, a bool as one byte, every list as a uvarint count and its
// elements. decode rebuilds the client with its strings and byte strings
// pointing into the encoding, which is never written again, so a hit
// allocates only the client's few slices.

// encode returns the encoding of client id, cl.
func encode(id string, cl store.Client) []byte {
	var w writer
	w.str(id)
	w.int(cl.Seq)
	w.str(cl.OrganizationID)
	w.str(cl.AuthMethod)
	w.strs(cl.Scopes)
	w.strs(cl.Audience)
	w.uint(uint64(len(cl.CustomClaims)))
	for _, c := range cl.CustomClaims {
		w.str(c.Key)
		w.str(c.Value)
	}
	w.int(int64(cl.Expiry))
	w.bool(cl.InjectContextIdentifier)
	w.int(cl.Version)
	active := 0
	for _, s := range cl.Secrets {
		if s.Status == store.SecretActive {
			active++
		}
	}
	w.uint(uint64(active))
	for _, s := range cl.Secrets {
		if s.Status != store.SecretActive {
			continue // an inactive secret authenticates nothing
		}
		w.str(s.ID)
		w.bytes(s.Hash)
		if cl.AuthMethod == store.AuthClientSecret {
			w.bytes(s.Sealed)
		} else {
			w.bytes(nil)
		}
		w.str(s.KEKID)
	}
	w.uint(uint64(len(cl.Keys)))
	for _, k := range cl.Keys {
		w.str(k.ID)
		w.str(k.Alg)
		w.bytes(k.PublicJWK)
		w.str(k.Thumbprint)
		w.str(k.JWKKID)
	}
	w.bool(cl.ClientSigned.Enabled)
	w.strs(cl.ClientSigned.IssuerAliases)
	w.int(int64(cl.ClientSigned.MaxLifetime))
	return bytes.Clone(w.b) // no room to spare: appending grew w.b up to twice its length
}

// decode rebuilds the client b holds. b must be what encode returned: a
// cache's own entry, never outside input.
func decode(b []byte) store.Client {
	r := reader{b: b}
	id := r.str()
	cl := store.Client{ID: id}
	cl.Seq = r.int()
	cl.OrganizationID = r.str()
	cl.AuthMethod = r.str()
	cl.Scopes = r.strs()
	cl.Audience = r.strs()
	if n := r.uint(); n > 0 {
		cl.CustomClaims = make([]store.CustomClaim, n)
		for i := range cl.CustomClaims {
			cl.CustomClaims[i] = store.CustomClaim{Key: r.str(), Value: r.str()}
		}
	}
	cl.Expiry = int(r.int())
	cl.InjectContextIdentifier = r.bool()
	cl.Version = r.int()
	cl.Secrets = make([]store.Secret, r.uint())
	for i := range cl.Secrets {
		s := &cl.Secrets[i]
		s.ID, s.ClientID, s.Hash, s.Sealed, s.KEKID, s.Status = r.str(), id, r.bytes(), r.bytes(), r.str(), store.SecretActive
	}
	if n := r.uint(); n > 0 {
		cl.Keys = make([]store.ClientKey, n)
		for i := range cl.Keys {
			k := &cl.Keys[i]
			k.ID, k.ClientID, k.Alg, k.PublicJWK, k.Thumbprint, k.JWKKID = r.str(), id, r.str(), r.bytes(), r.str(), r.str()
		}
	}
	cl.ClientSigned.Enabled = r.bool()
	cl.ClientSigned.IssuerAliases = r.strs()
	cl.ClientSigned.MaxLifetime = int(r.int())
	if r.bad || len(r.b) > 0 {
		panic("clientcache: a cached client's encoding is damaged")
	}
	return cl
}

// idOf returns the client id an encoding holds, sharing its bytes.
func idOf(b []byte) string {
	r := reader{b: b}
	return r.str()
}

type writer struct{ b []byte }

func (w *writer) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *writer) int(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *writer) str(s string) {
	w.uint(uint64(len(s)))
	w.b = append(w.b, s...)
}
func (w *writer) bytes(p []byte) {
	w.uint(uint64(len(p)))
	w.b = append(w.b, p...)
}
func (w *writer) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}
func (w *writer) strs(ss []string) {
	w.uint(uint64(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
}

// reader takes an encoding apart; bad is set, and every later read gives
// zero values, once the bytes end early.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes returns the next byte string, pointing into the encoding, with no
// room to append into the bytes after it; nil for an empty one.
func (r *reader) bytes() []byte {
	n := r.uint()
	if n > uint64(len(r.b)) || n > math.MaxInt {
		r.bad, r.b = true, nil
		return nil
	}
	if n == 0 {
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

// str returns the next string, sharing the encoding's bytes: the encoding
// is never written after encode.
func (r *reader) str() string {
	p := r.bytes()
	if len(p) == 0 {
		return ""
	}
	return unsafe.String(&p[0], len(p))
}

func (r *reader) bool() bool {
	if len(r.b) == 0 {
		r.bad = true
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

func (r *reader) strs() []string {
	n := r.uint()
	if n == 0 || n > uint64(len(r.b)) {
		if n > 0 {
			r.bad, r.b = true, nil
		}
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = r.str()
	}
	return ss
}
