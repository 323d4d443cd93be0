package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Client authentication methods. A client's method is fixed at creation.
const (
	AuthClientSecret  = "client_secret"
	AuthPrivateKeyJWT = "private_key_jwt"
	AuthAPIKey        = "api_key"
)

// Secret statuses.
const (
	SecretActive   = "ACTIVE"
	SecretInactive = "INACTIVE"
)

// MaxSecretsPerClient bounds how many secrets one client may hold; rotation
// needs two, and the token path checks each active one.
const MaxSecretsPerClient = 10

// Client is a machine that gets tokens. OrganizationID is "" for an
// environment client such as the bootstrap admin.
type Client struct {
	ID             string
	Seq            int64
	OrganizationID string
	Name           string
	Description    string
	AuthMethod     string
	Scopes         []string
	Audience       []string
	CustomClaims   []CustomClaim
	Expiry         int // seconds
	// InjectContextIdentifier lets token requests carry a
	// context_identifier, which becomes the token's ctx claim.
	InjectContextIdentifier bool
	CreateTime              time.Time
	UpdateTime              time.Time
	Secrets                 []Secret
	// Keys are the public keys of a private_key_jwt client. ClientByID
	// loads them; list and update functions leave them nil.
	Keys []ClientKey
	// Version grows with every change of the client or its secrets (not
	// with last_used_time); caches compare it to find stale entries.
	Version int64
	// ClientSigned is whether and how introspection accepts JWTs the client
	// signs itself.
	ClientSigned ClientSignedTokens
}

// ClientSignedTokens is a client's setting for bearer tokens it signs
// itself, which introspection accepts while Enabled.
type ClientSignedTokens struct {
	Enabled bool
	// IssuerAliases may stand in a token's iss besides the client id; each
	// is unique across the environment. ClientByID, CreateClient,
	// UpdateClient and ListClients fill them in.
	IssuerAliases []string
	// MaxLifetime bounds a token's exp - iat, in seconds.
	MaxLifetime int
}

// DefaultClientSignedMaxLifetime is MaxLifetime when none is given.
const DefaultClientSignedMaxLifetime = 3600

// CustomClaim is a claim a client's tokens carry as a top-level string.
type CustomClaim struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Secret is a client secret as stored: never the plain secret.
type Secret struct {
	ID           string
	ClientID     string
	Hash         []byte
	Sealed       []byte
	KEKID        string
	Suffix       string
	Status       string
	CreateTime   time.Time
	UpdateTime   time.Time
	LastUsedTime *time.Time
}

const clientColumns = `id, seq, coalesce(organization_id, ''), name, description, auth_method,
	scopes, audience, custom_claims, expiry, create_time, update_time, version, inject_context_identifier,
	client_signed_tokens_enabled, client_signed_max_lifetime`

func scanClient(row pgx.Row) (Client, error) {
	var c Client
	err := row.Scan(&c.ID, &c.Seq, &c.OrganizationID, &c.Name, &c.Description, &c.AuthMethod,
		&c.Scopes, &c.Audience, &c.CustomClaims, &c.Expiry, &c.CreateTime, &c.UpdateTime, &c.Version,
		&c.InjectContextIdentifier, &c.ClientSigned.Enabled, &c.ClientSigned.MaxLifetime)
	return c, err
}

const secretColumns = `id, client_id, hash, sealed, kek_id, secret_suffix, status, create_time, update_time, last_used_time`

