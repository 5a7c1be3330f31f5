package config

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether/shared/token"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func keys(t *testing.T) (priv, pub string) {
	t.Helper()
	pk, sk, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return token.EncodePrivate(sk), token.EncodePublic(pk)
}

func TestLoad_FlagWinsOverEnvAndEnvOverDefault(t *testing.T) {
	priv, _ := keys(t)
	e := env(map[string]string{
		"TETHER_MYSQL_DSN":         "u:p@tcp(db:3306)/tether",
		"TETHER_TOKEN_PRIVATE_KEY": priv,
		"TETHER_HTTP_ADDR":         ":8181",  // env only
		"TETHER_ADMIN_ADDR":        ":9191",  // overridden by the flag
		"TETHER_ACCESS_TTL":        "5m",     // env only
		"TETHER_REDIS_DB":          "3",      // overridden by the flag
		"TETHER_LOG_FORMAT":        "json",   // env only
		"TETHER_UNRELATED":         "ignore", // not a setting
	})
	c, err := LoadAPI([]string{"--admin", "127.0.0.1:9999", "-redis-db=4"}, e)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8181" || c.AccessTTL != 5*time.Minute || c.Log.Format != "json" {
		t.Errorf("env did not override defaults: %+v", c)
	}
	if c.AdminAddr != "127.0.0.1:9999" || c.Redis.DB != 4 {
		t.Errorf("flags did not override env: admin=%q db=%d", c.AdminAddr, c.Redis.DB)
	}
	if c.RefreshTTL != 30*24*time.Hour || c.Redis.Prefix != "tether:" || c.RelayBatch != 256 {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestLoad_InvalidEnvValueNamesTheVariable(t *testing.T) {
	_, err := LoadDev(nil, env(map[string]string{"TETHER_ADMIN_ADDR": "x"}))
	if err == nil || !strings.Contains(err.Error(), "--admin (TETHER_ADMIN_ADDR)") {
		t.Fatalf("err = %v", err)
	}
	priv, _ := keys(t)
	_, err = LoadAPI(nil, env(map[string]string{
		"TETHER_MYSQL_DSN": "u@tcp(h)/d", "TETHER_TOKEN_PRIVATE_KEY": priv, "TETHER_ACCESS_TTL": "fortnight",
	}))
	if err == nil || !strings.Contains(err.Error(), "TETHER_ACCESS_TTL") || !strings.Contains(err.Error(), "not a duration") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoad_RejectsUnknownFlagsAndStrayArguments(t *testing.T) {
	if _, err := LoadDev([]string{"--nope"}, env(nil)); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown flag: err = %v", err)
	}
	if _, err := LoadDev([]string{"extra"}, env(nil)); err == nil || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("stray argument: err = %v", err)
	}
	if _, err := LoadDev([]string{"--help"}, env(nil)); !errors.Is(err, ErrHelp) {
		t.Errorf("--help: err = %v", err)
	}
}

func TestValidate_ReportsEveryProblemWithItsFlagAndVariable(t *testing.T) {
	c := DefaultAPI()
	c.HTTPAddr = "nowhere"
	c.TokenPrivateKey = "not-base64!"
	c.RelayBatch = 0
	c.Log.Level = "loud"
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{
		"--http (TETHER_HTTP_ADDR)", "--mysql (TETHER_MYSQL_DSN): is required",
		"--token-private-key (TETHER_TOKEN_PRIVATE_KEY)", "tether keygen",
		"--relay-batch (TETHER_RELAY_BATCH)", "--log-level (TETHER_LOG_LEVEL)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "not-base64!") {
		t.Errorf("error echoes the private key: %v", err)
	}
}

func TestValidate_PushNeedsKeyAndIdleTimeoutAboveHeartbeat(t *testing.T) {
	_, pub := keys(t)
	c := DefaultPush()
	c.NodeID = "push-0"
	c.TokenPublicKey = pub
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults with a key and node id: %v", err)
	}
	c.IdleTimeout = c.HeartbeatInterval
	c.NodeID = "bad id/with slash"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "--idle-timeout") || !strings.Contains(err.Error(), "--node-id") {
		t.Fatalf("err = %v", err)
	}
	c = DefaultPush()
	c.NodeID = "n1"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "TETHER_TOKEN_PUBLIC_KEY") {
		t.Fatalf("missing public key: err = %v", err)
	}
}

func TestLoadPush_NodeIDDefaultsToHostName(t *testing.T) {
	_, pub := keys(t)
	c, err := LoadPush(nil, env(map[string]string{"TETHER_TOKEN_PUBLIC_KEY": pub}))
	if err != nil {
		t.Skipf("host name is not a valid node id here: %v", err)
	}
	if c.NodeID == "" {
		t.Fatal("node id empty")
	}
	c, err = LoadPush([]string{"--node-id", "push-1"}, env(map[string]string{"TETHER_TOKEN_PUBLIC_KEY": pub, "TETHER_NODE_ID": "push-0"}))
	if err != nil || c.NodeID != "push-1" {
		t.Fatalf("node id %q, err %v", c.NodeID, err)
	}
}

