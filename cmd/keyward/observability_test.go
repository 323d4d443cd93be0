package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/signer"
)

const (
	metricsAdminID     = "metrics-admin"
	metricsAdminSecret = "metrics-admin-secret-0123456789"
)

// /metrics shows token requests by result, the signing keys and the
// client cache, in the Prometheus text format.
func TestServeExposesMetrics(t *testing.T) {
	t.Parallel()
	s := startServe(t, env{
		"KEYWARD_DATABASE_URL": pgtest.NewDatabase(t), "KEYWARD_KEY_ENCRYPTION_KEY": newKEK(),
		"KEYWARD_BOOTSTRAP_CLIENT_ID": metricsAdminID, "KEYWARD_BOOTSTRAP_CLIENT_SECRET": metricsAdminSecret,
	})
	if _, err := tokenCommand(t, s.URL, metricsAdminID, metricsAdminSecret); err != nil {
		t.Fatal(err)
	}
	tokenCommand(t, s.URL, metricsAdminID, "wrong-secret-0123456789-0123")

	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q, want the Prometheus text format", ct)
	}
	for _, want := range []string{
		`keyward_token_requests_total{grant="client_credentials",result="ok"} 1`,
		`keyward_token_requests_total{grant="client_credentials",result="invalid_client"} 1`,
		`keyward_token_request_duration_seconds_count{grant="client_credentials"} 2`,
		`keyward_signing_keys{state="active"} 1`,
		`keyward_signing_keys{state="next"} 1`,
		`keyward_client_cache_lookups_total{outcome="hit"} 1`,
		`keyward_client_cache_entries 1`,
		`keyward_db_pool_connections{state="max"}`,
		"# TYPE keyward_signing_key_age_seconds gauge",
		`keyward_signer_info{impl="` + signer.Impl + `"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q; it reads:\n%s", want, body)
		}
	}
	// and the startup line says which signer signs
	if want := `"signer":"` + signer.Description() + `"`; !strings.Contains(s.Logs.String(), want) {
		t.Errorf("the logs lack %s:\n%s", want, s.Logs)
	}
}

// Every log line of a request carries the request id that the response
// echoes in X-Request-Id.
func TestServeLogsCarryTheRequestID(t *testing.T) {
	t.Parallel()
	s := startServe(t, env{"KEYWARD_DATABASE_URL": pgtest.NewDatabase(t), "KEYWARD_KEY_ENCRYPTION_KEY": newKEK()})
	resp, err := http.Post(s.URL+"/oauth/token", "application/x-www-form-urlencoded",
		strings.NewReader("grant_type=client_credentials&client_id=m2m_nobody&client_secret=nope"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id header")
	}
	found := false
	for _, line := range lines(s.Logs.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if rec["msg"] == "client authentication failed" {
			found = true
			if rec["request_id"] != id {
				t.Errorf("the failure's log line has request_id %v, want %q", rec["request_id"], id)
			}
		}
	}
	if !found {
		t.Fatalf("the failed authentication was not logged:\n%s", s.Logs.String())
	}
}

// With --tls-cert and --tls-key, serve speaks HTTPS only.
func TestServeHTTPS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	e := env{"KEYWARD_DATABASE_URL": pgtest.NewDatabase(t), "KEYWARD_KEY_ENCRYPTION_KEY": newKEK()}
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--issuer", "https://" + addr, "--tls-cert", certFile, "--tls-key", keyFile},
			e.get, io.Discard, logs)
	}()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(readyTimeout)
	for {
		resp, err := client.Get("https://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("HTTPS /readyz never answered 200 (last error %v); logs:\n%s", err, logs)
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned %v; logs:\n%s", err, logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP got 200 from a server configured for TLS")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v", err)
	}
}

func TestServeRefusesHalfATLSConfiguration(t *testing.T) {
	t.Parallel()
	e := env{"KEYWARD_DATABASE_URL": "postgres://x@127.0.0.1:1/x", "KEYWARD_KEY_ENCRYPTION_KEY": newKEK()}
	err := run(context.Background(), []string{"serve", "--tls-cert", "cert.pem"}, e.get, io.Discard, io.Discard)
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "--tls-key") {
		t.Fatalf("run = %v (exit %d), want exit 2 naming --tls-key", err, exitCode(err))
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyward test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}
