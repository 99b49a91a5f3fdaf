package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/lifecycle"
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/storage"
)

// Lifecycle policies (ECR's PutLifecyclePolicy, GetLifecyclePolicy,
// DeleteLifecyclePolicy, StartLifecyclePolicyPreview and
// GetLifecyclePolicyPreview) and the runner that applies them.
//
// Policies are stored in the repository record (storage.Repository's
// LifecyclePolicy), so they live and die with the repository and any node
// sharing the storage sees them. Package lifecycle parses, validates and
// evaluates them; this file turns a repository into lifecycle.Images and
// acts on the results.

// EventImageExpired is the Event a lifecycle run emits for each image it
// deletes, after the image's EventManifestDeleted. Event.Tags are the tags
// the image had.
const EventImageExpired = "ImageExpired"

// Lifecycle sentinel errors.
var (
	// ErrLifecyclePolicyNotFound: the repository has no lifecycle policy
	// (ECR's LifecyclePolicyNotFoundException).
	ErrLifecyclePolicyNotFound = errors.New("lifecycle policy not found")
	// ErrLifecyclePolicyPreviewNotFound: no preview was started for the
	// repository, or it was evicted (ECR's
	// LifecyclePolicyPreviewNotFoundException).
	ErrLifecyclePolicyPreviewNotFound = errors.New("lifecycle policy preview not found")
)

// Lifecycle policy preview statuses, as ECR's LifecyclePolicyPreviewStatus.
// Berth computes a preview when it is started, so a preview is COMPLETE
// until it expires.
const (
	LifecyclePolicyPreviewInProgress = "IN_PROGRESS"
	LifecyclePolicyPreviewComplete   = "COMPLETE"
	LifecyclePolicyPreviewExpired    = "EXPIRED"
	LifecyclePolicyPreviewFailed     = "FAILED"
)

// Preview retention.
const (
	// MaxLifecyclePolicyPreviews is how many previews a Registry keeps;
	// starting one more evicts the oldest.
	MaxLifecyclePolicyPreviews = 100
	// LifecyclePolicyPreviewTTL is how long a preview's results are kept.
	// GetLifecyclePolicyPreview reports an older preview as EXPIRED, once,
	// and then forgets it.
	LifecyclePolicyPreviewTTL = time.Hour
)

// LifecyclePolicyOutput is the answer of PutLifecyclePolicy,
// GetLifecyclePolicy and DeleteLifecyclePolicy.
type LifecyclePolicyOutput struct {
	RepositoryName      string
	LifecyclePolicyText string
	// LastEvaluatedAt is when a lifecycle run last applied a policy to the
	// repository; zero if never. PutLifecyclePolicy leaves it zero.
	LastEvaluatedAt time.Time
}

// PutLifecyclePolicy validates a lifecycle policy and stores it as the
// repository's, replacing any other. An invalid policy leaves the stored one
// in place and fails with an error that matches both ErrInvalidParameter and
// lifecycle.ErrInvalidPolicy, whose message is ECR's
// InvalidParameterException message; errors.As to *lifecycle.PolicyError
// gives the offending rule and field. An unknown repository fails with
// ErrNameUnknown.
func (r *Registry) PutLifecyclePolicy(ctx context.Context, repo, text string) (LifecyclePolicyOutput, error) {
	if err := r.begin(ctx, policy.ActionPutLifecyclePolicy, repo, ""); err != nil {
		return LifecyclePolicyOutput{}, err
	}
	if _, err := parseLifecyclePolicy(text); err != nil {
		return LifecyclePolicyOutput{}, err
	}
	now := r.now()
	err := r.store.UpdateRepository(ctx, repo, func(rec *storage.Repository) error {
		rec.LifecyclePolicy = text
		rec.LifecyclePolicyUpdatedAt = now
		return nil
	})
	if err != nil {
		return LifecyclePolicyOutput{}, repoErr(repo, err)
	}
	return LifecyclePolicyOutput{RepositoryName: repo, LifecyclePolicyText: text}, nil
}

