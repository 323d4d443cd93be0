package main

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// replica is one `keyward serve` process.
type replica struct {
	URL    string
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

// startReplica starts the binary as `serve` on a free port. The test's
// cleanup kills it if it is still running, whatever happened.
func startReplica(t *testing.T, bin string, environ []string) *replica {
	t.Helper()
	addr := freeAddr(t)
	r := &replica{URL: "http://" + addr, stderr: &syncBuffer{}, exited: make(chan struct{})}
	r.cmd = exec.Command(bin, "serve", "--addr", addr)
	r.cmd.Env = environ
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		defer close(r.exited)
		r.err = r.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			r.cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			t.Logf("replica %s stderr:\n%s", r.URL, r.stderr)
		}
	})
	return r
}

// token gets an access token from this replica's token endpoint.
func (r *replica) token(t *testing.T, clientID, clientSecret string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.URL+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientSecret)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s/oauth/token: %v", r.URL, err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		t.Fatalf("POST %s/oauth/token = %s %q (%v)", r.URL, resp.Status, body.Error, err)
	}
	return body.AccessToken
}

// TestReplicasStartTogetherOnOneDatabase starts three serve processes at
// once on one database that nothing has migrated yet: as a deployment of
// several replicas does on its first roll-out.
func TestReplicasStartTogetherOnOneDatabase(t *testing.T) {
	t.Parallel()
	db := emptyDatabase(t)
	bin := keywardBinary(t)
	const (
		issuer   = "https://keyward.test" // the replicas sit behind one name
		adminID  = "replica-admin"
		adminKey = "replica-admin-secret-0123456789"
	)
	environ := []string{
		"KEYWARD_DATABASE_URL=" + db,
		"KEYWARD_KEY_ENCRYPTION_KEY=" + newKEK(),
		"KEYWARD_ISSUER=" + issuer,
		"KEYWARD_BOOTSTRAP_CLIENT_ID=" + adminID,
		"KEYWARD_BOOTSTRAP_CLIENT_SECRET=" + adminKey,
	}
	replicas := make([]*replica, 3)
	for i := range replicas {
		replicas[i] = startReplica(t, bin, environ)
	}
	for _, r := range replicas {
		waitReady(t, r.URL, r.exited, r.describe)
	}

	conn := connect(t, db)
	t.Run("every migration was applied exactly once", func(t *testing.T) {
		files := migrationFiles(t)
		rows, err := conn.Query(context.Background(),
			`SELECT version_id, count(*) FROM goose_db_version WHERE version_id > 0 GROUP BY version_id`)
		if err != nil {
			t.Fatal(err)
		}
		applied := map[int64]int{}
		for rows.Next() {
			var v int64
			var n int
			if err := rows.Scan(&v, &n); err != nil {
				t.Fatal(err)
			}
			applied[v] = n
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(applied) != len(files) {
			t.Errorf("goose_db_version holds versions %v, want one for each of %q", applied, files)
		}
		for _, f := range files {
			v, err := strconv.ParseInt(strings.SplitN(f, "_", 2)[0], 10, 64)
			if err != nil {
				t.Fatalf("migration %s has no version: %v", f, err)
			}
			if applied[v] != 1 {
				t.Errorf("migration %s was applied %d times, want 1", f, applied[v])
			}
		}
	})

	var activeKID string
	t.Run("exactly one replica applied the migrations and created the first key", func(t *testing.T) {
		for _, msg := range []string{`"msg":"applied database migrations"`, `"msg":"created the first signing key"`} {
			n := 0
			for _, r := range replicas {
				n += strings.Count(r.stderr.String(), msg)
			}
			if n != 1 {
				t.Errorf("%d replicas logged %s, want 1", n, msg)
			}
		}
	})

	t.Run("there is exactly one active key and one next key", func(t *testing.T) {
		if n := queryInt(t, conn, `SELECT count(*) FROM signing_keys WHERE state = 'active'`); n != 1 {
			t.Fatalf("%d active keys, want 1", n)
		}
		if n := queryInt(t, conn, `SELECT count(*) FROM signing_keys WHERE state = 'next'`); n != 1 {
			t.Errorf("%d next keys, want 1", n)
		}
		if err := conn.QueryRow(context.Background(), `SELECT kid FROM signing_keys WHERE state = 'active'`).Scan(&activeKID); err != nil {
			t.Fatal(err)
		}
	})
	if activeKID == "" {
		return
	}
	t.Run("the bootstrap admin exists once with one secret", func(t *testing.T) {
		if n := queryInt(t, conn, `SELECT count(*) FROM clients WHERE id = $1`, adminID); n != 1 {
			t.Errorf("%d clients %s, want 1", n, adminID)
		}
		if n := queryInt(t, conn, `SELECT count(*) FROM client_secrets WHERE client_id = $1`, adminID); n != 1 {
			t.Errorf("%s has %d secrets, want 1", adminID, n)
		}
	})

	keySets := make([]map[string]*rsa.PublicKey, len(replicas))
	t.Run("every replica's JWKS lists the active key", func(t *testing.T) {
		for i, r := range replicas {
			keySets[i] = fetchJWKS(t, r.URL)
			if keySets[i][activeKID] == nil {
				t.Errorf("the JWKS of %s does not list the active key %s", r.URL, activeKID)
			}
		}
	})
	t.Run("a token from any replica verifies against the JWKS of every replica", func(t *testing.T) {
		for _, from := range replicas {
			tok := from.token(t, adminID, adminKey)
			for i, at := range replicas {
				header, claims := verifyToken(t, tok, keySets[i], issuer)
				if header["kid"] != activeKID {
					t.Errorf("token from %s is signed by %v, want the active key %s", from.URL, header["kid"], activeKID)
				}
				if claims["client_id"] != adminID {
					t.Errorf("token from %s verified at %s has client_id %v, want %s", from.URL, at.URL, claims["client_id"], adminID)
				}
			}
		}
	})
	t.Run("SIGTERM stops every replica with exit status 0", func(t *testing.T) {
		for _, r := range replicas {
			if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatalf("SIGTERM %s: %v", r.URL, err)
			}
		}
		deadline := time.After(10 * time.Second)
		for _, r := range replicas {
			select {
			case <-r.exited:
				if r.err != nil {
					t.Errorf("replica %s exited with %v after SIGTERM, want status 0", r.URL, r.err)
				}
				if !strings.Contains(r.stderr.String(), `"msg":"shutting down`) {
					t.Errorf("replica %s did not log a graceful shutdown", r.URL)
				}
			case <-deadline:
				t.Fatalf("replica %s did not exit within 10s of SIGTERM", r.URL)
			}
		}
	})
}

// describe says how the replica is doing and what it logged.
func (r *replica) describe() string {
	status := "still running"
	select {
	case <-r.exited:
		status = "exited: " + r.cmd.ProcessState.String()
	default:
	}
	return status + "; stderr:\n" + r.stderr.String()
}
