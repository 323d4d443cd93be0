package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/migrations"
)

// migrationFiles lists the embedded migrations, in version order.
func migrationFiles(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no embedded migrations: %v", err)
	}
	return names
}

func TestMigrateUpThenStatus(t *testing.T) {
	t.Parallel()
	e := env{"KEYWARD_DATABASE_URL": emptyDatabase(t)}
	files := migrationFiles(t)
	migrate := func(t *testing.T, sub string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{"migrate", sub}, e.get, &stdout, &stderr); err != nil {
			t.Fatalf("migrate %s = %v; stderr:\n%s", sub, err, stderr.String())
		}
		return stdout.String()
	}
	statusOf := func(t *testing.T, out, file string) string {
		t.Helper()
		for _, l := range lines(out) {
			if f := strings.Fields(l); len(f) >= 3 && f[1] == file {
				return f[2]
			}
		}
		t.Fatalf("status does not list %s:\n%s", file, out)
		return ""
	}

	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"status on an empty database lists every migration as pending", func(t *testing.T) {
			out := migrate(t, "status")
			for _, f := range files {
				if got := statusOf(t, out, f); got != "pending" {
					t.Errorf("%s is %q, want pending:\n%s", f, got, out)
				}
			}
		}},
		{"up applies every migration", func(t *testing.T) {
			if out, want := migrate(t, "up"), fmt.Sprintf("applied %d migration(s)\n", len(files)); out != want {
				t.Errorf("migrate up printed %q, want %q", out, want)
			}
		}},
		{"status then lists 00001_core.sql and every other migration as applied", func(t *testing.T) {
			out := migrate(t, "status")
			if !slices.Contains(files, "00001_core.sql") {
				t.Fatalf("00001_core.sql is not among the migrations %q", files)
			}
			for _, f := range files {
				if got := statusOf(t, out, f); got != "applied" {
					t.Errorf("%s is %q, want applied:\n%s", f, got, out)
				}
			}
		}},
		{"a second up applies nothing", func(t *testing.T) {
			if out := migrate(t, "up"); out != "applied 0 migration(s)\n" {
				t.Errorf("second migrate up printed %q", out)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			return
		}
	}
}

func TestBootstrapPrintsCredentialsThatGetAToken(t *testing.T) {
	t.Parallel()
	e := env{"KEYWARD_DATABASE_URL": pgtest.NewDatabase(t), "KEYWARD_KEY_ENCRYPTION_KEY": newKEK()}

	bootstrap := func(t *testing.T) map[string]string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{"bootstrap"}, e.get, &stdout, &stderr); err != nil {
			t.Fatalf("bootstrap = %v; stderr:\n%s", err, stderr.String())
		}
		var creds map[string]string
		if err := json.Unmarshal(stdout.Bytes(), &creds); err != nil {
			t.Fatalf("bootstrap printed %q, not a JSON object of strings: %v", stdout.String(), err)
		}
		return creds
	}
	creds := bootstrap(t)

	t.Run("bootstrap prints exactly client_id and client_secret", func(t *testing.T) {
		var keys []string
		for k := range creds {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"client_id", "client_secret"}) {
			t.Errorf("bootstrap printed the fields %q, want client_id and client_secret", keys)
		}
		if !strings.HasPrefix(creds["client_id"], "m2m_") || len(creds["client_id"]) <= len("m2m_") {
			t.Errorf("client_id = %q, want m2m_…", creds["client_id"])
		}
		if !strings.HasPrefix(creds["client_secret"], "kw_sk_") || len(creds["client_secret"]) < 40 {
			t.Errorf("client_secret = %q, want a long kw_sk_…", creds["client_secret"])
		}
	})
	t.Run("a second bootstrap makes another client", func(t *testing.T) {
		if again := bootstrap(t); again["client_id"] == creds["client_id"] || again["client_secret"] == creds["client_secret"] {
			t.Errorf("second bootstrap printed the same credentials %v", again)
		}
	})

	srv := startServe(t, e)
	t.Run("the printed credentials get an environment-admin token through `keyward token`", func(t *testing.T) {
		out, err := tokenCommand(t, srv.URL, creds["client_id"], creds["client_secret"])
		if err != nil {
			t.Fatalf("token = %v", err)
		}
		if strings.Count(out, "\n") != 1 || strings.Count(out, ".") != 2 {
			t.Fatalf("token printed %q, want one line holding a JWT", out)
		}
		_, claims := verifyToken(t, strings.TrimSpace(out), fetchJWKS(t, srv.URL), srv.URL)
		if claims["client_id"] != creds["client_id"] || claims["sub"] != creds["client_id"] {
			t.Errorf("client_id, sub = %v, %v, want %s", claims["client_id"], claims["sub"], creds["client_id"])
		}
		if claims["scope"] != "keyward:admin" {
			t.Errorf("scope = %v, want keyward:admin", claims["scope"])
		}
	})
	t.Run("a wrong secret gets no token and exits 1", func(t *testing.T) {
		out, err := tokenCommand(t, srv.URL, creds["client_id"], creds["client_secret"]+"x")
		if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "invalid_client") {
			t.Errorf("token = %v (exit %d), want an invalid_client error and exit 1", err, exitStatus(err))
		}
		if out != "" {
			t.Errorf("token printed %q on failure", out)
		}
	})
	t.Run("serve stops gracefully when its context ends", func(t *testing.T) {
		if err := srv.Stop(t); err != nil {
			t.Errorf("serve returned %v after its context ended, want nil; logs:\n%s", err, srv.Logs)
		}
		if resp, err := httpClient.Get(srv.URL + "/healthz"); err == nil {
			resp.Body.Close()
			t.Errorf("GET /healthz after stop = %s, want no listener", resp.Status)
		}
		if !strings.Contains(srv.Logs.String(), "shutting down") {
			t.Errorf("serve did not log its shutdown:\n%s", srv.Logs)
		}
	})
}

