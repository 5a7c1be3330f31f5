package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// mint builds a token by hand, as a deployment's own auth service in any
// language would from the documented contract: no golang-jwt, no Signer.
func mint(t *testing.T, key ed25519.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(header) + "." + enc(claims)
	return signing + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(signing)))
}

// The access-token claims are a supported contract (package doc): a token
// minted outside Tether with them verifies like Tether's own, and the
// verifier refuses what the contract rules out.
func TestContract_HandMintedTokensVerifyAsDocumented(t *testing.T) {
	pub, priv, _ := GenerateKey()
	v := NewVerifier(pub)
	now := time.Now().Unix()
	header := map[string]any{"alg": "EdDSA", "typ": "JWT"}
	full := func() map[string]any {
		return map[string]any{"iss": "tether", "sub": "42", "iat": now, "exp": now + 60, "did": "phone-1", "plt": "ios", "sid": "login-7"}
	}
	c, err := v.Verify(mint(t, priv, header, full()))
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != 42 || c.DeviceID != "phone-1" || c.Platform != "ios" || c.SessionID != "login-7" || c.ExpiresAt.Unix() != now+60 {
		t.Fatalf("claims %+v", c)
	}
	// iat, plt and sid are optional to the verifier.
	minimal := full()
	delete(minimal, "iat")
	delete(minimal, "plt")
	delete(minimal, "sid")
	if _, err := v.Verify(mint(t, priv, header, minimal)); err != nil {
		t.Fatalf("without iat, plt, sid: %v", err)
	}
	// exp has 5 seconds of leeway for clock skew.
	skew := full()
	skew["exp"] = now - 2
	if _, err := v.Verify(mint(t, priv, header, skew)); err != nil {
		t.Fatalf("2 s past exp: %v", err)
	}
	skew["exp"] = now - 30
	if _, err := v.Verify(mint(t, priv, header, skew)); !errors.Is(err, ErrExpired) {
		t.Fatalf("30 s past exp: %v, want ErrExpired", err)
	}
	for name, change := range map[string]func(h, c map[string]any){
		"alg HS256":         func(h, _ map[string]any) { h["alg"] = "HS256" },
		"alg none":          func(h, _ map[string]any) { h["alg"] = "none" },
		"other issuer":      func(_, c map[string]any) { c["iss"] = "someone" },
		"no issuer":         func(_, c map[string]any) { delete(c, "iss") },
		"no exp":            func(_, c map[string]any) { delete(c, "exp") },
		"sub 0":             func(_, c map[string]any) { c["sub"] = "0" },
		"sub not a number":  func(_, c map[string]any) { c["sub"] = "alice" },
		"sub a JSON number": func(_, c map[string]any) { c["sub"] = 42 },
		"no did":            func(_, c map[string]any) { delete(c, "did") },
		"empty did":         func(_, c map[string]any) { c["did"] = "" },
	} {
		h, c := map[string]any{"alg": "EdDSA", "typ": "JWT"}, full()
		change(h, c)
		if _, err := v.Verify(mint(t, priv, h, c)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