// GetLifecyclePolicy returns a repository's lifecycle policy and when it was
// last applied. It fails with ErrLifecyclePolicyNotFound if there is none,
// ErrNameUnknown if the repository does not exist.
func (r *Registry) GetLifecyclePolicy(ctx context.Context, repo string) (LifecyclePolicyOutput, error) {
	if err := r.begin(ctx, policy.ActionGetLifecyclePolicy, repo, ""); err != nil {
		return LifecyclePolicyOutput{}, err
	}
	rec, err := r.getRepo(ctx, repo)
	if err != nil {
		return LifecyclePolicyOutput{}, err
	}
	if rec.LifecyclePolicy == "" {
		return LifecyclePolicyOutput{}, policyNotFound(repo)
	}
	return LifecyclePolicyOutput{RepositoryName: repo, LifecyclePolicyText: rec.LifecyclePolicy, LastEvaluatedAt: rec.LastEvaluatedAt}, nil
}

// DeleteLifecyclePolicy removes a repository's lifecycle policy and returns
// it. It fails with ErrLifecyclePolicyNotFound if there is none,
// ErrNameUnknown if the repository does not exist. A preview already
// computed stays readable.
func (r *Registry) DeleteLifecyclePolicy(ctx context.Context, repo string) (LifecyclePolicyOutput, error) {
	if err := r.begin(ctx, policy.ActionDeleteLifecyclePolicy, repo, ""); err != nil {
		return LifecyclePolicyOutput{}, err
	}
	var out LifecyclePolicyOutput
	err := r.store.UpdateRepository(ctx, repo, func(rec *storage.Repository) error {
		if rec.LifecyclePolicy == "" {
			return policyNotFound(repo)
		}
		out = LifecyclePolicyOutput{RepositoryName: repo, LifecyclePolicyText: rec.LifecyclePolicy, LastEvaluatedAt: rec.LastEvaluatedAt}
		rec.LifecyclePolicy = ""
		rec.LifecyclePolicyUpdatedAt = time.Time{}
		rec.LastEvaluatedAt = time.Time{}
		return nil
	})
	switch {
	case errors.Is(err, ErrLifecyclePolicyNotFound):
		return LifecyclePolicyOutput{}, err
	case err != nil:
		return LifecyclePolicyOutput{}, repoErr(repo, err)
	}
	return out, nil
}

func policyNotFound(repo string) error {
	return fmt.Errorf("lifecycle policy does not exist for the repository with name %q: %w", repo, ErrLifecyclePolicyNotFound)
}

// invalidPolicyError carries ECR's message for an invalid policy and matches
// both ErrInvalidParameter and the *lifecycle.PolicyError (hence
// lifecycle.ErrInvalidPolicy).
type invalidPolicyError struct {
	msg string
	err error
}

func (e *invalidPolicyError) Error() string   { return e.msg }
func (e *invalidPolicyError) Unwrap() []error { return []error{ErrInvalidParameter, e.err} }

func parseLifecyclePolicy(text string) (*lifecycle.Policy, error) {
	p, err := lifecycle.ParsePolicy([]byte(text))
	if err == nil {
		return p, nil
	}
	msg := err.Error()
	var pe *lifecycle.PolicyError
	if errors.As(err, &pe) {
		msg = pe.ECRMessage()
	}
	return nil, &invalidPolicyError{msg: msg, err: err}
}

// LifecyclePolicyRuleAction is what a rule does to an image (ECR's
// LifecyclePolicyRuleAction). Type is "EXPIRE".
type LifecyclePolicyRuleAction struct {
	Type lifecycle.ImageActionType
}

// LifecyclePolicyPreviewResult is one image a previewed policy would act on.
type LifecyclePolicyPreviewResult struct {
	ImageTags     []string
	ImageDigest   digest.Digest
	ImagePushedAt time.Time
	Action        LifecyclePolicyRuleAction
	// AppliedRulePriority is the rule that expires the image, or that
	// expires the index or subject the image goes with.
	AppliedRulePriority int
}

// LifecyclePolicyPreviewSummary counts a preview's results, over the whole
// preview whatever the filter and page.
type LifecyclePolicyPreviewSummary struct {
	ExpiringImageTotalCount int
}

// StartLifecyclePolicyPreviewOutput is StartLifecyclePolicyPreview's answer.
type StartLifecyclePolicyPreviewOutput struct {
	RepositoryName      string
	LifecyclePolicyText string
	// Status is COMPLETE: the preview is computed before Start returns.
	Status string
}

