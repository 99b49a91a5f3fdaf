package harbor_test

import (
	"context"
	"fmt"
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
			return "Bearer a-short-lived-pull-token", nil // e.g. from policy/authn
		},
	})
	if err != nil {
		panic(err)
	}
	rep, err := s.Scan(context.Background(), scan.Request{
		Repository: "team-a/web",
		Manifest:   ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 1},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Status, rep.SeverityCounts[scan.SeverityCritical], "critical")
	// Output: COMPLETE 1 critical
}
