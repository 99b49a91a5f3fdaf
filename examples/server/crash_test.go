//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	digest "github.com/opencontainers/go-digest"
)

// Crash test parameters. Three kill/restart cycles of about a second of
// load each keep the test well under a minute.
const (
	crashCycles   = 3
	pushWorkers   = 8
	uploadWorkers = 3
	layerSize     = 16 << 10 // bytes per random layer
	chunkSize     = 64 << 10 // bytes per PATCH of a raw upload
	uploadChunks  = 4        // chunks per raw upload; at most 3 are sent
	minKillDelay  = 300 * time.Millisecond
	maxKillDelay  = 1500 * time.Millisecond
)

// TestCrashRecovery builds this server, loads it with concurrent pushes and
// chunked uploads, kills it with SIGKILL at a random moment and restarts it
// on the same data directory, several times. After each restart it checks
// the durability contract:
//
//   - every push the server acknowledged (manifest PUT answered 201) pulls
//     completely and byte-identical;
//   - no blob is half-written: a blob that HEAD reports present GETs as
//     bytes that hash to its digest, and an upload that was never completed
//     is not a blob;
//   - every interrupted upload either resumes from an offset at least as
//     large as the last acknowledged one and completes with the right
//     content, or is cleanly gone (404 BLOB_UPLOAD_UNKNOWN).
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and kills a server process; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	bin := filepath.Join(t.TempDir(), "berth-server")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := mrand.New(mrand.NewPCG(seed, seed>>1))
	dataDir := t.TempDir()
	l := &ledger{}

	for cycle := range crashCycles {
		srv := startServer(t, bin, dataDir)

		ctx, cancel := context.WithCancel(t.Context())
		tr := http.DefaultTransport.(*http.Transport).Clone()
		var wg sync.WaitGroup
		for w := range pushWorkers {
			wg.Go(func() { pushLoop(ctx, l, tr, srv.host, cycle, w) })
		}
		for w := range uploadWorkers {
			wg.Go(func() { uploadLoop(ctx, l, tr, srv.host, cycle, w) })
		}

		delay := minKillDelay + time.Duration(rnd.Int64N(int64(maxKillDelay-minKillDelay)))
		time.Sleep(delay)
		srv.kill(t)
		cancel()
		wg.Wait()
		tr.CloseIdleConnections()
		acked, attempted, uploads := l.counts()
		t.Logf("cycle %d: SIGKILL after %v; so far %d of %d pushes acknowledged, %d uploads interrupted",
			cycle, delay.Round(time.Millisecond), acked, attempted, uploads)

		srv = startServer(t, bin, dataDir)
		verify(t, l, srv.host)
		if t.Failed() {
			t.Logf("server log after restart:\n%s", srv.log())
			return
		}
		srv.stop(t)
	}

	// A last start proves that the data directory is still healthy after a
	// graceful shutdown too.
	srv := startServer(t, bin, dataDir)
	verify(t, l, srv.host)
	srv.stop(t)
}

// ledger records what clients were told, to be checked after a crash.
type ledger struct {
	mu        sync.Mutex
	attempted []*pushedImage
	uploads   []*rawUpload
}

type pushedImage struct {
	repo, tag string
	digest    v1.Hash
	mediaType string
	manifest  []byte
	blobs     []v1.Hash // config, then layers
	acked     bool
}

type rawUpload struct {
	repo     string
	location string // path and query, host-independent
	content  []byte
	digest   digest.Digest
	acked    int64 // bytes acknowledged by a 202
	resumed  bool  // completed after a restart
	gone     bool  // the server forgot it (404 BLOB_UPLOAD_UNKNOWN)
}

func (l *ledger) counts() (acked, attempted, uploads int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.attempted {
		if p.acked {
			acked++
		}
	}
	return acked, len(l.attempted), len(l.uploads)
}

// pushLoop pushes random images with go-containerregistry until ctx ends.
func pushLoop(ctx context.Context, l *ledger, tr http.RoundTripper, host string, cycle, worker int) {
	repo := fmt.Sprintf("crash/w%d", worker)
	for n := 0; ctx.Err() == nil; n++ {
		img, err := random.Image(layerSize, int64(1+n%4))
		if err != nil {
			panic(err)
		}
		p, err := describe(img)
		if err != nil {
			panic(err)
		}
		p.repo, p.tag = repo, fmt.Sprintf("c%d-%d", cycle, n)
		l.mu.Lock()
		l.attempted = append(l.attempted, p)
		l.mu.Unlock()

		ref, err := name.ParseReference(host+"/"+repo+":"+p.tag, name.Insecure)
		if err != nil {
			panic(err)
		}
		err = remote.Write(ref, img,
			remote.WithContext(ctx),
			remote.WithTransport(tr),
			remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		)
		if err == nil {
			l.mu.Lock()
			p.acked = true
			l.mu.Unlock()
		}
	}
}

