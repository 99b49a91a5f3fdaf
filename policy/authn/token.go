package authn

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/policy"
)

// Token limits and defaults.
const (
	// DefaultTokenLifetime is how long an authorization token from Issue
	// stays valid unless TokenOptions.Lifetime says otherwise: 12 hours,
	// as in ECR.
	DefaultTokenLifetime = 12 * time.Hour
	// DefaultScopedTokenLifetime is the lifetime of a bearer token when
	// IssueScoped is given none and TokenOptions.ScopedLifetime is unset.
	DefaultScopedTokenLifetime = 15 * time.Minute
	// DefaultVerificationKeys is the default of
	// TokenOptions.VerificationKeys: the current key and the previous one.
	DefaultVerificationKeys = 2
	// MaxTokenSize is the longest token (password or bearer token, in
	// characters) Verify and VerifyScoped accept, and Issue and
	// IssueScoped produce.
	MaxTokenSize = 8 << 10
	// MinSigningKeySize is the shortest SigningKey.Secret accepted.
	MinSigningKeySize = 32
	// maxKeyIDLength bounds SigningKey.ID.
	maxKeyIDLength = 64
)

// Token format.
const (
	tokenVersion = 1
	// Token types. The type is under the MAC, so a token of one type never
	// verifies as another.
	typeAuthorization = 1 // ECR-style password (Issue, Verify)
	typeBearer        = 2 // scoped bearer token (IssueScoped, VerifyScoped)
	// headerSize is version, type and key ID length.
	headerSize = 3
	macSize    = sha256.Size
)

// tokenEncoding is unpadded base64url; Strict rejects non-canonical
// trailing bits, so one token has one spelling.
var tokenEncoding = base64.RawURLEncoding.Strict()

// SigningKey is a token signing key. Its ID travels in every token it
// signs; its Secret never leaves the process unless Keys exports it.
type SigningKey struct {
	// ID names the key: 1 to 64 bytes of printable ASCII.
	ID string
	// Secret is the HMAC-SHA256 key, at least MinSigningKeySize bytes.
	Secret []byte
}

// TokenOptions configures a TokenService.
type TokenOptions struct {
	// Lifetime is the validity of authorization tokens from Issue, and the
	// longest a bearer token may live. The default is DefaultTokenLifetime.
	Lifetime time.Duration

	// ScopedLifetime is the validity of bearer tokens when IssueScoped is
	// given none. The default is DefaultScopedTokenLifetime (capped at
	// Lifetime).
	ScopedLifetime time.Duration

	// ProxyEndpoint is returned in AuthorizationData.ProxyEndpoint, the
	// registry URL to log in to (ECR: https://<account>.dkr.ecr.<region>.amazonaws.com).
	// The default is "".
	ProxyEndpoint string

	// VerificationKeys is how many of the most recent signing keys verify
	// tokens: 1 makes every RotateKey revoke all outstanding tokens at
	// once; 2 keeps tokens signed with the previous key valid until they
	// expire or the next rotation. The default is DefaultVerificationKeys.
	VerificationKeys int

	// Keys are the signing keys, current first, for tokens that survive a
	// restart or are shared by replicas. At most VerificationKeys. The
	// default is one new random key.
	Keys []SigningKey

	// Now returns the current time. The default is time.Now.
	Now func() time.Time
}

// AuthorizationData is the result of Issue, shaped like ECR's
// GetAuthorizationToken output.
type AuthorizationData struct {
	// AuthorizationToken is base64("AWS:" + password), the value of an
	// Authorization: Basic header.
	AuthorizationToken string `json:"authorizationToken"`
	// ExpiresAt is when the token stops verifying.
	ExpiresAt time.Time `json:"expiresAt"`
	// ProxyEndpoint is TokenOptions.ProxyEndpoint.
	ProxyEndpoint string `json:"proxyEndpoint"`
}

// Password returns the password inside AuthorizationToken: what docker
// login takes with the user name "AWS" (aws ecr get-login-password).
func (d AuthorizationData) Password() string {
	b, err := base64.StdEncoding.DecodeString(d.AuthorizationToken)
	if err != nil || len(b) < len(TokenUsername)+1 {
		return ""
	}
	return string(b[len(TokenUsername)+1:])
}