func scanSecret(row pgx.Row) (Secret, error) {
	var s Secret
	err := row.Scan(&s.ID, &s.ClientID, &s.Hash, &s.Sealed, &s.KEKID, &s.Suffix, &s.Status,
		&s.CreateTime, &s.UpdateTime, &s.LastUsedTime)
	return s, err
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func insertClient(ctx context.Context, q querier, c Client) (Client, error) {
	if c.Scopes == nil {
		c.Scopes = []string{}
	}
	if c.Audience == nil {
		c.Audience = []string{}
	}
	if c.CustomClaims == nil {
		c.CustomClaims = []CustomClaim{}
	}
	if c.ClientSigned.MaxLifetime == 0 {
		c.ClientSigned.MaxLifetime = DefaultClientSignedMaxLifetime
	}
	return scanClient(q.QueryRow(ctx, `
		INSERT INTO clients (id, organization_id, name, description, auth_method, scopes, audience,
			custom_claims, expiry, create_time, update_time, inject_context_identifier,
			client_signed_tokens_enabled, client_signed_max_lifetime)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13)
		RETURNING `+clientColumns,
		c.ID, nullIfEmpty(c.OrganizationID), c.Name, c.Description, c.AuthMethod, c.Scopes, c.Audience,
		c.CustomClaims, c.Expiry, c.CreateTime, c.InjectContextIdentifier,
		c.ClientSigned.Enabled, c.ClientSigned.MaxLifetime))
}

func insertSecret(ctx context.Context, q querier, s Secret) (Secret, error) {
	return scanSecret(q.QueryRow(ctx, `
		INSERT INTO client_secrets (id, client_id, hash, sealed, kek_id, secret_suffix, status, create_time, update_time)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
		RETURNING `+secretColumns,
		s.ID, s.ClientID, s.Hash, s.Sealed, s.KEKID, s.Suffix, s.Status, s.CreateTime))
}

// CreateClient inserts c with its issuer aliases and, when first is not
// nil, its first secret, and the request's pending audit row (WithAudit), in
// one transaction: there is never a client without the secret its creator
// was shown. An unknown organization is ErrNotFound; an issuer alias held
// already is an *IssuerAliasTakenError.
func (s *Store) CreateClient(ctx context.Context, c Client, first *Secret) (Client, error) {
	var out Client
	err := s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		var err error
		if out, err = insertClient(ctx, tx, c); err != nil {
			return nil, err
		}
		out.ClientSigned.IssuerAliases = []string{}
		if len(c.ClientSigned.IssuerAliases) > 0 {
			if err := setIssuerAliases(ctx, tx, out.ID, c.ClientSigned.IssuerAliases); err != nil {
				return nil, err
			}
			out.ClientSigned.IssuerAliases = c.ClientSigned.IssuerAliases
		}
		out.Secrets = []Secret{}
		if first != nil {
			sec, err := insertSecret(ctx, tx, *first)
			if err != nil {
				return nil, err
			}
			out.Secrets = append(out.Secrets, sec)
		}
		return &changed{target: out.ID}, nil
	})
	if err != nil {
		return Client{}, fmt.Errorf("create client: %w", classify(err))
	}
	return out, nil
}

// loadSecrets fills in the secrets of the given clients, oldest first.
func loadSecrets(ctx context.Context, q querier, clients []Client) error {
	if len(clients) == 0 {
		return nil
	}
	ids := make([]string, len(clients))
	at := make(map[string]int, len(clients))
	for i := range clients {
		ids[i] = clients[i].ID
		at[clients[i].ID] = i
		clients[i].Secrets = []Secret{}
	}
	rows, err := q.Query(ctx, loadSecretsSQL, ids)
	if err != nil {
		return err
	}
	secrets, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Secret, error) { return scanSecret(r) })
	if err != nil {
		return err
	}
	for _, sec := range secrets {
		i := at[sec.ClientID]
		clients[i].Secrets = append(clients[i].Secrets, sec)
	}
	return nil
}

