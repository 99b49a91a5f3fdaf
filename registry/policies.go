package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-dev/berth/policy"
)

// SetRepositoryPolicy sets a repository's resource policy (ECR's
// SetRepositoryPolicy). Without force, a policy that would stop the caller
// from setting the policy again is refused (policy.ErrLockout). It needs an
// Authorizer that keeps policies (policy.RepositoryPolicyManager), else it
// fails with ErrUnsupported; an invalid policy fails with
// policy.ErrInvalidPolicy and leaves the old one in force. When the storage
// keeps records and the Authorizer implements policy.StoreUser (see New),
// the policy is written to storage before it takes effect, so it survives
// a restart; a failed write leaves the old one in force. DeleteRepository
// deletes the repository's policy with it, as ECR does.
func (r *Registry) SetRepositoryPolicy(ctx context.Context, repo, text string, force bool) error {
	m, err := r.repoPolicies(ctx, policy.ActionSetRepositoryPolicy, repo)
	if err != nil {
		return err
	}
	if err := m.SetRepositoryPolicy(ctx, repo, text, force); err != nil {
		return fmt.Errorf("set policy of %q: %w", repo, err)
	}
	return nil
}

// GetRepositoryPolicy returns a repository's resource policy, or an error
// wrapping policy.ErrPolicyNotFound.
func (r *Registry) GetRepositoryPolicy(ctx context.Context, repo string) (string, error) {
	m, err := r.repoPolicies(ctx, policy.ActionGetRepositoryPolicy, repo)
	if err != nil {
		return "", err
	}
	text, err := m.GetRepositoryPolicy(ctx, repo)
	if err != nil {
		return "", fmt.Errorf("policy of %q: %w", repo, err)
	}
	return text, nil
}

// DeleteRepositoryPolicy removes a repository's resource policy; the error
// wraps policy.ErrPolicyNotFound if none is set.
func (r *Registry) DeleteRepositoryPolicy(ctx context.Context, repo string) error {
	m, err := r.repoPolicies(ctx, policy.ActionDeleteRepositoryPolicy, repo)
	if err != nil {
		return err
	}
	if err := m.DeleteRepositoryPolicy(ctx, repo); err != nil {
		return fmt.Errorf("delete policy of %q: %w", repo, err)
	}
	return nil
}

func (r *Registry) repoPolicies(ctx context.Context, action, repo string) (policy.RepositoryPolicyManager, error) {
	if err := r.begin(ctx, action, repo, ""); err != nil {
		return nil, err
	}
	m, ok := r.opts.authorizer.(policy.RepositoryPolicyManager)
	if !ok {
		return nil, fmt.Errorf("the authorizer keeps no repository policies: %w", ErrUnsupported)
	}
	if _, err := r.getRepo(ctx, repo); err != nil {
		return nil, err
	}
	return m, nil
}

// PutRegistryPolicy sets the registry policy (ECR's PutRegistryPolicy).
func (r *Registry) PutRegistryPolicy(ctx context.Context, text string) error {
	m, err := r.registryPolicies(ctx, policy.ActionPutRegistryPolicy)
	if err != nil {
		return err
	}
	if err := m.PutRegistryPolicy(ctx, text); err != nil {
		return fmt.Errorf("put registry policy: %w", err)
	}
	return nil
}

// GetRegistryPolicy returns the registry policy, or an error wrapping
// policy.ErrPolicyNotFound.
func (r *Registry) GetRegistryPolicy(ctx context.Context) (string, error) {
	m, err := r.registryPolicies(ctx, policy.ActionGetRegistryPolicy)
	if err != nil {
		return "", err
	}
	text, err := m.GetRegistryPolicy(ctx)
	if err != nil {
		return "", fmt.Errorf("registry policy: %w", err)
	}
	return text, nil
}

// DeleteRegistryPolicy removes the registry policy.
func (r *Registry) DeleteRegistryPolicy(ctx context.Context) error {
	m, err := r.registryPolicies(ctx, policy.ActionDeleteRegistryPolicy)
	if err != nil {
		return err
	}
	if err := m.DeleteRegistryPolicy(ctx); err != nil {
		return fmt.Errorf("delete registry policy: %w", err)
	}
	return nil
}

func (r *Registry) registryPolicies(ctx context.Context, action string) (policy.RegistryPolicyManager, error) {
	if err := r.beginRegistry(ctx, action); err != nil {
		return nil, err
	}
	m, ok := r.opts.authorizer.(policy.RegistryPolicyManager)
	if !ok {
		return nil, fmt.Errorf("the authorizer keeps no registry policy: %w", ErrUnsupported)
	}
	return m, nil
}

// dropRepositoryPolicy removes the policy of a deleted repository, so that
// a new repository with the same name does not inherit it.
func (r *Registry) dropRepositoryPolicy(ctx context.Context, repo string) {
	m, ok := r.opts.authorizer.(policy.RepositoryPolicyManager)
	if !ok {
		return
	}
	// The repository is gone: finish even if the caller gives up now.
	ctx = context.WithoutCancel(ctx)
	if err := m.DeleteRepositoryPolicy(ctx, repo); err != nil && !errors.Is(err, policy.ErrPolicyNotFound) {
		r.log.WarnContext(ctx, "delete policy of deleted repository", "repo", repo, "err", err)
	}
}

// visible reports whether the caller may see that repo exists: it may
// describe or pull it. Listings use it so that they reveal no repository
// the caller cannot see.
func (r *Registry) visible(ctx context.Context, repo string) (bool, error) {
	for _, action := range []string{policy.ActionDescribeRepositories, policy.ActionBatchGetImage} {
		err := r.authorize(ctx, action, repo, "")
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, ErrDenied), errors.Is(err, ErrUnauthorized):
		default:
			return false, err
		}
	}
	return false, nil
}
