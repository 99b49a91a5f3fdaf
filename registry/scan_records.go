package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/storage"
)

// Scans are stored in two records per image, in the store's RecordStore
// or, when the store has none, in memory:
//
//	scan/status/<repository>@<digest>   reportHead: status, description, times, severity counts
//	scan/report/<repository>@<digest>   the JSON of the last final scan.Report (findings, inventory)
//
// The status record is small, so that DescribeImages, the deferred-scan
// sweep and continuous scanning read and list statuses without decoding
// findings. It is written after the report and deleted before it: a status
// that says a scan is final has its report. PENDING, IN_PROGRESS and
// LIMIT_EXCEEDED are status records only; a new scan of an image with a
// final report leaves both records alone until it ends.

// reportHead is the status record.
type reportHead struct {
	Status          string         `json:"status"`
	Description     string         `json:"description,omitempty"`
	CompletedAt     time.Time      `json:"completedAt"`
	DatabaseVersion string         `json:"databaseVersion,omitempty"`
	SeverityCounts  map[string]int `json:"findingSeverityCounts,omitempty"`
	// Rematchable: the report has an inventory.
	Rematchable bool `json:"rematchable,omitempty"`
}

func headOf(rep *scan.Report) reportHead {
	return reportHead{
		Status:          rep.Status,
		Description:     rep.Description,
		CompletedAt:     rep.CompletedAt,
		DatabaseVersion: rep.DatabaseVersion,
		SeverityCounts:  rep.SeverityCounts,
		Rematchable:     rep.Inventory != nil,
	}
}

func decodeReportHead(v []byte) (reportHead, error) {
	var h reportHead
	err := json.Unmarshal(v, &h)
	return h, err
}

// reportHead returns the status record of key, or an error wrapping
// storage.ErrNotFound.
func (s *scanService) reportHead(ctx context.Context, key string) (reportHead, error) {
	v, err := s.records.GetRecord(ctx, scanStatusPrefix+key)
	if err != nil {
		return reportHead{}, err
	}
	h, err := decodeReportHead(v)
	if err != nil {
		return reportHead{}, fmt.Errorf("scan status %s: %w", key, err)
	}
	return h, nil
}

// getReport returns the stored final report of key, or an error wrapping
// storage.ErrNotFound.
func (s *scanService) getReport(ctx context.Context, key string) (scan.Report, error) {
	v, err := s.records.GetRecord(ctx, reportKey(key))
	if err != nil {
		return scan.Report{}, err
	}
	var rep scan.Report
	if err := json.Unmarshal(v, &rep); err != nil {
		return scan.Report{}, fmt.Errorf("scan report %s: %w", key, err)
	}
	return rep, nil
}

// putReport stores a final report and its status. A report too large for
// a record loses its inventory (it can then not be re-matched), and if
// that is not enough, its findings: it is then FAILED.
func (s *scanService) putReport(ctx context.Context, key string, rep *scan.Report) error {
	v, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("scan report %s: %w", key, err)
	}
	if len(v) > storage.MaxRecordSize && rep.Inventory != nil {
		rep.Inventory = nil
		v, err = json.Marshal(rep)
		if err != nil {
			return fmt.Errorf("scan report %s: %w", key, err)
		}
	}
	if len(v) > storage.MaxRecordSize {
		*rep = scan.Report{
			Status:          scan.StatusFailed,
			Description:     fmt.Sprintf("report of %d findings exceeds the %d-byte record limit", len(rep.Findings), storage.MaxRecordSize),
			CompletedAt:     rep.CompletedAt,
			DatabaseVersion: rep.DatabaseVersion,
		}
		if v, err = json.Marshal(rep); err != nil {
			return fmt.Errorf("scan report %s: %w", key, err)
		}
	}
	err = s.records.PutRecord(ctx, reportKey(key), v)
	s.gateCache.invalidate(key)
	if err != nil {
		return fmt.Errorf("store scan report %s: %w", key, err)
	}
	return s.putHead(ctx, key, headOf(rep))
}

// putStatus records a status that has no report (PENDING, IN_PROGRESS,
// LIMIT_EXCEEDED).
func (s *scanService) putStatus(ctx context.Context, key, status, description string) error {
	return s.putHead(ctx, key, reportHead{Status: status, Description: description, CompletedAt: s.r.now()})
}

func (s *scanService) putHead(ctx context.Context, key string, h reportHead) error {
	v, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("scan status %s: %w", key, err)
	}
	err = s.records.PutRecord(ctx, scanStatusPrefix+key, v)
	s.gateCache.invalidate(key)
	if err != nil {
		return fmt.Errorf("store scan status %s: %w", key, err)
	}
	return nil
}

// dropReport removes the status and report of key, if any.
func (s *scanService) dropReport(ctx context.Context, key string) {
	ctx = context.WithoutCancel(ctx)
	for _, k := range []string{scanStatusPrefix + key, reportKey(key)} {
		err := s.records.DeleteRecord(ctx, k)
		s.gateCache.invalidate(key)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.r.log.WarnContext(ctx, "scan: remove record", "key", k, "err", err)
		}
	}
}