// keyRow is what the tests compare of a signing key.
type keyRow struct {
	KID, State string
	Activate   *time.Time
}

func signingKeys(t *testing.T, dbURL string) []keyRow {
	t.Helper()
	conn := connect(t, dbURL)
	rows, err := conn.Query(context.Background(), `SELECT kid, state, activate_time FROM signing_keys ORDER BY create_time, kid`)
	if err != nil {
		t.Fatal(err)
	}
	var ks []keyRow
	for rows.Next() {
		var k keyRow
		if err := rows.Scan(&k.KID, &k.State, &k.Activate); err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ks
}

func kidsIn(ks []keyRow, state string) []string {
	var kids []string
	for _, k := range ks {
		if k.State == state {
			kids = append(kids, k.KID)
		}
	}
	return kids
}

func TestKeysListAndRotate(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	e := env{"KEYWARD_DATABASE_URL": db, "KEYWARD_KEY_ENCRYPTION_KEY": newKEK()}
	keysCmd := func(sub string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"keys", sub}, e.get, &stdout, &stderr)
		return stdout.String(), err
	}

	out, err := keysCmd("list")
	if err != nil {
		t.Fatalf("keys list = %v", err)
	}
	before := signingKeys(t, db)
	active, next := kidsIn(before, "active"), kidsIn(before, "next")
	if len(active) != 1 || len(next) != 1 {
		t.Fatalf("after keys list the database holds %v, want one active and one next key", before)
	}

	t.Run("keys list prints the active key as signing", func(t *testing.T) {
		if !strings.Contains(out, active[0]+" signs every new token.") {
			t.Errorf("keys list does not show %s as signing:\n%s", active[0], out)
		}
	})
	t.Run("keys list prints the next key as published and when it may sign", func(t *testing.T) {
		if !strings.Contains(out, next[0]+" is published; `keyward keys rotate` can make it sign from ") {
			t.Errorf("keys list does not show %s as next:\n%s", next[0], out)
		}
		for _, l := range lines(out) {
			// A table row: KID STATE ALG CREATED SIGNS-FROM RETIRED LEAVES-JWKS.
			if f := strings.Fields(l); len(f) == 7 && f[0] == next[0] && f[1] != "next" {
				t.Errorf("the table shows %s as %s, want next", next[0], f[1])
			}
		}
	})
	t.Run("keys list a second time creates no keys", func(t *testing.T) {
		if _, err := keysCmd("list"); err != nil {
			t.Fatal(err)
		}
		if after := signingKeys(t, db); !slices.EqualFunc(after, before, sameKey) {
			t.Errorf("keys are %v after a second list, were %v", after, before)
		}
	})
	t.Run("keys rotate right away fails saying when the next key may sign and changes nothing", func(t *testing.T) {
		_, err := keysCmd("rotate")
		if exitStatus(err) != 1 {
			t.Fatalf("keys rotate = %v (exit %d), want exit 1", err, exitStatus(err))
		}
		when := before[slices.IndexFunc(before, func(k keyRow) bool { return k.State == "next" })].Activate.UTC().Format(time.RFC3339)
		if !strings.Contains(err.Error(), next[0]) || !strings.Contains(err.Error(), "may not sign before "+when) {
			t.Errorf("keys rotate error %q does not say that %s may sign from %s", err, next[0], when)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("keys rotate error %q is more than one line", err)
		}
		if after := signingKeys(t, db); !slices.EqualFunc(after, before, sameKey) {
			t.Errorf("keys are %v after a refused rotate, were %v", after, before)
		}
	})
	t.Run("keys rotate once the publish lead has passed makes the next key sign", func(t *testing.T) {
		conn := connect(t, db)
		// Back-date the next key's publication by more than the default
		// 30-minute lead, as if the clock had moved on.
		if _, err := conn.Exec(context.Background(), `UPDATE signing_keys
			SET create_time = create_time - interval '1 hour', activate_time = activate_time - interval '1 hour'
			WHERE state = 'next'`); err != nil {
			t.Fatal(err)
		}
		out, err := keysCmd("rotate")
		if err != nil {
			t.Fatalf("keys rotate = %v", err)
		}
		after := signingKeys(t, db)
		if got := kidsIn(after, "active"); !slices.Equal(got, next) {
			t.Errorf("active keys are %v, want the former next %v", got, next)
		}
		if got := kidsIn(after, "retired"); !slices.Equal(got, active) {
			t.Errorf("retired keys are %v, want the former active %v", got, active)
		}
		if got := kidsIn(after, "next"); len(got) != 1 || got[0] == next[0] {
			t.Errorf("next keys are %v, want one new one", got)
		}
		if !strings.Contains(out, next[0]+" signs every new token.") {
			t.Errorf("keys rotate does not show %s as signing:\n%s", next[0], out)
		}
	})
}