func describe(img v1.Image) (*pushedImage, error) {
	p := &pushedImage{}
	var err error
	if p.digest, err = img.Digest(); err != nil {
		return nil, err
	}
	if p.manifest, err = img.RawManifest(); err != nil {
		return nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	p.mediaType = string(mt)
	cfg, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	p.blobs = append(p.blobs, cfg)
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, layer := range layers {
		d, err := layer.Digest()
		if err != nil {
			return nil, err
		}
		p.blobs = append(p.blobs, d)
	}
	return p, nil
}

// uploadLoop opens chunked uploads, PATCHes one to three of their four
// chunks and leaves them unfinished, until ctx ends.
func uploadLoop(ctx context.Context, l *ledger, tr http.RoundTripper, host string, cycle, worker int) {
	c := &http.Client{Transport: tr}
	base := "http://" + host
	repo := "crash/raw"
	for n := 0; ctx.Err() == nil; n++ {
		content := make([]byte, uploadChunks*chunkSize)
		_, _ = rand.Read(content)
		u := &rawUpload{repo: repo, content: content, digest: digest.FromBytes(content)}

		resp, err := do(ctx, c, http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil, nil)
		if err != nil {
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return
		}
		loc, err := relativeLocation(base, resp.Header.Get("Location"))
		if err != nil {
			return
		}
		u.location = loc

		send := 1 + (cycle+worker+n)%(uploadChunks-1)
		for i := range send {
			start, end := i*chunkSize, (i+1)*chunkSize
			resp, err := do(ctx, c, http.MethodPatch, base+u.location, content[start:end], map[string]string{
				"Content-Type":  "application/octet-stream",
				"Content-Range": fmt.Sprintf("%d-%d", start, end-1),
			})
			if err != nil {
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				return
			}
			next, err := relativeLocation(base, resp.Header.Get("Location"))
			if err != nil {
				return
			}
			l.mu.Lock()
			u.location, u.acked = next, int64(end)
			if i == 0 {
				l.uploads = append(l.uploads, u)
			}
			l.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// verify checks everything in the ledger against a restarted server.
func verify(t *testing.T, l *ledger, host string) {
	t.Helper()
	l.mu.Lock()
	attempted := append([]*pushedImage(nil), l.attempted...)
	uploads := append([]*rawUpload(nil), l.uploads...)
	l.mu.Unlock()

	c := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	base := "http://" + host

	// Images, in parallel: acknowledged ones pull byte-identical; every
	// blob and manifest that is visible is whole.
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		errs        []error
		pulled      int
		visibleUnak int
	)
	work := make(chan *pushedImage)
	for range 4 {
		wg.Go(func() {
			for p := range work {
				visible, err := checkImage(c, base, host, p)
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, err)
				case p.acked:
					pulled++
				case visible:
					visibleUnak++
				}
				mu.Unlock()
			}
		})
	}
	for _, p := range attempted {
		work <- p
	}
	close(work)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}

	// Interrupted uploads: resumed or cleanly gone; never a blob before
	// they are completed.
	var resumed, gone int
	for _, u := range uploads {
		if u.gone {
			continue
		}
		if u.resumed {
			if err := checkBlob(c, base, u.repo, u.digest, blobPresent); err != nil {
				t.Errorf("resumed upload: %v", err)
			}
			continue
		}
		if err := checkBlob(c, base, u.repo, u.digest, blobAbsent); err != nil {
			t.Errorf("unfinished upload: %v", err)
		}
		ok, err := resumeUpload(c, base, u)
		switch {
		case err != nil:
			t.Errorf("upload %s (%d bytes acknowledged): %v", u.location, u.acked, err)
		case ok:
			u.resumed = true
			resumed++
			if err := checkBlob(c, base, u.repo, u.digest, blobPresent); err != nil {
				t.Errorf("resumed upload: %v", err)
			}
		default:
			u.gone = true
			gone++
		}
	}
	t.Logf("verified: %d acknowledged images pulled intact, %d unacknowledged manifests visible and intact, %d uploads resumed, %d gone",
		pulled, visibleUnak, resumed, gone)
}