func TestValidate_MigrateNeedsExactlyOneDatabase(t *testing.T) {
	if _, err := LoadMigrate(nil, env(nil)); err == nil || !strings.Contains(err.Error(), "one of --mysql or --sqlite") {
		t.Errorf("none: err = %v", err)
	}
	if _, err := LoadMigrate([]string{"--mysql", "u@tcp(h)/d", "--sqlite", "x.db"}, env(nil)); err == nil || !strings.Contains(err.Error(), "only one") {
		t.Errorf("both: err = %v", err)
	}
	if c, err := LoadMigrate([]string{"--sqlite", "x.db"}, env(nil)); err != nil || c.SQLitePath != "x.db" {
		t.Errorf("sqlite: %+v %v", c, err)
	}
}

func TestValidate_ChatDefaultsDeviceAndChecksUser(t *testing.T) {
	c, err := LoadChat([]string{"--user", "alice"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.DeviceID != "chat-alice" || c.Password != DevPassword || c.APIBase != "http://127.0.0.1:8080" {
		t.Errorf("defaults: %+v", c)
	}
	if _, err := LoadChat(nil, env(nil)); err == nil || !strings.Contains(err.Error(), "--user (TETHER_CHAT_USER): is required") {
		t.Errorf("no user: err = %v", err)
	}
	if _, err := LoadChat([]string{"--user", "bob", "--api", "127.0.0.1:8080"}, env(nil)); err == nil || !strings.Contains(err.Error(), "--api") {
		t.Errorf("api without scheme: err = %v", err)
	}
}

// tether chat checks --user and --password by the server's own rules
// (characters, not bytes), so it never refuses what the server accepts.
func TestValidate_ChatUsesTheServersAccountRules(t *testing.T) {
	if _, err := LoadChat([]string{"--user", "alice", "--password", strings.Repeat("é", 200)}, env(nil)); err != nil {
		t.Errorf("200-character password (400 bytes): err = %v", err)
	}
	if _, err := LoadChat([]string{"--user", "alice", "--password", strings.Repeat("é", 4)}, env(nil)); err == nil || !strings.Contains(err.Error(), "--password") {
		t.Errorf("4-character password (8 bytes): err = %v", err)
	}
	if _, err := LoadChat([]string{"--user", "al ice"}, env(nil)); err == nil || !strings.Contains(err.Error(), "--user") {
		t.Errorf("user with a space: err = %v", err)
	}
}

func TestLogValue_MasksEverySecret(t *testing.T) {
	priv, _ := keys(t)
	c, err := LoadAPI([]string{"--redis-password", "r3dis-s3cret"}, env(map[string]string{
		"TETHER_MYSQL_DSN":         "tether:db-p@ss/w0rd@tcp(db:3306)/tether?tls=true",
		"TETHER_TOKEN_PRIVATE_KEY": priv,
	}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "api", c)
	out := buf.String()
	for _, secret := range []string{priv, "r3dis-s3cret", "db-p@ss/w0rd", "p@ss"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line leaks %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{`api.mysql="tether:***@tcp(db:3306)/tether?tls=true"`, "api.token-private-key=***", "api.redis-password=***", "api.http=:8080"} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %q:\n%s", want, out)
		}
	}
	c2, _ := LoadChat([]string{"--user", "alice", "--password", "hunter2hunter2"}, env(nil))
	buf.Reset()
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "chat", c2)
	if strings.Contains(buf.String(), "hunter2") {
		t.Errorf("chat password leaks: %s", buf.String())
	}
}

func TestMaskDSN_HidesPasswordsWhateverTheyContain(t *testing.T) {
	for in, want := range map[string]string{
		"root@tcp(127.0.0.1:3306)/db":           "root@tcp(127.0.0.1:3306)/db",
		"u:p@tcp(h:1)/db?parseTime=true":        "u:***@tcp(h:1)/db?parseTime=true",
		"u:a:b@c/d@tcp(h:1)/db":                 "u:***@tcp(h:1)/db",
		"u:@tcp(h)/db":                          "u:***@tcp(h)/db",
		"/db":                                   "/db",
		"garbage:with@colon-and-no-slash":       "***",
		"":                                      "",
		"u:p@unix(/var/run/mysqld.sock)/tether": "u:***@unix(/var/run/mysqld.sock)/tether",
	} {
		if got := MaskDSN(in); got != want {
			t.Errorf("MaskDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaults_DevIsValidAsIs(t *testing.T) {
	c := DefaultDev()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.PushAddr != "127.0.0.1:7070" || c.AdminAddr != "127.0.0.1:9090" || c.DataDir != "./.tether" {
		t.Errorf("dev defaults: %+v", c)
	}
}

func TestLogNew_HonoursLevelAndFormat(t *testing.T) {
	var buf bytes.Buffer
	l := Log{Level: "warn", Format: "json"}.New(&buf)
	l.Info("hidden")
	l.Warn("shown", "k", 1)
	if strings.Contains(buf.String(), "hidden") || !strings.HasPrefix(buf.String(), `{"time"`) {
		t.Fatalf("got %q", buf.String())
	}
}
