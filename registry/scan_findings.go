package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/storage"
)

// ImageScanStatus is the status of an image's scan (ECR's ImageScanStatus),
// one of the scan.Status constants.
type ImageScanStatus struct {
	Status string
	// Description says why a scan is FAILED, UNSUPPORTED_IMAGE, PENDING or
	// LIMIT_EXCEEDED.
	Description string
}

// ImageScanFindingsSummary summarises an image's last scan (ECR's
// ImageScanFindingsSummary).
type ImageScanFindingsSummary struct {
	ImageScanCompletedAt time.Time
	// VulnerabilitySourceUpdatedAt is DatabaseVersion read as an RFC 3339
	// time, zero if it is not one.
	VulnerabilitySourceUpdatedAt time.Time
	// DatabaseVersion identifies the vulnerability data of the findings,
	// as the Scanner reported it.
	DatabaseVersion       string
	FindingSeverityCounts map[string]int
}

// ImageScanFindings are an image's findings (ECR's ImageScanFindings), one
// page of them.
type ImageScanFindings struct {
	ImageScanFindingsSummary
	// Findings are ordered by severity (CRITICAL first), then ID, package,
	// installed version and path.
	Findings []scan.Finding
}

// StartImageScanOutput is StartImageScan's answer.
type StartImageScanOutput struct {
	RepositoryName  string
	ImageID         ImageID
	ImageScanStatus ImageScanStatus
}

// StartImageScan queues a scan of an image, given by tag or digest (ECR's
// StartImageScan, the MANUAL frequency): it scans the image again even if
// it has a report. The status is PENDING, or IN_PROGRESS if a scan of the
// image is running (the request is then coalesced with it, as is a
// request for an image already queued). Scans run on the workers started
// by StartScanning.
//
// It fails with ErrUnsupported if the registry has no Scanner,
// ErrScanLimitExceeded if the scan queue is full, ErrManifestUnknown or
// ErrNameUnknown if the image or repository does not exist.
func (r *Registry) StartImageScan(ctx context.Context, repo string, id ImageID) (StartImageScanOutput, error) {
	if err := r.begin(ctx, policy.ActionStartImageScan, repo, imageRef(id)); err != nil {
		return StartImageScanOutput{}, err
	}
	if r.opts.scanner == nil {
		return StartImageScanOutput{}, fmt.Errorf("start image scan: no scanner configured: %w", ErrUnsupported)
	}
	d, err := r.resolveID(ctx, repo, id)
	if err != nil {
		return StartImageScanOutput{}, err
	}
	if _, err := r.store.GetManifest(ctx, repo, d); err != nil {
		return StartImageScanOutput{}, r.manifestErr(ctx, repo, Reference{Digest: d}, err)
	}
	st, ok := r.scans.enqueue(scanJob{repo: repo, dgst: d, kind: jobManual})
	if !ok {
		return StartImageScanOutput{}, fmt.Errorf("scan of %s in %q: %d scans waiting: %w", d, repo, r.scans.capacity, ErrScanLimitExceeded)
	}
	return StartImageScanOutput{
		RepositoryName:  repo,
		ImageID:         ImageID{ImageDigest: d, ImageTag: id.ImageTag},
		ImageScanStatus: ImageScanStatus{Status: st},
	}, nil
}

func imageRef(id ImageID) string {
	if id.ImageTag != "" {
		return id.ImageTag
	}
	return id.ImageDigest.String()
}

// DescribeImageScanFindingsInput holds DescribeImageScanFindings'
// arguments.
type DescribeImageScanFindingsInput struct {
	Repository string
	ImageID    ImageID
	NextToken  string
	// MaxResults is the page size of findings, 1 to 1000; 0 means 100.
	MaxResults int
}

// DescribeImageScanFindingsOutput is DescribeImageScanFindings' answer.
type DescribeImageScanFindingsOutput struct {
	RepositoryName    string
	ImageID           ImageID
	ImageScanStatus   ImageScanStatus
	ImageScanFindings ImageScanFindings
	// NextToken is set when more findings follow.
	NextToken string
}

