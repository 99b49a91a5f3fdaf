package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/storage"
)

// Image scanning: the service that runs the registry's scan.Scanner (ECR's
// basic and enhanced scanning). See "Scanning" in the package documentation.

// EventImageScanCompleted is the Event emitted when a scan or a continuous
// re-match of an image ends, whatever its outcome. Event.ScanStatus is the
// status (COMPLETE, FAILED, UNSUPPORTED_IMAGE) and
// Event.FindingSeverityCounts the number of findings per severity.
const EventImageScanCompleted = "ImageScanCompleted"

// Scanning defaults.
const (
	// DefaultScanWorkers is how many scans run at once at most by default;
	// fewer on a machine with fewer than twice as many CPUs (GOMAXPROCS),
	// so that scanning, which is CPU-bound, leaves half of them to pushes
	// and pulls.
	DefaultScanWorkers = 2
	// DefaultScanQueueSize is how many scans may wait for a worker.
	DefaultScanQueueSize = 10000
	// DefaultScanTimeout bounds one scan.
	DefaultScanTimeout = 15 * time.Minute
	// DefaultContinuousScanInterval is how often the scanning service
	// re-matches out-of-date reports and retries deferred scans.
	DefaultContinuousScanInterval = time.Hour
)

// Scanning sentinel errors.
var (
	// ErrScanNotFound: the image has never been scanned (ECR's
	// ScanNotFoundException).
	ErrScanNotFound = errors.New("scan not found")
	// ErrScanLimitExceeded: the scan queue is full (ECR's
	// LimitExceededException). It matches ErrTooManyRequests.
	ErrScanLimitExceeded = fmt.Errorf("scan limit exceeded: %w", ErrTooManyRequests)
	// ErrImagePullDenied: the scan gate denied the pull of an image. It
	// matches ErrDenied, so that transports answer 403 DENIED.
	ErrImagePullDenied = fmt.Errorf("image pull denied by scan gate: %w", ErrDenied)
)

// Record keys of the scanning service in a storage.RecordStore.
const (
	scanConfigKey    = "scan/config"
	scanStatusPrefix = "scan/status/"
	scanReportPrefix = "scan/report/"
)

func scanKey(repo string, dgst digest.Digest) string {
	return repo + "@" + dgst.String()
}

func reportKey(key string) string { return scanReportPrefix + key }

// splitScanKey splits "repo@digest".
func splitScanKey(key string) (string, digest.Digest, bool) {
	i := strings.LastIndexByte(key, '@')
	if i <= 0 {
		return "", "", false
	}
	d := digest.Digest(key[i+1:])
	if d.Validate() != nil {
		return "", "", false
	}
	return key[:i], d, true
}

// WithScanWorkers sets how many scans run at once. The default is
// DefaultScanWorkers, or GOMAXPROCS/2 (at least 1) if that is less.
func WithScanWorkers(n int) Option {
	return func(o *options) error {
		if n <= 0 || n > 1024 {
			return errors.New("registry: scan workers must be 1 to 1024")
		}
		o.scanWorkers = n
		return nil
	}
}

// WithScanQueueSize sets how many scans may wait for a worker; a scan
// requested while the queue is full is not queued (see Scanning in the
// package documentation). The default is DefaultScanQueueSize.
func WithScanQueueSize(n int) Option {
	return func(o *options) error {
		if n <= 0 || n > 1<<20 {
			return errors.New("registry: scan queue size must be 1 to 1048576")
		}
		o.scanQueueSize = n
		return nil
	}
}

// WithScanTimeout bounds the time one scan may take; a scan that takes
// longer is FAILED. The default is DefaultScanTimeout.
func WithScanTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return errors.New("registry: scan timeout must be positive")
		}
		o.scanTimeout = d
		return nil
	}
}

// WithContinuousScanInterval sets how often the scanning service started by
// StartScanning calls RunContinuousScan and queues deferred scans again.
// Zero turns the periodic run off. The default is
// DefaultContinuousScanInterval.
func WithContinuousScanInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return errors.New("registry: negative continuous scan interval")
		}
		o.scanInterval = d
		o.scanIntervalSet = true
		return nil
	}
}

// scanJob kinds.
const (
	jobPush   = iota // scan on push or deferred: skipped if the digest has a final report
	jobManual        // StartImageScan: always scans
)

type scanJob struct {
	repo string
	dgst digest.Digest
	kind int
}

