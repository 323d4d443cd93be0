//go:build openssl && cgo

package signer

// The binding to libcrypto: kw_load, kw_sign (called by kw_sign_batch for
// each signature of a batch) and kw_version. Each reads and clears
// OpenSSL's error queue, which belongs to the OS thread, before it returns
// to Go, since a goroutine may change threads between two cgo calls.
//
// The key goes in as PKCS #1 DER (RSAPrivateKey: n, e, d, p, q and the CRT
// values) through d2i_PrivateKey_ex, OpenSSL's own parser, rather than
// number by number through OSSL_PARAM_BLD and EVP_PKEY_fromdata: one call
// instead of eight big-number conversions, and OpenSSL checks the
// structure. The DER is cleared once OpenSSL has parsed it; OpenSSL clears
// the private numbers when the key is freed.

/*
#cgo LDFLAGS: -lcrypto
#include <openssl/opensslv.h>
#if OPENSSL_VERSION_MAJOR < 3
#error "keyward's openssl build needs OpenSSL 3 (Debian: apt-get install libssl-dev)"
#endif
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

// kw_load parses an RSA private key in PKCS #1 DER. It returns NULL, with
// the first error in *err (0 when OpenSSL queued none), when the bytes are
// not exactly one RSA private key.
static EVP_PKEY *kw_load(const unsigned char *der, long len, unsigned long *err) {
	const unsigned char *p = der;
	EVP_PKEY *pkey = d2i_PrivateKey_ex(EVP_PKEY_RSA, NULL, &p, len, NULL, NULL);
	if (pkey != NULL && (!EVP_PKEY_is_a(pkey, "RSA") || p != der + len)) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	*err = pkey == NULL ? ERR_peek_error() : 0;
	ERR_clear_error();
	return pkey;
}

// kw_sign signs the digest dgst (dlen bytes, made with SHA-2 of md bits:
// 256, 384 or 512) with PKCS #1 v1.5 padding into sig, which holds
// *siglen bytes; *siglen becomes the signature's length. Each call has a
// context of its own, so any number of threads may sign with one key at
// once: OpenSSL 3 keys are safe to share while nobody changes them. It
// returns 1, or 0 with the first error in *err.
static int kw_sign(EVP_PKEY *pkey, int md, const unsigned char *dgst, size_t dlen,
		unsigned char *sig, size_t *siglen, unsigned long *err) {
	const EVP_MD *m = NULL;
	switch (md) {
	case 256: m = EVP_sha256(); break;
	case 384: m = EVP_sha384(); break;
	case 512: m = EVP_sha512(); break;
	}
	EVP_PKEY_CTX *ctx = m == NULL ? NULL : EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	int ok = ctx != NULL
		&& EVP_PKEY_sign_init(ctx) > 0
		&& EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0
		&& EVP_PKEY_CTX_set_signature_md(ctx, m) > 0
		&& EVP_PKEY_sign(ctx, sig, siglen, dgst, dlen) > 0;
	*err = ok ? 0 : ERR_peek_error();
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

// kw_job is one signature of a batch: kw_sign's arguments and results.
typedef struct {
	EVP_PKEY *pkey;
	int md;
	const unsigned char *dgst;
	size_t dlen;
	unsigned char *sig;
	size_t siglen;
	unsigned long err;
	int ok;
} kw_job;

// kw_sign_batch makes the n signatures of jobs, one after the other, in
// one call from Go.
static void kw_sign_batch(kw_job *jobs, int n) {
	for (int i = 0; i < n; i++) {
		kw_job *j = &jobs[i];
		j->ok = kw_sign(j->pkey, j->md, j->dgst, j->dlen, j->sig, &j->siglen, &j->err);
	}
}

static const char *kw_version(void) { return OpenSSL_version(OPENSSL_VERSION_STRING); }
*/
import "C"

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

const impl = "openssl"

func description() string { return "openssl " + C.GoString(C.kw_version()) }

// native is the key as libcrypto holds it.
type native struct{ pkey *C.EVP_PKEY }

// Signatures are made by signers: one goroutine per P (GOMAXPROCS when
// the first key is loaded), each taking the requests waiting in queue, up
// to maxBatch at a time, and making them in one cgo call.
//
// Why: a goroutine in a cgo call keeps its OS thread, and the scheduler
// hands its P to another thread while it is away (a signature takes 250 µs
// and more), which costs thread switches and keeps sysmon polling. Made in
// the requests' own goroutines, either every waiting request (32
// connections make up to 32) has a thread in libcrypto, the threads
// time-slice the same cores and the tail grows (on one core, p99 went to 4
// times p50), or, with one signature in libcrypto per P at a time, each
// pays the handoff. Batches pay it once for all the signatures waiting: on
// one core, 7 to 8 % more tokens per second than one at a time, with p99
// at 1.6 times p50. A request waits for at most the batch being made and
// its own.
const maxBatch = 16

