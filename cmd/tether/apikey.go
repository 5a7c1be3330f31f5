package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/shared/metrics"
)

const apikeyUsage = `Usage: tether apikey <create|list|revoke> (--mysql DSN | --sqlite PATH) [flags]

Manages the push API's keys directly in the database, like tether migrate
(the database must be migrated). The same as /v1/admin/api-keys, without
an admin key.

  create --name NAME --scopes push[,broadcast][,admin] [--rate-limit N]
         prints the key as JSON, with its secret (shown this once)
  list   [--limit N] [--cursor C]   prints one page of keys as JSON
  revoke --id k_...                 revokes a key (API replicas drop it within 5 s)

--mysql and --sqlite default to TETHER_MYSQL_DSN and TETHER_SQLITE_PATH.
`

// apikey runs `tether apikey`.
func apikey(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stdout, apikeyUsage)
		return errors.New("a subcommand is required: create, list or revoke")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("apikey "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	mysql := fs.String("mysql", getenv("TETHER_MYSQL_DSN"), "")
	sqlite := fs.String("sqlite", getenv("TETHER_SQLITE_PATH"), "")
	name := fs.String("name", "", "")
	scopes := fs.String("scopes", "", "")
	rate := fs.Int("rate-limit", 0, "")
	id := fs.String("id", "", "")
	limit := fs.Int("limit", tether.DefaultPageSize, "")
	cursor := fs.String("cursor", "", "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprint(stdout, apikeyUsage)
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	sc := store.Config{Driver: store.DriverMySQL, DSN: *mysql}
	switch {
	case *mysql != "" && *sqlite != "":
		return errors.New("give only one of --mysql and --sqlite")
	case *sqlite != "":
		sc = store.Config{Driver: store.DriverSQLite, DSN: *sqlite}
	case *mysql == "":
		return errors.New("one of --mysql or --sqlite is required")
	}
	db, err := store.Open(ctx, sc, metrics.New())
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.CheckSchema(ctx); err != nil {
		return fmt.Errorf("database schema is not the one this binary needs (run `tether migrate`): %w", err)
	}
	keys := store.NewAPIKeyService(db)
	enc := json.NewEncoder(stdout)
	switch sub {
	case "create":
		var sc []string
		if *scopes != "" {
			sc = strings.Split(*scopes, ",")
		}
		k, err := keys.CreateKey(ctx, tether.NewAPIKey{Name: *name, Scopes: sc, RateLimit: *rate})
		if err != nil {
			return errors.New(tether.ErrorMessage(err))
		}
		return enc.Encode(k)
	case "list":
		page, err := keys.Keys(ctx, *cursor, *limit)
		if err != nil {
			return errors.New(tether.ErrorMessage(err))
		}
		return enc.Encode(page)
	case "revoke":
		if *id == "" {
			return errors.New("--id is required")
		}
		if err := keys.RevokeKey(ctx, *id); err != nil {
			return errors.New(tether.ErrorMessage(err))
		}
		return nil
	}
	fmt.Fprint(stdout, apikeyUsage)
	return fmt.Errorf("unknown subcommand %q (want create, list or revoke)", sub)
}
