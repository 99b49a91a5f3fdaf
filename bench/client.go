package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// Media types used by the workloads.
const (
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
	manifestAccept    = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, " +
		"application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
)

// newHTTPClient returns a plain net/http client with keep-alive and enough
// idle connections for the highest concurrency the workloads use, so that
// no request pays for a new TCP connection once warmed up.
func newHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// Large buffers keep the client from being the bottleneck on
		// 64 MiB bodies.
		WriteBufferSize: 256 << 10,
		ReadBufferSize:  256 << 10,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   10 * time.Minute,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return fmt.Errorf("too many redirects")
			}
			return nil
		},
	}
}

// client speaks the OCI distribution API to one target.
type client struct {
	hc   *http.Client
	base *url.URL
	// singlePOST is true if the target stores a blob from one
	// POST ?digest= request with a body (201); otherwise a monolithic push
	// is POST then PUT with the body.
	singlePOST bool
	// linkPaging is true if the target sends Link headers on tag lists.
	linkPaging bool
	// auth, if not "", is sent as the Authorization header of every
	// request.
	auth string
}

func newClient(hc *http.Client, baseURL string) (*client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	return &client{hc: hc, base: u}, nil
}

func (c *client) url(path string) string {
	return c.base.ResolveReference(&url.URL{Path: path}).String()
}

// do sends a request and returns the response with its body drained and
// closed unless keepBody is set.
func (c *client) do(req *http.Request, want ...int) (*http.Response, error) {
	if c.auth != "" {
		req.Header["Authorization"] = []string{c.auth}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return resp, nil
		}
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return nil, fmt.Errorf("%s %s: status %d, want %v: %s", req.Method, req.URL.Path, resp.StatusCode, want, strings.TrimSpace(string(b)))
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// location resolves an upload Location header against the request URL.
func location(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("%s %s: no Location", resp.Request.Method, resp.Request.URL.Path)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil, err
	}
	return resp.Request.URL.ResolveReference(u), nil
}

func withDigest(u *url.URL, d digest.Digest) string {
	q := u.Query()
	q.Set("digest", d.String())
	v := *u
	v.RawQuery = q.Encode()
	return v.String()
}