// scanService queues and runs scans. Its state is guarded by mu; workers
// wait on cond.
type scanService struct {
	r        *Registry
	workers  int
	capacity int
	timeout  time.Duration
	interval time.Duration

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []string            // keys, FIFO
	queued   map[string]*scanJob // waiting, by key
	running  map[string]bool     // being scanned (true) or re-matched (false), by key
	started  bool
	stopping bool
	closed   bool
	// overflowed is set when a push found the queue full; the workers
	// queue the deferred scans again once the queue has drained.
	overflowed bool
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	// cfg is the scanning configuration once loaded; cfgMu serialises
	// loading and replacing it.
	cfgMu sync.Mutex
	cfg   *ScanningConfiguration

	// records is the store's RecordStore, or an in-memory one.
	records storage.RecordStore

	// gateCache holds the reports the pull gate read.
	gateCache reportCache

	// continuous serialises RunContinuousScan.
	continuous sync.Mutex
}

func newScanService(r *Registry) *scanService {
	o := &r.opts
	s := &scanService{
		r:        r,
		workers:  cmpOr(o.scanWorkers, max(1, min(DefaultScanWorkers, runtime.GOMAXPROCS(0)/2))),
		capacity: cmpOr(o.scanQueueSize, DefaultScanQueueSize),
		timeout:  cmpOr(o.scanTimeout, DefaultScanTimeout),
		interval: DefaultContinuousScanInterval,
		queued:   map[string]*scanJob{},
		running:  map[string]bool{},
	}
	if o.scanIntervalSet {
		s.interval = o.scanInterval
	}
	s.cond = sync.NewCond(&s.mu)
	if rs, ok := r.store.(storage.RecordStore); ok {
		s.records = rs
	} else {
		s.records = newMemRecords()
	}
	return s
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// StartScanning starts the scanning service: the scan workers
// (WithScanWorkers) and, if the continuous scan interval is not zero, one
// goroutine that calls RunContinuousScan at that interval. Scans requested
// before StartScanning wait in the queue. At start, and at every
// continuous scan interval, scans left PENDING (by Close) or LIMIT_EXCEEDED
// are queued again, and scans an earlier process left IN_PROGRESS (it
// crashed, perhaps because of the image) become FAILED.
// The service stops when ctx is done or the Registry is closed; Close
// waits for the scans in progress. Without a Scanner, StartScanning does
// nothing. It fails if the registry is closed or the service was started
// before.
func (r *Registry) StartScanning(ctx context.Context) error {
	if err := r.open(ctx); err != nil {
		return err
	}
	if r.opts.scanner == nil {
		return nil
	}
	s := r.scans
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return fmt.Errorf("scanning: %w", ErrClosed)
	case s.started:
		s.mu.Unlock()
		return errors.New("scanning: already started")
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	// Started under mu, so that a concurrent close waits for them.
	for range s.workers {
		s.wg.Add(1)
		go s.worker(ctx)
	}
	if s.interval > 0 {
		s.wg.Add(1)
		go s.loop(ctx)
	}
	s.mu.Unlock()
	// Stop the workers when ctx ends; AfterFunc starts no goroutine until
	// then.
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.stopping = true
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	s.requeueDeferred(ctx)
	return nil
}

// close stops the workers, waits for the scans in progress, and records the
// scans still queued as PENDING so that the next StartScanning runs them.
func (s *scanService) close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.stopping = true
	cancel := s.cancel
	s.cond.Broadcast()
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()

	s.mu.Lock()
	jobs := make([]*scanJob, 0, len(s.queue))
	for _, k := range s.queue {
		jobs = append(jobs, s.queued[k])
	}
	s.queue, s.queued = nil, map[string]*scanJob{}
	s.mu.Unlock()
	if len(jobs) == 0 || s.r.opts.scanner == nil {
		return
	}
	ctx := context.Background()
	for _, j := range jobs {
		if err := s.putStatus(ctx, scanKey(j.repo, j.dgst), scan.StatusPending, "queued when the registry closed; scanned after the next start"); err != nil {
			s.r.log.Warn("scan: keep pending scan", "repo", j.repo, "digest", j.dgst, "err", err)
		}
	}
}

// enqueue queues a scan without blocking. It reports the status of the
// image afterwards: PENDING if queued (or already queued), IN_PROGRESS if
// a scan of it is running, and ok == false if the queue is full.
func (s *scanService) enqueue(j scanJob) (status string, ok bool) {
	key := scanKey(j.repo, j.dgst)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", false
	}
	if q, dup := s.queued[key]; dup {
		q.kind = max(q.kind, j.kind)
		return scan.StatusPending, true
	}
	if _, busy := s.running[key]; busy {
		return scan.StatusInProgress, true
	}
	if len(s.queue) >= s.capacity {
		return "", false
	}
	s.queued[key] = &j
	s.queue = append(s.queue, key)
	s.cond.Signal()
	return scan.StatusPending, true
}

