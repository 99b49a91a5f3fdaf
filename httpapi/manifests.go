package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/registry"
)

// serveManifest serves GET, HEAD, PUT and DELETE on
// /v2/<name>/manifests/<reference>.
//
// References:
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pulling-manifests
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-manifests
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#deleting-tags
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#deleting-manifests
func (h *Handler) serveManifest(w http.ResponseWriter, r *http.Request, name, ref string) error {
	switch r.Method {
	case http.MethodGet:
		img, err := h.reg.GetImage(r.Context(), name, ref)
		if err != nil {
			return err
		}
		writeManifestHeaders(w, img)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(img.Manifest)
		return nil
	case http.MethodHead:
		// StatImage does not record a pull.
		img, err := h.reg.StatImage(r.Context(), name, ref)
		if err != nil {
			return err
		}
		writeManifestHeaders(w, img)
		w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodPut:
		return h.putManifest(w, r, name, ref)
	case http.MethodDelete:
		if err := h.reg.DeleteImage(r.Context(), name, ref); err != nil {
			return err
		}
		w.Header()["Content-Length"] = contentLengthZero
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return methodNotAllowed(r.Method)
}

// writeManifestHeaders sets the headers of a manifest response with a single
// allocation for the values.
func writeManifestHeaders(w http.ResponseWriter, img registry.Image) {
	vals := [3]string{img.Descriptor.MediaType, img.Descriptor.Digest.String(), strconv.FormatInt(img.Descriptor.Size, 10)}
	s := vals[:]
	hdr := w.Header()
	hdr["Content-Type"] = s[0:1:1]
	hdr["Docker-Content-Digest"] = s[1:2:2]
	hdr["Content-Length"] = s[2:3:3]
}

// putManifest stores a manifest. The body is read with a hard cap: a
// manifest larger than the limit is refused with 413 before it is buffered.
// A digest reference must match the body; ?tag= parameters (OCI 1.1 tag
// parameters on a push by digest) are applied in the same transaction and
// echoed in OCI-Tag headers.
func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, name, ref string) error {
	parsed, err := registry.ParseReference(ref)
	if err != nil {
		if nerr := registry.ValidateName(name); nerr != nil {
			return nerr
		}
		return err
	}
	payload, err := h.readManifest(r)
	if err != nil {
		return err
	}
	in := registry.PutImageInput{
		Repository: name,
		Manifest:   payload,
		MediaType:  r.Header.Get("Content-Type"),
		Tag:        parsed.Tag,
		Digest:     parsed.Digest,
	}
	var tagParams []string
	if r.URL.RawQuery != "" {
		tagParams = r.URL.Query()["tag"]
		in.Tags = tagParams
	}
	img, err := h.reg.PutImage(r.Context(), in)
	if err != nil {
		return err
	}
	hdr := w.Header()
	dgst := img.Descriptor.Digest.String()
	hdr["Location"] = []string{"/v2/" + name + "/manifests/" + dgst}
	hdr["Docker-Content-Digest"] = []string{dgst}
	hdr["Content-Length"] = contentLengthZero
	if img.Subject != "" {
		hdr["Oci-Subject"] = []string{img.Subject.String()}
	}
	if len(tagParams) > 0 {
		hdr["Oci-Tag"] = tagParams
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// readManifest reads a manifest body, at most the size limit.
func (h *Handler) readManifest(r *http.Request) ([]byte, error) {
	limit := h.maxManifestSize
	if r.ContentLength > limit {
		return nil, fmt.Errorf("manifest of %d bytes, at most %d: %w", r.ContentLength, limit, registry.ErrManifestTooLarge)
	}
	if r.ContentLength >= 0 {
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, fmt.Errorf("read manifest: %v: %w", err, registry.ErrManifestInvalid)
		}
		return buf, nil
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %v: %w", err, registry.ErrManifestInvalid)
	}
	if n > limit {
		return nil, fmt.Errorf("manifest of more than %d bytes: %w", limit, registry.ErrManifestTooLarge)
	}
	return buf.Bytes(), nil
}
