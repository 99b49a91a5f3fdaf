package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/storage"
)

// Repository is a repository record.
type Repository = storage.Repository

// Tag mutability settings, named as in ECR.
const (
	Mutable                = storage.MutabilityMutable
	Immutable              = storage.MutabilityImmutable
	ImmutableWithExclusion = storage.MutabilityImmutableWithExclusion
	MutableWithExclusion   = storage.MutabilityMutableWithExclusion
)

// Limits on repository settings, as in ECR.
const (
	MaxExclusionFilters = 5
	MaxResourceTags     = 50
)

var filterRE = regexp.MustCompile(`^[0-9a-zA-Z._*-]{1,128}$`)

// CreateRepositoryInput holds CreateRepository's arguments.
type CreateRepositoryInput struct {
	Name string
	// TagMutability is one of the mutability constants; empty is Mutable.
	TagMutability string
	// MutabilityExclusionFilters are 1 to 5 wildcard patterns, required for
	// the *_WITH_EXCLUSION settings and refused otherwise.
	MutabilityExclusionFilters []string
	ResourceTags               map[string]string
	ScanOnPush                 bool
}

// CreateRepository creates a repository. It returns an error wrapping
// ErrNameInvalid, ErrInvalidParameter or ErrRepositoryAlreadyExists.
func (r *Registry) CreateRepository(ctx context.Context, in CreateRepositoryInput) (Repository, error) {
	if err := r.begin(ctx, policy.ActionCreateRepository, in.Name, ""); err != nil {
		return Repository{}, err
	}
	if err := validateMutability(in.TagMutability, in.MutabilityExclusionFilters); err != nil {
		return Repository{}, err
	}
	if err := validateResourceTags(in.ResourceTags); err != nil {
		return Repository{}, err
	}
	repo := Repository{
		Name:                       in.Name,
		CreatedAt:                  r.now(),
		TagMutability:              orDefault(in.TagMutability, Mutable),
		MutabilityExclusionFilters: append([]string(nil), in.MutabilityExclusionFilters...),
		ResourceTags:               maps.Clone(in.ResourceTags),
		ScanOnPush:                 in.ScanOnPush,
	}
	if err := r.store.CreateRepository(ctx, repo); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return Repository{}, fmt.Errorf("the repository with name %q already exists: %w", in.Name, ErrRepositoryAlreadyExists)
		}
		return Repository{}, fmt.Errorf("create repository %q: %w", in.Name, err)
	}
	r.emit(ctx, Event{Kind: EventRepositoryCreated, Repository: in.Name})
	return repo, nil
}

// DescribeRepository returns a repository's record, or an error wrapping
// ErrNameUnknown.
func (r *Registry) DescribeRepository(ctx context.Context, name string) (Repository, error) {
	if err := r.begin(ctx, policy.ActionDescribeRepositories, name, ""); err != nil {
		return Repository{}, err
	}
	repo, err := r.getRepo(ctx, name)
	return describeRepo(repo), err
}

// describeRepo is what DescribeRepositories shows: as in ECR, not the
// lifecycle policy, which needs ecr:GetLifecyclePolicy.
func describeRepo(repo Repository) Repository {
	repo.LifecyclePolicy = ""
	return repo
}

func (r *Registry) getRepo(ctx context.Context, name string) (Repository, error) {
	repo, err := r.store.GetRepository(ctx, name)
	if err != nil {
		return Repository{}, repoErr(name, err)
	}
	return repo, nil
}

// repoErr translates a storage error about a repository.
func repoErr(name string, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("the repository with name %q does not exist: %w", name, ErrNameUnknown)
	}
	return fmt.Errorf("repository %q: %w", name, err)
}

// DescribeRepositoriesInput holds DescribeRepositories' arguments: either
// RepositoryNames, or a page given by NextToken and MaxResults.
type DescribeRepositoriesInput struct {
	RepositoryNames []string
	// NextToken continues a previous listing.
	NextToken string
	// MaxResults is the page size, 1 to 1000; 0 means 100.
	MaxResults int
}

// DescribeRepositoriesOutput is one page of repositories.
type DescribeRepositoriesOutput struct {
	Repositories []Repository
	// NextToken is set when more repositories follow.
	NextToken string
}

