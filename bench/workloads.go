package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// params sizes the workloads. Every workload runs in rounds: in each round
// every target takes one turn (a push, a few pulls, a short timed window,
// a few listings), in an order that rotates from round to round. A noisy
// machine then disturbs all targets alike, and ratios are taken round by
// round (paired) before the median.
type params struct {
	blobRounds     int // rounds of the push and pull workloads
	manifestRounds int
	listRounds     int
	imageRounds    int

	blobSize    int // monolithic and chunked push, pull
	bigBlobSize int // second RSS measurement
	chunkSize   int // PATCH size of the chunked push
	pullsC1     int // pulls per round at concurrency 1
	pullsC4     int // pulls per puller per round at concurrency 4

	slice  time.Duration // timed window of a manifest workload per round
	warmup time.Duration // untimed run before each window

	tags      int // tags in the listing repository
	pageSize  int // page size of the paged listing
	listIters int // listings per round

	images    int // images per round of the image push workload
	layers    int // layers per image
	layerSize int
	imageConc int

	getTags int // manifests the GET/HEAD workloads cycle over
}

func fullParams() params {
	return params{
		blobRounds: 7, manifestRounds: 11, listRounds: 9, imageRounds: 5,
		blobSize: 64 << 20, bigBlobSize: 256 << 20, chunkSize: 8 << 20, pullsC1: 8, pullsC4: 2,
		slice: 400 * time.Millisecond, warmup: 60 * time.Millisecond,
		tags: 5000, pageSize: 100, listIters: 3,
		images: 20, layers: 5, layerSize: 1 << 20, imageConc: 4, getTags: 100,
	}
}

func quickParams() params {
	return params{
		blobRounds: 1, manifestRounds: 1, listRounds: 1, imageRounds: 1,
		blobSize: 4 << 20, bigBlobSize: 16 << 20, chunkSize: 1 << 20, pullsC1: 1, pullsC4: 1,
		slice: 100 * time.Millisecond, warmup: 20 * time.Millisecond,
		tags: 300, pageSize: 100, listIters: 1,
		images: 4, layers: 2, layerSize: 128 << 10, imageConc: 4, getTags: 20,
	}
}

// Repositories the workloads use.
const (
	repoBlobs     = "bench/blobs"
	repoManifests = "bench/manifests"
	repoTags      = "bench/tags"
	repoImages    = "bench/images"
	repoProbe     = "bench/probe"
)

// workload is one measured quantity.
type workload struct {
	id, title, unit string
	higherBetter    bool
}

var workloads = []workload{
	{"push-mono", "Monolithic blob push", "MB/s", true},
	{"push-chunked", "Chunked blob push (PATCH chunks + PUT)", "MB/s", true},
	{"pull-c1", "Blob pull, concurrency 1", "MB/s", true},
	{"pull-c4", "Blob pull, concurrency 4 (aggregate)", "MB/s", true},
	{"mput-c1", "Manifest PUT by tag, concurrency 1", "req/s", true},
	{"mput-c16", "Manifest PUT by tag, concurrency 16", "req/s", true},
	{"mget-c1", "Manifest GET by tag, concurrency 1", "req/s", true},
	{"mget-c16", "Manifest GET by tag, concurrency 16", "req/s", true},
	{"mhead-c1", "Manifest HEAD by tag, concurrency 1", "req/s", true},
	{"mhead-c16", "Manifest HEAD by tag, concurrency 16", "req/s", true},
	{"mget-auth-c1", "Manifest GET by tag, concurrency 1, Berth with authentication and policies (berth-auth) and without (berth)", "req/s", true},
	{"mget-auth-c16", "Manifest GET by tag, concurrency 16, Berth with authentication and policies (berth-auth) and without (berth)", "req/s", true},
	{"tags-whole", "Full tag listing, no n (following Link if any)", "ms", false},
	{"tags-paged", "Full tag listing, pages of n=100 following Link", "ms", false},
	{"image-push", "Image push, concurrency 4", "images/s", true},
	{"image-push-scan", "Image push of real layers, concurrency 4, Berth with scan on push (berth-scan) and without (berth)", "images/s", true},
}

// fillRandom fills b with fast pseudo-random bytes (incompressible enough
// for registries that do not compress).
func fillRandom(b []byte, seed uint64) {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24), 'b', 'e', 'r', 't', 'h'})
	r.Read(b)
}

// mbps is bytes per second in MB (10^6 bytes).
func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }

// fixtures are the inputs shared by every target.
type fixtures struct {
	p      params
	blob   *variantBlob   // the 64 MiB blob, one variant per push
	layers []*variantBlob // image layers
	// small blobs every manifest references
	config, layer     []byte
	configD, layerD   descriptor
	smallLayerPayload []byte
}

