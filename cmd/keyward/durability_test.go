package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// kill -9 during a burst of admin writes loses nothing that was answered
// 201 and leaves no half-made object: every client created has its first
// secret, and every secret its client.
func TestKillDuringWritesLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	db := emptyDatabase(t)
	bin := keywardBinary(t)
	const adminID, adminSecret = "durability-admin", "durability-admin-secret-0123456789"
	environ := []string{
		"KEYWARD_DATABASE_URL=" + db,
		"KEYWARD_KEY_ENCRYPTION_KEY=" + newKEK(),
		"KEYWARD_ISSUER=https://keyward.test",
		"KEYWARD_BOOTSTRAP_CLIENT_ID=" + adminID,
		"KEYWARD_BOOTSTRAP_CLIENT_SECRET=" + adminSecret,
	}
	r := startReplica(t, bin, environ)
	waitReady(t, r.URL, r.exited, r.describe)
	tok := r.token(t, adminID, adminSecret)

	post := func(path string, body any) (int, map[string]any, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, r.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m, nil
	}
	status, org, err := post("/api/v1/organizations", map[string]any{"display_name": "Acme"})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create organization: %d %v", status, err)
	}
	orgID := org["organization"].(map[string]any)["id"].(string)

	// 8 writers create organizations and clients until the process dies.
	var mu sync.Mutex
	var ackedOrgs, ackedClients []string
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				if w%2 == 0 {
					status, m, err := post("/api/v1/organizations", map[string]any{"display_name": "burst"})
					if err != nil {
						return
					}
					if status == http.StatusCreated {
						mu.Lock()
						ackedOrgs = append(ackedOrgs, m["organization"].(map[string]any)["id"].(string))
						mu.Unlock()
					}
					continue
				}
				status, m, err := post("/api/v1/organizations/"+orgID+"/clients",
					map[string]any{"name": "burst", "scopes": []string{"a", "b"}})
				if err != nil {
					return
				}
				if status == http.StatusCreated {
					mu.Lock()
					ackedClients = append(ackedClients, m["client"].(map[string]any)["client_id"].(string))
					mu.Unlock()
				}
			}
		})
	}
	// Let the burst run, then kill -9 in the middle of it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(ackedClients) + len(ackedOrgs)
		mu.Unlock()
		if n >= 100 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.cmd.Process.Kill()
	<-r.exited
	wg.Wait()
	if len(ackedClients) == 0 || len(ackedOrgs) == 0 {
		t.Fatalf("the burst got %d clients and %d organizations acknowledged before the kill; want some of each",
			len(ackedClients), len(ackedOrgs))
	}

	// Restart, then compare what was acknowledged with what is there.
	r2 := startReplica(t, bin, environ)
	waitReady(t, r2.URL, r2.exited, r2.describe)
	conn := connect(t, db)
	for _, id := range ackedClients {
		if n := queryInt(t, conn, `SELECT count(*) FROM clients c JOIN client_secrets s ON s.client_id = c.id WHERE c.id = $1`, id); n != 1 {
			t.Errorf("client %s was answered 201 but has %d secrets in the database, want 1", id, n)
		}
	}
	for _, id := range ackedOrgs {
		if n := queryInt(t, conn, `SELECT count(*) FROM organizations WHERE id = $1`, id); n != 1 {
			t.Errorf("organization %s was answered 201 but is not in the database", id)
		}
	}
	if n := queryInt(t, conn, `SELECT count(*) FROM clients c WHERE organization_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM client_secrets s WHERE s.client_id = c.id)`); n != 0 {
		t.Errorf("%d clients have no secret: a half-made object", n)
	}
	if n := queryInt(t, conn, `SELECT count(*) FROM client_secrets s WHERE NOT EXISTS (SELECT 1 FROM clients c WHERE c.id = s.client_id)`); n != 0 {
		t.Errorf("%d secrets have no client", n)
	}
	// The restarted server serves what was acknowledged.
	if got := r2.token(t, adminID, adminSecret); !strings.Contains(got, ".") {
		t.Fatalf("no token after the restart: %q", got)
	}
	t.Logf("acknowledged before kill -9: %d organizations, %d clients", len(ackedOrgs), len(ackedClients))
}