// ClientByID returns a client with its secrets and registered keys,
// whatever its organization: the token path's lookup, one indexed query. It
// returns ErrNotFound when there is none.
func (s *Store) ClientByID(ctx context.Context, id string) (Client, error) {
	// The keys come as one JSON array per row (a client has at most
	// MaxKeysPerClient), so that secrets and keys still take one query.
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, c.seq, coalesce(c.organization_id, ''), c.name, c.description, c.auth_method,
			c.scopes, c.audience, c.custom_claims, c.expiry, c.create_time, c.update_time, c.version,
			c.inject_context_identifier, c.client_signed_tokens_enabled, c.client_signed_max_lifetime,
			`+issuerAliasesArray+`, `+clientKeysJSON+`,
			s.id, s.hash, s.sealed, s.kek_id, s.secret_suffix, s.status, s.create_time, s.update_time, s.last_used_time
		FROM clients c LEFT JOIN client_secrets s ON s.client_id = c.id
		WHERE c.id = $1
		ORDER BY s.create_time, s.id`, id)
	if err != nil {
		return Client{}, fmt.Errorf("client %s: %w", id, classify(err))
	}
	defer rows.Close()
	var c Client
	found := false
	for rows.Next() {
		var sec struct {
			ID, KEKID, Suffix, Status *string
			Hash, Sealed              []byte
			CreateTime, UpdateTime    *time.Time
			LastUsedTime              *time.Time
		}
		var keys []byte
		err := rows.Scan(&c.ID, &c.Seq, &c.OrganizationID, &c.Name, &c.Description, &c.AuthMethod,
			&c.Scopes, &c.Audience, &c.CustomClaims, &c.Expiry, &c.CreateTime, &c.UpdateTime, &c.Version,
			&c.InjectContextIdentifier, &c.ClientSigned.Enabled, &c.ClientSigned.MaxLifetime,
			&c.ClientSigned.IssuerAliases, &keys,
			&sec.ID, &sec.Hash, &sec.Sealed, &sec.KEKID, &sec.Suffix, &sec.Status, &sec.CreateTime, &sec.UpdateTime, &sec.LastUsedTime)
		if err != nil {
			return Client{}, fmt.Errorf("client %s: %w", id, classify(err))
		}
		if !found {
			found, c.Secrets = true, []Secret{}
			if c.Keys, err = decodeClientKeys(c.ID, keys); err != nil {
				return Client{}, fmt.Errorf("client %s: keys: %w", id, err)
			}
		}
		if sec.ID != nil { // LEFT JOIN: a client without secrets has one row of NULLs
			c.Secrets = append(c.Secrets, Secret{
				ID: *sec.ID, ClientID: c.ID, Hash: sec.Hash, Sealed: sec.Sealed, KEKID: *sec.KEKID,
				Suffix: *sec.Suffix, Status: *sec.Status, CreateTime: *sec.CreateTime, UpdateTime: *sec.UpdateTime,
				LastUsedTime: sec.LastUsedTime,
			})
		}
	}
	if err := rows.Err(); err != nil {
		return Client{}, fmt.Errorf("client %s: %w", id, classify(err))
	}
	if !found {
		return Client{}, fmt.Errorf("client %s: %w", id, ErrNotFound)
	}
	return c, nil
}

// ClientVersions returns the current version of each of the given clients
// that still exists.
func (s *Store) ClientVersions(ctx context.Context, ids []string) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, version FROM clients WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("client versions: %w", classify(err))
	}
	out := make(map[string]int64, len(ids))
	var id string
	var v int64
	_, err = pgx.ForEachRow(rows, []any{&id, &v}, func() error {
		out[id] = v
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("client versions: %w", classify(err))
	}
	return out, nil
}

// Client returns the client id of organization orgID with its secrets, or
// ErrNotFound when the client does not exist in that organization.
func (s *Store) Client(ctx context.Context, orgID, id string) (Client, error) {
	c, err := s.ClientByID(ctx, id)
	if err != nil {
		return Client{}, err
	}
	if c.OrganizationID != orgID {
		return Client{}, fmt.Errorf("client %s in %s: %w", id, orgID, ErrNotFound)
	}
	return c, nil
}

// clientCountSQL reads an organization's client count, which triggers keep
// exact (migration 00003): one row by primary key, where count(*) would
// read every client of the organization.
const clientCountSQL = `SELECT client_count FROM organizations WHERE id = $1`

// listClientsSQL pages an organization's clients in keyset order: a range
// scan of clients_organization_seq that stops after $3 rows, however deep
// the page. (It is the only index that orders clients by seq: see migration
// 00003 for why.)
const listClientsSQL = `SELECT ` + clientColumns + ` FROM clients WHERE organization_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`

// loadSecretsSQL reads the secrets of a page of clients through
// client_secrets_client.
const loadSecretsSQL = `SELECT ` + secretColumns + ` FROM client_secrets WHERE client_id = ANY($1) ORDER BY create_time, id`

// ListClients returns a page of an organization's clients in creation order,
// with their secrets, the organization's client count and whether more
// follow. An unknown organization is ErrNotFound. Its cost does not grow with
// the number of clients or the depth of the page.
func (s *Store) ListClients(ctx context.Context, orgID string, p Page) (clients []Client, total int, more bool, err error) {
	err = s.inSnapshot(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, clientCountSQL, orgID).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, listClientsSQL, orgID, p.After, p.Limit+1)
		if err != nil {
			return err
		}
		clients, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Client, error) { return scanClient(r) })
		if err != nil {
			return err
		}
		if len(clients) > p.Limit {
			clients, more = clients[:p.Limit], true
		}
		if err := loadIssuerAliases(ctx, tx, clients); err != nil {
			return err
		}
		return loadSecrets(ctx, tx, clients)
	})
	if err != nil {
		return nil, 0, false, fmt.Errorf("list clients of %s: %w", orgID, classify(err))
	}
	return clients, total, more, nil
}

// UpdateClient locks the client of organization orgID, lets mutate change
// it, and stores name, description, scopes, audience, custom claims, expiry,
// inject_context_identifier and the client-signed token setting with
// update_time set to now, with the request's pending audit row (WithAudit).
// It returns ErrNotFound, mutate's error, or an *IssuerAliasTakenError.
func (s *Store) UpdateClient(ctx context.Context, orgID, id string, now time.Time, mutate func(*Client) error) (Client, error) {
	var out Client
	err := s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		c, err := scanClient(tx.QueryRow(ctx, `
			SELECT `+clientColumns+` FROM clients WHERE id = $1 AND organization_id = $2 FOR UPDATE`, id, orgID))
		if err != nil {
			return nil, err
		}
		cs := []Client{c}
		if err := loadIssuerAliases(ctx, tx, cs); err != nil {
			return nil, err
		}
		c = cs[0]
		oldAliases := c.ClientSigned.IssuerAliases
		if err := mutate(&c); err != nil {
			return nil, err
		}
		out, err = scanClient(tx.QueryRow(ctx, `
			UPDATE clients SET name = $2, description = $3, scopes = $4, audience = $5, custom_claims = $6,
				expiry = $7, update_time = $8, inject_context_identifier = $9,
				client_signed_tokens_enabled = $10, client_signed_max_lifetime = $11
			WHERE id = $1 RETURNING `+clientColumns,
			id, c.Name, c.Description, c.Scopes, c.Audience, c.CustomClaims, c.Expiry, now, c.InjectContextIdentifier,
			c.ClientSigned.Enabled, c.ClientSigned.MaxLifetime))
		if err != nil {
			return nil, err
		}
		out.ClientSigned.IssuerAliases = c.ClientSigned.IssuerAliases
		if !slices.Equal(oldAliases, c.ClientSigned.IssuerAliases) {
			if err := setIssuerAliases(ctx, tx, id, c.ClientSigned.IssuerAliases); err != nil {
				return nil, err
			}
		}
		cs = []Client{out}
		if err := loadSecrets(ctx, tx, cs); err != nil {
			return nil, err
		}
		out = cs[0]
		return &changed{target: id}, nil
	})
	if err != nil {
		return Client{}, fmt.Errorf("update client %s: %w", id, classify(err))
	}
	return out, nil
}

// DeleteClient deletes the client of organization orgID and its secrets,
// with the request's pending audit row (WithAudit). It returns ErrNotFound
// when there is none.
func (s *Store) DeleteClient(ctx context.Context, orgID, id string) error {
	err := s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM clients WHERE id = $1 AND organization_id = $2`, id, orgID)
		return deletedOne(tag, err, id)
	})
	if err != nil {
		return fmt.Errorf("delete client %s: %w", id, classify(err))
	}
	return nil
}