// onEvent keeps reports in step with the images: it queues scans on push,
// and removes the reports (and queued scans) of deleted images and
// repositories. Reports are kept per digest, as ECR keeps findings.
func (s *scanService) onEvent(ctx context.Context, ev Event) {
	if s == nil { // an event emitted while New runs
		return
	}
	switch ev.Kind {
	case EventManifestPushed:
		if s.r.opts.scanner != nil && ctx.Value(attachKey{}) == nil {
			s.onPush(ctx, ev)
		}
	case EventManifestDeleted:
		key := ev.Repository + "@" + ev.Digest
		s.dequeue(key, nil)
		s.dropReport(ctx, key)
	case EventRepositoryDeleted:
		prefix := ev.Repository + "@"
		s.dequeue("", func(k string) bool { return strings.HasPrefix(k, prefix) })
		keys := map[string]bool{}
		for _, p := range []string{scanStatusPrefix, scanReportPrefix} {
			err := s.records.WalkRecords(context.WithoutCancel(ctx), p+prefix, func(k string, _ []byte) error {
				keys[strings.TrimPrefix(k, p)] = true
				return nil
			})
			if err != nil {
				s.r.log.WarnContext(ctx, "scan: list reports of deleted repository", "repo", ev.Repository, "err", err)
			}
		}
		for k := range keys {
			s.dropReport(ctx, k)
		}
	}
}

// onPush queues a scan of a pushed image if the repository's scanOnPush
// setting or a SCAN_ON_PUSH or CONTINUOUS_SCAN rule asks for one. It does
// not block: when the queue is full, the image's status is LIMIT_EXCEEDED,
// and the scan is queued again once the queue has drained to half its
// capacity, or at the next continuous scan interval.
func (s *scanService) onPush(ctx context.Context, ev Event) {
	d, err := ParseDigest(ev.Digest)
	if err != nil {
		return
	}
	cfg, err := s.config(ctx)
	if err != nil {
		s.r.log.WarnContext(ctx, "scan: load configuration", "err", err)
		cfg = &ScanningConfiguration{}
	}
	if cfg.frequency(ev.Repository) == ScanFrequencyManual {
		repo, err := s.r.store.GetRepository(ctx, ev.Repository)
		if err != nil || !repo.ScanOnPush {
			return
		}
	}
	if _, ok := s.enqueue(scanJob{repo: ev.Repository, dgst: d, kind: jobPush}); ok {
		return
	}
	status := scan.StatusLimitExceeded
	desc := fmt.Sprintf("scan queue full (%d scans waiting); the scan is queued again when the queue drains", s.capacity)
	if s.isClosed() {
		status, desc = scan.StatusPending, "pushed while the registry closed; scanned after the next start"
	}
	if err := s.putStatus(context.WithoutCancel(ctx), scanKey(ev.Repository, d), status, desc); err != nil {
		s.r.log.WarnContext(ctx, "scan: record deferred scan", "repo", ev.Repository, "digest", d, "err", err)
		return
	}
	s.setOverflowed()
}

// maxCachedReports bounds the reports the pull gate keeps decoded.
const maxCachedReports = 1024

// reportCache keeps what the pull gate read (status and final report, nil
// when absent), so that a pull does not decode a report each time. The
// scanning service is the only writer of reports and invalidates an entry
// after each write; gen makes sure a read that raced with a write is not
// cached.
type reportCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]cachedScan
}

type cachedScan struct {
	head *reportHead
	rep  *scan.Report
}

func (c *reportCache) invalidate(key string) {
	c.mu.Lock()
	c.gen++
	delete(c.m, key)
	c.mu.Unlock()
}

// cachedReport returns the status and final report of key, nil when
// absent. They are shared: callers must not modify them.
func (s *scanService) cachedReport(ctx context.Context, key string) (cachedScan, error) {
	c := &s.gateCache
	c.mu.Lock()
	if e, ok := c.m[key]; ok {
		c.mu.Unlock()
		return e, nil
	}
	gen := c.gen
	c.mu.Unlock()
	var e cachedScan
	h, err := s.reportHead(ctx, key)
	switch {
	case err == nil:
		e.head = &h
	case !errors.Is(err, storage.ErrNotFound):
		return cachedScan{}, err
	}
	if e.head != nil {
		rep, err := s.getReport(ctx, key)
		switch {
		case err == nil:
			e.rep = &rep
		case !errors.Is(err, storage.ErrNotFound):
			return cachedScan{}, err
		}
	}
	c.mu.Lock()
	if c.gen == gen {
		if c.m == nil || len(c.m) >= maxCachedReports {
			c.m = make(map[string]cachedScan)
		}
		c.m[key] = e
	}
	c.mu.Unlock()
	return e, nil
}

// memRecords is a storage.RecordStore in memory, for stores without one.
type memRecords struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func newMemRecords() *memRecords { return &memRecords{m: map[string][]byte{}} }

func (m *memRecords) GetRecord(_ context.Context, key string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.m[key]
	if !ok {
		return nil, fmt.Errorf("record %q: %w", key, storage.ErrNotFound)
	}
	return bytes.Clone(v), nil
}

func (m *memRecords) PutRecord(_ context.Context, key string, value []byte) error {
	if err := storage.CheckRecord(key, len(value)); err != nil {
		return err
	}
	m.mu.Lock()
	m.m[key] = bytes.Clone(value)
	m.mu.Unlock()
	return nil
}

func (m *memRecords) DeleteRecord(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[key]; !ok {
		return fmt.Errorf("record %q: %w", key, storage.ErrNotFound)
	}
	delete(m.m, key)
	return nil
}

func (m *memRecords) WalkRecords(ctx context.Context, prefix string, fn func(string, []byte) error) error {
	m.mu.RLock()
	var keys []string
	for k := range m.m {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	m.mu.RUnlock()
	slices.Sort(keys)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		m.mu.RLock()
		v, ok := m.m[k]
		m.mu.RUnlock()
		if !ok {
			continue
		}
		if err := fn(k, v); err != nil {
			if errors.Is(err, storage.SkipAll) {
				return nil
			}
			return err
		}
	}
	return nil
}
