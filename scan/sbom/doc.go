// Package sbom writes software bills of materials of images from the
// package inventory a scan produced (scan.Inventory), and packs SBOMs and
// scan reports as OCI artifacts that refer to their image, ready to push
// and list through the referrers API.
//
// Documents:
//
//   - SPDX returns SPDX 2.3 JSON
//     (https://spdx.github.io/spdx-spec/v2.3/): the document DESCRIBES
//     the image (a CONTAINER package), which CONTAINS its operating system
//     and its packages.
//   - CycloneDX returns CycloneDX 1.5 JSON
//     (https://cyclonedx.org/docs/1.5/json/) with the same content.
//
// Both are written with encoding/json, have a creation time set by
// Options.Created, and are deterministic: the same inputs give the same
// bytes.
//
// Each package carries its package URL (PURL), in the canonical form of
// the purl specification (https://github.com/package-url/purl-spec):
//
//	dpkg    pkg:deb/<os id>/<name>@<version>?arch=<arch>&distro=<os id>-<version id>
//	apk     pkg:apk/<os id>/<name>@<version>?arch=<arch>&distro=<os id>-<version id>
//	go      pkg:golang/<module path, lowercased>@<version>   (pkg:golang/stdlib@… for the standard library)
//	python  pkg:pypi/<PEP 503 normalised name>@<version>
//	npm     pkg:npm/<%40scope/><name>@<version>
//	image   pkg:oci/<last element of the repository>@<digest>?repository_url=<registry>/<repository>
//
// The OS vendor is the os-release ID, else the distribution of the
// package's ecosystem ("Debian:12"), else debian or alpine.
//
// Artifacts: Artifact returns an OCI image manifest (image-spec 1.1
// artifact guidance: artifactType, empty config, one layer) whose subject
// is the image, and its blobs. Artifact types: ArtifactTypeSPDX
// (application/spdx+json), ArtifactTypeCycloneDX
// (application/vnd.cyclonedx+json) and ArtifactTypeScanReport
// (application/vnd.berth.scan.report.v1+json, a scan.Report's JSON, see
// ReportArtifact).
//
// Errors: invalid input gives an error wrapping ErrInvalid. Strings from
// the image (package names, versions, paths) may be anything; they are
// JSON- and percent-encoded, never interpreted. The package does no I/O.
package sbom
