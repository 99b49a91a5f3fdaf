package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/registry"
)

// serveUploadNew serves POST /v2/<name>/blobs/uploads/: a mount
// (?mount=&from=), a monolithic upload (?digest=, the body is the blob) or
// the start of an upload session.
//
// References:
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-blobs
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-a-blob-monolithically
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#mounting-a-blob-from-another-repository
func (h *Handler) serveUploadNew(w http.ResponseWriter, r *http.Request, name string) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r.Method)
	}
	ctx := r.Context()
	q := r.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		dgst, err := parseDigest(name, mount)
		if err != nil {
			return err
		}
		// Without from, or when from cannot provide the blob, the spec
		// asks for an upload session instead (202).
		if from := q.Get("from"); from != "" {
			desc, err := h.reg.MountBlob(ctx, name, from, dgst)
			if err == nil {
				writeBlobCreated(w, name, desc.Digest)
				return nil
			}
			if !isClientError(err) {
				return err
			}
		}
		return h.startUpload(w, r, name)
	}
	if _, ok := q["digest"]; ok {
		dgst, err := parseDigest(name, q.Get("digest"))
		if err != nil {
			return err
		}
		body := newUploadBody(r.Body, -1)
		desc, err := h.reg.PushBlob(ctx, name, dgst, body)
		if err != nil {
			return body.blame(err)
		}
		writeBlobCreated(w, name, desc.Digest)
		return nil
	}
	return h.startUpload(w, r, name)
}

