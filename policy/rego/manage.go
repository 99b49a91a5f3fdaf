package rego

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/berth-dev/berth/policy"
)

// Policy management. Every change is validated and compiled before it takes
// effect, written to the Store, and then made visible to Authorize by
// swapping in a new snapshot atomically: an evaluation sees either all of
// the old policies or all of the new. A rejected change leaves the
// policies in force untouched.
//
// The registry is expected to authorize the calling principal for the
// corresponding ECR action (ecr:SetRepositoryPolicy, ...) before calling
// these methods, and to check that the repository exists; the Authorizer
// does neither.

// SetRepositoryPolicy sets the policy of repository repo, replacing any
// previous one.
//
// Unless force is set, it refuses with an error matching ErrLockout a policy
// under which the principal in ctx (policy.PrincipalFrom) could no longer
// call ecr:SetRepositoryPolicy on repo, as ECR does. The check evaluates
// the new policy with every other policy and module in force, at the
// current time and without a source IP (so aws:SourceIp conditions see the
// key as absent). It is skipped when ctx carries no principal, that is for
// calls the embedding application makes on its own behalf.
//
// It returns an error matching ErrInvalidPolicy if text is not a valid
// repository policy (at most MaxPolicyLength characters, with a Principal
// in every statement).
func (a *Authorizer) SetRepositoryPolicy(ctx context.Context, repo, text string, force bool) error {
	var check func(*snapshot) error
	if caller := policy.PrincipalFrom(ctx); caller != nil && !force {
		check = func(next *snapshot) error { return a.lockoutCheck(ctx, next, caller, repo) }
	}
	err := a.change(ctx,
		func(st *state) error { return st.setRepository(repo, text) },
		check,
		func() error { return a.store.Put(ctx, repositoryKey(repo), text) },
	)
	if err != nil {
		return err
	}
	a.logger.LogAttrs(ctx, slog.LevelInfo, "repository policy set", slog.String("repo", repo), slog.Bool("force", force))
	return nil
}

func (a *Authorizer) lockoutCheck(ctx context.Context, next *snapshot, caller *policy.Principal, repo string) error {
	d, err := a.authorize(ctx, next, policy.Input{
		Version:    policy.InputVersion,
		Principal:  caller,
		Action:     ActionSetRepositoryPolicy,
		Repository: repo,
		Time:       time.Now(),
	})
	if err != nil {
		return err
	}
	if !d.Allow {
		return fmt.Errorf("repository policy %q: %s could no longer call %s (%s); set force to apply it anyway: %w",
			repo, a.PrincipalARN(caller), ActionSetRepositoryPolicy, strings.Join(d.Reasons, "; "), ErrLockout)
	}
	return nil
}

// GetRepositoryPolicy returns the policy text of repository repo, as it was
// set, or an error matching ErrPolicyNotFound.
func (a *Authorizer) GetRepositoryPolicy(_ context.Context, repo string) (string, error) {
	d, ok := a.snap.Load().st.repositories[repo]
	if !ok {
		return "", fmt.Errorf("%s: %w", repositoryLabel(repo), ErrPolicyNotFound)
	}
	return d.text, nil
}

// DeleteRepositoryPolicy deletes the policy of repository repo. It returns
// an error matching ErrPolicyNotFound if there is none. The registry should
// also call it when it deletes a repository.
func (a *Authorizer) DeleteRepositoryPolicy(ctx context.Context, repo string) error {
	err := a.change(ctx,
		func(st *state) error {
			if _, ok := st.repositories[repo]; !ok {
				return fmt.Errorf("%s: %w", repositoryLabel(repo), ErrPolicyNotFound)
			}
			delete(st.repositories, repo)
			return nil
		},
		nil,
		func() error { return a.store.Delete(ctx, repositoryKey(repo)) },
	)
	if err != nil {
		return err
	}
	a.logger.LogAttrs(ctx, slog.LevelInfo, "repository policy deleted", slog.String("repo", repo))
	return nil
}

// PutRegistryPolicy sets the registry policy, replacing any previous one.
// It returns an error matching ErrInvalidPolicy if text is not a valid
// registry policy (at most MaxPolicyLength characters, with a Principal
// and a Resource in every statement).
func (a *Authorizer) PutRegistryPolicy(ctx context.Context, text string) error {
	err := a.change(ctx,
		func(st *state) error { return st.setRegistry(text) },
		nil,
		func() error { return a.store.Put(ctx, keyRegistry, text) },
	)
	if err != nil {
		return err
	}
	a.logger.LogAttrs(ctx, slog.LevelInfo, "registry policy set")
	return nil
}

// GetRegistryPolicy returns the registry policy text, as it was set, or an
// error matching ErrPolicyNotFound.
func (a *Authorizer) GetRegistryPolicy(context.Context) (string, error) {
	d := a.snap.Load().st.registry
	if d == nil {
		return "", fmt.Errorf("%s: %w", registryLabel, ErrPolicyNotFound)
	}
	return d.text, nil
}