// StartLifecyclePolicyPreview evaluates a lifecycle policy on a repository
// without acting on it, and keeps the results for
// GetLifecyclePolicyPreview. text is a draft policy, or "" for the
// repository's stored policy (ErrLifecyclePolicyNotFound if there is none).
// An invalid draft fails as PutLifecyclePolicy does.
//
// Unlike ECR, the preview is computed synchronously, before Start returns
// (evaluating 10,000 images takes milliseconds; listing them from storage
// dominates), so the status is always COMPLETE and a second Start simply
// replaces the first preview. Previews live in the Registry's memory, at
// most MaxLifecyclePolicyPreviews of them for at most
// LifecyclePolicyPreviewTTL; they are not shared between nodes. A preview
// changes nothing in storage.
func (r *Registry) StartLifecyclePolicyPreview(ctx context.Context, repo, text string) (StartLifecyclePolicyPreviewOutput, error) {
	if err := r.begin(ctx, policy.ActionStartLifecyclePolicyPreview, repo, ""); err != nil {
		return StartLifecyclePolicyPreviewOutput{}, err
	}
	rec, err := r.getRepo(ctx, repo)
	if err != nil {
		return StartLifecyclePolicyPreviewOutput{}, err
	}
	if text == "" {
		if rec.LifecyclePolicy == "" {
			return StartLifecyclePolicyPreviewOutput{}, policyNotFound(repo)
		}
		text = rec.LifecyclePolicy
	}
	p, err := parseLifecyclePolicy(text)
	if err != nil {
		return StartLifecyclePolicyPreviewOutput{}, err
	}
	snap, err := r.lifecycleSnapshot(ctx, repo)
	if err != nil {
		return StartLifecyclePolicyPreviewOutput{}, err
	}
	now := r.now()
	pr := lifecycle.Preview(p, snap.images, now)
	pv := &preview{
		text:      text,
		createdAt: rec.CreatedAt,
		at:        now,
		summary:   LifecyclePolicyPreviewSummary{ExpiringImageTotalCount: pr.Summary.ExpiringImageTotalCount},
		results:   make([]LifecyclePolicyPreviewResult, len(pr.Results)),
	}
	for i, res := range pr.Results {
		pv.results[i] = LifecyclePolicyPreviewResult{
			ImageTags:           slices.Clone(res.Tags),
			ImageDigest:         res.Digest,
			ImagePushedAt:       res.PushedAt,
			Action:              LifecyclePolicyRuleAction{Type: res.Action},
			AppliedRulePriority: res.RulePriority,
		}
	}
	r.lifecycleState().putPreview(repo, pv)
	return StartLifecyclePolicyPreviewOutput{RepositoryName: repo, LifecyclePolicyText: text, Status: LifecyclePolicyPreviewComplete}, nil
}

// GetLifecyclePolicyPreviewInput holds GetLifecyclePolicyPreview's
// arguments: either ImageIDs, or a page given by NextToken and MaxResults.
type GetLifecyclePolicyPreviewInput struct {
	Repository string
	// ImageIDs (1 to 100) restrict the results to those images; images the
	// policy does not act on are left out.
	ImageIDs []ImageID
	// NextToken continues a previous page of the same preview.
	NextToken string
	// MaxResults is the page size, 1 to 100; 0 means 100.
	MaxResults int
	// TagStatus filters results: TAGGED, UNTAGGED or ANY (the default).
	TagStatus string
}

// GetLifecyclePolicyPreviewOutput is one page of a preview.
type GetLifecyclePolicyPreviewOutput struct {
	RepositoryName      string
	LifecyclePolicyText string
	// Status is COMPLETE, or EXPIRED (without results) for a preview older
	// than LifecyclePolicyPreviewTTL.
	Status         string
	PreviewResults []LifecyclePolicyPreviewResult
	Summary        LifecyclePolicyPreviewSummary
	NextToken      string
}