func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, name string) error {
	st, err := h.reg.StartUpload(r.Context(), name)
	if err != nil {
		return err
	}
	writeUploadState(w, name, st.ID, st.Offset)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// serveUpload serves GET, PATCH, PUT and DELETE on
// /v2/<name>/blobs/uploads/<id>.
//
// References:
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-a-blob-in-chunks
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-blobs
func (h *Handler) serveUpload(w http.ResponseWriter, r *http.Request, name, id string) error {
	switch r.Method {
	case http.MethodGet:
		st, err := h.reg.UploadStatus(r.Context(), name, id)
		if err != nil {
			return err
		}
		writeUploadState(w, name, id, st.Offset)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPatch:
		return h.patchUpload(w, r, name, id)
	case http.MethodPut:
		return h.putUpload(w, r, name, id)
	case http.MethodDelete:
		if err := h.reg.CancelUpload(r.Context(), name, id); err != nil {
			return err
		}
		w.Header()["Content-Length"] = contentLengthZero
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return methodNotAllowed(r.Method)
}

// patchUpload appends a chunk. With a Content-Range header the chunk must
// start where the upload stands (else 416 with the upload's Range); without
// one it is appended (a streamed upload).
func (h *Handler) patchUpload(w http.ResponseWriter, r *http.Request, name, id string) error {
	offset, want, err := chunkRange(r)
	if err != nil {
		return h.rangeError(w, r, name, id, err)
	}
	body := newUploadBody(r.Body, want)
	st, err := h.reg.WriteUpload(r.Context(), name, id, offset, body)
	if err != nil {
		return h.rangeError(w, r, name, id, body.blame(err))
	}
	writeUploadState(w, name, id, st.Offset)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// putUpload completes an upload with an optional last chunk.
func (h *Handler) putUpload(w http.ResponseWriter, r *http.Request, name, id string) error {
	q := r.URL.Query()
	if _, ok := q["digest"]; !ok {
		return fmt.Errorf("completing an upload needs a digest parameter: %w", registry.ErrDigestInvalid)
	}
	dgst, err := parseDigest(name, q.Get("digest"))
	if err != nil {
		return err
	}
	offset, want, err := chunkRange(r)
	if err != nil {
		return h.rangeError(w, r, name, id, err)
	}
	var body *uploadBody
	var rd io.Reader
	switch {
	case r.ContentLength != 0:
		body = newUploadBody(r.Body, want)
		rd = body
	}
	desc, err := h.reg.CompleteUpload(r.Context(), name, id, dgst, offset, rd)
	if err != nil {
		return h.rangeError(w, r, name, id, body.blame(err))
	}
	writeBlobCreated(w, name, desc.Digest)
	return nil
}

// rangeError adds the upload's Location and Range to a 416 response, so
// that the client can resume where the upload stands. Other errors pass
// through.
func (h *Handler) rangeError(w http.ResponseWriter, r *http.Request, name, id string, err error) error {
	if !errors.Is(err, registry.ErrRangeInvalid) {
		return err
	}
	var offset int64
	if oe := (*registry.UploadOffsetError)(nil); errors.As(err, &oe) {
		offset = oe.Offset
	} else {
		st, serr := h.reg.UploadStatus(r.Context(), name, id)
		if serr != nil {
			return serr
		}
		offset = st.Offset
	}
	writeUploadState(w, name, id, offset)
	return err
}

// chunkRange reads the Content-Range of a chunk. It returns the offset the
// chunk claims to start at (-1 without a Content-Range: append) and its
// length (-1 if unknown). A Content-Range that disagrees with the
// Content-Length is SIZE_INVALID.
func chunkRange(r *http.Request) (offset, length int64, err error) {
	v := r.Header["Content-Range"]
	if len(v) == 0 {
		return -1, -1, nil
	}
	if len(v) > 1 {
		return 0, 0, fmt.Errorf("more than one Content-Range header: %w", registry.ErrBlobUploadInvalid)
	}
	start, end, err := parseContentRange(v[0])
	if err != nil {
		return 0, 0, err
	}
	length = end - start + 1
	if r.ContentLength >= 0 && r.ContentLength != length {
		return 0, 0, fmt.Errorf("Content-Range %q is %d bytes but Content-Length is %d: %w", truncate(v[0]), length, r.ContentLength, registry.ErrSizeInvalid)
	}
	return start, length, nil
}

// parseContentRange parses a chunk's Content-Range: "<start>-<end>", the
// spec's form, with inclusive ends. The RFC 9110 form "bytes <start>-<end>"
// with an optional "/<size>" (or "/*") is accepted too. A malformed header is
// BLOB_UPLOAD_INVALID (400); an end before the start is not satisfiable
// (416).
//
// Reference: https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-a-blob-in-chunks
func parseContentRange(s string) (start, end int64, err error) {
	v := strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(v, "bytes"); ok {
		v = strings.TrimLeft(rest, " =")
	}
	if i := strings.IndexByte(v, '/'); i >= 0 {
		v = v[:i]
	}
	a, b, ok := strings.Cut(v, "-")
	if ok {
		start, err = parseOffset(a)
		if err == nil {
			end, err = parseOffset(b)
		}
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("Content-Range %q: want <start>-<end>: %w", truncate(s), registry.ErrBlobUploadInvalid)
	}
	if end < start {
		return 0, 0, fmt.Errorf("Content-Range %q ends before it starts: %w", truncate(s), registry.ErrRangeInvalid)
	}
	return start, end, nil
}

// parseOffset parses a non-negative decimal byte offset.
func parseOffset(s string) (int64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseInt(s, 10, 64)
}

// writeUploadState sets the headers describing an upload session: its
// Location, the Range it holds and its ID.
func writeUploadState(w http.ResponseWriter, name, id string, offset int64) {
	hdr := w.Header()
	hdr["Location"] = []string{"/v2/" + name + "/blobs/uploads/" + id}
	hdr["Range"] = []string{uploadRange(offset)}
	hdr["Docker-Upload-Uuid"] = []string{id}
	hdr["Content-Length"] = contentLengthZero
}

// uploadRange is the Range header of an upload holding offset bytes:
// "0-<offset-1>", and "0-0" for an empty upload, as the Docker registry
// answers and clients expect.
func uploadRange(offset int64) string {
	if offset <= 0 {
		return "0-0"
	}
	return "0-" + strconv.FormatInt(offset-1, 10)
}

// writeBlobCreated answers 201 Created for a blob.
func writeBlobCreated(w http.ResponseWriter, name string, dgst digest.Digest) {
	hdr := w.Header()
	hdr["Location"] = []string{"/v2/" + name + "/blobs/" + dgst.String()}
	hdr["Docker-Content-Digest"] = []string{dgst.String()}
	hdr["Content-Length"] = contentLengthZero
	w.WriteHeader(http.StatusCreated)
}

// uploadBody wraps a request body on its way to the registry. It tells the
// client's faults (a body that breaks off, or that is longer or shorter than
// its Content-Range says) from the server's: blame returns the body's error,
// which maps to a 4xx, instead of whatever the storage made of it.
type uploadBody struct {
	r io.Reader
	// n is the number of bytes read.
	n int64
	// want is the exact number of bytes the body must have, or -1.
	want int64
	// err is the first client fault seen.
	err error
}

func newUploadBody(r io.Reader, want int64) *uploadBody {
	return &uploadBody{r: r, want: want}
}

func (b *uploadBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.want >= 0 {
		left := b.want - b.n
		if left == 0 {
			return 0, b.checkEnd()
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		if b.want >= 0 && b.n < b.want {
			b.err = fmt.Errorf("body has %d bytes, Content-Range says %d: %w", b.n, b.want, registry.ErrSizeInvalid)
			return n, b.err
		}
	default:
		b.err = fmt.Errorf("read request body after %d bytes: %v: %w", b.n, err, registry.ErrBlobUploadInvalid)
		return n, b.err
	}
	return n, err
}

// checkEnd makes sure a body of known length has nothing more.
func (b *uploadBody) checkEnd() error {
	var one [1]byte
	for range 100 {
		n, err := b.r.Read(one[:])
		if n > 0 {
			b.err = fmt.Errorf("body is longer than the %d bytes of its Content-Range: %w", b.want, registry.ErrSizeInvalid)
			return b.err
		}
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		if err != nil {
			b.err = fmt.Errorf("read request body after %d bytes: %v: %w", b.n, err, registry.ErrBlobUploadInvalid)
			return b.err
		}
	}
	return io.ErrNoProgress
}

// blame returns the body's own error if reading it failed, else err. It is
// safe on a nil body.
func (b *uploadBody) blame(err error) error {
	if b != nil && b.err != nil && err != nil {
		return b.err
	}
	return err
}
