package registry

import (
	"encoding/base64"
	"fmt"
)

// Pagination tokens are opaque to callers; they carry the last key of the
// previous page so listings stay stable while the data changes.
const tokenPrefix = "b1:"

func encodeToken(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + last))
}

func decodeToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	if len(tok) > 2048 {
		return "", fmt.Errorf("next token too long: %w", ErrInvalidParameter)
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < len(tokenPrefix) || string(b[:len(tokenPrefix)]) != tokenPrefix {
		return "", fmt.Errorf("next token malformed: %w", ErrInvalidParameter)
	}
	return string(b[len(tokenPrefix):]), nil
}

// pageSize validates an ECR-style maxResults.
func pageSize(n, def, max int) (int, error) {
	if n == 0 {
		return def, nil
	}
	if n < 0 || n > max {
		return 0, fmt.Errorf("max results %d: must be 1 to %d: %w", n, max, ErrInvalidParameter)
	}
	return n, nil
}