// DescribeRepositories lists repositories by name or page by page, in name
// order.
func (r *Registry) DescribeRepositories(ctx context.Context, in DescribeRepositoriesInput) (DescribeRepositoriesOutput, error) {
	if len(in.RepositoryNames) > 0 {
		if in.NextToken != "" {
			return DescribeRepositoriesOutput{}, fmt.Errorf("repository names and next token are exclusive: %w", ErrInvalidParameter)
		}
		var out DescribeRepositoriesOutput
		for _, n := range in.RepositoryNames {
			repo, err := r.DescribeRepository(ctx, n)
			if err != nil {
				return DescribeRepositoriesOutput{}, err
			}
			out.Repositories = append(out.Repositories, repo)
		}
		return out, nil
	}
	if err := r.open(ctx); err != nil {
		return DescribeRepositoriesOutput{}, err
	}
	n, err := pageSize(in.MaxResults, 100, 1000)
	if err != nil {
		return DescribeRepositoriesOutput{}, err
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return DescribeRepositoriesOutput{}, err
	}
	var out DescribeRepositoriesOutput
	err = r.store.WalkRepositories(ctx, after, func(repo storage.Repository) error {
		if ok, err := r.visible(ctx, repo.Name); err != nil || !ok {
			return err
		}
		if len(out.Repositories) == n {
			out.NextToken = encodeToken(out.Repositories[n-1].Name)
			return storage.SkipAll
		}
		out.Repositories = append(out.Repositories, describeRepo(repo))
		return nil
	})
	if err != nil {
		return DescribeRepositoriesOutput{}, fmt.Errorf("list repositories: %w", err)
	}
	return out, nil
}