// GetLifecyclePolicyPreview returns the results of the repository's last
// preview, oldest push first, page by page. It fails with
// ErrLifecyclePolicyPreviewNotFound if no preview was started (or it was
// evicted, or the repository was re-created since), ErrNameUnknown if the
// repository does not exist, ErrInvalidParameter for bad arguments or a
// token of another preview.
func (r *Registry) GetLifecyclePolicyPreview(ctx context.Context, in GetLifecyclePolicyPreviewInput) (GetLifecyclePolicyPreviewOutput, error) {
	if err := r.begin(ctx, policy.ActionGetLifecyclePolicyPreview, in.Repository, ""); err != nil {
		return GetLifecyclePolicyPreviewOutput{}, err
	}
	switch in.TagStatus {
	case "", TagStatusAny, TagStatusTagged, TagStatusUntagged:
	default:
		return GetLifecyclePolicyPreviewOutput{}, fmt.Errorf("tag status %q: %w", truncate(in.TagStatus), ErrInvalidParameter)
	}
	if len(in.ImageIDs) > 0 && in.NextToken != "" {
		return GetLifecyclePolicyPreviewOutput{}, fmt.Errorf("image ids and next token are exclusive: %w", ErrInvalidParameter)
	}
	if len(in.ImageIDs) > 100 {
		return GetLifecyclePolicyPreviewOutput{}, fmt.Errorf("%d image ids, at most 100: %w", len(in.ImageIDs), ErrInvalidParameter)
	}
	n, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return GetLifecyclePolicyPreviewOutput{}, err
	}
	rec, err := r.getRepo(ctx, in.Repository)
	if err != nil {
		return GetLifecyclePolicyPreviewOutput{}, err
	}
	pv, expired := r.lifecycleState().getPreview(in.Repository, rec.CreatedAt, r.now())
	if pv == nil {
		return GetLifecyclePolicyPreviewOutput{}, fmt.Errorf("no lifecycle policy preview for the repository with name %q: %w", in.Repository, ErrLifecyclePolicyPreviewNotFound)
	}
	out := GetLifecyclePolicyPreviewOutput{RepositoryName: in.Repository, LifecyclePolicyText: pv.text, Status: LifecyclePolicyPreviewComplete, Summary: pv.summary}
	if expired {
		out.Status = LifecyclePolicyPreviewExpired
		out.Summary = LifecyclePolicyPreviewSummary{}
		return out, nil
	}
	keep := func(res *LifecyclePolicyPreviewResult) bool {
		switch {
		case in.TagStatus == TagStatusTagged && len(res.ImageTags) == 0,
			in.TagStatus == TagStatusUntagged && len(res.ImageTags) > 0:
			return false
		}
		return true
	}
	if len(in.ImageIDs) > 0 {
		for _, id := range in.ImageIDs {
			if id.ImageDigest == "" && id.ImageTag == "" {
				return GetLifecyclePolicyPreviewOutput{}, fmt.Errorf("image id needs a digest or a tag: %w", ErrInvalidParameter)
			}
		}
		for i := range pv.results {
			res := &pv.results[i]
			if keep(res) && slices.ContainsFunc(in.ImageIDs, func(id ImageID) bool { return previewMatches(id, res) }) {
				out.PreviewResults = append(out.PreviewResults, *res)
			}
		}
		return out, nil
	}
	start := 0
	if in.NextToken != "" {
		if start, err = pv.decodeToken(in.NextToken); err != nil {
			return GetLifecyclePolicyPreviewOutput{}, err
		}
	}
	for i := start; i < len(pv.results); i++ {
		res := &pv.results[i]
		if !keep(res) {
			continue
		}
		if len(out.PreviewResults) == n {
			out.NextToken = pv.encodeToken(i)
			break
		}
		out.PreviewResults = append(out.PreviewResults, *res)
	}
	return out, nil
}

func previewMatches(id ImageID, res *LifecyclePolicyPreviewResult) bool {
	if id.ImageDigest != "" && id.ImageDigest != res.ImageDigest {
		return false
	}
	return id.ImageTag == "" || slices.Contains(res.ImageTags, id.ImageTag)
}

// preview is a computed lifecycle preview. It is immutable once stored;
// GetLifecyclePolicyPreview copies results out of it.
type preview struct {
	text      string
	createdAt time.Time // of the repository: a re-created one has no preview
	at        time.Time
	gen       uint64
	results   []LifecyclePolicyPreviewResult
	summary   LifecyclePolicyPreviewSummary
}

func (p *preview) encodeToken(i int) string {
	return encodeToken(strconv.FormatUint(p.gen, 10) + ":" + strconv.Itoa(i))
}