// drained reports, once, that the queue has drained to half its capacity
// after pushes found it full.
func (s *scanService) drained() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.overflowed || len(s.queue) > s.capacity/2 || s.stopping {
		return false
	}
	s.overflowed = false
	return true
}

func (s *scanService) setOverflowed() {
	s.mu.Lock()
	s.overflowed = true
	s.mu.Unlock()
}

func (s *scanService) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// pendingStatus returns PENDING or IN_PROGRESS for an image this process
// is about to scan or scanning, "" otherwise.
func (s *scanService) pendingStatus(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.running[key]:
		return scan.StatusInProgress
	case s.queued[key] != nil:
		return scan.StatusPending
	}
	return ""
}

// claim marks key as running unless it is queued or running.
func (s *scanService) claim(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, busy := s.running[key]; busy || s.queued[key] != nil {
		return false
	}
	s.running[key] = false
	return true
}

func (s *scanService) release(key string) {
	s.mu.Lock()
	delete(s.running, key)
	s.mu.Unlock()
}

// dequeue drops the queued scans of deleted images: key's, or, if key is
// empty, those match selects.
func (s *scanService) dequeue(key string, match func(key string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queued) == 0 || key != "" && s.queued[key] == nil {
		return
	}
	if key != "" {
		match = func(k string) bool { return k == key }
	}
	s.queue = slices.DeleteFunc(s.queue, func(k string) bool {
		if match(k) {
			delete(s.queued, k)
			return true
		}
		return false
	})
}

// next waits for a job; ok is false when the service stops.
func (s *scanService) next() (scanJob, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) == 0 && !s.stopping {
		s.cond.Wait()
	}
	if s.stopping {
		return scanJob{}, "", false
	}
	key := s.queue[0]
	s.queue[0] = ""
	s.queue = s.queue[1:]
	j := s.queued[key]
	delete(s.queued, key)
	s.running[key] = true
	return *j, key, true
}

func (s *scanService) worker(ctx context.Context) {
	defer s.wg.Done()
	for {
		j, key, ok := s.next()
		if !ok {
			return
		}
		ev := s.run(ctx, j, key)
		// Released before the event, so that a listener reading the
		// report sees it.
		s.release(key)
		if ev != nil {
			s.r.emit(ctx, *ev)
		}
		if s.drained() {
			s.requeueDeferred(ctx)
		}
	}
}

func (s *scanService) loop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.requeueDeferred(ctx)
		if _, err := s.r.RunContinuousScan(ctx); err != nil && ctx.Err() == nil {
			s.r.log.WarnContext(ctx, "continuous scan failed", "err", err)
		}
	}
}

// requeueDeferred queues the scans that status records say are deferred,
// PENDING (queued when a registry closed) and LIMIT_EXCEEDED (the queue
// was full), as many as the queue takes. A scan IN_PROGRESS that this
// process is not running was cut short by a crash, perhaps caused by the
// image: it becomes FAILED rather than being tried again at every start.
func (s *scanService) requeueDeferred(ctx context.Context) {
	var deferred, interrupted []string
	more := false
	room := s.room()
	err := s.records.WalkRecords(ctx, scanStatusPrefix, func(k string, v []byte) error {
		h, err := decodeReportHead(v)
		if err != nil {
			return nil
		}
		key := strings.TrimPrefix(k, scanStatusPrefix)
		switch h.Status {
		case scan.StatusPending, scan.StatusLimitExceeded:
			if len(deferred) < room {
				deferred = append(deferred, key)
			} else {
				more = true
			}
		case scan.StatusInProgress:
			if len(interrupted) < maxInterruptedPerSweep {
				interrupted = append(interrupted, key)
			}
		}
		return nil
	})
	if err != nil {
		s.r.log.WarnContext(ctx, "scan: list deferred scans", "err", err)
		return
	}
	for _, k := range interrupted {
		// Claimed, no worker is scanning the image, and none will until
		// it is released: the status read now is the truth.
		if !s.claim(k) {
			continue
		}
		if h, err := s.reportHead(ctx, k); err == nil && h.Status == scan.StatusInProgress {
			rep := scan.Report{Status: scan.StatusFailed, CompletedAt: s.r.now(),
				Description: "scan interrupted: the registry stopped during the scan; start a new scan with StartImageScan"}
			if err := s.putReport(ctx, k, &rep); err != nil {
				s.r.log.WarnContext(ctx, "scan: record interrupted scan", "key", k, "err", err)
			}
		}
		s.release(k)
	}
	for _, k := range deferred {
		repo, d, ok := splitScanKey(k)
		if !ok {
			continue
		}
		// As a push: skipped if the image has a final report by then.
		if _, ok := s.enqueue(scanJob{repo: repo, dgst: d, kind: jobPush}); !ok {
			more = true
			break
		}
	}
	if more {
		// Again when the queue has drained.
		s.setOverflowed()
	}
}