func newFixtures(p params) *fixtures {
	f := &fixtures{p: p, blob: newVariantBlob(p.blobSize, 1)}
	for i := range p.images * p.layers {
		f.layers = append(f.layers, newVariantBlob(p.layerSize, uint64(100+i)))
	}
	f.config = []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}`)
	f.layer = make([]byte, 1024)
	fillRandom(f.layer, 7)
	f.configD = descriptor{mediaTypeConfig, digest.FromBytes(f.config), int64(len(f.config))}
	f.layerD = descriptor{mediaTypeLayer, digest.FromBytes(f.layer), int64(len(f.layer))}
	return f
}

// smallManifest is a distinct manifest over the shared config and layer.
func (f *fixtures) smallManifest(id string) []byte {
	return manifestJSON(f.configD, []descriptor{f.layerD}, id)
}

// targetState is what the workloads keep per target between repetitions.
type targetState struct {
	pullDigest digest.Digest // last blob pushed monolithically
	getTags    []string      // tags the GET/HEAD workloads cycle over
	// listRequests is the number of requests a full listing took, by n.
	listRequests map[int]int
}

func newTargetState() *targetState { return &targetState{listRequests: map[int]int{}} }

// setup prepares a target: the small blobs, the manifests GET/HEAD read
// (each read once so that first-pull bookkeeping is not timed), and the
// repository with p.tags tags.
func setup(t *target, f *fixtures, st *targetState) error {
	c := t.c
	for _, repo := range []string{repoManifests, repoTags} {
		if err := c.pushMonolithic(repo, f.configD.Digest, f.config); err != nil {
			return err
		}
		if err := c.pushMonolithic(repo, f.layerD.Digest, f.layer); err != nil {
			return err
		}
	}
	for i := range f.p.getTags {
		tag := fmt.Sprintf("get-%03d", i)
		if err := c.putManifest(repoManifests, tag, f.smallManifest(tag)); err != nil {
			return err
		}
		st.getTags = append(st.getTags, tag)
	}
	for _, tag := range st.getTags {
		if _, err := c.getManifest(http.MethodGet, repoManifests, tag); err != nil {
			return err
		}
	}
	var next atomic.Int64
	err := parallel(16, func(int) error {
		for {
			i := int(next.Add(1)) - 1
			if i >= f.p.tags {
				return nil
			}
			tag := fmt.Sprintf("v1.%05d", i)
			if err := c.putManifest(repoTags, tag, f.smallManifest("tags-"+tag)); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return err
	}
	for _, n := range []int{0, f.p.pageSize} {
		got, _, err := c.listTags(repoTags, n)
		if err != nil {
			return err
		}
		if got != f.p.tags {
			return fmt.Errorf("listing n=%d: %d tags, want %d", n, got, f.p.tags)
		}
	}
	return nil
}

// parallel runs fn on n goroutines and returns the first error.
func parallel(n int, fn func(worker int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = fn(w)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// pushMono times a monolithic push of blob variant v.
func pushMono(t *target, f *fixtures, st *targetState, v uint64) (float64, error) {
	d := f.blob.set(v)
	start := time.Now()
	if err := t.c.pushMonolithic(repoBlobs, d, f.blob.buf); err != nil {
		return 0, err
	}
	el := time.Since(start)
	st.pullDigest = d
	return mbps(int64(len(f.blob.buf)), el), nil
}

// pushChunked times a chunked push of blob variant v.
func pushChunked(t *target, f *fixtures, v uint64) (float64, error) {
	d := f.blob.set(v)
	start := time.Now()
	if err := t.c.pushChunked(repoBlobs, d, f.blob.buf, f.p.chunkSize); err != nil {
		return 0, err
	}
	return mbps(int64(len(f.blob.buf)), time.Since(start)), nil
}

// pull times conc pullers each pulling the last pushed blob n times.
func pull(t *target, f *fixtures, st *targetState, conc, n int) (float64, error) {
	if st.pullDigest == "" {
		return 0, fmt.Errorf("no blob pushed")
	}
	var total atomic.Int64
	start := time.Now()
	err := parallel(conc, func(int) error {
		for range n {
			n, err := t.c.pullBlob(repoBlobs, st.pullDigest)
			if err != nil {
				return err
			}
			if n != int64(f.p.blobSize) {
				return fmt.Errorf("pulled %d bytes, want %d", n, f.p.blobSize)
			}
			total.Add(n)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return mbps(total.Load(), time.Since(start)), nil
}

// window runs op on conc goroutines for the warm-up then for the timed
// window, and returns operations per second over the window.
func window(p params, conc int, op func(i int64) error) (float64, error) {
	var seq atomic.Int64
	run := func(d time.Duration) (int64, time.Duration, error) {
		var ops atomic.Int64
		deadline := time.Now().Add(d)
		start := time.Now()
		err := parallel(conc, func(int) error {
			for time.Now().Before(deadline) {
				if err := op(seq.Add(1)); err != nil {
					return err
				}
				ops.Add(1)
			}
			return nil
		})
		return ops.Load(), time.Since(start), err
	}
	if _, _, err := run(p.warmup); err != nil {
		return 0, err
	}
	n, el, err := run(p.slice)
	if err != nil {
		return 0, err
	}
	return float64(n) / el.Seconds(), nil
}

// manifestPut times PUTs of distinct manifests by tag.
func manifestPut(t *target, f *fixtures, round, conc int) (float64, error) {
	return window(f.p, conc, func(i int64) error {
		tag := fmt.Sprintf("put-%d-%d-%d", round, conc, i)
		return t.c.putManifest(repoManifests, tag, f.smallManifest(tag))
	})
}

// manifestGet times GETs or HEADs by tag, cycling over the setup's tags.
func manifestGet(t *target, f *fixtures, st *targetState, method string, conc int) (float64, error) {
	return window(f.p, conc, func(i int64) error {
		_, err := t.c.getManifest(method, repoManifests, st.getTags[int(i)%len(st.getTags)])
		return err
	})
}

// listing times p.listIters full listings of the tag repository, in ms
// per listing.
func listing(t *target, f *fixtures, st *targetState, n int) (float64, error) {
	start := time.Now()
	for range f.p.listIters {
		got, reqs, err := t.c.listTags(repoTags, n)
		if err != nil {
			return 0, err
		}
		if got != f.p.tags {
			return 0, fmt.Errorf("listed %d tags, want %d", got, f.p.tags)
		}
		st.listRequests[n] = reqs
	}
	return float64(time.Since(start).Microseconds()) / 1000 / float64(f.p.listIters), nil
}

// imageSet is one repetition's images: layer digests and configs.
type imageSet struct {
	repo      string
	mediaType string // of the layers
	layers    []digest.Digest
	bodies    [][]byte // p.images * p.layers layer bodies
	configs   [][]byte
}

// prepareImages sets the layers to variant round and makes the configs.
func prepareImages(f *fixtures, round int) imageSet {
	s := imageSet{repo: repoImages, mediaType: mediaTypeLayer}
	for _, l := range f.layers {
		s.layers = append(s.layers, l.set(uint64(round)))
		s.bodies = append(s.bodies, l.buf)
	}
	for i := range f.p.images {
		s.configs = append(s.configs, fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","config":{"Labels":{"round":"%d","image":"%d"}},"rootfs":{"type":"layers","diff_ids":[]}}`, round, i))
	}
	return s
}