func (p *preview) decodeToken(tok string) (int, error) {
	s, err := decodeToken(tok)
	if err != nil {
		return 0, err
	}
	gen, pos, ok := strings.Cut(s, ":")
	g, gerr := strconv.ParseUint(gen, 10, 64)
	i, ierr := strconv.Atoi(pos)
	if !ok || gerr != nil || ierr != nil || i < 0 || i > len(p.results) {
		return 0, fmt.Errorf("next token malformed: %w", ErrInvalidParameter)
	}
	if g != p.gen {
		return 0, fmt.Errorf("next token belongs to another preview: %w", ErrInvalidParameter)
	}
	return i, nil
}

// lifecycleRegistryState is a Registry's lifecycle state: previews, and the
// lock that serialises lifecycle runs.
type lifecycleRegistryState struct {
	run sync.Mutex // held by RunLifecycle

	mu       sync.Mutex
	gen      uint64
	previews map[string]*preview
}

func newLifecycleState() *lifecycleRegistryState {
	return &lifecycleRegistryState{previews: map[string]*preview{}}
}

func (s *lifecycleRegistryState) putPreview(repo string, pv *preview) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	pv.gen = s.gen
	if _, ok := s.previews[repo]; !ok && len(s.previews) >= MaxLifecyclePolicyPreviews {
		oldest := ""
		for name, p := range s.previews {
			if oldest == "" || p.gen < s.previews[oldest].gen {
				oldest = name
			}
		}
		delete(s.previews, oldest)
	}
	s.previews[repo] = pv
}

// getPreview returns the repository's preview, and whether it has expired
// (it is then forgotten).
func (s *lifecycleRegistryState) getPreview(repo string, createdAt, now time.Time) (*preview, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pv := s.previews[repo]
	switch {
	case pv == nil:
		return nil, false
	case !pv.createdAt.Equal(createdAt):
		delete(s.previews, repo)
		return nil, false
	case now.Sub(pv.at) > LifecyclePolicyPreviewTTL:
		delete(s.previews, repo)
		return pv, true
	}
	return pv, false
}

func (r *Registry) lifecycleState() *lifecycleRegistryState { return r.lifecycle }

// lifecycleSnapshot is a repository's images as the lifecycle engine sees
// them, with the records they came from.
type lifecycleSnapshot struct {
	images  []lifecycle.Image
	records map[digest.Digest]storage.Manifest
}

// lifecycleSnapshot lists a repository's manifests (WalkManifests) and
// their tags (one WalkTags pass rather than a TagsOf per manifest). The two
// walks are not one transaction: a tag whose manifest the first walk did
// not see is ignored, and the runner checks each image again before it
// deletes it.
func (r *Registry) lifecycleSnapshot(ctx context.Context, repo string) (lifecycleSnapshot, error) {
	snap := lifecycleSnapshot{records: map[digest.Digest]storage.Manifest{}}
	index := map[digest.Digest]int{}
	err := r.store.WalkManifests(ctx, repo, "", func(m storage.Manifest) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		index[m.Digest] = len(snap.images)
		r.withPendingPull(repo, &m)
		// Keep what the runner needs, not the blob lists and annotations.
		m.Blobs, m.Annotations, m.Payload = nil, nil, nil
		snap.records[m.Digest] = m
		snap.images = append(snap.images, lifecycle.Image{
			Digest:       m.Digest,
			PushedAt:     m.PushedAt,
			LastPulledAt: m.LastPulledAt,
			MediaType:    m.MediaType,
			Subject:      m.Subject,
			Children:     m.Manifests,
		})
		return nil
	})
	if err != nil {
		return lifecycleSnapshot{}, repoErr(repo, err)
	}
	err = r.store.WalkTags(ctx, repo, "", func(tag string, d digest.Digest) error {
		if i, ok := index[d]; ok {
			snap.images[i].Tags = append(snap.images[i].Tags, tag)
		}
		return nil
	})
	if err != nil {
		return lifecycleSnapshot{}, repoErr(repo, err)
	}
	return snap, nil
}

// LifecycleRunOptions configures RunLifecycle.
type LifecycleRunOptions struct {
	// DryRun evaluates the policies and reports what would expire, and
	// changes nothing: no image is deleted, no event emitted and
	// LastEvaluatedAt is not updated. The default is false.
	DryRun bool
	// Repositories to run on. The default (empty) is every repository with
	// a lifecycle policy.
	Repositories []string
}

