package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/storage"
)

// PolicyRecordPrefix starts the keys of the records in which the registry
// keeps its Authorizer's policies (see usePolicyRecords): a policy stored
// by the Authorizer under key k is the record PolicyRecordPrefix+k, for
// example "policy/v1/repository/team/app" and "policy/v1/registry" with
// policy/rego.
const PolicyRecordPrefix = "policy/"

// usePolicyRecords makes the Authorizer keep its policies in the storage's
// records, when the storage keeps records (storage.RecordStore) and the
// Authorizer keeps policies in a Store (policy.StoreUser). The Authorizer
// loads the stored policies now, and writes every change to storage
// before the change takes effect, so that policies set through
// SetRepositoryPolicy, PutRegistryPolicy and the like survive a restart.
func (r *Registry) usePolicyRecords(ctx context.Context) error {
	u, ok := r.opts.authorizer.(policy.StoreUser)
	if !ok {
		return nil
	}
	rs, ok := r.store.(storage.RecordStore)
	if !ok {
		return nil
	}
	if err := u.UseStore(ctx, policyRecords{rs}); err != nil {
		return fmt.Errorf("registry: load policies from storage: %w", err)
	}
	return nil
}

// policyRecords is a policy.Store over a storage.RecordStore, under
// PolicyRecordPrefix.
type policyRecords struct{ rs storage.RecordStore }

var _ policy.Store = policyRecords{}

func (p policyRecords) Get(ctx context.Context, key string) (string, error) {
	v, err := p.rs.GetRecord(ctx, PolicyRecordPrefix+key)
	if errors.Is(err, storage.ErrNotFound) {
		return "", fmt.Errorf("record %s%s: %w", PolicyRecordPrefix, key, policy.ErrPolicyNotFound)
	}
	if err != nil {
		return "", err
	}
	return string(v), nil
}

func (p policyRecords) Put(ctx context.Context, key, text string) error {
	return p.rs.PutRecord(ctx, PolicyRecordPrefix+key, []byte(text))
}

func (p policyRecords) Delete(ctx context.Context, key string) error {
	err := p.rs.DeleteRecord(ctx, PolicyRecordPrefix+key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return err
}

func (p policyRecords) List(ctx context.Context, prefix string, fn func(key, text string) error) error {
	return p.rs.WalkRecords(ctx, PolicyRecordPrefix+prefix, func(key string, value []byte) error {
		if err := fn(strings.TrimPrefix(key, PolicyRecordPrefix), string(value)); err != nil {
			return fmt.Errorf("record %s: %w", key, err)
		}
		return nil
	})
}
