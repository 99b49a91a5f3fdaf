package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// trivialHandler is the bound on what this machine can do for each request
// the workloads send. It does only the unavoidable work and nothing a
// registry must also do (no validation, no metadata, no links):
//
//	(a) blob push: sha256 of the body while writing it to a file, fsync,
//	    rename into place (monolithic POST ?digest=, or PATCH chunks each
//	    fsynced and a closing PUT);
//	(b) blob pull: http.ServeContent from that file (sendfile);
//	(c) manifest GET/HEAD: a map lookup, with the same headers a registry
//	    sends; manifest PUT keeps the payload in the map after writing it to
//	    a file with fsync (so it is the bound for a durable PUT too);
//	(d) tag listing: precomputed JSON of the whole list and of every page.
type trivialHandler struct {
	dir string

	mu        sync.RWMutex
	manifests map[string]trivialManifest // repo + ":" + ref -> manifest
	tags      map[string][]string        // repo -> tags (unsorted)
	listings  map[string]*trivialListing // repo -> precomputed listings

	upMu    sync.Mutex
	uploads map[string]*trivialUpload
}

type trivialManifest struct {
	payload   []byte
	digest    string
	mediaType string
	length    string
}

type trivialListing struct {
	whole []byte
	pages map[string]trivialPage // "n/last" -> page
	end   trivialPage            // past the last page
}

type trivialPage struct {
	body []byte
	link string
}

type trivialUpload struct {
	mu   sync.Mutex
	f    *os.File
	h    hash.Hash
	size int64
}