// LifecycleExpiredImage is an image a lifecycle run expired (or, in a dry
// run, would expire).
type LifecycleExpiredImage struct {
	Repository string
	Digest     digest.Digest
	// Tags are the tags the image had.
	Tags []string
	// RulePriority is the rule that expired the image, or the index or
	// subject it went with (Via).
	RulePriority int
	// Via is the index or subject whose expiry took this image with it.
	Via digest.Digest
}

// LifecycleReport is the outcome of a lifecycle run.
type LifecycleReport struct {
	DryRun bool
	// Repositories evaluated, in order.
	Repositories []string
	// Expired images, per repository in deletion order: referrers before
	// their subject, indexes before their children.
	Expired []LifecycleExpiredImage
	// Skipped images the policy expired but that changed between the
	// evaluation and the deletion (tagged, re-tagged or pulled), or that go
	// with such an image; they are kept until the next run.
	Skipped []LifecycleExpiredImage
	// Errors of single repositories or images; the run goes on after them.
	Errors []error
}

// RunLifecycle applies the stored lifecycle policies: for each repository
// it evaluates the policy on the repository's images, deletes each expired
// image as DeleteImage does (the manifest and its tags; the index's
// children and the subject's referrers the engine expires with them),
// emits EventManifestDeleted then EventImageExpired for it, and records
// LastEvaluatedAt. It logs a summary at Info level.
//
// RunLifecycle is an operator operation, the equivalent of ECR's own
// lifecycle service: it is not authorized, and neither are its deletions.
// Do not expose it to untrusted callers. Runs of one Registry are
// serialised.
//
// Deletion is not one transaction with the evaluation. Just before deleting,
// the run reads each expiring image again and keeps it (LifecycleReport
// Skipped) if its tags or last pull changed since the evaluation; deletions
// go referrers first and indexes before their children, so that a run cut
// short leaves no referrer without its subject and no index without its
// children.
//
// Errors of single repositories or images are collected in the report. The
// returned error is non-nil only when the run could not proceed: the
// registry is closed, ctx is done, or the repositories cannot be listed.
func (r *Registry) RunLifecycle(ctx context.Context, opts LifecycleRunOptions) (LifecycleReport, error) {
	report := LifecycleReport{DryRun: opts.DryRun}
	if err := r.open(ctx); err != nil {
		return report, err
	}
	st := r.lifecycleState()
	st.run.Lock()
	defer st.run.Unlock()
	start := time.Now()

	var repos []storage.Repository
	if len(opts.Repositories) == 0 {
		err := r.store.WalkRepositories(ctx, "", func(rec storage.Repository) error {
			if rec.LifecyclePolicy != "" {
				repos = append(repos, rec)
			}
			return ctx.Err()
		})
		if err != nil {
			return report, fmt.Errorf("lifecycle: list repositories: %w", err)
		}
	} else {
		for _, name := range opts.Repositories {
			if err := ValidateName(name); err != nil {
				report.Errors = append(report.Errors, err)
				continue
			}
			rec, err := r.getRepo(ctx, name)
			switch {
			case err != nil:
				report.Errors = append(report.Errors, err)
			case rec.LifecyclePolicy == "":
				report.Errors = append(report.Errors, policyNotFound(name))
			default:
				repos = append(repos, rec)
			}
		}
	}
	var stop error
	for _, rec := range repos {
		if stop = r.open(ctx); stop != nil {
			break
		}
		report.Repositories = append(report.Repositories, rec.Name)
		if err := r.runLifecycleRepo(ctx, rec, opts.DryRun, &report); err != nil {
			if stop = ctx.Err(); stop != nil {
				break
			}
			report.Errors = append(report.Errors, err)
		}
	}
	r.log.InfoContext(ctx, "lifecycle run",
		"dry_run", opts.DryRun,
		"repositories", len(report.Repositories),
		"expired", len(report.Expired),
		"skipped", len(report.Skipped),
		"errors", len(report.Errors),
		"duration", time.Since(start),
		"err", stop)
	return report, stop
}

