package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestWebhook_OffByDefaultAndRequiresASecretAndAnHTTPURLWhenOn(t *testing.T) {
	c, err := LoadDev(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Webhook.Enabled() || c.Webhook.MaxAttempts != 8 || c.Webhook.Timeout != 5*time.Second {
		t.Fatalf("defaults: %+v", c.Webhook)
	}
	_, err = LoadDev(nil, env(map[string]string{"TETHER_WEBHOOK_URL": "https://hooks.example.com/tether"}))
	if err == nil || !strings.Contains(err.Error(), "--webhook-secret (TETHER_WEBHOOK_SECRET): is required") {
		t.Fatalf("URL without secret: err = %v", err)
	}
	for _, bad := range []string{"hooks.example.com/tether", "ftp://hooks.example.com/x", "https://", "/tether"} {
		_, err = LoadDev(nil, env(map[string]string{"TETHER_WEBHOOK_URL": bad, "TETHER_WEBHOOK_SECRET": "s"}))
		if err == nil || !strings.Contains(err.Error(), "TETHER_WEBHOOK_URL") {
			t.Errorf("URL %q: err = %v", bad, err)
		}
	}
	_, err = LoadDev([]string{"--webhook-max-attempts", "0", "--webhook-timeout", "0s"}, env(nil))
	if err == nil || !strings.Contains(err.Error(), "TETHER_WEBHOOK_MAX_ATTEMPTS") || !strings.Contains(err.Error(), "TETHER_WEBHOOK_TIMEOUT") {
		t.Fatalf("bad attempts and timeout: err = %v", err)
	}
	priv, _ := keys(t)
	a, err := LoadAPI([]string{"--webhook-timeout", "2s"}, env(map[string]string{
		"TETHER_MYSQL_DSN": "u:p@tcp(db:3306)/tether", "TETHER_TOKEN_PRIVATE_KEY": priv,
		"TETHER_WEBHOOK_URL": "http://10.0.0.5:8000/hook", "TETHER_WEBHOOK_SECRET": "whsec-hunter2",
		"TETHER_WEBHOOK_MAX_ATTEMPTS": "3",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Webhook.Enabled() || a.Webhook.Secret != "whsec-hunter2" || a.Webhook.MaxAttempts != 3 || a.Webhook.Timeout != 2*time.Second {
		t.Fatalf("api webhook: %+v", a.Webhook)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", a)
	if strings.Contains(buf.String(), "hunter2") || !strings.Contains(buf.String(), "webhook-secret=***") {
		t.Fatalf("secret not masked: %s", buf.String())
	}
}
