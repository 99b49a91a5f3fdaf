package authn

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/berth-dev/berth/policy"
)

// Sentinel errors, wrapped with context.
var (
	// ErrInvalidCredentials: the access key ID is unknown or the secret is
	// wrong. The two cases are indistinguishable by design.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrTokenExpired: the token was valid but its lifetime is over.
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenInvalid: the token is malformed, too large, of the wrong
	// type, signed with an unknown or retired key, or tampered with.
	ErrTokenInvalid = errors.New("invalid token")
)

// MinSecretLength is the shortest secret Credentials accepts.
const MinSecretLength = 16

const (
	// maxSecretLength bounds the hashing work one request can cause.
	maxSecretLength = 1024
	// maxAccessKeyIDLength bounds access key IDs.
	maxAccessKeyIDLength = 128
	// TokenUsername is the user name that goes with an authorization
	// token in Basic authentication, as in ECR. It cannot be an access key
	// ID.
	TokenUsername = "AWS"
	// hashPrefix marks the secretHash format.
	hashPrefix = "hmac-sha256:"
	saltSize   = 16
)

// Credentials is a set of static credentials: access key IDs with hashed
// secrets, each mapped to a principal. The zero value is not usable; create
// one with NewCredentials or LoadCredentials. Methods are safe for
// concurrent use.
type Credentials struct {
	mu sync.RWMutex
	m  map[string]*credential
	// dummy is checked for unknown access key IDs, so that they cost what
	// a wrong secret costs.
	dummy credential
}

type credential struct {
	salt [saltSize]byte
	sum  [sha256.Size]byte
	p    policy.Principal
}

// NewCredentials returns an empty set.
func NewCredentials() *Credentials {
	c := &Credentials{m: map[string]*credential{}}
	rand.Read(c.dummy.salt[:])
	rand.Read(c.dummy.sum[:])
	return c
}

// Add adds or replaces a credential. The secret is hashed at once and not
// kept. It returns an error if the access key ID is invalid (empty, longer
// than 128 bytes, containing a colon or a control character, or "AWS"),
// the secret is shorter than MinSecretLength or longer than 1024 bytes, or
// the principal has no ID.
func (c *Credentials) Add(accessKeyID, secret string, p policy.Principal) error {
	if err := c.addSecret(accessKeyID, secret, p); err != nil {
		return fmt.Errorf("authn: %w", err)
	}
	return nil
}

// AddHashed adds or replaces a credential whose secret is given by its hash,
// as HashSecret returns it.
func (c *Credentials) AddHashed(accessKeyID, secretHash string, p policy.Principal) error {
	if err := c.addHashed(accessKeyID, secretHash, p); err != nil {
		return fmt.Errorf("authn: %w", err)
	}
	return nil
}

func (c *Credentials) addSecret(accessKeyID, secret string, p policy.Principal) error {
	if err := checkSecret(secret); err != nil {
		return fmt.Errorf("access key %q: %w", accessKeyID, err)
	}
	cr := &credential{}
	rand.Read(cr.salt[:])
	cr.sum = hashSecret(cr.salt, secret)
	return c.add(accessKeyID, cr, p)
}

func (c *Credentials) addHashed(accessKeyID, secretHash string, p policy.Principal) error {
	cr, err := parseHash(secretHash)
	if err != nil {
		return fmt.Errorf("access key %q: %w", accessKeyID, err)
	}
	return c.add(accessKeyID, cr, p)
}

func (c *Credentials) add(accessKeyID string, cr *credential, p policy.Principal) error {
	if err := checkAccessKeyID(accessKeyID); err != nil {
		return err
	}
	if p.ID == "" {
		return fmt.Errorf("access key %q: principal has no ID", accessKeyID)
	}
	cr.p = clonePrincipal(p)
	c.mu.Lock()
	c.m[accessKeyID] = cr
	c.mu.Unlock()
	return nil
}

// Remove removes a credential and reports whether it existed.
func (c *Credentials) Remove(accessKeyID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[accessKeyID]
	delete(c.m, accessKeyID)
	return ok
}

