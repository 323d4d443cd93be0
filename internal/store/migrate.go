package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/keyward/keyward/migrations"
)

// migrationLockID is the advisory lock that lets only one replica migrate at
// a time; the others wait and then find nothing left to do.
const migrationLockID = 0x6b6579776172640 // "keyward" in hex

func (s *Store) provider(log *slog.Logger) (*goose.Provider, func() error, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
	if err != nil {
		return nil, nil, err
	}
	db := stdlib.OpenDBFromPool(s.pool)
	opts := []goose.ProviderOption{goose.WithSessionLocker(locker)}
	if log != nil {
		opts = append(opts, goose.WithSlog(log))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, opts...)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return p, db.Close, nil
}

// MigrateUp applies every pending migration under an advisory lock and
// returns how many it applied.
func (s *Store) MigrateUp(ctx context.Context, log *slog.Logger) (int, error) {
	p, closeDB, err := s.provider(log)
	if err != nil {
		return 0, err
	}
	defer closeDB()
	results, err := p.Up(ctx)
	if err != nil {
		return len(results), fmt.Errorf("apply migrations: %w", classify(err))
	}
	return len(results), nil
}

// MigrationStatus writes one line per migration: its version, name and
// whether it is applied.
func (s *Store) MigrationStatus(ctx context.Context, w io.Writer) error {
	p, closeDB, err := s.provider(nil)
	if err != nil {
		return err
	}
	defer closeDB()
	status, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("migration status: %w", classify(err))
	}
	for _, st := range status {
		applied := "pending"
		if st.State == goose.StateApplied {
			applied = "applied " + st.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		fmt.Fprintf(w, "%05d  %-40s %s\n", st.Source.Version, st.Source.Path, applied)
	}
	return nil
}