// ErrTooManySecrets is returned (wrapping ErrConflict) when a client already
// holds MaxSecretsPerClient secrets.
var ErrTooManySecrets = fmt.Errorf("%w: a client holds at most %d secrets", ErrConflict, MaxSecretsPerClient)

// ErrWrongAuthMethod is returned (wrapping ErrConflict) when a credential is
// added to a client whose authentication method does not use it.
var ErrWrongAuthMethod = fmt.Errorf("%w: the client's authentication method does not use this credential", ErrConflict)

// AddSecret adds sec to the client of organization orgID, with the
// request's pending audit row (WithAudit). It returns ErrNotFound,
// ErrTooManySecrets or ErrWrongAuthMethod.
func (s *Store) AddSecret(ctx context.Context, orgID string, sec Secret) (Secret, error) {
	var out Secret
	err := s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		var method string
		var n int
		// Locking the client row serialises concurrent additions, so the
		// limit holds.
		err := tx.QueryRow(ctx, `
			SELECT c.auth_method, (SELECT count(*) FROM client_secrets WHERE client_id = c.id)
			FROM clients c WHERE c.id = $1 AND c.organization_id = $2 FOR UPDATE`,
			sec.ClientID, orgID).Scan(&method, &n)
		if err != nil {
			return nil, err
		}
		if method != AuthClientSecret {
			return nil, ErrWrongAuthMethod
		}
		if n >= MaxSecretsPerClient {
			return nil, ErrTooManySecrets
		}
		if out, err = insertSecret(ctx, tx, sec); err != nil {
			return nil, err
		}
		return &changed{target: out.ID}, nil
	})
	if err != nil {
		return Secret{}, fmt.Errorf("add secret to %s: %w", sec.ClientID, classify(err))
	}
	return out, nil
}