// maxInterruptedPerSweep bounds the interrupted scans one sweep marks
// FAILED (and the keys it holds for that).
const maxInterruptedPerSweep = 10000

func (s *scanService) room() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.capacity - len(s.queue)
}

// run scans one image and stores the report. It returns the event to
// emit, if any.
func (s *scanService) run(ctx context.Context, j scanJob, key string) *Event {
	r := s.r
	// Findings are kept per digest: a push of a digest that has a report
	// does not scan it again. A new scan of an image with a report keeps
	// the report until it ends (a pull gate sees its findings meanwhile).
	h, herr := s.reportHead(ctx, key)
	hasFinal := herr == nil && finalStatus(h.Status)
	if j.kind == jobPush && hasFinal {
		return nil
	}
	m, err := r.store.GetManifest(ctx, j.repo, j.dgst)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			s.dropReport(ctx, key)
		} else if ctx.Err() == nil {
			r.log.WarnContext(ctx, "scan: read manifest", "repo", j.repo, "digest", j.dgst, "err", err)
		}
		return nil
	}
	if isScanAttachment(m) {
		// The registry's own SBOM and report attachments are not scanned.
		return nil
	}
	if !hasFinal {
		// Recorded so that a scan cut short by a crash is reported
		// (FAILED, at the next start) instead of never ending.
		if err := s.putStatus(ctx, key, scan.StatusInProgress, ""); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "scan: record status", "repo", j.repo, "digest", j.dgst, "err", err)
		}
	}

	sctx, cancel := context.WithTimeout(ctx, s.timeout)
	rep, err := callScanner(func() (scan.Report, error) {
		return r.opts.scanner.Scan(sctx, scan.Request{
			Repository: j.repo,
			Manifest:   describe(m),
			Content:    &contentReader{store: r.store, repo: j.repo},
		})
	})
	timedOut := errors.Is(sctx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			if hasFinal {
				return nil
			}
			// The service is stopping: run the scan again after the next
			// start.
			if err := s.putStatus(context.WithoutCancel(ctx), key, scan.StatusPending, "interrupted when the registry closed; scanned after the next start"); err != nil {
				r.log.Warn("scan: keep pending scan", "repo", j.repo, "digest", j.dgst, "err", err)
			}
			return nil
		}
		desc := "scan failed: " + err.Error()
		if timedOut {
			desc = fmt.Sprintf("scan failed: timed out after %s", s.timeout)
		}
		rep = scan.Report{Status: scan.StatusFailed, Description: truncateDesc(desc)}
	}
	return s.finish(ctx, j.repo, j.dgst, key, &rep)
}

// finish normalises and stores a report, removes it again if the image was
// deleted meanwhile, and returns the EventImageScanCompleted to emit.
func (s *scanService) finish(ctx context.Context, repo string, dgst digest.Digest, key string, rep *scan.Report) *Event {
	r := s.r
	s.normalize(rep)
	// The scan is done: keep its result even if the service is stopping
	// (Close waits for it).
	ctx = context.WithoutCancel(ctx)
	if err := s.putReport(ctx, key, rep); err != nil {
		r.log.WarnContext(ctx, "scan: store report", "repo", repo, "digest", dgst, "err", err)
		return nil
	}
	// A delete removes the manifest, then the report. If the manifest is
	// gone now, the delete's removal may have come before our write.
	m, err := r.store.GetManifest(ctx, repo, dgst)
	if errors.Is(err, storage.ErrNotFound) {
		s.dropReport(ctx, key)
		return nil
	}
	if err == nil {
		if err := s.attach(ctx, repo, m, rep); err != nil {
			r.log.WarnContext(ctx, "scan: attach SBOM and report", "repo", repo, "digest", dgst, "err", err)
		}
	}
	return &Event{
		Kind:                  EventImageScanCompleted,
		Repository:            repo,
		Digest:                dgst.String(),
		ScanStatus:            rep.Status,
		FindingSeverityCounts: rep.SeverityCounts,
	}
}