// Len returns the number of credentials.
func (c *Credentials) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// Authenticate returns a copy of the principal of an access key ID and
// secret. An unknown access key ID and a wrong secret take the same path
// and return the same error, which wraps ErrInvalidCredentials.
func (c *Credentials) Authenticate(accessKeyID, secret string) (*policy.Principal, error) {
	if len(secret) > maxSecretLength || len(accessKeyID) > maxAccessKeyIDLength {
		return nil, fmt.Errorf("authn: %w", ErrInvalidCredentials)
	}
	c.mu.RLock()
	cr, found := c.m[accessKeyID]
	c.mu.RUnlock()
	if !found {
		cr = &c.dummy
	}
	sum := hashSecret(cr.salt, secret)
	ok := subtle.ConstantTimeCompare(sum[:], cr.sum[:]) & boolInt(found)
	if ok != 1 {
		return nil, fmt.Errorf("authn: access key %q: %w", accessKeyID, ErrInvalidCredentials)
	}
	p := clonePrincipal(cr.p)
	return &p, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func hashSecret(salt [saltSize]byte, secret string) [sha256.Size]byte {
	m := hmac.New(sha256.New, salt[:])
	m.Write([]byte(secret))
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	return sum
}

// HashSecret returns the stored form of a secret for LoadCredentials and
// AddHashed: "hmac-sha256:<salt>:<HMAC-SHA256(salt, secret)>", both in hex,
// with a new random salt.
func HashSecret(secret string) (string, error) {
	if err := checkSecret(secret); err != nil {
		return "", fmt.Errorf("authn: %w", err)
	}
	var salt [saltSize]byte
	rand.Read(salt[:])
	sum := hashSecret(salt, secret)
	return hashPrefix + hex.EncodeToString(salt[:]) + ":" + hex.EncodeToString(sum[:]), nil
}

func parseHash(s string) (*credential, error) {
	rest, ok := strings.CutPrefix(s, hashPrefix)
	salt, sum, ok2 := strings.Cut(rest, ":")
	cr := &credential{}
	if ok && ok2 && hex.DecodedLen(len(salt)) == saltSize && hex.DecodedLen(len(sum)) == sha256.Size {
		_, err1 := hex.Decode(cr.salt[:], []byte(salt))
		_, err2 := hex.Decode(cr.sum[:], []byte(sum))
		if err1 == nil && err2 == nil {
			return cr, nil
		}
	}
	return nil, errors.New(`secret hash: want "hmac-sha256:<32 hex digits>:<64 hex digits>"`)
}

func checkSecret(secret string) error {
	if len(secret) < MinSecretLength {
		return fmt.Errorf("secret is shorter than %d bytes; use GenerateCredential", MinSecretLength)
	}
	if len(secret) > maxSecretLength {
		return fmt.Errorf("secret is longer than %d bytes", maxSecretLength)
	}
	return nil
}

func checkAccessKeyID(id string) error {
	switch {
	case id == "":
		return errors.New("empty access key ID")
	case len(id) > maxAccessKeyIDLength:
		return fmt.Errorf("access key ID is longer than %d bytes", maxAccessKeyIDLength)
	case id == TokenUsername:
		return fmt.Errorf("access key ID %q is reserved for authorization tokens", TokenUsername)
	}
	for _, r := range id {
		if r == ':' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("access key ID %q contains a colon or a control character", id)
		}
	}
	return nil
}

// accessKeyPrefix starts every generated access key ID. It is not AWS's
// AKIA, so that secret scanners and people can tell Berth keys apart.
const accessKeyPrefix = "BRTH"

// GenerateCredential returns a new random access key ID and secret in
// AWS's shapes: a 20-character ID ("BRTH" and 16 characters of base32,
// 80 random bits) and a 40-character secret (base64 of 30 random bytes).
func GenerateCredential() (accessKeyID, secret string, err error) {
	var id [10]byte
	var sec [30]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", "", err
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return "", "", err
	}
	return accessKeyPrefix + base32.StdEncoding.EncodeToString(id[:]), base64.StdEncoding.EncodeToString(sec[:]), nil
}

// credentialsFile is the JSON form LoadCredentials reads.
type credentialsFile struct {
	Credentials []struct {
		AccessKeyID string            `json:"accessKeyId"`
		Secret      *string           `json:"secret"`
		SecretHash  *string           `json:"secretHash"`
		Principal   *policy.Principal `json:"principal"`
	} `json:"credentials"`
}

// LoadCredentials reads credentials in the JSON format of the package
// documentation. It rejects unknown fields, duplicate access key IDs,
// entries without a principal ID, and entries with both or neither of
// secret and secretHash.
func LoadCredentials(r io.Reader) (*Credentials, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f credentialsFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("authn: credentials file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("authn: credentials file: data after the JSON object")
	}
	c := NewCredentials()
	for i, e := range f.Credentials {
		if _, dup := c.m[e.AccessKeyID]; dup {
			return nil, fmt.Errorf("authn: credentials[%d]: duplicate access key ID %q", i, e.AccessKeyID)
		}
		if e.Principal == nil {
			return nil, fmt.Errorf("authn: credentials[%d]: no principal", i)
		}
		var err error
		switch {
		case (e.Secret == nil) == (e.SecretHash == nil):
			err = errors.New("want exactly one of secret and secretHash")
		case e.Secret != nil:
			err = c.addSecret(e.AccessKeyID, *e.Secret, *e.Principal)
		default:
			err = c.addHashed(e.AccessKeyID, *e.SecretHash, *e.Principal)
		}
		if err != nil {
			return nil, fmt.Errorf("authn: credentials[%d]: %w", i, err)
		}
	}
	return c, nil
}

func clonePrincipal(p policy.Principal) policy.Principal {
	p.Groups = slices.Clone(p.Groups)
	p.Attributes = maps.Clone(p.Attributes)
	return p
}
