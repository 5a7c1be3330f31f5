package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestPushAPI_AdminKeyIsMaskedAndMustBeLong(t *testing.T) {
	priv, _ := keys(t)
	base := map[string]string{"TETHER_MYSQL_DSN": "root@tcp(db:3306)/tether", "TETHER_TOKEN_PRIVATE_KEY": priv}
	adminKey := strings.Repeat("k", 40)
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	c, err := LoadAPI(nil, env(with(map[string]string{"TETHER_ADMIN_KEY": adminKey, "TETHER_PUSH_RATE_LIMIT": "50"})))
	if err != nil {
		t.Fatal(err)
	}
	if c.PushAPI.AdminKey != adminKey || c.PushAPI.RateLimit != 50 {
		t.Fatalf("push api config %+v", c.PushAPI)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "api", c)
	if strings.Contains(buf.String(), adminKey) || !strings.Contains(buf.String(), "api.admin-key=***") {
		t.Fatalf("admin key not masked: %s", buf.String())
	}
	if _, err := LoadAPI(nil, env(with(map[string]string{"TETHER_ADMIN_KEY": "short"}))); err == nil || !strings.Contains(err.Error(), "TETHER_ADMIN_KEY") {
		t.Fatalf("short admin key: %v", err)
	}
	if _, err := LoadAPI(nil, env(with(map[string]string{"TETHER_PUSH_RATE_LIMIT": "-1"}))); err == nil || !strings.Contains(err.Error(), "--push-rate-limit") {
		t.Fatalf("negative rate limit: %v", err)
	}
	d, err := LoadDev([]string{"--admin-key", adminKey}, env(nil))
	if err != nil || d.PushAPI.AdminKey != adminKey || d.PushAPI.RateLimit != 1000 {
		t.Fatalf("dev: %+v %v", d.PushAPI, err)
	}
}
