package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/registry"
)

// OCI error codes. Reference:
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#error-codes
//
// TAG_INVALID and UNAVAILABLE are not in the OCI list; they come from the
// Docker registry API, which clients already understand (ECR answers
// TAG_INVALID when a push would move an immutable tag).
const (
	codeBlobUnknown         = "BLOB_UNKNOWN"
	codeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	codeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	codeDigestInvalid       = "DIGEST_INVALID"
	codeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	codeManifestInvalid     = "MANIFEST_INVALID"
	codeManifestUnknown     = "MANIFEST_UNKNOWN"
	codeNameInvalid         = "NAME_INVALID"
	codeNameUnknown         = "NAME_UNKNOWN"
	codeSizeInvalid         = "SIZE_INVALID"
	codeUnauthorized        = "UNAUTHORIZED"
	codeDenied              = "DENIED"
	codeUnsupported         = "UNSUPPORTED"
	codeTooManyRequests     = "TOOMANYREQUESTS"
	codeTagInvalid          = "TAG_INVALID"
	codeUnavailable         = "UNAVAILABLE"
	codeUnknown             = "UNKNOWN"
)

// statusClientClosedRequest is nginx's status for a request whose client
// went away before the response. Nobody reads it; it keeps such requests
// out of 5xx metrics.
const statusClientClosedRequest = 499

// errRouteUnknown: the path is not an endpoint of the distribution API.
var errRouteUnknown = errors.New("no such endpoint")

// errorTable is the only place where an error becomes an HTTP status and an
// OCI error code. Handlers return errors wrapping the registry's sentinels
// (or one of the few local ones); writeError looks them up here with
// errors.Is, first match wins. An error matching nothing is a server fault:
// 500 UNKNOWN, logged.
//
// Choices the spec leaves open:
//   - ErrTagInvalid and ErrTagImmutable are 400 TAG_INVALID, as ECR answers a
//     push that would move an immutable tag.
//   - ErrInvalidParameter (a bad n or last in a listing) is 400 UNSUPPORTED,
//     the spec's code for "an invalid set of parameters".
//   - ErrManifestTooLarge is 413 MANIFEST_INVALID; ErrBlobTooLarge is 413
//     SIZE_INVALID.
//   - ErrRangeInvalid (a chunk that does not start where the upload stands)
//     is 416 BLOB_UPLOAD_INVALID, with the upload's Range and Location.
//   - ErrRepositoryNotEmpty and ErrRepositoryAlreadyExists are 409 DENIED.
//   - ErrClosed and context.DeadlineExceeded are 503 UNAVAILABLE;
//     context.Canceled (the client went away) is 499 and logged at debug
//     level only.
//   - A request body that breaks off, or disagrees with its Content-Range,
//     is wrapped by the handlers as ErrBlobUploadInvalid or ErrSizeInvalid.
var errorTable = [...]struct {
	target error
	status int
	code   string
}{
	{registry.ErrBlobUnknown, http.StatusNotFound, codeBlobUnknown},
	{registry.ErrBlobUploadUnknown, http.StatusNotFound, codeBlobUploadUnknown},
	{registry.ErrBlobUploadInvalid, http.StatusBadRequest, codeBlobUploadInvalid},
	{registry.ErrRangeInvalid, http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid},
	{registry.ErrDigestInvalid, http.StatusBadRequest, codeDigestInvalid},
	{registry.ErrManifestBlobUnknown, http.StatusBadRequest, codeManifestBlobUnknown},
	{registry.ErrManifestTooLarge, http.StatusRequestEntityTooLarge, codeManifestInvalid},
	{registry.ErrManifestInvalid, http.StatusBadRequest, codeManifestInvalid},
	{registry.ErrManifestUnknown, http.StatusNotFound, codeManifestUnknown},
	{registry.ErrNameInvalid, http.StatusBadRequest, codeNameInvalid},
	{registry.ErrNameUnknown, http.StatusNotFound, codeNameUnknown},
	{registry.ErrBlobTooLarge, http.StatusRequestEntityTooLarge, codeSizeInvalid},
	{registry.ErrSizeInvalid, http.StatusBadRequest, codeSizeInvalid},
	{registry.ErrUnauthorized, http.StatusUnauthorized, codeUnauthorized},
	{registry.ErrDenied, http.StatusForbidden, codeDenied},
	{policy.ErrDenied, http.StatusForbidden, codeDenied},
	{registry.ErrUnsupported, http.StatusMethodNotAllowed, codeUnsupported},
	{registry.ErrTooManyRequests, http.StatusTooManyRequests, codeTooManyRequests},
	{registry.ErrTagInvalid, http.StatusBadRequest, codeTagInvalid},
	{registry.ErrTagImmutable, http.StatusBadRequest, codeTagInvalid},
	{registry.ErrInvalidParameter, http.StatusBadRequest, codeUnsupported},
	{registry.ErrRepositoryNotEmpty, http.StatusConflict, codeDenied},
	{registry.ErrRepositoryAlreadyExists, http.StatusConflict, codeDenied},
	{registry.ErrClosed, http.StatusServiceUnavailable, codeUnavailable},
	{errRouteUnknown, http.StatusNotFound, codeNameUnknown},
	{context.Canceled, statusClientClosedRequest, codeUnknown},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, codeUnavailable},
}

// classify returns the HTTP status and OCI code for err.
func classify(err error) (status int, code string) {
	for _, m := range errorTable {
		if errors.Is(err, m.target) {
			return m.status, m.code
		}
	}
	return http.StatusInternalServerError, codeUnknown
}

// isClientError reports whether err is the client's fault (or no fault at
// all), as opposed to a server fault.
func isClientError(err error) bool {
	status, _ := classify(err)
	return status < 500
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError writes err as an OCI error response. Server faults are logged
// and answered with a generic message; a client that went away is logged at
// debug level only. Client mistakes are not logged.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, repo string, err error) {
	status, code := classify(err)
	msg := err.Error()
	switch {
	case errors.Is(err, context.Canceled):
		h.log.DebugContext(r.Context(), "request canceled", "method", r.Method, "path", r.URL.Path, "repo", repo, "err", err)
	case status >= 500:
		h.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "repo", repo, "status", status, "err", err)
		if status == http.StatusInternalServerError {
			msg = "internal server error"
		}
	}
	body, merr := json.Marshal(errorBody{Errors: []errorEntry{{Code: code, Message: msg}}})
	if merr != nil {
		// Cannot happen: the body holds only strings.
		body = []byte(`{"errors":[{"code":"UNKNOWN","message":"internal server error"}]}`)
	}
	hdr := w.Header()
	// A handler may have set success headers before failing.
	delete(hdr, "Docker-Content-Digest")
	delete(hdr, "Content-Range")
	hdr["Content-Type"] = contentTypeJSON
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	if status == http.StatusUnauthorized {
		h.setChallenge(hdr, r, err)
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
