package registry

import (
	"fmt"
	"strings"

	digest "github.com/opencontainers/go-digest"

	// Register sha256 and sha512 with go-digest.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Name limits. Reference: distribution-spec v1.1.1, "Pulling manifests".
const (
	MinNameLength = 2
	MaxNameLength = 256
	MaxTagLength  = 128
)

// The grammars, as in the spec. Matching uses the hand-written validName and
// validTag, which are allocation-free and sit on every request's path;
// fuzz tests keep them equal to these expressions.
const (
	namePattern = `^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`
	tagPattern  = `^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`
)

// ValidateName reports whether name is a valid repository name: the OCI
// name grammar, 2 to 256 characters, namespaces separated by "/". The error
// wraps ErrNameInvalid.
func ValidateName(name string) error {
	if len(name) < MinNameLength || len(name) > MaxNameLength {
		return fmt.Errorf("repository name %q: length must be %d to %d: %w", truncate(name), MinNameLength, MaxNameLength, ErrNameInvalid)
	}
	if !validName(name) {
		return fmt.Errorf("repository name %q: must match %s: %w", truncate(name), namePattern, ErrNameInvalid)
	}
	return nil
}

// ValidateTag reports whether tag is a valid tag. The error wraps
// ErrTagInvalid.
func ValidateTag(tag string) error {
	if !validTag(tag) {
		return fmt.Errorf("tag %q: must match %s: %w", truncate(tag), tagPattern, ErrTagInvalid)
	}
	return nil
}

// ParseDigest parses and validates a digest in one of the supported
// algorithms (sha256, sha512). The error wraps ErrDigestInvalid.
func ParseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", fmt.Errorf("digest %q: %v: %w", truncate(s), err, ErrDigestInvalid)
	}
	if a := d.Algorithm(); a != digest.SHA256 && a != digest.SHA512 {
		return "", fmt.Errorf("digest %q: unsupported algorithm %q: %w", truncate(s), a, ErrDigestInvalid)
	}
	return d, nil
}

// Reference is a parsed manifest reference: a tag or a digest.
type Reference struct {
	Tag    string
	Digest digest.Digest
}

// String returns the tag or the digest.
func (r Reference) String() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

// ParseReference parses a tag or a digest. A string with a ':' is a digest
// (wrapping ErrDigestInvalid when malformed); anything else must be a valid
// tag (ErrTagInvalid).
func ParseReference(s string) (Reference, error) {
	if strings.Contains(s, ":") {
		d, err := ParseDigest(s)
		if err != nil {
			return Reference{}, err
		}
		return Reference{Digest: d}, nil
	}
	if err := ValidateTag(s); err != nil {
		return Reference{}, err
	}
	return Reference{Tag: s}, nil
}

// truncate keeps error messages bounded when a client sends a huge name.
func truncate(s string) string {
	const max = 300
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

func isNameAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// validName reports whether s matches namePattern.
func validName(s string) bool {
	i := 0
	for {
		if i >= len(s) || !isNameAlnum(s[i]) {
			return false
		}
		for i < len(s) && isNameAlnum(s[i]) {
			i++
		}
		for i < len(s) && s[i] != '/' {
			switch s[i] {
			case '.':
				i++
			case '_':
				i++
				if i < len(s) && s[i] == '_' {
					i++
				}
			case '-':
				for i < len(s) && s[i] == '-' {
					i++
				}
			default:
				return false
			}
			if i >= len(s) || !isNameAlnum(s[i]) {
				return false
			}
			for i < len(s) && isNameAlnum(s[i]) {
				i++
			}
		}
		if i == len(s) {
			return true
		}
		i++ // '/'
	}
}

// validTag reports whether s matches tagPattern.
func validTag(s string) bool {
	if len(s) == 0 || len(s) > MaxTagLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || i > 0 && (c == '.' || c == '-')) {
			return false
		}
	}
	return true
}