// checkImage pulls an acknowledged image completely, or checks that what an
// unacknowledged push left behind is whole. It reports whether the manifest
// is visible.
func checkImage(c *http.Client, base, host string, p *pushedImage) (bool, error) {
	where := fmt.Sprintf("%s:%s (%s)", p.repo, p.tag, p.digest)
	if p.acked {
		ref, err := name.ParseReference(host+"/"+p.repo+":"+p.tag, name.Insecure)
		if err != nil {
			return false, err
		}
		img, err := remote.Image(ref, remote.WithTransport(c.Transport))
		if err != nil {
			return false, fmt.Errorf("acknowledged %s: pull: %w", where, err)
		}
		if err := validate.Image(img); err != nil {
			return false, fmt.Errorf("acknowledged %s: validate: %w", where, err)
		}
		got, err := describe(img)
		if err != nil {
			return false, fmt.Errorf("acknowledged %s: %w", where, err)
		}
		if got.digest != p.digest {
			return false, fmt.Errorf("acknowledged %s: tag resolves to %s", where, got.digest)
		}
		if !bytes.Equal(got.manifest, p.manifest) {
			return false, fmt.Errorf("acknowledged %s: manifest bytes differ", where)
		}
		if fmt.Sprint(got.blobs) != fmt.Sprint(p.blobs) {
			return false, fmt.Errorf("acknowledged %s: blobs %v, want %v", where, got.blobs, p.blobs)
		}
	}

	// Manifest by digest: absent, or exactly the pushed bytes.
	resp, err := do(context.Background(), c, http.MethodGet, base+"/v2/"+p.repo+"/manifests/"+p.digest.String(), nil,
		map[string]string{"Accept": p.mediaType})
	if err != nil {
		return false, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	visible := false
	switch {
	case err != nil:
		return false, fmt.Errorf("%s: read manifest: %w", where, err)
	case resp.StatusCode == http.StatusOK:
		visible = true
		if !bytes.Equal(body, p.manifest) {
			return true, fmt.Errorf("%s: visible manifest differs from the pushed bytes", where)
		}
	case resp.StatusCode == http.StatusNotFound && !p.acked:
	default:
		return false, fmt.Errorf("%s: GET manifest = %d %s", where, resp.StatusCode, body)
	}

	for _, b := range p.blobs {
		d := digest.Digest(b.String())
		want := blobEither
		if p.acked || visible {
			want = blobPresent
		}
		if err := checkBlob(c, base, p.repo, d, want); err != nil {
			return visible, fmt.Errorf("%s: %w", where, err)
		}
	}
	return visible, nil
}

type blobWant int

const (
	blobEither  blobWant = iota // absent, or present and whole
	blobPresent                 // present and whole
	blobAbsent                  // absent
)

// checkBlob checks that a blob is absent or present as want says, and that
// a present blob's content hashes to its digest.
func checkBlob(c *http.Client, base, repo string, d digest.Digest, want blobWant) error {
	u := base + "/v2/" + repo + "/blobs/" + d.String()
	resp, err := do(context.Background(), c, http.MethodHead, u, nil, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		if want == blobAbsent {
			return fmt.Errorf("blob %s in %s: HEAD = 200 for content that was never completed", d, repo)
		}
	case http.StatusNotFound:
		if want == blobPresent {
			return fmt.Errorf("blob %s in %s: HEAD = 404, want 200", d, repo)
		}
		return nil
	default:
		return fmt.Errorf("blob %s in %s: HEAD = %d", d, repo, resp.StatusCode)
	}
	size := resp.ContentLength

	resp, err = do(context.Background(), c, http.MethodGet, u, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("blob %s in %s: HEAD = 200 but GET = %d", d, repo, resp.StatusCode)
	}
	v := d.Verifier()
	n, err := io.Copy(v, resp.Body)
	if err != nil {
		return fmt.Errorf("blob %s in %s: read: %w", d, repo, err)
	}
	if !v.Verified() {
		return fmt.Errorf("blob %s in %s: content (%d bytes) does not match its digest: half-written blob", d, repo, n)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("blob %s in %s: HEAD Content-Length %d, GET returned %d bytes", d, repo, size, n)
	}
	return nil
}

// resumeUpload asks for an interrupted upload's offset and completes it. It
// returns false if the server no longer knows the upload.
func resumeUpload(c *http.Client, base string, u *rawUpload) (bool, error) {
	ctx := context.Background()
	resp, err := do(ctx, c, http.MethodGet, base+u.location, nil, nil)
	if err != nil {
		return false, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
	case http.StatusNotFound:
		if !bytes.Contains(body, []byte("BLOB_UPLOAD_UNKNOWN")) {
			return false, fmt.Errorf("status: 404 without BLOB_UPLOAD_UNKNOWN: %s", body)
		}
		return false, nil
	default:
		return false, fmt.Errorf("status: GET = %d %s", resp.StatusCode, body)
	}
	offset, err := rangeEnd(resp.Header.Get("Range"))
	if err != nil {
		return false, fmt.Errorf("status: %w", err)
	}
	if offset < u.acked || offset > int64(len(u.content)) {
		return false, fmt.Errorf("status: offset %d, but %d bytes were acknowledged of %d", offset, u.acked, len(u.content))
	}
	loc := u.location
	if l := resp.Header.Get("Location"); l != "" {
		if loc, err = relativeLocation(base, l); err != nil {
			return false, err
		}
	}

	if offset < int64(len(u.content)) {
		resp, err = do(ctx, c, http.MethodPatch, base+loc, u.content[offset:], map[string]string{
			"Content-Type":  "application/octet-stream",
			"Content-Range": fmt.Sprintf("%d-%d", offset, len(u.content)-1),
		})
		if err != nil {
			return false, err
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return false, fmt.Errorf("resume at %d: PATCH = %d %s", offset, resp.StatusCode, body)
		}
		if loc, err = relativeLocation(base, resp.Header.Get("Location")); err != nil {
			return false, err
		}
	}

	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp, err = do(ctx, c, http.MethodPut, base+loc+sep+"digest="+url.QueryEscape(u.digest.String()), nil, nil)
	if err != nil {
		return false, err
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return false, fmt.Errorf("resume at %d: PUT = %d %s", offset, resp.StatusCode, body)
	}
	return true, nil
}

// rangeEnd parses an upload status Range header ("0-<last>") into the number
// of bytes received.
func rangeEnd(h string) (int64, error) {
	if h == "" {
		return 0, nil
	}
	_, last, ok := strings.Cut(h, "-")
	if !ok || !strings.HasPrefix(h, "0-") {
		return 0, fmt.Errorf("bad Range header %q", h)
	}
	n, err := strconv.ParseInt(last, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad Range header %q", h)
	}
	return n + 1, nil
}

// relativeLocation turns a Location header into a path and query, so that it
// stays valid when the server restarts on another port.
func relativeLocation(base, loc string) (string, error) {
	if loc == "" {
		return "", errors.New("response without Location")
	}
	b, err := url.Parse(base + "/")
	if err != nil {
		return "", err
	}
	l, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	u := b.ResolveReference(l)
	if u.RawQuery == "" {
		return u.EscapedPath(), nil
	}
	return u.EscapedPath() + "?" + u.RawQuery, nil
}

func do(ctx context.Context, c *http.Client, method, u string, body []byte, header map[string]string) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return c.Do(req)
}