// ScopedToken is a bearer token from IssueScoped.
type ScopedToken struct {
	Token     string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// claims is the signed payload.
type claims struct {
	Subject    string            `json:"sub"`
	Name       string            `json:"name,omitempty"`
	Groups     []string          `json:"groups,omitempty"`
	Attributes map[string]string `json:"attrs,omitempty"`
	IssuedAt   int64             `json:"iat"`
	Expires    int64             `json:"exp"`
	Scopes     []Scope           `json:"scopes,omitempty"`
}

// TokenService issues and verifies tokens. Create one with
// NewTokenService; its methods are safe for concurrent use.
type TokenService struct {
	lifetime       time.Duration
	scopedLifetime time.Duration
	proxyEndpoint  string
	maxKeys        int
	now            func() time.Time

	// ring is the current key ring: an immutable snapshot, replaced
	// whole. mu serializes replacements.
	ring atomic.Pointer[keyRing]
	mu   sync.Mutex
}

// keyRing holds the keys that verify, current (signing) key first.
type keyRing struct {
	keys []SigningKey
}

func (kr *keyRing) find(id []byte) *SigningKey {
	for i := range kr.keys {
		if kr.keys[i].ID == string(id) {
			return &kr.keys[i]
		}
	}
	return nil
}

// NewTokenService returns a TokenService. It fails on negative lifetimes,
// a VerificationKeys below 0, or invalid Keys (empty or duplicate IDs,
// short secrets, more keys than VerificationKeys).
func NewTokenService(opts TokenOptions) (*TokenService, error) {
	s := &TokenService{
		lifetime:       opts.Lifetime,
		scopedLifetime: opts.ScopedLifetime,
		proxyEndpoint:  opts.ProxyEndpoint,
		maxKeys:        opts.VerificationKeys,
		now:            opts.Now,
	}
	if s.lifetime < 0 || s.scopedLifetime < 0 || s.maxKeys < 0 {
		return nil, errors.New("authn: negative TokenOptions value")
	}
	if s.lifetime == 0 {
		s.lifetime = DefaultTokenLifetime
	}
	if s.scopedLifetime == 0 {
		s.scopedLifetime = DefaultScopedTokenLifetime
	}
	s.scopedLifetime = min(s.scopedLifetime, s.lifetime)
	if s.maxKeys == 0 {
		s.maxKeys = DefaultVerificationKeys
	}
	if s.now == nil {
		s.now = time.Now
	}
	if len(opts.Keys) > 0 {
		if err := s.SetKeys(opts.Keys); err != nil {
			return nil, err
		}
	} else if err := s.RotateKey(); err != nil {
		return nil, err
	}
	return s, nil
}

// RotateKey makes a new random signing key current. Tokens signed with
// older keys keep verifying while their key is among the
// TokenOptions.VerificationKeys most recent.
func (s *TokenService) RotateKey() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []SigningKey
	if kr := s.ring.Load(); kr != nil {
		old = kr.keys
	}
	k := newSigningKey(old)
	keys := append([]SigningKey{k}, old[:min(len(old), s.maxKeys-1)]...)
	s.ring.Store(&keyRing{keys: keys})
	return nil
}

// RevokeAll makes a new random signing key current and retires every other
// key: no token issued before verifies any more.
func (s *TokenService) RevokeAll() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []SigningKey
	if kr := s.ring.Load(); kr != nil {
		old = kr.keys
	}
	s.ring.Store(&keyRing{keys: []SigningKey{newSigningKey(old)}})
	return nil
}

