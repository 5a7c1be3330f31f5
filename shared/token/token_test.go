package token

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerify_AcceptsOwnTokens(t *testing.T) {
	pub, priv, _ := GenerateKey()
	s := NewSigner(priv, time.Minute)
	raw, exp, err := s.Sign(Claims{UserID: 42, DeviceID: "d1", Platform: "ios", SessionID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewVerifier(pub).Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != 42 || c.DeviceID != "d1" || c.Platform != "ios" || c.SessionID != "s1" || c.ExpiresAt.Unix() != exp.Unix() {
		t.Fatalf("claims = %+v", c)
	}
}

func TestVerify_RejectsOtherKeyExpiredAndTampered(t *testing.T) {
	pub, priv, _ := GenerateKey()
	otherPub, _, _ := GenerateKey()
	s := NewSigner(priv, time.Minute)
	raw, _, _ := s.Sign(Claims{UserID: 1, DeviceID: "d"})

	if _, err := NewVerifier(otherPub).Verify(raw); !errors.Is(err, ErrInvalid) {
		t.Fatalf("other key: %v", err)
	}
	parts := strings.Split(raw, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	if _, err := NewVerifier(pub).Verify(tampered); !errors.Is(err, ErrInvalid) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := NewVerifier(pub).Verify("garbage"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("garbage: %v", err)
	}
	old := NewSigner(priv, time.Minute)
	old.now = func() time.Time { return time.Now().Add(-time.Hour) }
	expired, _, _ := old.Sign(Claims{UserID: 1, DeviceID: "d"})
	if _, err := NewVerifier(pub).Verify(expired); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
}

func TestKeys_RoundTrip(t *testing.T) {
	pub, priv, _ := GenerateKey()
	p2, err := ParsePrivate(EncodePrivate(priv))
	if err != nil || !p2.Equal(priv) {
		t.Fatal("private round trip", err)
	}
	k2, err := ParsePublic(EncodePublic(pub))
	if err != nil || !k2.Equal(pub) {
		t.Fatal("public round trip", err)
	}
	if _, err := ParsePublic("AAAA"); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestToken_CarriesTheAppVersionAndOmitsAnEmptyOne(t *testing.T) {
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, v := NewSigner(priv, time.Minute), NewVerifier(pub)
	raw, _, err := s.Sign(Claims{UserID: 1, DeviceID: "d", Platform: "ios", SessionID: "s", AppVersion: "2.14.1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(raw)
	if err != nil || c.AppVersion != "2.14.1" {
		t.Fatalf("claims %+v, %v", c, err)
	}
	old, _, _ := s.Sign(Claims{UserID: 1, DeviceID: "d", Platform: "ios", SessionID: "s"})
	if c, err := v.Verify(old); err != nil || c.AppVersion != "" {
		t.Fatalf("a token without an app version: %+v, %v", c, err)
	}
}

func TestVerify_ARememberedTokenStillExpiresAndATamperedCopyIsRefused(t *testing.T) {
	pub, priv, _ := GenerateKey()
	raw, exp, err := NewSigner(priv, time.Minute).Sign(Claims{UserID: 7, DeviceID: "d"})
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(pub)
	for range 2 { // verified, then remembered
		if c, err := v.Verify(raw); err != nil || c.UserID != 7 {
			t.Fatalf("own token: %+v %v", c, err)
		}
	}
	parts := strings.Split(raw, ".")
	if _, err := v.Verify(parts[0] + "." + parts[1] + "." + parts[2] + "A"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a tampered copy of a remembered token: %v", err)
	}
	v.now = func() time.Time { return exp.Add(leeway - time.Second) }
	if _, err := v.Verify(raw); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	v.now = func() time.Time { return exp.Add(leeway + time.Second) }
	for range 2 {
		if _, err := v.Verify(raw); !errors.Is(err, ErrExpired) {
			t.Fatalf("a remembered token after its expiry: %v", err)
		}
	}
}
