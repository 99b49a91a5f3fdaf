package sbom_test

import (
	"encoding/json"
	"fmt"
	"log"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/sbom"
)

// An SPDX SBOM of an image from its scan inventory, packed as an artifact
// that refers to the image.
func Example() {
	manifestDigest := digest.FromString("an image manifest")
	inv := scan.Inventory{
		OS: &scan.OS{ID: "debian", VersionID: "12"},
		Packages: []scan.Package{
			{Name: "libssl3", Version: "3.0.11-1~deb12u2", Arch: "amd64", PackageManager: "dpkg", SourceName: "openssl"},
			{Name: "golang.org/x/net", Version: "v0.17.0", PackageManager: "go"},
		},
	}
	doc, err := sbom.SPDX(sbom.Image{Repository: "team-a/web", Digest: manifestDigest}, inv, sbom.Options{
		Created: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC),
	})
	if err != nil {
		log.Fatal(err)
	}
	var d struct {
		Packages []struct {
			Name         string `json:"name"`
			ExternalRefs []struct {
				Locator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		log.Fatal(err)
	}
	for _, p := range d.Packages[2:] { // after the image and its OS
		fmt.Println(p.ExternalRefs[0].Locator)
	}

	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: manifestDigest, Size: 527}
	manifest, blobs, err := sbom.Artifact(subject, sbom.ArtifactTypeSPDX, sbom.ArtifactTypeSPDX, doc, nil)
	if err != nil {
		log.Fatal(err)
	}
	// Push each blob, then the manifest (by digest) to team-a/web.
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.ArtifactType, m.Subject.Digest == manifestDigest, len(blobs), "blobs")
	// Output:
	// pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12
	// pkg:golang/golang.org/x/net@v0.17.0
	// application/spdx+json true 2 blobs
}

func ExamplePURL() {
	fmt.Println(sbom.PURL(scan.Package{Name: "@babel/core", Version: "7.23.2", PackageManager: "npm"}, nil))
	fmt.Println(sbom.PURL(scan.Package{Name: "busybox", Version: "1.36.1-r15", Arch: "x86_64", PackageManager: "apk"},
		&scan.OS{ID: "alpine", VersionID: "3.19.1"}))
	// Output:
	// pkg:npm/%40babel/core@7.23.2
	// pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1
}