// DescribeImageScanFindings returns the status of an image's scan and its
// findings, page by page (ECR's DescribeImageScanFindings). While a scan
// is queued or running the status is PENDING or IN_PROGRESS without
// findings. It fails with ErrScanNotFound if the image was never scanned,
// ErrManifestUnknown or ErrNameUnknown if it does not exist, and
// ErrInvalidParameter for a bad token or page size, or a token of a report
// that has been replaced since.
func (r *Registry) DescribeImageScanFindings(ctx context.Context, in DescribeImageScanFindingsInput) (DescribeImageScanFindingsOutput, error) {
	if err := r.begin(ctx, policy.ActionDescribeImageScanFindings, in.Repository, imageRef(in.ImageID)); err != nil {
		return DescribeImageScanFindingsOutput{}, err
	}
	n, err := pageSize(in.MaxResults, 100, 1000)
	if err != nil {
		return DescribeImageScanFindingsOutput{}, err
	}
	tok, err := decodeToken(in.NextToken)
	if err != nil {
		return DescribeImageScanFindingsOutput{}, err
	}
	d, err := r.resolveID(ctx, in.Repository, in.ImageID)
	if err != nil {
		return DescribeImageScanFindingsOutput{}, err
	}
	if _, err := r.store.GetManifest(ctx, in.Repository, d); err != nil {
		return DescribeImageScanFindingsOutput{}, r.manifestErr(ctx, in.Repository, Reference{Digest: d}, err)
	}
	out := DescribeImageScanFindingsOutput{RepositoryName: in.Repository, ImageID: ImageID{ImageDigest: d, ImageTag: in.ImageID.ImageTag}}
	key := scanKey(in.Repository, d)
	if st := r.scans.pendingStatus(key); st != "" && in.NextToken == "" {
		out.ImageScanStatus.Status = st
		return out, nil
	}
	h, err := r.scans.reportHead(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return DescribeImageScanFindingsOutput{}, fmt.Errorf("image %s in %q has not been scanned: %w", d, in.Repository, ErrScanNotFound)
	case err != nil:
		return DescribeImageScanFindingsOutput{}, err
	}
	out.ImageScanStatus = ImageScanStatus{Status: h.Status, Description: h.Description}
	if !finalStatus(h.Status) {
		if in.NextToken != "" {
			return DescribeImageScanFindingsOutput{}, fmt.Errorf("next token does not belong to the current report of %s: %w", d, ErrInvalidParameter)
		}
		return out, nil
	}
	rep, err := r.scans.getReport(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// Deleted meanwhile.
		return DescribeImageScanFindingsOutput{}, fmt.Errorf("image %s in %q has not been scanned: %w", d, in.Repository, ErrScanNotFound)
	case err != nil:
		return DescribeImageScanFindingsOutput{}, err
	}
	out.ImageScanStatus = ImageScanStatus{Status: rep.Status, Description: rep.Description}
	out.ImageScanFindings.ImageScanFindingsSummary = summary(rep.CompletedAt, rep.DatabaseVersion, rep.SeverityCounts)

	// A token is the report's completion time and the offset of the next
	// finding: findings are stored in order, and a token of a replaced
	// report is refused rather than mixing two reports.
	start := 0
	if tok != "" {
		at, off, ok := strings.Cut(tok, "/")
		i, err := strconv.Atoi(off)
		if !ok || err != nil || i < 0 || i > len(rep.Findings) || at != strconv.FormatInt(rep.CompletedAt.UnixNano(), 10) {
			return DescribeImageScanFindingsOutput{}, fmt.Errorf("next token does not belong to the current report of %s: %w", d, ErrInvalidParameter)
		}
		start = i
	}
	end := min(start+n, len(rep.Findings))
	out.ImageScanFindings.Findings = rep.Findings[start:end]
	if end < len(rep.Findings) {
		out.NextToken = encodeToken(strconv.FormatInt(rep.CompletedAt.UnixNano(), 10) + "/" + strconv.Itoa(end))
	}
	return out, nil
}

func summary(at time.Time, dbVersion string, counts map[string]int) ImageScanFindingsSummary {
	s := ImageScanFindingsSummary{ImageScanCompletedAt: at, DatabaseVersion: dbVersion, FindingSeverityCounts: counts}
	if t, err := time.Parse(time.RFC3339Nano, dbVersion); err == nil {
		s.VulnerabilitySourceUpdatedAt = t.UTC()
	}
	return s
}

// addScanSummaries fills the scan status and findings summary of image
// details (DescribeImages) of a registry with a Scanner.
func (r *Registry) addScanSummaries(ctx context.Context, details []ImageDetail) {
	if r.opts.scanner == nil {
		return
	}
	for i := range details {
		d := &details[i]
		key := scanKey(d.RepositoryName, d.ImageDigest)
		if st := r.scans.pendingStatus(key); st != "" {
			d.ImageScanStatus = &ImageScanStatus{Status: st}
			continue
		}
		h, err := r.scans.reportHead(ctx, key)
		if err != nil {
			continue
		}
		d.ImageScanStatus = &ImageScanStatus{Status: h.Status, Description: h.Description}
		if h.Status == scan.StatusComplete {
			s := summary(h.CompletedAt, h.DatabaseVersion, h.SeverityCounts)
			d.ImageScanFindingsSummary = &s
		}
	}
}

