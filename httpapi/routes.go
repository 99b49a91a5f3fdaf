package httpapi

import (
	"fmt"
	"strings"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/registry"
)

// routeKind identifies an endpoint of the distribution API.
type routeKind uint8

const (
	routeUnknown   routeKind = iota
	routeBase                // /v2/
	routeCatalog             // /v2/_catalog
	routeTags                // /v2/<name>/tags/list
	routeManifest            // /v2/<name>/manifests/<reference>
	routeBlob                // /v2/<name>/blobs/<digest>
	routeUploadNew           // /v2/<name>/blobs/uploads/
	routeUpload              // /v2/<name>/blobs/uploads/<id>
	routeReferrers           // /v2/<name>/referrers/<digest>
)

// route is a parsed request path. name and ref are substrings of the path:
// parsing does not allocate.
type route struct {
	kind routeKind
	// name is the repository name.
	name string
	// ref is the reference, digest or upload ID, depending on kind.
	ref string
}

// parseRoute splits a request path into an endpoint, a repository name and
// a last segment. Repository names contain slashes, so the endpoint is found
// from the end of the path: the last segment (reference, digest, upload ID)
// never contains a slash, and the segment before it names the endpoint. The
// name is not validated here.
//
// Reference: https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#endpoints
func parseRoute(path string) route {
	if path == "/v2/" || path == "/v2" {
		return route{kind: routeBase}
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}
	}
	if rest == "_catalog" {
		return route{kind: routeCatalog}
	}
	if name, ok := strings.CutSuffix(rest, "/tags/list"); ok && name != "" {
		return route{kind: routeTags, name: name}
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return route{}
	}
	prefix, last := rest[:i], rest[i+1:]
	if name, ok := strings.CutSuffix(prefix, "/blobs/uploads"); ok && name != "" {
		if last == "" {
			return route{kind: routeUploadNew, name: name}
		}
		return route{kind: routeUpload, name: name, ref: last}
	}
	j := strings.LastIndexByte(prefix, '/')
	if j <= 0 {
		return route{}
	}
	name, endpoint := prefix[:j], prefix[j+1:]
	switch endpoint {
	case "manifests":
		if last != "" {
			return route{kind: routeManifest, name: name, ref: last}
		}
	case "blobs":
		switch last {
		case "":
		case "uploads":
			// POST /v2/<name>/blobs/uploads without the trailing slash.
			return route{kind: routeUploadNew, name: name}
		default:
			return route{kind: routeBlob, name: name, ref: last}
		}
	case "referrers":
		if last != "" {
			return route{kind: routeReferrers, name: name, ref: last}
		}
	}
	return route{}
}

// allowedMethods lists the methods of each endpoint, for the Allow header of
// a 405 response.
func (k routeKind) allowedMethods() string {
	switch k {
	case routeBase, routeCatalog, routeTags, routeReferrers:
		return "GET, HEAD"
	case routeManifest:
		return "GET, HEAD, PUT, DELETE"
	case routeBlob:
		return "GET, HEAD, DELETE"
	case routeUploadNew:
		return "POST"
	case routeUpload:
		return "GET, PATCH, PUT, DELETE"
	}
	return ""
}

// parseDigest parses a digest from a request path or query. When the digest
// is malformed and the repository name is too, the name error wins, so that
// a client learns about the first problem in the URL.
func parseDigest(name, s string) (digest.Digest, error) {
	d, err := registry.ParseDigest(s)
	if err != nil {
		if nerr := registry.ValidateName(name); nerr != nil {
			return "", nerr
		}
		return "", err
	}
	return d, nil
}

// methodNotAllowed is the error for a method an endpoint does not serve.
func methodNotAllowed(method string) error {
	return fmt.Errorf("method %s is not allowed on this endpoint: %w", truncate(method), registry.ErrUnsupported)
}

// truncate keeps client-supplied strings in messages bounded.
func truncate(s string) string {
	const max = 256
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