// DeleteRegistryPolicy deletes the registry policy. It returns an error
// matching ErrPolicyNotFound if there is none.
func (a *Authorizer) DeleteRegistryPolicy(ctx context.Context) error {
	err := a.change(ctx,
		func(st *state) error {
			if st.registry == nil {
				return fmt.Errorf("%s: %w", registryLabel, ErrPolicyNotFound)
			}
			st.registry = nil
			return nil
		},
		nil,
		func() error { return a.store.Delete(ctx, keyRegistry) },
	)
	if err != nil {
		return err
	}
	a.logger.LogAttrs(ctx, slog.LevelInfo, "registry policy deleted")
	return nil
}

// SetIdentityPolicy attaches identity policy name to arn, replacing any
// policy of that name there. arn is a user ARN
// (arn:aws:iam::<RegistryID>:user/<name>, see PrincipalARN), a group or
// role ARN (see GroupARN), or "*" for every authenticated principal. It
// returns an error matching ErrInvalidPolicy if text is not a valid
// identity policy (no Principal, a Resource in every statement) or arn or
// name is malformed.
func (a *Authorizer) SetIdentityPolicy(ctx context.Context, arn, name, text string) error {
	err := a.change(ctx,
		func(st *state) error { return st.setIdentity(arn, name, text) },
		nil,
		func() error { return a.store.Put(ctx, identityKey(arn, name), text) },
	)
	if err != nil {
		return err
	}
	a.logger.LogAttrs(ctx, slog.LevelInfo, "identity policy set", slog.String("arn", arn), slog.String("name", name))
	return nil
}

// GetIdentityPolicy returns the text of identity policy name attached to
// arn, or an error matching ErrPolicyNotFound.
func (a *Authorizer) GetIdentityPolicy(_ context.Context, arn, name string) (string, error) {
	d, ok := a.snap.Load().st.identities[arn][name]
	if !ok {
		return "", fmt.Errorf("%s: %w", identityLabel(arn, name), ErrPolicyNotFound)
	}
	return d.text, nil
}

// IdentityPolicies returns the names of the identity policies attached to
// arn, sorted.
func (a *Authorizer) IdentityPolicies(_ context.Context, arn string) []string {
	return sortedKeys(a.snap.Load().st.identities[arn])
}

// DeleteIdentityPolicy detaches identity policy name from arn. It returns an
// error matching ErrPolicyNotFound if there is no such policy.
func (a *Authorizer) DeleteIdentityPolicy(ctx context.Context, arn, name string) error {
	err := a.change(ctx,
		func(st *state) error {
			if _, ok := st.identities[arn][name]; !ok {
				return fmt.Errorf("%s: %w", identityLabel(arn, name), ErrPolicyNotFound)
			}
			docs := maps.Clone(st.identities[arn])
			delete(docs, name)
			if len(docs) == 0 {
				delete(st.identities, arn)
			} else {
				st.identities[arn] = docs
			}
			return nil
		},
		nil,
		func() error { return a.store.Delete(ctx, identityKey(arn, name)) },
	)
	if err != nil {
		return err
	}
	a.logger.LogAttrs(ctx, slog.LevelInfo, "identity policy deleted", slog.String("arn", arn), slog.String("name", name))
	return nil
}

// SetModules replaces the custom Rego modules (file name → source). The
// modules are compiled with the embedded policies and the decision query is
// prepared again before the new set replaces the old one atomically. It
// returns an error matching ErrInvalidPolicy, with the module and the
// line and column, if a module does not parse or compile, or declares a
// reserved package (berth.* other than berth.custom...). A nil or empty map
// removes every custom module.
func (a *Authorizer) SetModules(ctx context.Context, modules map[string]string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.snap.Load()
	q, err := a.prepare(ctx, modules)
	if err != nil {
		return err
	}
	for _, name := range sortedKeys(modules) {
		if err := a.store.Put(ctx, moduleKey(name), modules[name]); err != nil {
			return fmt.Errorf("rego: store: %w", err)
		}
	}
	for name := range cur.st.modules {
		if _, ok := modules[name]; !ok {
			if err := a.store.Delete(ctx, moduleKey(name)); err != nil {
				return fmt.Errorf("rego: store: %w", err)
			}
		}
	}
	a.modulesSet = true
	st := cur.st.clone()
	st.modules = maps.Clone(modules)
	if st.modules == nil {
		st.modules = map[string]string{}
	}
	a.snap.Store(a.newSnapshot(st, q))
	a.logger.LogAttrs(ctx, slog.LevelInfo, "custom modules set", slog.Any("modules", sortedKeys(modules)))
	return nil
}

// change applies one change to the documents: mutate edits a copy of the
// state in force, check (if not nil) vets the resulting snapshot, and
// persist writes the Store. The new snapshot replaces the old one only if
// all three succeed.
func (a *Authorizer) change(ctx context.Context, mutate func(*state) error, check func(*snapshot) error, persist func() error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.snap.Load()
	st := cur.st.clone()
	if err := mutate(st); err != nil {
		return err
	}
	next := a.newSnapshot(st, cur.q)
	if check != nil {
		if err := check(next); err != nil {
			return err
		}
	}
	if err := persist(); err != nil {
		return fmt.Errorf("rego: store: %w", err)
	}
	a.snap.Store(next)
	return nil
}