// SetSecretStatus sets the status of a secret of a client of organization
// orgID, with the request's pending audit row (WithAudit). It returns
// ErrNotFound when any of the three does not match.
func (s *Store) SetSecretStatus(ctx context.Context, orgID, clientID, secretID, status string, now time.Time) (Secret, error) {
	var sec Secret
	err := s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		var err error
		sec, err = scanSecret(tx.QueryRow(ctx, `
			UPDATE client_secrets s SET status = $4,
				update_time = CASE WHEN s.status = $4 THEN s.update_time ELSE $5 END
			FROM clients c
			WHERE s.id = $3 AND s.client_id = $2 AND c.id = s.client_id AND c.organization_id = $1
			RETURNING s.id, s.client_id, s.hash, s.sealed, s.kek_id, s.secret_suffix, s.status,
				s.create_time, s.update_time, s.last_used_time`,
			orgID, clientID, secretID, status, now))
		if err != nil {
			return nil, err
		}
		return &changed{target: sec.ID}, nil
	})
	if err != nil {
		return Secret{}, fmt.Errorf("set status of secret %s: %w", secretID, classify(err))
	}
	return sec, nil
}

// DeleteSecret deletes a secret of a client of organization orgID, with the
// request's pending audit row (WithAudit). It returns ErrNotFound when any
// of the three does not match.
func (s *Store) DeleteSecret(ctx context.Context, orgID, clientID, secretID string) error {
	err := s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		tag, err := tx.Exec(ctx, `
			DELETE FROM client_secrets s USING clients c
			WHERE s.id = $3 AND s.client_id = $2 AND c.id = s.client_id AND c.organization_id = $1`,
			orgID, clientID, secretID)
		return deletedOne(tag, err, secretID)
	})
	if err != nil {
		return fmt.Errorf("delete secret %s: %w", secretID, classify(err))
	}
	return nil
}

// RecordSecretUse sets last_used_time of many secrets in one statement,
// never moving a time backwards. Secrets deleted meanwhile are skipped.
func (s *Store) RecordSecretUse(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]string, 0, len(used))
	times := make([]time.Time, 0, len(used))
	for id, t := range used {
		ids = append(ids, id)
		times = append(times, t)
	}
	_, err := s.pool.Exec(ctx, `
		UPDATE client_secrets s SET last_used_time = GREATEST(s.last_used_time, u.t)
		FROM unnest($1::text[], $2::timestamptz[]) AS u(id, t)
		WHERE s.id = u.id`, ids, times)
	if err != nil {
		return fmt.Errorf("record secret use: %w", classify(err))
	}
	return nil
}

// EnsureEnvironmentClient makes sure the environment client c.ID exists with
// c's scopes and with sec as its only secret, as the bootstrap settings ask.
// It is idempotent and safe to run from several replicas at once.
// verify reports whether a stored secret is the wanted one.
func (s *Store) EnsureEnvironmentClient(ctx context.Context, c Client, sec Secret, verify func(Secret) bool) (created bool, err error) {
	err = s.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, bootstrapLockID); err != nil {
			return err
		}
		existing, err := scanClient(tx.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`, c.ID))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := insertClient(ctx, tx, c); err != nil {
				return err
			}
			created = true
			_, err = insertSecret(ctx, tx, sec)
			return err
		case err != nil:
			return err
		}
		if existing.OrganizationID != "" {
			return fmt.Errorf("%w: client %s exists in organization %s, not as an environment client",
				ErrConflict, c.ID, existing.OrganizationID)
		}
		if _, err := tx.Exec(ctx, `UPDATE clients SET scopes = $2, update_time = $3 WHERE id = $1 AND scopes <> $2`,
			c.ID, c.Scopes, c.CreateTime); err != nil {
			return err
		}
		cs := []Client{existing}
		if err := loadSecrets(ctx, tx, cs); err != nil {
			return err
		}
		keep := ""
		for _, old := range cs[0].Secrets {
			if keep == "" && verify(old) {
				keep = old.ID
			}
		}
		if keep == "" {
			if _, err := insertSecret(ctx, tx, sec); err != nil {
				return err
			}
			keep = sec.ID
		}
		if _, err := tx.Exec(ctx, `UPDATE client_secrets SET status = 'ACTIVE', update_time = $3
			WHERE id = $2 AND client_id = $1 AND status <> 'ACTIVE'`, c.ID, keep, c.CreateTime); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM client_secrets WHERE client_id = $1 AND id <> $2`, c.ID, keep)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("ensure environment client %s: %w", c.ID, classify(err))
	}
	return created, nil
}

const bootstrapLockID = 0x6b6579776172641