// A request is one signature for a signer to make.
type request struct {
	key    *native
	md     C.int
	digest []byte // with a capacity, so that C gets a valid pointer even when it is empty
	sig    []byte
	siglen C.size_t
	err    C.ulong
	ok     bool
	done   chan struct{} // closed once made
}

var (
	queue     chan *request
	queueOnce sync.Once
)

func startSigners() {
	queue = make(chan *request, 256)
	for range runtime.GOMAXPROCS(0) {
		go signLoop()
	}
}

// signLoop makes the requests' signatures, batch by batch, forever.
func signLoop() {
	batch := make([]*request, 0, maxBatch)
	jobs := make([]C.kw_job, maxBatch)
	var pin runtime.Pinner // jobs point at the requests' buffers
	for r := range queue {
		// Yield first: the goroutines that the last batch made runnable
		// are queued on this P, and in C it lends the P to them only once
		// sysmon takes it, after 20 µs to 10 ms. Run now, they also answer
		// and queue their next requests for this batch. (Without it, one
		// run in seven had a p99 of 5 to 9 times p50.)
		runtime.Gosched()
		batch = append(batch[:0], r)
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-queue:
				batch = append(batch, r)
			default:
				break more
			}
		}
		for i, r := range batch {
			d, sig := unsafe.SliceData(r.digest), unsafe.SliceData(r.sig)
			pin.Pin(d)
			pin.Pin(sig)
			jobs[i] = C.kw_job{
				pkey: r.key.pkey, md: r.md,
				dgst: (*C.uchar)(unsafe.Pointer(d)), dlen: C.size_t(len(r.digest)),
				sig: (*C.uchar)(unsafe.Pointer(sig)), siglen: C.size_t(len(r.sig)),
			}
		}
		C.kw_sign_batch(&jobs[0], C.int(len(batch)))
		pin.Unpin()
		for i, r := range batch {
			r.ok, r.siglen, r.err = jobs[i].ok == 1, jobs[i].siglen, jobs[i].err
			close(r.done)
		}
		clear(jobs) // cgo checks the whole array: no pointer may outlive its pin
		clear(batch)
	}
}

func load(k *rsa.PrivateKey) (*native, error) {
	queueOnce.Do(startSigners)
	der := x509.MarshalPKCS1PrivateKey(k)
	defer clear(der)
	return loadDER(der)
}

// loadDER hands a PKCS #1 RSAPrivateKey to libcrypto.
func loadDER(der []byte) (*native, error) {
	if len(der) == 0 {
		return nil, errors.New("signer: libcrypto: no key")
	}
	var e C.ulong
	pkey := C.kw_load((*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)), &e)
	if pkey == nil {
		return nil, opensslError("load the RSA key", e)
	}
	return &native{pkey: pkey}, nil
}

// sign hands the signature to a signer and waits for it. The hash and the
// digest's length are checked by OpenSSL too (Sign has checked them
// already), so that this function, the binding's whole signing surface,
// can be fuzzed with any input.
func (n *native) sign(h crypto.Hash, digest []byte, size int) ([]byte, error) {
	md := 0
	switch h {
	case crypto.SHA256:
		md = 256
	case crypto.SHA384:
		md = 384
	case crypto.SHA512:
		md = 512
	}
	r := &request{key: n, md: C.int(md), digest: digest, sig: make([]byte, size), done: make(chan struct{})}
	if cap(digest) == 0 {
		r.digest = make([]byte, 1)[:0]
	}
	queue <- r
	<-r.done
	if !r.ok {
		return nil, opensslError("sign", r.err)
	}
	return r.sig[:r.siglen], nil
}

func (n *native) free() {
	C.EVP_PKEY_free(n.pkey)
	n.pkey = nil
}

func opensslError(op string, e C.ulong) error {
	if e == 0 {
		return fmt.Errorf("signer: libcrypto: cannot %s", op)
	}
	var buf [256]C.char
	C.ERR_error_string_n(e, &buf[0], C.size_t(len(buf)))
	return fmt.Errorf("signer: libcrypto: cannot %s: %s", op, C.GoString(&buf[0]))
}
