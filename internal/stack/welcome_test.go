package stack

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/token"
)

// cluster is an API (with a bootstrap admin key) and a push node on
// MariaDB and Redis, with what a test needs to reach behind them.
type cluster struct {
	api    *API
	push   *Push
	rdb    redis.UniversalClient
	keys   route.Keys
	signer *token.Signer // mints tokens as an outside auth service would
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	ctx := context.Background()
	dsn := testenv.MySQL(t)
	rdb, prefix := testenv.Redis(t)
	db, err := store.Open(ctx, store.Config{Driver: "mysql", DSN: dsn}, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	priv, pub := keyPair(t)
	ac := apiConfig(t, dsn, prefix, priv)
	ac.PushAPI.AdminKey = stackAdminKey
	a, err := StartAPI(ctx, ac, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, a)
	pc := config.DefaultPush()
	pc.NodeID = testenv.Name("push-")
	pc.TCPAddr, pc.AdminAddr, pc.TokenPublicKey = "127.0.0.1:0", "127.0.0.1:0", pub
	pc.Redis.Addr, pc.Redis.Prefix = testenv.RedisAddr(), prefix
	p, err := StartPush(ctx, pc, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, p)
	sk, err := token.ParsePrivate(priv)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{api: a, push: p, rdb: rdb, keys: route.Keys{Prefix: prefix}, signer: token.NewSigner(sk, time.Minute)}
}

// A brand-new account has no timeline entry, and its first Welcome says
// so: version 0, without version_unknown, which would mean Redis could not
// tell (and makes every new client sync). When Redis has lost the version,
// the Welcome does say version_unknown.
func TestWelcome_NewUserIsVersionZeroNotUnknown(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rest := client.NewAPI("http://"+c.api.HTTPAddr, nil)
	u, err := rest.Register(ctx, "newbie", password)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := rest.Login(ctx, "newbie", password, "phone", "ios")
	if err != nil {
		t.Fatal(err)
	}
	f := handshake(t, c.push.PushAddr, tok.AccessToken)
	if f.Type != wire.TypeWelcome || f.Welcome.Flags&wire.FlagVersionUnknown != 0 || f.Welcome.CurrentVersion != 0 {
		t.Fatalf("a new user's first handshake: %s %+v, want Welcome version 0 without version_unknown", f.Type, f.Welcome)
	}

	// Redis lost the key (e.g. it restarted empty): now the node cannot tell.
	if err := c.rdb.Del(ctx, c.keys.Version(u.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	f = handshake(t, c.push.PushAddr, tok.AccessToken)
	if f.Type != wire.TypeWelcome || f.Welcome.Flags&wire.FlagVersionUnknown == 0 {
		t.Fatalf("handshake without a version in Redis: %s %+v, want version_unknown", f.Type, f.Welcome)
	}
}
