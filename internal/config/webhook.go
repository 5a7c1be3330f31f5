package config

import (
	"net/url"
	"time"
)

// Webhook is the offline-notification webhook of `tether api` and `tether
// dev` (api/webhook): a message that reaches a user with no live push
// session is POSTed, signed, to URL.
type Webhook struct {
	URL         string        // empty: off, nothing is queued
	Secret      string        // HMAC-SHA256 key of the Tether-Signature header
	MaxAttempts int           // attempts before a retryable delivery fails
	Timeout     time.Duration // per request
}

func (w *Webhook) declare(s *Set) {
	s.String(&w.URL, "webhook-url", "TETHER_WEBHOOK_URL", "", "Offline-notification webhook: a message that reaches a user with no live push session is POSTed here (http or https), signed; see Offline notifications (webhook). Empty: off, nothing is queued.")
	s.SecretString(&w.Secret, "webhook-secret", "TETHER_WEBHOOK_SECRET", "", "Key of the webhook's HMAC-SHA256 Tether-Signature header; required with --webhook-url. Prefer the environment variable over the flag.")
	s.Int(&w.MaxAttempts, "webhook-max-attempts", "TETHER_WEBHOOK_MAX_ATTEMPTS", 8, "Attempts of one webhook delivery (network errors, 5xx, 408 and 429 are retried with exponential backoff) before it is marked failed.")
	s.Duration(&w.Timeout, "webhook-timeout", "TETHER_WEBHOOK_TIMEOUT", 5*time.Second, "Timeout of one webhook request; a timeout is retried.")
}

func (w *Webhook) check(c *checker) {
	c.intRange(&w.MaxAttempts, 1, 100)
	if w.Timeout <= 0 || w.Timeout > 5*time.Minute {
		c.failf(&w.Timeout, "must be positive and at most 5m, got %s", w.Timeout)
	}
	if w.URL == "" {
		return
	}
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.failf(&w.URL, "%q is not an absolute http(s) URL", w.URL)
	}
	if w.Secret == "" {
		c.failf(&w.Secret, "is required when --webhook-url is set")
	}
}

// Enabled reports whether offline notifications are on.
func (w Webhook) Enabled() bool { return w.URL != "" }
