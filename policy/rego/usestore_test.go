package rego_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/policy/rego"
)

func storeKeys(t *testing.T, s rego.Store) []string {
	t.Helper()
	var keys []string
	if err := s.List(context.Background(), "", func(k, _ string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestUseStore: stored policies are loaded, the Authorizer's own go on top
// and are written back, and later changes go to the new Store.
func TestUseStore(t *testing.T) {
	ctx := context.Background()
	store := rego.NewMemoryStore()
	store.Put(ctx, "v1/repository/app", pullOnlyPolicy)
	store.Put(ctx, "v1/repository/old", pullOnlyPolicy)
	store.Put(ctx, "v1/module/m.rego", "package berth.custom\n\ndeny contains \"m\" if input.action == \"ecr:BatchDeleteImage\"\n")

	a := newAuthorizer(t, rego.Options{
		RepositoryPolicies: map[string]string{"app": adminPolicy},
		Modules:            map[string]string{"n.rego": "package berth.custom\n\ndeny contains \"n\" if input.action == \"ecr:PutImage\"\n"},
	})
	if err := a.UseStore(ctx, store); err != nil {
		t.Fatalf("UseStore() error = %v", err)
	}
	if got := a.RepositoryPolicies(ctx); !slices.Equal(got, []string{"app", "old"}) {
		t.Errorf("RepositoryPolicies() = %v, want [app old]", got)
	}
	if got, _ := a.GetRepositoryPolicy(ctx, "app"); got != adminPolicy {
		t.Error("the Authorizer's policy did not replace the stored one")
	}
	if got := slices.Sorted(maps.Keys(a.Modules(ctx))); !slices.Equal(got, []string{"n.rego"}) {
		t.Errorf("Modules() = %v: Options.Modules replaces the stored set", got)
	}
	if got := strings.Join(storeKeys(t, store), " "); got != "v1/module/n.rego v1/repository/app v1/repository/old" {
		t.Errorf("store keys = %s", got)
	}
	if text, _ := store.Get(ctx, "v1/repository/app"); text != adminPolicy {
		t.Error("the Authorizer's policy was not written to the store")
	}

	// Changes go to the new store; the same store again is a no-op;
	// another is refused.
	if err := a.DeleteRepositoryPolicy(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, "v1/repository/old"); !errors.Is(err, rego.ErrPolicyNotFound) {
		t.Errorf("deleted policy still stored: %v", err)
	}
	if err := a.UseStore(ctx, store); err != nil {
		t.Errorf("UseStore(same) error = %v", err)
	}
	if err := a.UseStore(ctx, rego.NewMemoryStore()); err == nil {
		t.Error("UseStore(other) did not fail")
	}
}

// TestUseStoreInvalid: a stored policy that does not compile fails UseStore
// and changes nothing.
func TestUseStoreInvalid(t *testing.T) {
	ctx := context.Background()
	bad := rego.NewMemoryStore()
	bad.Put(ctx, "v1/repository/app", `{"Statement": {"Effect": "Maybe"}}`)
	a := newAuthorizer(t, rego.Options{RepositoryPolicies: map[string]string{"mine": pullOnlyPolicy}})
	err := a.UseStore(ctx, bad)
	if !errors.Is(err, rego.ErrInvalidPolicy) || !strings.Contains(err.Error(), "v1/repository/app") {
		t.Fatalf("UseStore() error = %v, want ErrInvalidPolicy naming the key", err)
	}
	if got := a.RepositoryPolicies(ctx); !slices.Equal(got, []string{"mine"}) {
		t.Errorf("RepositoryPolicies() = %v after a failed UseStore", got)
	}
	if err := a.SetRepositoryPolicy(ctx, "other", pullOnlyPolicy, true); err != nil {
		t.Fatal(err)
	}
	if got := storeKeys(t, bad); !slices.Equal(got, []string{"v1/repository/app"}) {
		t.Errorf("the rejected store was written: %v", got)
	}

	// An Authorizer with a Store of its own keeps it.
	own := rego.NewMemoryStore()
	b := newAuthorizer(t, rego.Options{Store: own})
	if err := b.UseStore(ctx, bad); err != nil {
		t.Errorf("UseStore() with Options.Store: error = %v, want nil", err)
	}
	if err := b.SetRepositoryPolicy(ctx, "app", pullOnlyPolicy, true); err != nil {
		t.Fatal(err)
	}
	if _, err := own.Get(ctx, "v1/repository/app"); err != nil {
		t.Errorf("change not written to Options.Store: %v", err)
	}
}
