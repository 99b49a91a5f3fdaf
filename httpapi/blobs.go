package httpapi

import (
	"net/http"
	"strconv"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// serveBlob serves GET, HEAD and DELETE on /v2/<name>/blobs/<digest>.
//
// References:
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pulling-blobs
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#checking-if-content-exists-in-the-registry
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#deleting-blobs
func (h *Handler) serveBlob(w http.ResponseWriter, r *http.Request, name, ref string) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodDelete:
	default:
		return methodNotAllowed(r.Method)
	}
	dgst, err := parseDigest(name, ref)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodHead:
		return h.headBlob(w, r, name, dgst)
	case http.MethodDelete:
		if err := h.reg.DeleteBlob(r.Context(), name, dgst); err != nil {
			return err
		}
		w.Header()["Content-Length"] = contentLengthZero
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return h.getBlob(w, r, name, dgst)
}

func (h *Handler) headBlob(w http.ResponseWriter, r *http.Request, name string, dgst digest.Digest) error {
	desc, err := h.reg.StatBlob(r.Context(), name, dgst)
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr["Content-Type"] = contentTypeOctet
	hdr["Content-Length"] = []string{strconv.FormatInt(desc.Size, 10)}
	hdr["Docker-Content-Digest"] = []string{desc.Digest.String()}
	hdr["Accept-Ranges"] = acceptRangesBytes
	hdr["Etag"] = []string{`"` + desc.Digest.String() + `"`}
	w.WriteHeader(http.StatusOK)
	return nil
}

// getBlob streams a blob with http.ServeContent, which answers Range and
// conditional requests and, when the blob is an *os.File, lets the kernel
// send it (sendfile). The blob is never buffered.
func (h *Handler) getBlob(w http.ResponseWriter, r *http.Request, name string, dgst digest.Digest) error {
	rc, desc, err := h.reg.OpenBlob(r.Context(), name, dgst)
	if err != nil {
		return err
	}
	defer rc.Close()
	hdr := w.Header()
	hdr["Content-Type"] = contentTypeOctet
	hdr["Docker-Content-Digest"] = []string{desc.Digest.String()}
	// A blob never changes: its digest is a strong validator, which makes
	// If-Range and If-None-Match work.
	hdr["Etag"] = []string{`"` + desc.Digest.String() + `"`}
	http.ServeContent(w, r, "", time.Time{}, rc)
	return nil
}