// ContinuousScanResult says what RunContinuousScan did.
type ContinuousScanResult struct {
	// DatabaseVersion is the Scanner's.
	DatabaseVersion string
	// Checked counts the reports of repositories under a CONTINUOUS_SCAN
	// rule.
	Checked int
	// Rematched counts the reports matched again.
	Rematched int
	// Errors are the re-matches that failed; their reports are unchanged.
	Errors []error
}

// RunContinuousScan matches the inventories of stored reports again,
// without reading layers, when the Scanner's vulnerability data changed:
// for each COMPLETE report with an inventory, of an image in a repository
// under a CONTINUOUS_SCAN rule, whose DatabaseVersion differs from the
// Scanner's. Each re-match replaces the report and emits
// EventImageScanCompleted. The scanning service started by StartScanning
// calls it at the continuous scan interval; calls are serialised.
//
// It needs a Scanner that implements scan.Rematcher and
// scan.DatabaseVersioner, else it does nothing. Like RunLifecycle it is an
// operator operation and is not authorized. The error is non-nil only when
// the run could not proceed (closed registry, ctx done, records not
// readable).
func (r *Registry) RunContinuousScan(ctx context.Context) (ContinuousScanResult, error) {
	var res ContinuousScanResult
	if err := r.open(ctx); err != nil {
		return res, err
	}
	rm, ok1 := r.opts.scanner.(scan.Rematcher)
	dv, ok2 := r.opts.scanner.(scan.DatabaseVersioner)
	if !ok1 || !ok2 {
		return res, nil
	}
	s := r.scans
	s.continuous.Lock()
	defer s.continuous.Unlock()
	cfg, err := s.config(ctx)
	if err != nil {
		return res, err
	}
	res.DatabaseVersion = dv.DatabaseVersion()
	// Collect the keys first: stores may not allow writes during a walk.
	var keys []string
	err = s.records.WalkRecords(ctx, scanStatusPrefix, func(k string, v []byte) error {
		key := strings.TrimPrefix(k, scanStatusPrefix)
		repo, _, ok := splitScanKey(key)
		if !ok || cfg.frequency(repo) != ScanFrequencyContinuous {
			return nil
		}
		res.Checked++
		h, err := decodeReportHead(v)
		if err == nil && h.Status == scan.StatusComplete && h.Rematchable && h.DatabaseVersion != res.DatabaseVersion {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("continuous scan: list reports: %w", err)
	}
	for _, key := range keys {
		if err := r.open(ctx); err != nil {
			return res, err
		}
		done, err := s.rematch(ctx, rm, key, res.DatabaseVersion)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			res.Errors = append(res.Errors, err)
		}
		if done {
			res.Rematched++
		}
	}
	if len(keys) > 0 {
		r.log.InfoContext(ctx, "continuous scan", "database_version", res.DatabaseVersion,
			"checked", res.Checked, "rematched", res.Rematched, "errors", len(res.Errors))
	}
	return res, nil
}

// rematch matches one stored inventory again, unless a scan of the image
// is queued or running.
func (s *scanService) rematch(ctx context.Context, rm scan.Rematcher, key, version string) (bool, error) {
	if !s.claim(key) {
		return false, nil
	}
	released := false
	defer func() {
		if !released {
			s.release(key)
		}
	}()
	repo, dgst, _ := splitScanKey(key)
	if h, err := s.reportHead(ctx, key); err != nil || h.Status != scan.StatusComplete {
		return false, nil
	}
	old, err := s.getReport(ctx, key)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	if old.Status != scan.StatusComplete || old.Inventory == nil || old.DatabaseVersion == version {
		return false, nil
	}
	sctx, cancel := context.WithTimeout(ctx, s.timeout)
	rep, err := callScanner(func() (scan.Report, error) { return rm.Rematch(sctx, *old.Inventory) })
	cancel()
	if err != nil {
		return false, fmt.Errorf("re-match %s: %w", key, err)
	}
	if rep.Inventory == nil {
		rep.Inventory = old.Inventory
	}
	ev := s.finish(ctx, repo, dgst, key, &rep)
	released = true
	s.release(key)
	if ev != nil {
		s.r.emit(ctx, *ev)
	}
	return true, nil
}
