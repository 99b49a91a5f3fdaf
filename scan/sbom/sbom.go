package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/scan"
)

// ErrInvalid is returned, wrapped with the reason, for an Image, Options,
// subject descriptor or media type that cannot make a valid document or
// manifest.
var ErrInvalid = errors.New("sbom: invalid input")

// DefaultNamespaceBase is the default Options.NamespaceBase.
const DefaultNamespaceBase = "https://github.com/berth-dev/berth/spdx"

// maxRepositoryLength bounds Image.Repository; the distribution spec's
// names are much shorter in practice, and registries cap them at 255.
const maxRepositoryLength = 4096

// Image identifies the image an SBOM describes.
type Image struct {
	// Repository is the image's repository, e.g. "team-a/web".
	Repository string
	// Digest is the digest of the image's manifest.
	Digest digest.Digest
	// Registry is the host[:port] the image is pulled from, e.g.
	// "berth.example.com:5000". Optional: it completes the image's purl
	// (repository_url qualifier).
	Registry string
}

// Options tune a document. The zero value is valid.
type Options struct {
	// Created is the document's creation time. The default is the time of
	// the call; set it for reproducible output.
	Created time.Time
	// Tool names the tool that made the document, "name" or
	// "name-version" as SPDX spells creators. The default is "berth".
	Tool string
	// Organization, if set, is named as a creator of SPDX documents.
	Organization string
	// NamespaceBase is the URI under which SPDX document namespaces are
	// made (see SPDX). The default is DefaultNamespaceBase.
	NamespaceBase string
}

func (o Options) withDefaults() (Options, error) {
	if o.Created.IsZero() {
		o.Created = time.Now()
	}
	o.Created = o.Created.UTC().Truncate(time.Second)
	if o.Tool == "" {
		o.Tool = "berth"
	}
	if o.NamespaceBase == "" {
		o.NamespaceBase = DefaultNamespaceBase
	}
	u, err := url.Parse(o.NamespaceBase)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(o.NamespaceBase, "#") {
		return o, fmt.Errorf("%w: NamespaceBase %q is not an absolute URI without a fragment", ErrInvalid, o.NamespaceBase)
	}
	o.NamespaceBase = strings.TrimSuffix(o.NamespaceBase, "/")
	if strings.ContainsAny(o.Tool+o.Organization, "\r\n") {
		return o, fmt.Errorf("%w: Tool or Organization has a line break", ErrInvalid)
	}
	return o, nil
}

func (img Image) validate() error {
	if img.Repository == "" || len(img.Repository) > maxRepositoryLength {
		return fmt.Errorf("%w: repository %q", ErrInvalid, img.Repository)
	}
	if err := img.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: image digest %q: %w", ErrInvalid, img.Digest, err)
	}
	if strings.ContainsAny(img.Registry, "/?#@ ") {
		return fmt.Errorf("%w: registry %q is not a host[:port]", ErrInvalid, img.Registry)
	}
	return nil
}

// imagePURL returns the image's purl: pkg:oci/<last element of the
// repository>@<digest>?repository_url=<registry>/<repository>.
func (img Image) purl() string {
	name := img.Repository[strings.LastIndexByte(img.Repository, '/')+1:]
	u := purl{typ: "oci", name: strings.ToLower(name), version: img.Digest.String(), qualifiers: map[string]string{}}
	if img.Registry != "" {
		u.qualifiers["repository_url"] = img.Registry + "/" + img.Repository
	}
	return u.String()
}

// component is one package of the document, with its identifiers.
type component struct {
	scan.Package
	purl string
	id   string // unique, [A-Za-z0-9.-]+
}

// components returns inv's named packages sorted by purl, name, version, path
// and layer, without exact duplicates, each with a unique ID.
func components(inv scan.Inventory) []component {
	cs := make([]component, 0, len(inv.Packages))
	for _, p := range inv.Packages {
		if p.Name == "" {
			continue // nothing to list
		}
		cs = append(cs, component{Package: p, purl: PURL(p, inv.OS)})
	}
	slices.SortFunc(cs, func(a, b component) int {
		return slices.Compare(a.key(), b.key())
	})
	cs = slices.CompactFunc(cs, func(a, b component) bool { return a.Package == b.Package })
	for i := range cs {
		h := sha256.Sum256([]byte(strings.Join(cs[i].key(), "\x00")))
		cs[i].id = "Package-" + idSafe(cs[i].PackageManager, 16) + "-" + idSafe(cs[i].Name, 64) + "-" + hex.EncodeToString(h[:8])
	}
	return cs
}

func (c component) key() []string {
	p := c.Package
	return []string{c.purl, p.Name, p.Version, p.PackageManager, p.Ecosystem, p.Arch, p.GOOS,
		p.SourceName, p.SourceVersion, p.Path, string(p.Layer)}
}

// idSafe returns s with every character outside [A-Za-z0-9.-] replaced by
// '-', cut to max bytes; "x" if that leaves nothing.
func idSafe(s string, max int) string {
	b := []byte(s)
	if len(b) > max {
		b = b[:max]
	}
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		return "x"
	}
	return string(b)
}

// sourceInfo describes where a package came from: the file it was read
// from and its layer, and its source package if that differs.
func sourceInfo(p scan.Package) string {
	var parts []string
	if p.Path != "" {
		s := "acquired package info from /" + strings.TrimPrefix(p.Path, "/")
		if p.Layer != "" {
			s += " in layer " + p.Layer.String()
		}
		parts = append(parts, s)
	}
	if p.SourceName != "" && (p.SourceName != p.Name || p.SourceVersion != "" && p.SourceVersion != p.Version) {
		s := "built from source package " + p.SourceName
		if p.SourceVersion != "" {
			s += " " + p.SourceVersion
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