func (r *Registry) runLifecycleRepo(ctx context.Context, rec storage.Repository, dryRun bool, report *LifecycleReport) error {
	repo := rec.Name
	p, err := parseLifecyclePolicy(rec.LifecyclePolicy)
	if err != nil {
		return fmt.Errorf("lifecycle policy of %q: %w", repo, err)
	}
	snap, err := r.lifecycleSnapshot(ctx, repo)
	if err != nil {
		return err
	}
	now := r.now()
	results := lifecycle.Evaluate(p, snap.images, now)
	expired := make([]LifecycleExpiredImage, len(results))
	for i, res := range results {
		expired[i] = LifecycleExpiredImage{Repository: repo, Digest: res.Digest, Tags: res.Tags, RulePriority: res.RulePriority, Via: res.Via}
	}
	g := newExpiryGraph(expired, snap.records)
	if dryRun {
		for _, i := range g.order {
			report.Expired = append(report.Expired, expired[i])
		}
		return nil
	}

	// Check every expiring image again, then keep whatever goes with one
	// that changed.
	keep := make([]bool, len(expired))
	for i, e := range expired {
		changed, err := r.changedSince(ctx, repo, e, snap.records[e.Digest])
		if err != nil {
			return err
		}
		if changed {
			g.keep(keep, i)
		}
	}

	deleted := make([]bool, len(expired))
	for _, i := range g.order {
		e := expired[i]
		if keep[i] || !g.predecessorsDeleted(i, deleted) {
			report.Skipped = append(report.Skipped, e)
			continue
		}
		if err := r.store.DeleteManifest(ctx, repo, e.Digest); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				deleted[i] = true // deleted meanwhile: gone, as wanted
				continue
			}
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			report.Errors = append(report.Errors, fmt.Errorf("lifecycle: delete %s from %q: %w", e.Digest, repo, err))
			continue
		}
		deleted[i] = true
		r.forgetPull(repo, e.Digest)
		report.Expired = append(report.Expired, e)
		m := snap.records[e.Digest]
		r.emit(ctx, Event{Kind: EventManifestDeleted, Repository: repo, Digest: e.Digest.String(), Tags: e.Tags, MediaType: m.MediaType, Size: m.Size})
		r.emit(ctx, Event{Kind: EventImageExpired, Repository: repo, Digest: e.Digest.String(), Tags: e.Tags, MediaType: m.MediaType, Size: m.Size})
		r.log.DebugContext(ctx, "lifecycle expired image", "repo", repo, "digest", e.Digest, "rule", e.RulePriority, "tags", e.Tags)
	}

	err = r.store.UpdateRepository(ctx, repo, func(cur *storage.Repository) error {
		if cur.LifecyclePolicy != rec.LifecyclePolicy || !cur.CreatedAt.Equal(rec.CreatedAt) {
			return nil // replaced meanwhile: its evaluation is still to come
		}
		cur.LastEvaluatedAt = now
		return nil
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("lifecycle: record evaluation of %q: %w", repo, err)
	}
	return nil
}

// changedSince reports whether an expiring image changed since the
// snapshot: its tags or last pull moved, or it is gone (nothing to do).
func (r *Registry) changedSince(ctx context.Context, repo string, e LifecycleExpiredImage, was storage.Manifest) (bool, error) {
	cur, err := r.store.GetManifest(ctx, repo, e.Digest)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil // DeleteManifest will find it gone
	}
	if err != nil {
		return false, fmt.Errorf("lifecycle: read %s in %q: %w", e.Digest, repo, err)
	}
	r.withPendingPull(repo, &cur)
	if !cur.LastPulledAt.Equal(was.LastPulledAt) || !cur.PushedAt.Equal(was.PushedAt) {
		return true, nil
	}
	tags, err := r.store.TagsOf(ctx, repo, e.Digest)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return false, fmt.Errorf("lifecycle: tags of %s in %q: %w", e.Digest, repo, err)
	}
	return !slices.Equal(tags, e.Tags), nil
}

// expiryGraph links the images one lifecycle run expires: referrers to
// their subject and indexes to their children, both expiring.
type expiryGraph struct {
	referrers [][]int // referrers[i]: expiring referrers of image i
	children  [][]int // children[i]: expiring children of index i
	parents   [][]int // parents[i]: expiring indexes listing image i
	// order is the deletion order: referrers before their subject and
	// indexes before their children (a depth-first topological sort; the
	// engine keeps images in reference cycles, so there are none), else the
	// engine's order (oldest push first).
	order []int
}