// server is a running server process.
type server struct {
	cmd    *exec.Cmd
	host   string
	exited chan struct{}
	err    error // from Wait, valid after exited is closed

	mu     sync.Mutex
	stderr bytes.Buffer
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

func startServer(t *testing.T, bin, dataDir string) *server {
	t.Helper()
	s := &server{exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "-addr", "127.0.0.1:0", "-data", dataDir)
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.stderr.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
		// Wait after the pipe is drained, as os/exec requires.
		s.err = s.cmd.Wait()
		close(s.exited)
	}()

	select {
	case s.host = <-ready:
		return s
	case <-s.exited:
		t.Fatalf("server exited before listening: %v\n%s", s.err, s.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not start listening within 30s\n%s", s.log())
	}
	return nil
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// kill sends SIGKILL and waits for the process to die.
func (s *server) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill server: %v", err)
	}
	<-s.exited
}

// stop sends SIGTERM and expects a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not exit within 30s of SIGTERM\n%s", s.log())
	}
	if s.err != nil {
		t.Errorf("server exit after SIGTERM: %v\n%s", s.err, s.log())
	}
	if !strings.Contains(s.log(), "msg=stopped") {
		t.Errorf("server log lacks msg=stopped after SIGTERM:\n%s", s.log())
	}
}
