package store_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
)

func TestAPIKeys_StoredHashedAndRevocable(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		ctx := testCtx(t)
		s := store.NewAPIKeyService(db)
		k, err := s.CreateKey(ctx, tether.NewAPIKey{Name: "crm", Scopes: []string{"push", "broadcast", "push"}, RateLimit: 50})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(k.Secret, store.SecretPrefix+k.ID+"_") || len(k.Scopes) != 2 || k.RateLimit != 50 {
			t.Fatalf("created %+v", k)
		}
		// The database holds neither the secret nor its random part, in any column.
		random := strings.TrimPrefix(k.Secret, store.SecretPrefix+k.ID+"_") // base64url: may hold "_" itself
		raw, err := base64.RawURLEncoding.DecodeString(random)
		if err != nil || len(raw) != 32 {
			t.Fatalf("secret's random part %q: %v", random, err)
		}
		cols, err := store.APIKeyRowsForTest(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cols {
			if strings.Contains(c, random) || strings.Contains(c, string(raw)) {
				t.Fatalf("column %q holds the secret", c)
			}
		}
		got, err := s.KeyBySecret(ctx, k.Secret)
		if err != nil || got.KeyID != k.ID || !got.Has(tether.ScopePush) || got.Has(tether.ScopeAdmin) || got.RateLimit != 50 {
			t.Fatalf("lookup = %+v, %v", got, err)
		}
		_, err = s.KeyBySecret(ctx, k.Secret+"x")
		wantCode(t, err, tether.EUNAUTHORIZED)
		_, err = s.KeyBySecret(ctx, "not-a-key")
		wantCode(t, err, tether.EUNAUTHORIZED)

		if err := s.RevokeKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeKey(ctx, k.ID); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
		wantCode(t, s.RevokeKey(ctx, "k_unknown"), tether.ENOTFOUND)
		_, err = s.KeyBySecret(ctx, k.Secret)
		wantCode(t, err, tether.EUNAUTHORIZED)
	})
}

func TestAPIKeys_ListPagesAndValidates(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		ctx := testCtx(t)
		s := store.NewAPIKeyService(db)
		for _, name := range []string{"a", "b", "c"} {
			if _, err := s.CreateKey(ctx, tether.NewAPIKey{Name: name, Scopes: []string{"admin"}}); err != nil {
				t.Fatal(err)
			}
		}
		p, err := s.Keys(ctx, "", 2)
		if err != nil || len(p.Keys) != 2 || p.NextCursor == "" || p.Keys[0].Name != "a" {
			t.Fatalf("page 1 = %+v, %v", p, err)
		}
		p, err = s.Keys(ctx, p.NextCursor, 2)
		if err != nil || len(p.Keys) != 1 || p.NextCursor != "" || p.Keys[0].Name != "c" {
			t.Fatalf("page 2 = %+v, %v", p, err)
		}
		_, err = s.Keys(ctx, "x", 2)
		wantCode(t, err, tether.EINVALID)
		for _, bad := range []tether.NewAPIKey{
			{Name: "", Scopes: []string{"push"}},
			{Name: strings.Repeat("n", 65), Scopes: []string{"push"}},
			{Name: "x"},
			{Name: "x", Scopes: []string{"root"}},
			{Name: "x", Scopes: []string{"push"}, RateLimit: -1},
		} {
			_, err := s.CreateKey(ctx, bad)
			wantCode(t, err, tether.EINVALID)
		}
	})
}