func newExpiryGraph(expired []LifecycleExpiredImage, records map[digest.Digest]storage.Manifest) *expiryGraph {
	n := len(expired)
	g := &expiryGraph{referrers: make([][]int, n), children: make([][]int, n), parents: make([][]int, n), order: make([]int, 0, n)}
	pos := make(map[digest.Digest]int, n)
	for i, e := range expired {
		pos[e.Digest] = i
	}
	for i, e := range expired {
		m := records[e.Digest]
		if j, ok := pos[m.Subject]; ok && m.Subject != "" && j != i {
			g.referrers[j] = append(g.referrers[j], i)
		}
		for _, c := range m.Manifests {
			if j, ok := pos[c]; ok && j != i {
				g.children[i] = append(g.children[i], j)
				g.parents[j] = append(g.parents[j], i)
			}
		}
	}
	state := make([]uint8, n) // 0 new, 1 visiting, 2 done
	var visit func(int)
	visit = func(i int) {
		if state[i] != 0 {
			return
		}
		state[i] = 1
		for _, j := range g.referrers[i] {
			visit(j)
		}
		for _, j := range g.parents[i] {
			visit(j)
		}
		state[i] = 2
		g.order = append(g.order, i)
	}
	for i := range n {
		visit(i)
	}
	return g
}

// keep marks image i kept, with the images that must stay with it: its
// referrers and, for an index, its children.
func (g *expiryGraph) keep(kept []bool, i int) {
	stack := []int{i}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if kept[i] {
			continue
		}
		kept[i] = true
		stack = append(stack, g.referrers[i]...)
		stack = append(stack, g.children[i]...)
	}
}

// predecessorsDeleted reports whether the images to delete before image i
// (its referrers and the indexes listing it) are deleted.
func (g *expiryGraph) predecessorsDeleted(i int, deleted []bool) bool {
	for _, j := range g.referrers[i] {
		if !deleted[j] {
			return false
		}
	}
	for _, j := range g.parents[i] {
		if !deleted[j] {
			return false
		}
	}
	return true
}

// LifecycleScheduler runs a Registry's lifecycle policies at an interval,
// in one goroutine started by Start and stopped by Close.
type LifecycleScheduler struct {
	reg      *Registry
	interval time.Duration
	opts     LifecycleRunOptions

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewLifecycleScheduler returns a scheduler that calls reg.RunLifecycle
// with opts every interval. It starts nothing: call Start.
func NewLifecycleScheduler(reg *Registry, interval time.Duration, opts LifecycleRunOptions) (*LifecycleScheduler, error) {
	if reg == nil {
		return nil, errors.New("registry: nil Registry")
	}
	if interval <= 0 {
		return nil, errors.New("registry: lifecycle interval must be positive")
	}
	opts.Repositories = slices.Clone(opts.Repositories)
	return &LifecycleScheduler{reg: reg, interval: interval, opts: opts}, nil
}

// Start starts the goroutine that runs the lifecycle policies every
// interval, the first time one interval after Start, until ctx is done or
// Close is called. Runs use ctx. Failed runs are logged by the registry's
// logger and retried at the next tick. Start fails if the scheduler was
// started or closed before.
func (s *LifecycleScheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return fmt.Errorf("lifecycle scheduler: %w", ErrClosed)
	case s.started:
		return errors.New("lifecycle scheduler: already started")
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go s.loop(ctx)
	return nil
}

func (s *LifecycleScheduler) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.reg.RunLifecycle(ctx, s.opts); err != nil && ctx.Err() == nil {
			s.reg.log.WarnContext(ctx, "lifecycle run failed", "err", err)
			if errors.Is(err, ErrClosed) {
				return
			}
		}
	}
}

// RunNow runs the lifecycle policies at once, on the caller's goroutine,
// with the scheduler's options. It works whether or not the scheduler is
// started; runs never overlap.
func (s *LifecycleScheduler) RunNow(ctx context.Context) (LifecycleReport, error) {
	return s.reg.RunLifecycle(ctx, s.opts)
}

// Close stops the scheduler and waits for its goroutine to return (a run in
// progress is cancelled through its context). It is idempotent and safe on
// a nil scheduler.
func (s *LifecycleScheduler) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	s.closed = true
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}