// SetKeys replaces the signing keys, current first: the way to load
// persisted keys or to follow a rotation made by another replica.
func (s *TokenService) SetKeys(keys []SigningKey) error {
	if len(keys) == 0 {
		return errors.New("authn: no signing keys")
	}
	if len(keys) > s.maxKeys {
		return fmt.Errorf("authn: %d signing keys, more than the %d that verify", len(keys), s.maxKeys)
	}
	cp := make([]SigningKey, len(keys))
	for i, k := range keys {
		if k.ID == "" || len(k.ID) > maxKeyIDLength {
			return fmt.Errorf("authn: signing key %d: ID must have 1 to %d bytes", i, maxKeyIDLength)
		}
		for _, c := range []byte(k.ID) {
			if c < 0x21 || c > 0x7e {
				return fmt.Errorf("authn: signing key %d: ID must be printable ASCII", i)
			}
		}
		if len(k.Secret) < MinSigningKeySize {
			return fmt.Errorf("authn: signing key %q: secret shorter than %d bytes", k.ID, MinSigningKeySize)
		}
		for _, prev := range cp[:i] {
			if prev.ID == k.ID {
				return fmt.Errorf("authn: duplicate signing key ID %q", k.ID)
			}
		}
		cp[i] = SigningKey{ID: k.ID, Secret: append([]byte(nil), k.Secret...)}
	}
	s.mu.Lock()
	s.ring.Store(&keyRing{keys: cp})
	s.mu.Unlock()
	return nil
}

// Keys returns copies of the keys that verify, current first, for
// persisting them or handing them to replicas. They are secrets.
func (s *TokenService) Keys() []SigningKey {
	kr := s.ring.Load()
	out := make([]SigningKey, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = SigningKey{ID: k.ID, Secret: append([]byte(nil), k.Secret...)}
	}
	return out
}

func newSigningKey(existing []SigningKey) SigningKey {
	for {
		var id [6]byte
		k := SigningKey{Secret: make([]byte, MinSigningKeySize)}
		rand.Read(id[:])
		rand.Read(k.Secret)
		k.ID = hex.EncodeToString(id[:])
		unique := true
		for _, e := range existing {
			unique = unique && e.ID != k.ID
		}
		if unique {
			return k
		}
	}
}

// Issue returns an authorization token for p, as ECR's
// GetAuthorizationToken does: valid TokenOptions.Lifetime, carrying p's ID,
// name, groups and attributes. It fails if p is nil, has no ID, or is too
// large for a token of MaxTokenSize. The caller authenticates p first; ctx
// is for future auditing and is not retained.
func (s *TokenService) Issue(ctx context.Context, p *policy.Principal) (AuthorizationData, error) {
	now := s.now()
	tok, exp, err := s.sign(typeAuthorization, p, nil, now, s.lifetime)
	if err != nil {
		return AuthorizationData{}, err
	}
	return AuthorizationData{
		AuthorizationToken: base64.StdEncoding.EncodeToString([]byte(TokenUsername + ":" + tok)),
		ExpiresAt:          exp,
		ProxyEndpoint:      s.proxyEndpoint,
	}, nil
}

// Verify checks a password from Issue (the part of the authorization
// token after "AWS:") and returns its principal. The error wraps
// ErrTokenExpired for a token past its expiry, and ErrTokenInvalid for
// anything else wrong: malformed, too large, a bearer token, signed with a
// key that does not verify (unknown or retired by rotation), or tampered
// with.
func (s *TokenService) Verify(password string) (*policy.Principal, error) {
	c, err := s.verify(typeAuthorization, password)
	if err != nil {
		return nil, err
	}
	return c.principal(), nil
}

// IssueScoped returns a bearer token for p limited to scopes, valid for
// ttl (TokenOptions.ScopedLifetime if ttl is 0 or less; at most
// TokenOptions.Lifetime). It fails if p is nil or has no ID, a scope is
// invalid (see Scope), or the token would exceed MaxTokenSize. A token with
// no scopes still authenticates p, for the /v2/ version check.
func (s *TokenService) IssueScoped(p *policy.Principal, scopes []Scope, ttl time.Duration) (ScopedToken, error) {
	for _, sc := range scopes {
		if err := sc.validate(); err != nil {
			return ScopedToken{}, fmt.Errorf("authn: %w", err)
		}
	}
	if ttl <= 0 {
		ttl = s.scopedLifetime
	}
	ttl = min(ttl, s.lifetime)
	now := s.now()
	tok, exp, err := s.sign(typeBearer, p, scopes, now, ttl)
	if err != nil {
		return ScopedToken{}, err
	}
	return ScopedToken{Token: tok, IssuedAt: time.Unix(now.Unix(), 0).UTC(), ExpiresAt: exp}, nil
}

