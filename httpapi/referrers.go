package httpapi

import (
	"net/http"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// serveReferrers serves GET /v2/<name>/referrers/<digest>?artifactType=,
// an OCI image index of the manifests whose subject is digest. An unknown
// subject or repository has no referrers: the answer is an empty index, never
// a 404. With artifactType the index holds only that type and the response
// says so in OCI-Filters-Applied.
//
// Reference: https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#listing-referrers
func (h *Handler) serveReferrers(w http.ResponseWriter, r *http.Request, name, ref string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r.Method)
	}
	subject, err := parseDigest(name, ref)
	if err != nil {
		return err
	}
	var artifactType string
	if r.URL.RawQuery != "" {
		artifactType = r.URL.Query().Get("artifactType")
	}
	descs, err := h.reg.Referrers(r.Context(), name, subject, artifactType)
	if err != nil {
		return err
	}
	if artifactType != "" {
		w.Header()["Oci-Filters-Applied"] = filtersArtifactTyp
	}
	return writeJSON(w, r, contentTypeIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: descs,
	})
}