// imagePush pushes the images at concurrency p.imageConc the way a client
// does: HEAD each blob, push the missing ones monolithically, then PUT the
// manifest by tag. It returns images per second.
func imagePush(t *target, f *fixtures, s imageSet, round int) (float64, error) {
	c := t.c
	var next atomic.Int64
	start := time.Now()
	err := parallel(f.p.imageConc, func(int) error {
		for {
			img := int(next.Add(1)) - 1
			if img >= f.p.images {
				return nil
			}
			var layers []descriptor
			for j := range f.p.layers {
				k := img*f.p.layers + j
				if err := pushIfMissing(c, s.repo, s.layers[k], s.bodies[k]); err != nil {
					return err
				}
				layers = append(layers, descriptor{s.mediaType, s.layers[k], int64(len(s.bodies[k]))})
			}
			cfg := s.configs[img]
			cd := digest.FromBytes(cfg)
			if err := pushIfMissing(c, s.repo, cd, cfg); err != nil {
				return err
			}
			tag := fmt.Sprintf("r%d-img%d", round, img)
			m := manifestJSON(descriptor{mediaTypeConfig, cd, int64(len(cfg))}, layers, tag)
			if err := c.putManifest(s.repo, tag, m); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return 0, err
	}
	return float64(f.p.images) / time.Since(start).Seconds(), nil
}

func pushIfMissing(c *client, repo string, d digest.Digest, body []byte) error {
	ok, err := c.blobExists(repo, d)
	if err != nil || ok {
		return err
	}
	return c.pushMonolithic(repo, d, body)
}

// sha256MBps measures sha256 over a 64 MiB buffer on one goroutine.
func sha256MBps(size, reps int) float64 {
	buf := make([]byte, size)
	fillRandom(buf, 3)
	var vals []float64
	for range reps {
		start := time.Now()
		h := sha256.Sum256(buf)
		el := time.Since(start)
		_ = binary.BigEndian.Uint64(h[:])
		vals = append(vals, mbps(int64(size), el))
	}
	return median(vals)
}