// VerifyScoped checks a bearer token from IssueScoped and returns its
// principal and scopes. Errors are as for Verify; an authorization token
// from Issue is ErrTokenInvalid here.
func (s *TokenService) VerifyScoped(token string) (*policy.Principal, []Scope, error) {
	c, err := s.verify(typeBearer, token)
	if err != nil {
		return nil, nil, err
	}
	return c.principal(), c.Scopes, nil
}

func (s *TokenService) sign(typ byte, p *policy.Principal, scopes []Scope, now time.Time, ttl time.Duration) (string, time.Time, error) {
	if p == nil || p.ID == "" {
		return "", time.Time{}, errors.New("authn: a token needs a principal with an ID")
	}
	iat := now.Unix()
	exp := now.Add(ttl).Unix()
	body, err := json.Marshal(claims{
		Subject:    p.ID,
		Name:       p.Name,
		Groups:     p.Groups,
		Attributes: p.Attributes,
		IssuedAt:   iat,
		Expires:    exp,
		Scopes:     scopes,
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authn: encode token: %w", err)
	}
	k := s.ring.Load().keys[0]
	raw := make([]byte, 0, headerSize+len(k.ID)+len(body)+macSize)
	raw = append(raw, tokenVersion, typ, byte(len(k.ID)))
	raw = append(raw, k.ID...)
	raw = append(raw, body...)
	raw = appendMAC(raw, raw, k.Secret)
	if tokenEncoding.EncodedLen(len(raw)) > MaxTokenSize {
		return "", time.Time{}, fmt.Errorf("authn: principal %q: token would exceed %d bytes", p.ID, MaxTokenSize)
	}
	return tokenEncoding.EncodeToString(raw), time.Unix(exp, 0).UTC(), nil
}

// appendMAC appends HMAC-SHA256(key, msg) to dst.
func appendMAC(dst, msg, key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(dst)
}

func (s *TokenService) verify(typ byte, token string) (*claims, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("authn: token longer than %d bytes: %w", MaxTokenSize, ErrTokenInvalid)
	}
	// The base64 decoder skips CR and LF; nothing else may differ from
	// the issued spelling.
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, fmt.Errorf("authn: token is not base64url: %w", ErrTokenInvalid)
		}
	}
	raw, err := tokenEncoding.DecodeString(token)
	if err != nil {
		return nil, fmt.Errorf("authn: token is not base64url: %w", ErrTokenInvalid)
	}
	if len(raw) < headerSize+macSize || raw[0] != tokenVersion {
		return nil, fmt.Errorf("authn: malformed token: %w", ErrTokenInvalid)
	}
	idLen := int(raw[2])
	if idLen == 0 || len(raw) < headerSize+idLen+macSize {
		return nil, fmt.Errorf("authn: malformed token: %w", ErrTokenInvalid)
	}
	k := s.ring.Load().find(raw[headerSize : headerSize+idLen])
	if k == nil {
		return nil, fmt.Errorf("authn: token signed with an unknown or retired key: %w", ErrTokenInvalid)
	}
	signed, mac := raw[:len(raw)-macSize], raw[len(raw)-macSize:]
	want := appendMAC(make([]byte, 0, macSize), signed, k.Secret)
	if !hmac.Equal(mac, want) {
		return nil, fmt.Errorf("authn: bad token signature: %w", ErrTokenInvalid)
	}
	if raw[1] != typ {
		return nil, fmt.Errorf("authn: wrong token type: %w", ErrTokenInvalid)
	}
	var c claims
	if err := json.Unmarshal(signed[headerSize+idLen:], &c); err != nil || c.Subject == "" || c.Expires < c.IssuedAt {
		// Cannot happen for a token we signed.
		return nil, fmt.Errorf("authn: malformed token claims: %w", ErrTokenInvalid)
	}
	if s.now().Unix() >= c.Expires {
		return nil, fmt.Errorf("authn: token of %q expired at %s: %w", c.Subject, time.Unix(c.Expires, 0).UTC().Format(time.RFC3339), ErrTokenExpired)
	}
	return &c, nil
}

func (c *claims) principal() *policy.Principal {
	return &policy.Principal{ID: c.Subject, Name: c.Name, Groups: c.Groups, Attributes: c.Attributes}
}