func sameKey(a, b keyRow) bool {
	return a.KID == b.KID && a.State == b.State && (a.Activate == nil) == (b.Activate == nil) &&
		(a.Activate == nil || a.Activate.Equal(*b.Activate))
}

func TestServeEnsuresTheBootstrapAdminFromTheEnvironment(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	const id = "ci-admin"
	oldSecret := "first-secret-0123456789-abcdef"
	newSecret := "second-secret-0123456789-abcdef"
	e := env{
		"KEYWARD_DATABASE_URL":            db,
		"KEYWARD_KEY_ENCRYPTION_KEY":      newKEK(),
		"KEYWARD_BOOTSTRAP_CLIENT_ID":     id,
		"KEYWARD_BOOTSTRAP_CLIENT_SECRET": oldSecret,
	}
	conn := connect(t, db)
	secretIDs := func(t *testing.T) []string {
		t.Helper()
		if n := queryInt(t, conn, `SELECT count(*) FROM clients WHERE id = $1`, id); n != 1 {
			t.Fatalf("%d clients with id %s, want 1", n, id)
		}
		rows, err := conn.Query(context.Background(), `SELECT id FROM client_secrets WHERE client_id = $1 AND status = 'ACTIVE'`, id)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, s)
		}
		if n := queryInt(t, conn, `SELECT count(*) FROM client_secrets WHERE client_id = $1`, id); n != len(ids) || n != 1 {
			t.Fatalf("%s has %d secrets, %d of them active; want exactly one", id, n, len(ids))
		}
		return ids
	}
	// serveAndCheck starts serve with e, checks that the secret works gets a
	// token and the secret fails gets none, and stops serve again.
	serveAndCheck := func(t *testing.T, e env, works, fails string) {
		t.Helper()
		srv := startServe(t, e)
		out, err := tokenCommand(t, srv.URL, id, works)
		if err != nil {
			t.Fatalf("token with the configured secret = %v; logs:\n%s", err, srv.Logs)
		}
		_, claims := verifyToken(t, strings.TrimSpace(out), fetchJWKS(t, srv.URL), srv.URL)
		if claims["client_id"] != id || claims["scope"] != "keyward:admin" {
			t.Errorf("claims client_id, scope = %v, %v, want %s, keyward:admin", claims["client_id"], claims["scope"], id)
		}
		if fails != "" {
			if _, err := tokenCommand(t, srv.URL, id, fails); err == nil || !strings.Contains(err.Error(), "invalid_client") {
				t.Errorf("token with the replaced secret = %v, want invalid_client", err)
			}
		}
		if err := srv.Stop(t); err != nil {
			t.Fatalf("serve = %v", err)
		}
	}

	var first []string
	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"the first start creates the admin with one secret that works", func(t *testing.T) {
			serveAndCheck(t, e, oldSecret, "")
			first = secretIDs(t)
		}},
		{"a second start with the same values keeps the one client and its one secret", func(t *testing.T) {
			serveAndCheck(t, e, oldSecret, "")
			if again := secretIDs(t); !slices.Equal(again, first) {
				t.Errorf("secret ids are %v after a restart, were %v", again, first)
			}
		}},
		{"a changed secret replaces the old one, which stops working", func(t *testing.T) {
			serveAndCheck(t, e.with(env{"KEYWARD_BOOTSTRAP_CLIENT_SECRET": newSecret}), newSecret, oldSecret)
			if again := secretIDs(t); slices.Equal(again, first) {
				t.Errorf("the secret row %v was kept though the secret changed", again)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			return
		}
	}
}
