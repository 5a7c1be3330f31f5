// Package token issues and verifies Tether access tokens.
//
// Access tokens are short-lived JWTs signed with Ed25519 (EdDSA). The API holds
// the private key; push nodes hold only the public key, so a node can
// authenticate a connection without calling a database or Redis, and a
// compromised node cannot mint tokens.
//
// The token format is a supported contract, so that a deployment may mint
// access tokens in its own auth service with the same key pair
// (README, "Access tokens"):
//
//	header  alg "EdDSA" (no other algorithm is accepted), typ "JWT"
//	iss     "tether"                                      required
//	sub     the user id, a decimal string, > 0            required
//	exp     expiry, seconds since the epoch (5 s leeway)  required
//	did     device id, not empty                          required
//	iat     issue time                                    optional
//	plt     platform: ios, android, web, desktop, server, other
//	sid     login session id, for revocation              optional
//
// TestContract_HandMintedTokensVerifyAsDocumented holds Verify to it.
package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the "iss" claim of every Tether access token.
const Issuer = "tether"

// Claims is what an access token says about its bearer.
type Claims struct {
	UserID    int64  // the authenticated user
	DeviceID  string // the device the session was opened on
	Platform  string // ios, android, web, desktop, ...
	SessionID string // the login session (refresh-token family) this token belongs to
	// AppVersion is the app version the client declared at login (empty:
	// none); live switches' version rules read it on REST requests.
	AppVersion string
	ExpiresAt  time.Time
}

// ErrInvalid is returned for any token that does not verify: bad signature,
// wrong algorithm, malformed, missing claims.
var ErrInvalid = errors.New("token: invalid")

// ErrExpired is returned for a well-signed token past its expiry.
var ErrExpired = errors.New("token: expired")

type jwtClaims struct {
	jwt.RegisteredClaims
	DeviceID  string `json:"did"`
	Platform  string `json:"plt"`
	SessionID string `json:"sid"`
	// Optional: tokens of clients that declared no app version omit it.
	AppVersion string `json:"av,omitempty"`
}

// Signer mints access tokens. It is used by the API only.
type Signer struct {
	key ed25519.PrivateKey
	ttl time.Duration
	now func() time.Time
}

// NewSigner returns a Signer whose tokens live for ttl.
func NewSigner(key ed25519.PrivateKey, ttl time.Duration) *Signer {
	return &Signer{key: key, ttl: ttl, now: time.Now}
}

// TTL is how long the tokens of this signer live.
func (s *Signer) TTL() time.Duration { return s.ttl }

// Public returns the verifying half of the signer's key.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign returns a signed access token for c; c.ExpiresAt is ignored and set from the TTL.
func (s *Signer) Sign(c Claims) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(s.ttl)
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   strconv.FormatInt(c.UserID, 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		DeviceID:   c.DeviceID,
		Platform:   c.Platform,
		SessionID:  c.SessionID,
		AppVersion: c.AppVersion,
	})
	str, err := t.SignedString(s.key)
	return str, exp, err
}

// Verifier checks access tokens with the public key only.
type Verifier struct {
	key    ed25519.PublicKey
	parser *jwt.Parser
	now    func() time.Time

	// verified remembers the claims of tokens whose signature checked out,
	// by their exact text, until they expire: an Ed25519 verification costs
	// 60-100 µs of CPU, as much as the rest of a chat send's request, and a
	// client sends the same token with every request until it renews it.
	mu       sync.Mutex
	verified map[string]Claims
}

// verifiedCacheSize bounds the tokens a Verifier remembers.
const verifiedCacheSize = 8192

// leeway is how long after its exp a token is still accepted (clock skew).
const leeway = 5 * time.Second

// NewVerifier returns a Verifier for tokens signed by the private half of key.
func NewVerifier(key ed25519.PublicKey) *Verifier {
	v := &Verifier{key: key, now: time.Now, verified: make(map[string]Claims)}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	)
	return v
}

// Verify parses and checks raw, returning its claims. A token verified
// before is only checked for expiry.
func (v *Verifier) Verify(raw string) (Claims, error) {
	v.mu.Lock()
	c, ok := v.verified[raw]
	v.mu.Unlock()
	if ok {
		if !v.now().After(c.ExpiresAt.Add(leeway)) {
			return c, nil
		}
		v.mu.Lock()
		delete(v.verified, raw)
		v.mu.Unlock()
		return Claims{}, ErrExpired
	}
	c, err := v.verify(raw)
	if err != nil {
		return c, err
	}
	v.mu.Lock()
	if len(v.verified) >= verifiedCacheSize {
		clear(v.verified) // crude but bounded: a forgotten token is verified again
	}
	v.verified[raw] = c
	v.mu.Unlock()
	return c, nil
}

// verify parses raw and checks its signature and claims.
func (v *Verifier) verify(raw string) (Claims, error) {
	var jc jwtClaims
	_, err := v.parser.ParseWithClaims(raw, &jc, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Claims{}, ErrExpired
		}
		return Claims{}, ErrInvalid
	}
	uid, err := strconv.ParseInt(jc.Subject, 10, 64)
	if err != nil || uid <= 0 || jc.DeviceID == "" {
		return Claims{}, ErrInvalid
	}
	return Claims{
		UserID:     uid,
		DeviceID:   jc.DeviceID,
		Platform:   jc.Platform,
		SessionID:  jc.SessionID,
		AppVersion: jc.AppVersion,
		ExpiresAt:  jc.ExpiresAt.Time,
	}, nil
}

// GenerateKey returns a new Ed25519 key pair.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// EncodePrivate encodes a private key as base64 of its 32-byte seed, the form
// used in configuration (TETHER_TOKEN_PRIVATE_KEY).
func EncodePrivate(k ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(k.Seed())
}

// EncodePublic encodes a public key as base64 (TETHER_TOKEN_PUBLIC_KEY).
func EncodePublic(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }

// ParsePrivate decodes the output of EncodePrivate.
func ParsePrivate(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("token: private key must be base64 of a %d-byte Ed25519 seed", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(b), nil
}

// ParsePublic decodes the output of EncodePublic.
func ParsePublic(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("token: public key must be base64 of a %d-byte Ed25519 key", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