// startUpload opens an upload session and returns its location.
func (c *client) startUpload(repo string) (*url.URL, error) {
	req, _ := http.NewRequest(http.MethodPost, c.url("/v2/"+repo+"/blobs/uploads/"), nil)
	resp, err := c.do(req, http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	drain(resp)
	return location(resp)
}

// pushMonolithic stores body as blob d in one request (POST ?digest=) when
// the target supports it, else with POST then PUT carrying the body.
func (c *client) pushMonolithic(repo string, d digest.Digest, body []byte) error {
	if c.singlePOST {
		u, _ := url.Parse(c.url("/v2/" + repo + "/blobs/uploads/"))
		req, _ := http.NewRequest(http.MethodPost, withDigest(u, d), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := c.do(req, http.StatusCreated)
		if err != nil {
			return err
		}
		drain(resp)
		return nil
	}
	loc, err := c.startUpload(repo)
	if err != nil {
		return err
	}
	req, _ := http.NewRequest(http.MethodPut, withDigest(loc, d), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.do(req, http.StatusCreated)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// pushChunked stores body as blob d with POST, PATCHes of chunk bytes and a
// closing PUT without body.
func (c *client) pushChunked(repo string, d digest.Digest, body []byte, chunk int) error {
	loc, err := c.startUpload(repo)
	if err != nil {
		return err
	}
	for off := 0; off < len(body); off += chunk {
		end := min(off+chunk, len(body))
		req, _ := http.NewRequest(http.MethodPatch, loc.String(), bytes.NewReader(body[off:end]))
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, end-1))
		resp, err := c.do(req, http.StatusAccepted, http.StatusNoContent)
		if err != nil {
			return err
		}
		drain(resp)
		if loc, err = location(resp); err != nil {
			return err
		}
	}
	req, _ := http.NewRequest(http.MethodPut, withDigest(loc, d), nil)
	resp, err := c.do(req, http.StatusCreated)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// blobExists HEADs a blob, as a client does before pushing it.
func (c *client) blobExists(repo string, d digest.Digest) (bool, error) {
	req, _ := http.NewRequest(http.MethodHead, c.url("/v2/"+repo+"/blobs/"+d.String()), nil)
	resp, err := c.do(req, http.StatusOK, http.StatusNotFound)
	if err != nil {
		return false, err
	}
	drain(resp)
	return resp.StatusCode == http.StatusOK, nil
}

// pullBlob GETs a blob and discards its bytes, returning their count.
func (c *client) pullBlob(repo string, d digest.Digest) (int64, error) {
	req, _ := http.NewRequest(http.MethodGet, c.url("/v2/"+repo+"/blobs/"+d.String()), nil)
	resp, err := c.do(req, http.StatusOK)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(io.Discard, resp.Body)
}

func (c *client) putManifest(repo, ref string, payload []byte) error {
	req, _ := http.NewRequest(http.MethodPut, c.url("/v2/"+repo+"/manifests/"+ref), bytes.NewReader(payload))
	req.Header.Set("Content-Type", mediaTypeManifest)
	resp, err := c.do(req, http.StatusCreated)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// getManifest GETs (or HEADs) a manifest and returns the body length (or the
// Content-Length of a HEAD).
func (c *client) getManifest(method, repo, ref string) (int64, error) {
	req, _ := http.NewRequest(method, c.url("/v2/"+repo+"/manifests/"+ref), nil)
	req.Header.Set("Accept", manifestAccept)
	resp, err := c.do(req, http.StatusOK)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.Header.Get("Docker-Content-Digest") == "" {
		return 0, fmt.Errorf("%s manifest %s: no Docker-Content-Digest", method, ref)
	}
	if method == http.MethodHead {
		return resp.ContentLength, nil
	}
	return io.Copy(io.Discard, resp.Body)
}

// listTags fetches a full tag listing, with n if n > 0,
// following Link headers, and returns the number of tags and requests.
// Targets that never send a Link header are paged by `last` as a client
// would when a page comes back full.
func (c *client) listTags(repo string, n int) (tags, requests int, err error) {
	u, _ := url.Parse(c.url("/v2/" + repo + "/tags/list"))
	if n > 0 {
		u.RawQuery = fmt.Sprintf("n=%d", n)
	}
	next := u.String()
	var page struct {
		Tags []string `json:"tags"`
	}
	last := ""
	for next != "" {
		req, _ := http.NewRequest(http.MethodGet, next, nil)
		resp, err := c.do(req, http.StatusOK)
		if err != nil {
			return tags, requests, err
		}
		requests++
		page.Tags = page.Tags[:0]
		err = json.NewDecoder(resp.Body).Decode(&page)
		drain(resp)
		if err != nil {
			return tags, requests, err
		}
		if last != "" && len(page.Tags) > 0 && page.Tags[0] <= last {
			// go-containerregistry answers a `last` past the end with the
			// first page again: that is the end of the listing.
			break
		}
		tags += len(page.Tags)
		next, last = "", ""
		if l := resp.Header.Get("Link"); l != "" {
			nu, err := parseLink(resp.Request.URL, l)
			if err != nil {
				return tags, requests, err
			}
			next = nu
			c.linkPaging = true
		} else if n > 0 && len(page.Tags) == n && !c.linkPaging {
			last = page.Tags[len(page.Tags)-1]
			q := u.Query()
			q.Set("last", last)
			v := *u
			v.RawQuery = q.Encode()
			next = v.String()
		}
	}
	return tags, requests, nil
}

// parseLink returns the target of a `<url>; rel="next"` header.
func parseLink(base *url.URL, h string) (string, error) {
	start, end := strings.IndexByte(h, '<'), strings.IndexByte(h, '>')
	if start < 0 || end < start {
		return "", fmt.Errorf("bad Link header %q", h)
	}
	u, err := url.Parse(h[start+1 : end])
	if err != nil {
		return "", err
	}
	return base.ResolveReference(u).String(), nil
}

// probeSinglePOST tells whether the target accepts a monolithic upload in a
// single POST ?digest= request. It pushes a tiny blob to find out.
func (c *client) probeSinglePOST(repo string) (bool, error) {
	body := []byte("berth-bench probe")
	d := digest.FromBytes(body)
	u, _ := url.Parse(c.url("/v2/" + repo + "/blobs/uploads/"))
	req, _ := http.NewRequest(http.MethodPost, withDigest(u, d), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.do(req, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return false, err
	}
	drain(resp)
	if resp.StatusCode == http.StatusCreated {
		return true, nil
	}
	// The target opened a session and ignored the body; leave it.
	return false, nil
}

// manifestJSON returns an OCI image manifest for config and layers with an
// annotation that makes it distinct.
func manifestJSON(config descriptor, layers []descriptor, id string) []byte {
	m := struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Config        descriptor        `json:"config"`
		Layers        []descriptor      `json:"layers"`
		Annotations   map[string]string `json:"annotations,omitempty"`
	}{2, mediaTypeManifest, config, layers, map[string]string{"org.berth.bench.id": id}}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

type descriptor struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

// variantBlob is a large buffer whose last 8 bytes hold a variant number,
// so that many distinct blobs can be pushed from one allocation. The hash
// state of the common prefix is kept so a variant's digest costs nothing.
type variantBlob struct {
	buf    []byte
	prefix []byte // marshalled sha256 state over buf[:len(buf)-8]
}

func newVariantBlob(size int, seed uint64) *variantBlob {
	buf := make([]byte, size)
	fillRandom(buf, seed)
	h := sha256.New()
	h.Write(buf[:size-8])
	st, err := h.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
	if err != nil {
		panic(err)
	}
	return &variantBlob{buf: buf, prefix: st}
}

// set writes variant v into the buffer and returns its digest.
func (b *variantBlob) set(v uint64) digest.Digest {
	binary.BigEndian.PutUint64(b.buf[len(b.buf)-8:], v)
	h := sha256.New()
	if err := h.(interface{ UnmarshalBinary([]byte) error }).UnmarshalBinary(b.prefix); err != nil {
		panic(err)
	}
	h.Write(b.buf[len(b.buf)-8:])
	return digest.NewDigest(digest.SHA256, h)
}

// basicHeader is the Authorization header for Basic credentials.
func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}
