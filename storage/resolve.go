package storage

import (
	"context"

	digest "github.com/opencontainers/go-digest"
)

// ManifestResolver is an extension of ManifestStore for the pull path. It
// resolves a tag and reads the manifest it points to in one call, and may
// leave the payload out (an HTTP HEAD). A backend implements it when it can
// do that more cheaply than ResolveTag followed by GetManifest, for example
// from a cache or in one round trip; the registry falls back to those two
// calls otherwise.
type ManifestResolver interface {
	// ResolveManifest returns the manifest that tag points to in repo, or,
	// if tag is empty, the manifest dgst. The Payload is set if payload is
	// true; otherwise it may be nil. It returns ErrNotFound if the tag or
	// the manifest does not exist. Otherwise it is equivalent to
	// ResolveTag followed by GetManifest of the digest it returns.
	//
	// The result may share memory with the backend (a cache): the caller
	// must not modify its Payload, Annotations, Blobs or Manifests.
	ResolveManifest(ctx context.Context, repo, tag string, dgst digest.Digest, payload bool) (Manifest, error)
}