func newTrivialHandler(dir string) *trivialHandler {
	return &trivialHandler{
		dir:       dir,
		manifests: make(map[string]trivialManifest),
		tags:      make(map[string][]string),
		listings:  make(map[string]*trivialListing),
		uploads:   make(map[string]*trivialUpload),
	}
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

func (t *trivialHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/v2/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
	if p == "/v2/" {
		return
	}
	switch {
	case strings.HasSuffix(p, "/tags/list"):
		t.tagList(w, r, strings.TrimSuffix(p[len("/v2/"):], "/tags/list"))
	case strings.Contains(p, "/blobs/uploads/"):
		i := strings.LastIndex(p, "/blobs/uploads/")
		t.upload(w, r, p[len("/v2/"):i], p[i+len("/blobs/uploads/"):])
	case strings.Contains(p, "/blobs/"):
		i := strings.LastIndex(p, "/blobs/")
		t.blob(w, r, p[i+len("/blobs/"):])
	case strings.Contains(p, "/manifests/"):
		i := strings.LastIndex(p, "/manifests/")
		t.manifest(w, r, p[len("/v2/"):i], p[i+len("/manifests/"):])
	default:
		http.NotFound(w, r)
	}
}

func (t *trivialHandler) blobPath(d string) string {
	return filepath.Join(t.dir, "blobs", strings.ReplaceAll(d, ":", "-"))
}

// (b): serve the bytes from the file.
func (t *trivialHandler) blob(w http.ResponseWriter, r *http.Request, d string) {
	f, err := os.Open(t.blobPath(d))
	if err != nil {
		http.Error(w, "blob unknown", http.StatusNotFound)
		return
	}
	defer f.Close()
	w.Header().Set("Docker-Content-Digest", d)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"`+d+`"`)
	http.ServeContent(w, r, "", time.Time{}, f)
}

// (a): hash and write the body with fsync.
func (t *trivialHandler) upload(w http.ResponseWriter, r *http.Request, repo, id string) {
	switch r.Method {
	case http.MethodPost:
		if d := r.URL.Query().Get("digest"); d != "" {
			f, h, n, err := t.writeTemp(r.Body)
			if err == nil {
				err = t.commit(f, h, n, d)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Docker-Content-Digest", d)
			w.Header().Set("Location", "/v2/"+repo+"/blobs/"+d)
			w.WriteHeader(http.StatusCreated)
			return
		}
		f, err := os.CreateTemp(filepath.Join(t.dir, "blobs"), "upload-*")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		id := newID()
		t.upMu.Lock()
		t.uploads[id] = &trivialUpload{f: f, h: sha256.New()}
		t.upMu.Unlock()
		w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
		w.Header().Set("Range", "0-0")
		w.WriteHeader(http.StatusAccepted)
	case http.MethodPatch, http.MethodPut:
		t.upMu.Lock()
		u := t.uploads[id]
		t.upMu.Unlock()
		if u == nil {
			http.Error(w, "upload unknown", http.StatusNotFound)
			return
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		buf := copyBufs.Get().(*[]byte)
		n, err := io.CopyBuffer(io.MultiWriter(u.f, u.h), r.Body, *buf)
		copyBufs.Put(buf)
		if err == nil && n > 0 {
			err = u.f.Sync()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		u.size += n
		if r.Method == http.MethodPatch {
			w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
			w.Header().Set("Range", fmt.Sprintf("0-%d", u.size-1))
			w.WriteHeader(http.StatusAccepted)
			return
		}
		d := r.URL.Query().Get("digest")
		t.upMu.Lock()
		delete(t.uploads, id)
		t.upMu.Unlock()
		if err := t.commit(u.f, u.h, u.size, d); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Docker-Content-Digest", d)
		w.Header().Set("Location", "/v2/"+repo+"/blobs/"+d)
		w.WriteHeader(http.StatusCreated)
	case http.MethodDelete:
		t.upMu.Lock()
		u := t.uploads[id]
		delete(t.uploads, id)
		t.upMu.Unlock()
		if u != nil {
			u.f.Close()
			os.Remove(u.f.Name())
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "unsupported", http.StatusMethodNotAllowed)
	}
}

func (t *trivialHandler) writeTemp(body io.Reader) (*os.File, hash.Hash, int64, error) {
	f, err := os.CreateTemp(filepath.Join(t.dir, "blobs"), "upload-*")
	if err != nil {
		return nil, nil, 0, err
	}
	h := sha256.New()
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(f, h), body, *buf)
	copyBufs.Put(buf)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, nil, 0, err
	}
	return f, h, n, nil
}

// commit checks the digest of a synced temp file and renames it into place.
func (t *trivialHandler) commit(f *os.File, h hash.Hash, n int64, d string) error {
	defer f.Close()
	if got := digest.NewDigest(digest.SHA256, h).String(); got != d {
		os.Remove(f.Name())
		return fmt.Errorf("digest %s, not %s (%d bytes)", got, d, n)
	}
	return os.Rename(f.Name(), t.blobPath(d))
}

// (c): manifests from a map; PUT writes a file with fsync first.
func (t *trivialHandler) manifest(w http.ResponseWriter, r *http.Request, repo, ref string) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		t.mu.RLock()
		m, ok := t.manifests[repo+":"+ref]
		t.mu.RUnlock()
		if !ok {
			http.Error(w, "manifest unknown", http.StatusNotFound)
			return
		}
		h := w.Header()
		h["Content-Type"] = []string{m.mediaType}
		h["Content-Length"] = []string{m.length}
		h["Docker-Content-Digest"] = []string{m.digest}
		h["Etag"] = []string{`"` + m.digest + `"`}
		if r.Method == http.MethodGet {
			w.Write(m.payload)
		}
	case http.MethodPut:
		payload, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d := digest.FromBytes(payload).String()
		f, err := os.CreateTemp(filepath.Join(t.dir, "manifests"), "m-*")
		if err == nil {
			_, err = f.Write(payload)
			if err == nil {
				err = f.Sync()
			}
			f.Close()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		m := trivialManifest{payload: payload, digest: d, mediaType: r.Header.Get("Content-Type"), length: strconv.Itoa(len(payload))}
		t.mu.Lock()
		if _, ok := t.manifests[repo+":"+ref]; !ok && !strings.HasPrefix(ref, "sha256:") {
			t.tags[repo] = append(t.tags[repo], ref)
		}
		t.manifests[repo+":"+ref] = m
		t.manifests[repo+":"+d] = m
		delete(t.listings, repo)
		t.mu.Unlock()
		w.Header().Set("Docker-Content-Digest", d)
		w.Header().Set("Location", "/v2/"+repo+"/manifests/"+d)
		w.WriteHeader(http.StatusCreated)
	default:
		http.Error(w, "unsupported", http.StatusMethodNotAllowed)
	}
}

// (d): precomputed listings. They are computed by the first listing after
// a PUT; the workload warms them up before timing.
func (t *trivialHandler) tagList(w http.ResponseWriter, r *http.Request, repo string) {
	t.mu.RLock()
	l := t.listings[repo]
	t.mu.RUnlock()
	if l == nil {
		l = t.precompute(repo)
	}
	q := r.URL.Query()
	body := l.whole
	if n := q.Get("n"); n != "" {
		p, ok := l.pages[n+"/"+q.Get("last")]
		if !ok {
			p = l.end
		}
		body = p.body
		if p.link != "" {
			w.Header().Set("Link", p.link)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// precompute builds the whole listing and its pages of 100.
func (t *trivialHandler) precompute(repo string) *trivialListing {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := t.listings[repo]; l != nil {
		return l
	}
	tags := append([]string(nil), t.tags[repo]...)
	slices.Sort(tags)
	enc := func(tags []string) []byte {
		b, _ := json.Marshal(struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		}{repo, tags})
		return b
	}
	l := &trivialListing{whole: enc(tags), pages: make(map[string]trivialPage), end: trivialPage{body: enc([]string{})}}
	const n = 100
	last := ""
	for i := 0; i < len(tags); i += n {
		end := min(i+n, len(tags))
		p := trivialPage{body: enc(tags[i:end])}
		if end < len(tags) {
			p.link = fmt.Sprintf(`</v2/%s/tags/list?n=%d&last=%s>; rel="next"`, repo, n, tags[end-1])
		}
		l.pages[fmt.Sprintf("%d/%s", n, last)] = p
		last = tags[end-1]
	}
	t.listings[repo] = l
	return l
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (t *trivialHandler) init() error {
	for _, d := range []string{"blobs", "manifests"} {
		if err := os.MkdirAll(filepath.Join(t.dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}
