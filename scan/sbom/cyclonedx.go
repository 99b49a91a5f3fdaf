package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/berth-dev/berth/scan"
)

// The subset of CycloneDX 1.5 JSON written here.
// Reference: https://cyclonedx.org/docs/1.5/json/
type cdxBOM struct {
	Schema       string          `json:"$schema"`
	BOMFormat    string          `json:"bomFormat"`
	SpecVersion  string          `json:"specVersion"`
	SerialNumber string          `json:"serialNumber"`
	Version      int             `json:"version"`
	Metadata     cdxMetadata     `json:"metadata"`
	Components   []cdxComponent  `json:"components"`
	Dependencies []cdxDependency `json:"dependencies"`
}

type cdxMetadata struct {
	Timestamp string       `json:"timestamp"`
	Tools     cdxTools     `json:"tools"`
	Component cdxComponent `json:"component"`
}

type cdxTools struct {
	Components []cdxComponent `json:"components"`
}

type cdxComponent struct {
	BOMRef      string        `json:"bom-ref,omitempty"`
	Type        string        `json:"type"`
	Name        string        `json:"name"`
	Version     string        `json:"version,omitempty"`
	Description string        `json:"description,omitempty"`
	Hashes      []cdxHash     `json:"hashes,omitempty"`
	PURL        string        `json:"purl,omitempty"`
	Properties  []cdxProperty `json:"properties,omitempty"`
}

type cdxHash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cdxDependency struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn,omitempty"`
}

// CycloneDX returns a CycloneDX 1.5 JSON BOM of img with inv's packages:
// the image is metadata.component (type container); the operating system
// (if known) and each distinct package are components, with the same purls
// as SPDX; the image's dependency entry lists them all. Where a package
// was found and its source package are properties named "berth:path",
// "berth:layer", "berth:sourceName" and "berth:sourceVersion".
//
// The output is deterministic like SPDX's; the serialNumber is a UUID
// (version 8) made from a hash of the rest of the BOM.
//
// It returns an error wrapping ErrInvalid if img or opts is invalid.
func CycloneDX(img Image, inv scan.Inventory, opts Options) ([]byte, error) {
	if err := img.validate(); err != nil {
		return nil, err
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	bom := cdxBOM{
		Schema:      "http://cyclonedx.org/schema/bom-1.5.schema.json",
		BOMFormat:   "CycloneDX",
		SpecVersion: "1.5",
		Version:     1,
		Metadata: cdxMetadata{
			Timestamp: opts.Created.Format("2006-01-02T15:04:05Z"),
			Tools:     cdxTools{Components: []cdxComponent{{Type: "application", Name: opts.Tool}}},
			Component: cdxComponent{
				BOMRef:  "image",
				Type:    "container",
				Name:    img.Repository,
				Version: img.Digest.String(),
				PURL:    img.purl(),
			},
		},
		Components: []cdxComponent{},
	}
	if alg := cdxAlgorithm(img.Digest.Algorithm().String()); alg != "" {
		bom.Metadata.Component.Hashes = []cdxHash{{Alg: alg, Content: img.Digest.Encoded()}}
	}
	var refs []string
	if os := inv.OS; os != nil && os.ID != "" {
		bom.Components = append(bom.Components, cdxComponent{
			BOMRef: "operating-system", Type: "operating-system",
			Name: os.ID, Version: os.VersionID, Description: os.Name,
		})
		refs = append(refs, "operating-system")
	}
	for _, c := range components(inv) {
		cc := cdxComponent{BOMRef: c.id, Type: "library", Name: c.Name, Version: c.Version, PURL: c.purl}
		for _, p := range [...]cdxProperty{
			{"berth:layer", c.Layer.String()},
			{"berth:path", c.Path},
			{"berth:sourceName", c.SourceName},
			{"berth:sourceVersion", c.SourceVersion},
		} {
			if p.Value != "" {
				cc.Properties = append(cc.Properties, p)
			}
		}
		bom.Components = append(bom.Components, cc)
		refs = append(refs, c.id)
	}
	bom.Dependencies = []cdxDependency{{Ref: "image", DependsOn: refs}}

	body, err := marshal(bom)
	if err != nil {
		return nil, err
	}
	bom.SerialNumber = "urn:uuid:" + uuid8(body)
	return marshal(bom)
}

func cdxAlgorithm(a string) string {
	switch a {
	case "sha256":
		return "SHA-256"
	case "sha384":
		return "SHA-384"
	case "sha512":
		return "SHA-512"
	}
	return ""
}

// uuid8 returns an RFC 9562 version 8 UUID made from the SHA-256 of b.
func uuid8(b []byte) string {
	h := sha256.Sum256(b)
	u := h[:16]
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10
	x := hex.EncodeToString(u)
	return fmt.Sprintf("%s-%s-%s-%s-%s", x[:8], x[8:12], x[12:16], x[16:20], x[20:])
}
