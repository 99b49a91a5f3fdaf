package harbor_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/harbor"
)

// Scanning an image with an external adapter (a fake one here; in
// production, for example, Harbor's Trivy adapter).
func Example() {
	adapter := httptest.NewServer(newFake())
	defer adapter.Close()

	s, err := harbor.New(harbor.Options{
		Endpoint:    adapter.URL,
		RegistryURL: "https://berth.internal:5000",
		PullAuthorization: func(ctx context.Context, repo string) (string, error) {
			return "Bearer a-short-lived-pull-token", nil // e.g. from Berth's token service
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	rep, err := s.Scan(context.Background(), scan.Request{
		Repository: "team-a/web",
		Manifest:   ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 1},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Status, rep.SeverityCounts[scan.SeverityCritical], "critical")
	fmt.Println(rep.Findings[1].ID, rep.Findings[1].Package, rep.Findings[1].FixedVersion, rep.Findings[1].CVSS.Score)
	// Output:
	// COMPLETE 1 critical
	// CVE-2024-0002 openssl 3.0.15-1 9.8
}