// callScanner calls a Scanner or Rematcher method, turning a panic (a
// scanner tripping over hostile content) into an error.
func callScanner(fn func() (scan.Report, error)) (rep scan.Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			rep, err = scan.Report{}, fmt.Errorf("scanner panicked: %v", p)
		}
	}()
	return fn()
}

// normalize fills what a scanner may leave out and orders the findings.
func (s *scanService) normalize(rep *scan.Report) {
	switch rep.Status {
	case "":
		rep.Status = scan.StatusComplete
	case scan.StatusComplete, scan.StatusFailed, scan.StatusUnsupportedImage, scan.StatusFindingsUnavailable:
	default:
		rep.Description = truncateDesc(fmt.Sprintf("scanner returned status %q: %s", rep.Status, rep.Description))
		rep.Status = scan.StatusFailed
	}
	if rep.CompletedAt.IsZero() {
		rep.CompletedAt = s.r.now()
	}
	rep.CompletedAt = rep.CompletedAt.UTC()
	if rep.DatabaseVersion == "" {
		if dv, ok := s.r.opts.scanner.(scan.DatabaseVersioner); ok {
			rep.DatabaseVersion = dv.DatabaseVersion()
		}
	}
	if rep.Status != scan.StatusComplete {
		rep.Findings, rep.SeverityCounts = nil, nil
	}
	for i := range rep.Findings {
		if _, ok := severityRank[rep.Findings[i].Severity]; !ok {
			rep.Findings[i].Severity = scan.SeverityUndefined
		}
	}
	sortFindings(rep.Findings)
	rep.SeverityCounts = scan.CountSeverities(rep.Findings)
}

var severityRank = map[string]int{
	scan.SeverityCritical:      0,
	scan.SeverityHigh:          1,
	scan.SeverityMedium:        2,
	scan.SeverityLow:           3,
	scan.SeverityInformational: 4,
	scan.SeverityUndefined:     5,
}

func rank(sev string) int {
	if r, ok := severityRank[sev]; ok {
		return r
	}
	return len(severityRank)
}

// sortFindings orders findings by severity (CRITICAL first), then ID, then
// package, version and path.
func sortFindings(fs []scan.Finding) {
	slices.SortStableFunc(fs, func(a, b scan.Finding) int {
		if c := rank(a.Severity) - rank(b.Severity); c != 0 {
			return c
		}
		for _, p := range [][2]string{{a.ID, b.ID}, {a.Package, b.Package}, {a.InstalledVersion, b.InstalledVersion}, {a.Path, b.Path}} {
			if c := strings.Compare(p[0], p[1]); c != 0 {
				return c
			}
		}
		return 0
	})
}

func finalStatus(st string) bool {
	switch st {
	case scan.StatusComplete, scan.StatusFailed, scan.StatusUnsupportedImage, scan.StatusFindingsUnavailable:
		return true
	}
	return false
}

const maxScanDescription = 1024

func truncateDesc(s string) string {
	if len(s) <= maxScanDescription {
		return s
	}
	return s[:maxScanDescription-3] + "..."
}

// contentReader is a scan.ContentReader over one repository: it reads the
// blobs and manifests the repository can read, and no others.
type contentReader struct {
	store storage.Storage
	repo  string
}

func (c *contentReader) OpenBlob(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error) {
	if err := validateDigest(dgst); err != nil {
		return nil, err
	}
	if _, err := c.store.GetBlobLink(ctx, c.repo, dgst); err != nil {
		return nil, blobErr(c.repo, dgst, err)
	}
	f, err := c.store.OpenBlob(ctx, dgst)
	if err != nil {
		return nil, blobErr(c.repo, dgst, err)
	}
	return f, nil
}

func (c *contentReader) ReadManifest(ctx context.Context, dgst digest.Digest) ([]byte, string, error) {
	if err := validateDigest(dgst); err != nil {
		return nil, "", err
	}
	m, err := c.store.GetManifest(ctx, c.repo, dgst)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, "", fmt.Errorf("manifest %s in %q: %w", dgst, c.repo, ErrManifestUnknown)
		}
		return nil, "", fmt.Errorf("manifest %s in %q: %w", dgst, c.repo, err)
	}
	return bytes.Clone(m.Payload), m.MediaType, nil
}

var _ scan.ContentReader = (*contentReader)(nil)
