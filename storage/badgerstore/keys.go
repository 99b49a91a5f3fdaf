package badgerstore

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

// Key prefixes of layout version 1. The package documentation draws the
// layout and explains each part.
const (
	pRepo        = "v1/repo/"   // <name>                          -> Repository JSON
	pManifest    = "v1/m/"      // <repo>␀<digest>                 -> Manifest JSON, no payload
	pPayload     = "v1/mp/"     // <repo>␀<digest>                 -> payload bytes
	pTag         = "v1/tag/"    // <repo>␀<tag>                    -> digest
	pManifestTag = "v1/mtag/"   // <repo>␀<digest>␀<tag>           -> empty
	pReferrer    = "v1/ref/"    // <repo>␀<subject>␀<digest>       -> empty
	pLink        = "v1/link/"   // <repo>␀<digest>                 -> BlobLink JSON
	pBlobRef     = "v1/bref/"   // <blob>␀<repo>␀<manifest digest> -> empty
	pUpload      = "v1/upload/" // <id>                            -> Upload JSON
)

// sep separates the components of a key. No repository name, tag or digest
// contains it (they are checked), so the prefix of repository "a" never
// matches a key of "a/b" or "a-b".
const sep = 0x00

// key joins prefix and parts with sep.
func key(prefix string, parts ...string) []byte {
	n := len(prefix) + len(parts)
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	b = append(b, prefix...)
	for i, p := range parts {
		if i > 0 {
			b = append(b, sep)
		}
		b = append(b, p...)
	}
	return b
}

// scope returns the prefix of every key below parts: key(prefix, parts...)
// followed by sep.
func scope(prefix string, parts ...string) []byte {
	return append(key(prefix, parts...), sep)
}

func repoKey(name string) []byte { return key(pRepo, name) }

func manifestKey(repo string, d digest.Digest) []byte {
	return key(pManifest, repo, string(d))
}

func payloadKey(repo string, d digest.Digest) []byte {
	return key(pPayload, repo, string(d))
}

func tagKey(repo, tag string) []byte { return key(pTag, repo, tag) }

func manifestTagKey(repo string, d digest.Digest, tag string) []byte {
	return key(pManifestTag, repo, string(d), tag)
}

func referrerKey(repo string, subject, d digest.Digest) []byte {
	return key(pReferrer, repo, string(subject), string(d))
}

func linkKey(repo string, d digest.Digest) []byte { return key(pLink, repo, string(d)) }

func blobRefKey(blob digest.Digest, repo string, manifest digest.Digest) []byte {
	return key(pBlobRef, string(blob), repo, string(manifest))
}

func uploadKey(id string) []byte { return key(pUpload, id) }

// after returns the smallest key that sorts after prefix+cursor, or prefix
// if cursor is empty: where a walk "after cursor" starts.
func after(prefix []byte, cursor string) []byte {
	if cursor == "" {
		return prefix
	}
	b := make([]byte, 0, len(prefix)+len(cursor)+1)
	b = append(b, prefix...)
	b = append(b, cursor...)
	return append(b, 0)
}

// errInvalidName reports a name that cannot be a key component.
var errInvalidName = errors.New("badgerstore: invalid name")

// checkComponent rejects a key component that is empty or holds sep.
func checkComponent(kind, s string) error {
	if s == "" || strings.IndexByte(s, sep) >= 0 {
		return fmt.Errorf("%w: %s %q", errInvalidName, kind, s)
	}
	return nil
}

// checkReadComponent is checkComponent for lookups: a name that cannot be
// stored cannot be found, so it also wraps storage.ErrNotFound.
func checkReadComponent(kind, s string) error {
	if err := checkComponent(kind, s); err != nil {
		return fmt.Errorf("%w (%w)", err, storage.ErrNotFound)
	}
	return nil
}

// notFound translates badger.ErrKeyNotFound to storage.ErrNotFound with
// context; other errors pass unchanged.
func notFound(err error, format string, a ...any) error {
	if errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf(format+": %w", append(a, storage.ErrNotFound)...)
	}
	return err
}
