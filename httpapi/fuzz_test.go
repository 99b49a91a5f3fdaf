package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

// bareHandler is a handler over an empty memory registry, for fuzzing
// without a network.
func bareHandler(t testing.TB) (*httpapi.Handler, *registry.Registry) {
	t.Helper()
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	reg, err := registry.New(store, registry.WithMaxBlobSize(testMaxBlobSize), registry.WithMaxManifestSize(testMaxManifestSize))
	if err != nil {
		t.Fatalf("registry.New() error = %v", err)
	}
	h, err := httpapi.New(reg, httpapi.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("httpapi.New() error = %v", err)
	}
	return h, reg
}

// serve sends one request straight to h. path is used as it is, unparsed,
// so the fuzzer can reach paths no URL parser would produce.
func serve(h http.Handler, method, path, rawQuery string, hdr http.Header, body []byte, chunked bool) *httptest.ResponseRecorder {
	req := &http.Request{
		Method:     method,
		URL:        &url.URL{Path: path, RawQuery: rawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     hdr,
		Body:       io.NopCloser(bytes.NewReader(body)),
		Host:       "registry.test",
		RequestURI: path,
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.ContentLength = int64(len(body))
	if chunked {
		req.ContentLength = -1
	}
	req = req.WithContext(context.Background())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// FuzzManifestPut pushes arbitrary bodies with arbitrary content types and
// references. The handler must never answer 5xx; an accepted manifest must
// be served back byte for byte; a refused one must carry an OCI error body.
func FuzzManifestPut(f *testing.F) {
	seed := newFixture(f)
	for _, body := range []string{newManifest, subjectPayload, missingBlob, missingChild, goodIndex, schema1, noConfig, badLayerDigest} {
		b := seed.expand(body)
		f.Add("application/vnd.oci.image.manifest.v1+json", []byte(b), uint8(0), "latest")
		f.Add("", []byte(b), uint8(1), "")
		f.Add("application/vnd.oci.image.index.v1+json", []byte(b), uint8(2), "sha256:0")
	}
	f.Add("application/vnd.docker.distribution.manifest.v2+json", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}`), uint8(3), "v1")
	f.Add("application/vnd.oci.image.manifest.v1+json; charset=utf-8", []byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","data":"e30="},"layers":[]}`), uint8(0), "data")
	f.Add("text/plain", []byte(`null`), uint8(0), "x")
	f.Add("application/json", []byte(`{"schemaVersion":2e308}`), uint8(0), "x")
	f.Add("", []byte(`{"schemaVersion":2,"manifests":[],"subject":{"mediaType":"a/b","size":-1,"digest":"sha512:00"}}`), uint8(1), "")
	f.Add("", []byte(`[`+strings.Repeat(`[`, 10000)), uint8(0), "deep")
	f.Add("", []byte{0xff, 0xfe, 0x00}, uint8(4), "a/b/../../c")

	f.Fuzz(func(t *testing.T, contentType string, body []byte, refKind uint8, ref string) {
		h, reg := bareHandler(t)
		ctx := context.Background()
		// The empty config and a layer exist so that some bodies are valid.
		if _, err := reg.PushBlob(ctx, "fuzz/repo", "", strings.NewReader("{}")); err != nil {
			t.Fatal(err)
		}
		name := "fuzz/repo"
		switch refKind % 5 {
		case 1:
			ref = digest.FromBytes(body).String()
		case 2:
			ref = digest.SHA512.FromBytes(body).String()
		case 3:
			ref = digest.FromBytes(body).String()
			contentType = ""
		case 4:
			name = ref
			ref = "latest"
		}
		hdr := http.Header{}
		if contentType != "" {
			hdr.Set("Content-Type", contentType)
		}
		path := "/v2/" + name + "/manifests/" + ref
		rec := serve(h, http.MethodPut, path, "tag=fuzzed", hdr, body, refKind&8 != 0)
		if rec.Code >= 500 {
			t.Fatalf("PUT %q (Content-Type %q) = %d: %s", path, contentType, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusCreated {
			if _, err := errorCodes(rec.Body.String()); err != nil {
				t.Fatalf("PUT %q = %d with a bad error body %q: %v", path, rec.Code, rec.Body, err)
			}
			return
		}
		dgst := rec.Header().Get("Docker-Content-Digest")
		if loc := rec.Header().Get("Location"); loc != "/v2/"+name+"/manifests/"+dgst {
			t.Errorf("Location = %q, want the manifest by digest %s", loc, dgst)
		}
		for _, r := range []string{dgst, "fuzzed"} {
			get := serve(h, http.MethodGet, "/v2/"+name+"/manifests/"+r, "", nil, nil, false)
			if get.Code != http.StatusOK || !bytes.Equal(get.Body.Bytes(), body) {
				t.Fatalf("GET %s after PUT = %d %q, want 200 and the pushed body", r, get.Code, get.Body)
			}
			if ct := get.Header().Get("Content-Type"); ct == "" {
				t.Errorf("GET %s has no Content-Type", r)
			}
		}
	})
}

// uploadModel is what an upload session must hold, by the protocol.
type uploadModel struct {
	id   string
	data []byte
	// stale is an ID that no longer exists.
	stale string
}

// FuzzUploadStateMachine runs a sequence of upload operations decoded from
// the fuzz input against a model. Each step is 4 bytes: operation, a start
// adjustment, a length, and flags. The handler must never answer 5xx, every
// answer must be the one the model predicts, and a completed blob must hold
// exactly the bytes of the accepted chunks.
func FuzzUploadStateMachine(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 10, 0, 1, 0, 10, 0, 5, 0, 0, 0, 3, 0, 4, 0})
	f.Add([]byte{0, 0, 0, 0, 1, 3, 10, 0, 1, 0, 10, 0, 3, 0, 0, 1, 3, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 2, 0, 7, 0, 2, 0, 0, 0, 6, 0, 3, 0, 5, 0, 0, 0, 3, 0, 9, 2})
	f.Add([]byte{0, 0, 0, 0, 4, 0, 0, 0, 1, 0, 5, 0, 5, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 4})
	f.Add([]byte{7, 0, 20, 0, 7, 0, 20, 1, 0, 0, 0, 0, 1, 255, 8, 0, 3, 0, 8, 6})
	f.Add([]byte{1, 0, 5, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 200, 0, 3, 0, 200, 0})
	f.Add([]byte{0, 0, 0, 0, 1, 0, 3, 8, 1, 0, 3, 16, 5, 0, 0, 0, 3, 0, 3, 8})

	f.Fuzz(func(t *testing.T, program []byte) {
		h, _ := bareHandler(t)
		const name = "fuzz/up"
		var m uploadModel
		stream := byte(0)
		nextBytes := func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				stream = stream*31 + 7
				b[i] = stream
			}
			return b
		}
		if len(program) > 256 {
			program = program[:256]
		}
		for pc := 0; pc+4 <= len(program); pc += 4 {
			op, adj, n, flags := program[pc]%8, int8(program[pc+1]), int(program[pc+2])%96, program[pc+3]
			id := m.id
			if id == "" || flags&32 != 0 {
				id = m.stale
				if id == "" {
					id = "0123456789abcdef0123456789abcdef"
				}
			}
			live := id == m.id && m.id != ""
			path := "/v2/" + name + "/blobs/uploads/" + id
			step := func(rec *httptest.ResponseRecorder, want int) {
				t.Helper()
				if rec.Code >= 500 || rec.Code != want {
					t.Fatalf("step %d (op %d): %d %s, want %d", pc/4, op, rec.Code, rec.Body, want)
				}
			}
			wantRange := func(rec *httptest.ResponseRecorder) {
				t.Helper()
				want := "0-0"
				if len(m.data) > 0 {
					want = "0-" + strconv.Itoa(len(m.data)-1)
				}
				if got := rec.Header().Get("Range"); got != want {
					t.Fatalf("step %d (op %d): Range = %q, want %q", pc/4, op, got, want)
				}
			}
			switch op {
			case 0: // start a session
				rec := serve(h, http.MethodPost, "/v2/"+name+"/blobs/uploads/", "", nil, nil, false)
				step(rec, http.StatusAccepted)
				loc := rec.Header().Get("Location")
				newID := loc[strings.LastIndexByte(loc, '/')+1:]
				if m.id != "" {
					m.stale = m.id // abandoned, still valid, but no longer modelled
					serve(h, http.MethodDelete, "/v2/"+name+"/blobs/uploads/"+m.id, "", nil, nil, false)
				}
				m.id, m.data = newID, nil
				wantRange(rec)
			case 1: // chunk with Content-Range
				if n == 0 {
					n = 1
				}
				start := len(m.data) + int(adj)%4
				if start < 0 {
					start = 0
				}
				chunk := nextBytes(n)
				hdr := http.Header{"Content-Range": {strconv.Itoa(start) + "-" + strconv.Itoa(start+n-1)}}
				rec := serve(h, http.MethodPatch, path, "", hdr, chunk, flags&8 != 0)
				switch {
				case !live:
					step(rec, http.StatusNotFound)
				case start != len(m.data):
					step(rec, http.StatusRequestedRangeNotSatisfiable)
					wantRange(rec)
				default:
					step(rec, http.StatusAccepted)
					m.data = append(m.data, chunk...)
					wantRange(rec)
				}
			case 2: // streamed chunk
				chunk := nextBytes(n)
				rec := serve(h, http.MethodPatch, path, "", nil, chunk, flags&8 != 0)
				if !live {
					step(rec, http.StatusNotFound)
					break
				}
				step(rec, http.StatusAccepted)
				m.data = append(m.data, chunk...)
				wantRange(rec)
			case 3: // complete, with an optional last chunk
				chunk := nextBytes(n)
				full := append(append([]byte(nil), m.data...), chunk...)
				alg := digest.SHA256
				if flags&2 != 0 {
					alg = digest.SHA512
				}
				dgst := alg.FromBytes(full)
				if flags&4 != 0 {
					dgst = alg.FromBytes(append(full, 'x'))
				}
				hdr := http.Header{}
				if flags&16 != 0 && n > 0 {
					hdr.Set("Content-Range", strconv.Itoa(len(m.data))+"-"+strconv.Itoa(len(full)-1))
				}
				rec := serve(h, http.MethodPut, path, "digest="+dgst.String(), hdr, chunk, flags&8 != 0)
				switch {
				case !live:
					step(rec, http.StatusNotFound)
				case flags&4 != 0:
					step(rec, http.StatusBadRequest)
					// The last chunk was accepted before the digest
					// was checked; the session stays open.
					m.data = full
				default:
					step(rec, http.StatusCreated)
					if got := rec.Header().Get("Docker-Content-Digest"); got != dgst.String() {
						t.Fatalf("Docker-Content-Digest = %q, want %s", got, dgst)
					}
					get := serve(h, http.MethodGet, "/v2/"+name+"/blobs/"+dgst.String(), "", nil, nil, false)
					if get.Code != http.StatusOK || !bytes.Equal(get.Body.Bytes(), full) {
						t.Fatalf("blob after PUT = %d, %d bytes, want the %d accepted bytes", get.Code, get.Body.Len(), len(full))
					}
					m.stale, m.id, m.data = m.id, "", nil
				}
			case 4: // cancel
				rec := serve(h, http.MethodDelete, path, "", nil, nil, false)
				if !live {
					step(rec, http.StatusNotFound)
					break
				}
				step(rec, http.StatusNoContent)
				m.stale, m.id, m.data = m.id, "", nil
			case 5: // status
				rec := serve(h, http.MethodGet, path, "", nil, nil, false)
				if !live {
					step(rec, http.StatusNotFound)
					break
				}
				step(rec, http.StatusNoContent)
				wantRange(rec)
			case 6: // malformed Content-Range
				bad := []string{"x", "1", "-1-2", "a-b", "1-2-3", "99999999999999999999-1"}[int(adj)&0xff%6]
				rec := serve(h, http.MethodPatch, path, "", http.Header{"Content-Range": {bad}}, nextBytes(n), false)
				if rec.Code >= 500 || rec.Code < 400 {
					t.Fatalf("PATCH with Content-Range %q = %d, want 4xx", bad, rec.Code)
				}
			case 7: // monolithic upload, beside the session
				blob := nextBytes(n)
				dgst := digest.FromBytes(blob)
				if flags&1 != 0 {
					dgst = digest.FromBytes(append(blob, 1))
				}
				rec := serve(h, http.MethodPost, "/v2/"+name+"/blobs/uploads/", "digest="+dgst.String(), nil, blob, flags&8 != 0)
				if flags&1 != 0 {
					step(rec, http.StatusBadRequest)
				} else {
					step(rec, http.StatusCreated)
				}
			}
		}
		if m.id != "" {
			// The session holds exactly what the model says.
			rec := serve(h, http.MethodPut, "/v2/"+name+"/blobs/uploads/"+m.id, "digest="+digest.FromBytes(m.data).String(), nil, nil, false)
			if rec.Code != http.StatusCreated {
				t.Fatalf("final PUT = %d %s, want 201 for the %d modelled bytes", rec.Code, rec.Body, len(m.data))
			}
		}
	})
}
