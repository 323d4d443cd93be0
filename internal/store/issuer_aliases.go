package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// MaxIssuerAliases bounds the issuer aliases of one client.
const MaxIssuerAliases = 5

// IssuerAliasTakenError is returned (wrapping ErrConflict) when an issuer
// alias is held by another client already, or is a client's id: a token's
// iss must name one client.
type IssuerAliasTakenError struct {
	Alias string
}

func (e *IssuerAliasTakenError) Error() string {
	return "the issuer alias " + strconv.Quote(e.Alias) + " is taken"
}

func (e *IssuerAliasTakenError) Unwrap() error { return ErrConflict }

// issuerAliasesArray is a column expression of ClientByID: the issuer
// aliases of client c in the order they were given.
const issuerAliasesArray = `(SELECT coalesce(array_agg(a.alias ORDER BY a.position), '{}')
	FROM client_issuer_aliases a WHERE a.client_id = c.id)`

// setIssuerAliases replaces the issuer aliases of client clientID, inside
// the caller's transaction (which must hold the client's row). It returns
// an *IssuerAliasTakenError naming the first alias that another client holds
// or that is a client id. Concurrent claims of one alias serialise on its
// primary key: the later one finds it taken.
func setIssuerAliases(ctx context.Context, tx pgx.Tx, clientID string, aliases []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM client_issuer_aliases WHERE client_id = $1`, clientID); err != nil {
		return err
	}
	if len(aliases) == 0 {
		return nil
	}
	var ids []string
	rows, err := tx.Query(ctx, `SELECT id FROM clients WHERE id = ANY($1)`, aliases)
	if err != nil {
		return err
	}
	if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, `
		INSERT INTO client_issuer_aliases (alias, client_id, position)
		SELECT u.alias, $1, u.n - 1 FROM unnest($2::text[]) WITH ORDINALITY AS u(alias, n)
		ON CONFLICT (alias) DO NOTHING
		RETURNING alias`, clientID, aliases)
	if err != nil {
		return err
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, a := range aliases {
		if slices.Contains(ids, a) || !slices.Contains(inserted, a) {
			return &IssuerAliasTakenError{Alias: a}
		}
	}
	return nil
}

// loadIssuerAliases fills in the issuer aliases of the given clients.
func loadIssuerAliases(ctx context.Context, q querier, clients []Client) error {
	if len(clients) == 0 {
		return nil
	}
	ids := make([]string, len(clients))
	at := make(map[string]int, len(clients))
	for i := range clients {
		ids[i] = clients[i].ID
		at[clients[i].ID] = i
		clients[i].ClientSigned.IssuerAliases = []string{}
	}
	rows, err := q.Query(ctx, `
		SELECT client_id, alias FROM client_issuer_aliases WHERE client_id = ANY($1) ORDER BY client_id, position`, ids)
	if err != nil {
		return err
	}
	var clientID, alias string
	_, err = pgx.ForEachRow(rows, []any{&clientID, &alias}, func() error {
		i := at[clientID]
		clients[i].ClientSigned.IssuerAliases = append(clients[i].ClientSigned.IssuerAliases, alias)
		return nil
	})
	return err
}

// ClientIDByIssuer returns the id of the client a token's iss names: the
// client whose id it is, else the client holding it as an issuer alias. One
// indexed query; ErrNotFound when there is none.
func (s *Store) ClientIDByIssuer(ctx context.Context, iss string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `
		SELECT id FROM (
			SELECT id, 0 AS rank FROM clients WHERE id = $1
			UNION ALL
			SELECT client_id, 1 FROM client_issuer_aliases WHERE alias = $1
		) found ORDER BY rank LIMIT 1`, iss).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("client of issuer: %w", classify(err))
	}
	return id, nil
}

// ClientByIssuer returns the client a token's iss names, as ClientByID
// does: two queries, for callers without a cache. It returns ErrNotFound
// when there is none.
func (s *Store) ClientByIssuer(ctx context.Context, iss string) (Client, error) {
	id, err := s.ClientIDByIssuer(ctx, iss)
	if err != nil {
		return Client{}, err
	}
	return s.ClientByID(ctx, id)
}
