package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/scan"
)

// SPDX identifiers of the document's fixed elements.
const (
	spdxDocumentID = "SPDXRef-DOCUMENT"
	spdxImageID    = "SPDXRef-Image"
	spdxOSID       = "SPDXRef-OperatingSystem"
	noAssertion    = "NOASSERTION"
)

// The subset of the SPDX 2.3 JSON schema written here.
// Reference: https://spdx.github.io/spdx-spec/v2.3/ and
// https://github.com/spdx/spdx-spec/blob/development/v2.3/schemas/spdx-schema.json
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID                string            `json:"SPDXID"`
	Name                  string            `json:"name"`
	VersionInfo           string            `json:"versionInfo,omitempty"`
	DownloadLocation      string            `json:"downloadLocation"`
	FilesAnalyzed         bool              `json:"filesAnalyzed"`
	Checksums             []spdxChecksum    `json:"checksums,omitempty"`
	SourceInfo            string            `json:"sourceInfo,omitempty"`
	LicenseConcluded      string            `json:"licenseConcluded"`
	LicenseDeclared       string            `json:"licenseDeclared"`
	CopyrightText         string            `json:"copyrightText"`
	Description           string            `json:"description,omitempty"`
	ExternalRefs          []spdxExternalRef `json:"externalRefs,omitempty"`
	PrimaryPackagePurpose string            `json:"primaryPackagePurpose,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

// SPDX returns an SPDX 2.3 JSON document listing inv's packages as the
// contents of img.
//
// The document DESCRIBES one package for the image (purpose CONTAINER,
// with the manifest digest as version and checksum and its pkg:oci purl),
// which CONTAINS a package for the operating system (if inv.OS is set) and
// one package per distinct package of inv, with its purl (see PURL) and
// where it was found. Packages without a name are left out, exact
// duplicates listed once. Licenses are NOASSERTION and there is no
// supplier: the inventory reads neither.
//
// The output is deterministic: packages are sorted and identified by a
// hash of their fields, so the same inputs (including Options.Created)
// give the same bytes. The documentNamespace is
// <NamespaceBase>/<repository>@<digest>/<hash of the rest of the document>,
// unique to each distinct document of an image as SPDX requires.
//
// It returns an error wrapping ErrInvalid if img or opts is invalid.
func SPDX(img Image, inv scan.Inventory, opts Options) ([]byte, error) {
	if err := img.validate(); err != nil {
		return nil, err
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3",
		DataLicense: "CC0-1.0",
		SPDXID:      spdxDocumentID,
		Name:        img.Repository + "@" + img.Digest.String(),
		CreationInfo: spdxCreationInfo{
			Created:  opts.Created.Format("2006-01-02T15:04:05Z"),
			Creators: []string{"Tool: " + opts.Tool},
		},
	}
	if opts.Organization != "" {
		doc.CreationInfo.Creators = append(doc.CreationInfo.Creators, "Organization: "+opts.Organization)
	}

	imgPkg := spdxPackage{
		SPDXID:                spdxImageID,
		Name:                  img.Repository,
		VersionInfo:           img.Digest.String(),
		DownloadLocation:      noAssertion,
		LicenseConcluded:      noAssertion,
		LicenseDeclared:       noAssertion,
		CopyrightText:         noAssertion,
		ExternalRefs:          []spdxExternalRef{purlRef(img.purl())},
		PrimaryPackagePurpose: "CONTAINER",
	}
	if alg := spdxAlgorithm(img.Digest.Algorithm()); alg != "" {
		imgPkg.Checksums = []spdxChecksum{{Algorithm: alg, ChecksumValue: img.Digest.Encoded()}}
	}
	doc.Packages = append(doc.Packages, imgPkg)
	doc.Relationships = append(doc.Relationships, spdxRelationship{spdxDocumentID, "DESCRIBES", spdxImageID})

	if os := inv.OS; os != nil && os.ID != "" {
		doc.Packages = append(doc.Packages, spdxPackage{
			SPDXID:                spdxOSID,
			Name:                  os.ID,
			VersionInfo:           os.VersionID,
			DownloadLocation:      noAssertion,
			LicenseConcluded:      noAssertion,
			LicenseDeclared:       noAssertion,
			CopyrightText:         noAssertion,
			Description:           os.Name,
			PrimaryPackagePurpose: "OPERATING-SYSTEM",
		})
		doc.Relationships = append(doc.Relationships, spdxRelationship{spdxImageID, "CONTAINS", spdxOSID})
	}

	for _, c := range components(inv) {
		p := spdxPackage{
			SPDXID:           "SPDXRef-" + c.id,
			Name:             c.Name,
			VersionInfo:      c.Version,
			DownloadLocation: noAssertion,
			SourceInfo:       sourceInfo(c.Package),
			LicenseConcluded: noAssertion,
			LicenseDeclared:  noAssertion,
			CopyrightText:    noAssertion,
		}
		if c.purl != "" {
			p.ExternalRefs = []spdxExternalRef{purlRef(c.purl)}
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{spdxImageID, "CONTAINS", p.SPDXID})
	}

	// The namespace names this exact document: hash everything else.
	body, err := marshal(doc)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	doc.DocumentNamespace = opts.NamespaceBase + "/" + escapePath(img.Repository) + "@" + img.Digest.String() + "/" + hex.EncodeToString(sum[:8])
	return marshal(doc)
}

func purlRef(p string) spdxExternalRef {
	return spdxExternalRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: p}
}

// spdxAlgorithm returns SPDX's name of a digest algorithm, "" if none.
func spdxAlgorithm(a digest.Algorithm) string {
	switch a {
	case digest.SHA256:
		return "SHA256"
	case digest.SHA384:
		return "SHA384"
	case digest.SHA512:
		return "SHA512"
	}
	return ""
}

// escapePath escapes each element of a slash-separated path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// marshal encodes v as indented JSON with a final newline, without HTML
// escaping (purls and URIs keep their '&').
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("sbom: encode: %w", err)
	}
	return b.Bytes(), nil
}