// ListRepositories returns up to n repository names that sort after last,
// for the OCI catalog, and whether more follow. It lists only repositories
// the caller may describe or pull. n <= 0 or above MaxPageSize means
// MaxPageSize.
func (r *Registry) ListRepositories(ctx context.Context, last string, n int) (names []string, more bool, err error) {
	if err := r.open(ctx); err != nil {
		return nil, false, err
	}
	if n <= 0 || n > r.opts.maxPageSize {
		n = r.opts.maxPageSize
	}
	names = make([]string, 0, min(n, 128))
	err = r.store.WalkRepositories(ctx, last, func(repo storage.Repository) error {
		ok, err := r.visible(ctx, repo.Name)
		if err != nil || !ok {
			return err
		}
		if len(names) == n {
			more = true
			return storage.SkipAll
		}
		names = append(names, repo.Name)
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("list repositories: %w", err)
	}
	return names, more, nil
}

// DeleteRepository deletes a repository. Without force it fails with
// ErrRepositoryNotEmpty while the repository holds images. Blob bytes are
// left for the garbage collector.
func (r *Registry) DeleteRepository(ctx context.Context, name string, force bool) (Repository, error) {
	if err := r.begin(ctx, policy.ActionDeleteRepository, name, ""); err != nil {
		return Repository{}, err
	}
	repo, err := r.getRepo(ctx, name)
	if err != nil {
		return Repository{}, err
	}
	if err := r.store.DeleteRepository(ctx, name, force); err != nil {
		if errors.Is(err, storage.ErrNotEmpty) {
			return Repository{}, fmt.Errorf("the repository with name %q cannot be deleted because it still contains images: %w", name, ErrRepositoryNotEmpty)
		}
		return Repository{}, repoErr(name, err)
	}
	r.dropRepositoryPolicy(ctx, name)
	r.emit(ctx, Event{Kind: EventRepositoryDeleted, Repository: name})
	return describeRepo(repo), nil
}

// PutImageTagMutability sets a repository's tag mutability.
func (r *Registry) PutImageTagMutability(ctx context.Context, name, mutability string, exclusionFilters []string) error {
	if err := r.begin(ctx, policy.ActionPutImageTagMutability, name, ""); err != nil {
		return err
	}
	if err := validateMutability(mutability, exclusionFilters); err != nil {
		return err
	}
	err := r.store.UpdateRepository(ctx, name, func(repo *storage.Repository) error {
		repo.TagMutability = orDefault(mutability, Mutable)
		repo.MutabilityExclusionFilters = append([]string(nil), exclusionFilters...)
		return nil
	})
	if err != nil {
		return repoErr(name, err)
	}
	return nil
}

// PutImageScanningConfiguration sets whether images are scanned on push.
func (r *Registry) PutImageScanningConfiguration(ctx context.Context, name string, scanOnPush bool) error {
	if err := r.begin(ctx, policy.ActionPutImageScanningConfiguration, name, ""); err != nil {
		return err
	}
	err := r.store.UpdateRepository(ctx, name, func(repo *storage.Repository) error {
		repo.ScanOnPush = scanOnPush
		return nil
	})
	if err != nil {
		return repoErr(name, err)
	}
	return nil
}

// TagResource adds or replaces resource tags on a repository.
func (r *Registry) TagResource(ctx context.Context, name string, tags map[string]string) error {
	if err := r.begin(ctx, policy.ActionTagResource, name, ""); err != nil {
		return err
	}
	err := r.store.UpdateRepository(ctx, name, func(repo *storage.Repository) error {
		merged := maps.Clone(repo.ResourceTags)
		if merged == nil {
			merged = map[string]string{}
		}
		maps.Copy(merged, tags)
		if err := validateResourceTags(merged); err != nil {
			return err
		}
		repo.ResourceTags = merged
		return nil
	})
	if err != nil {
		return repoErr(name, err)
	}
	return nil
}

// UntagResource removes resource tags from a repository.
func (r *Registry) UntagResource(ctx context.Context, name string, keys []string) error {
	if err := r.begin(ctx, policy.ActionUntagResource, name, ""); err != nil {
		return err
	}
	err := r.store.UpdateRepository(ctx, name, func(repo *storage.Repository) error {
		for _, k := range keys {
			delete(repo.ResourceTags, k)
		}
		return nil
	})
	if err != nil {
		return repoErr(name, err)
	}
	return nil
}

// ListTagsForResource returns a repository's resource tags.
func (r *Registry) ListTagsForResource(ctx context.Context, name string) (map[string]string, error) {
	if err := r.begin(ctx, policy.ActionListTagsForResource, name, ""); err != nil {
		return nil, err
	}
	repo, err := r.getRepo(ctx, name)
	if err != nil {
		return nil, err
	}
	return maps.Clone(repo.ResourceTags), nil
}

func validateMutability(m string, filters []string) error {
	switch m {
	case "", Mutable, Immutable:
		if len(filters) > 0 {
			return fmt.Errorf("exclusion filters need a *_WITH_EXCLUSION tag mutability: %w", ErrInvalidParameter)
		}
	case ImmutableWithExclusion, MutableWithExclusion:
		if len(filters) == 0 || len(filters) > MaxExclusionFilters {
			return fmt.Errorf("%s needs 1 to %d exclusion filters: %w", m, MaxExclusionFilters, ErrInvalidParameter)
		}
		for _, f := range filters {
			if !filterRE.MatchString(f) {
				return fmt.Errorf("exclusion filter %q must match %s: %w", truncate(f), filterRE, ErrInvalidParameter)
			}
		}
	default:
		return fmt.Errorf("tag mutability %q: %w", truncate(m), ErrInvalidParameter)
	}
	return nil
}

func validateResourceTags(tags map[string]string) error {
	if len(tags) > MaxResourceTags {
		return fmt.Errorf("%d resource tags, at most %d: %w", len(tags), MaxResourceTags, ErrInvalidParameter)
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return fmt.Errorf("resource tag %q: key 1 to 128 characters, value at most 256: %w", truncate(k), ErrInvalidParameter)
		}
	}
	return nil
}

// tagImmutable reports whether tag may not be moved in repo.
func tagImmutable(repo Repository, tag string) bool {
	matched := false
	for _, f := range repo.MutabilityExclusionFilters {
		if wildcardMatch(f, tag) {
			matched = true
			break
		}
	}
	switch repo.TagMutability {
	case Immutable:
		return true
	case ImmutableWithExclusion:
		return !matched
	case MutableWithExclusion:
		return matched
	default:
		return false
	}
}

// wildcardMatch reports whether s matches pattern, where '*' matches any run
// of characters (including none) and everything else is literal.
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
