package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/rego"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/badgerstore"
	"github.com/berth-dev/berth/storage/memory"
)

const (
	adminIdentity = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}`
	ciPullPolicy  = `{"Version":"2012-10-17","Statement":[{"Sid":"ci-pull","Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::000000000000:user/ci"},
		"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:ListImages"]}]}`
	devListPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"dev-list","Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::000000000000:user/dev"},"Action":"ecr:ListImages",
		"Resource":"arn:aws:ecr:local:000000000000:repository/team-a/*"}]}`
)

// newPolicyAuthorizer is a new rego Authorizer, as a process would create
// at every start: admin may do anything, everything else comes from the
// repository and registry policies.
func newPolicyAuthorizer(t *testing.T) *rego.Authorizer {
	t.Helper()
	authz, err := rego.New(context.Background(), rego.Options{
		IdentityPolicies: map[string][]string{"arn:aws:iam::000000000000:user/admin": {adminIdentity}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return authz
}

func openBadger(t *testing.T, dir string) *badgerstore.Store {
	t.Helper()
	s, err := badgerstore.New(badgerstore.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatalf("badgerstore.New() error = %v", err)
	}
	return s
}

// TestPoliciesSurviveRestart sets a repository and a registry policy
// through the registry, restarts (a new Authorizer and registry on the
// same badger directory) and checks they are in force; then deletes the
// repository, restarts again, and checks its policy is gone with it.
func TestPoliciesSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	admin := policy.WithPrincipal(ctx, &policy.Principal{ID: "admin", Name: "admin"})
	ci := policy.WithPrincipal(ctx, &policy.Principal{ID: "ci", Name: "ci"})
	dev := policy.WithPrincipal(ctx, &policy.Principal{ID: "dev", Name: "dev"})

	start := func() (*registry.Registry, func()) {
		store := openBadger(t, dir)
		reg, err := registry.New(store, registry.WithAuthorizer(newPolicyAuthorizer(t)))
		if err != nil {
			store.Close()
			t.Fatalf("registry.New() error = %v", err)
		}
		return reg, func() {
			reg.Close()
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}

	reg, stop := start()
	if _, err := reg.CreateRepository(admin, registry.CreateRepositoryInput{Name: "team-a/app"}); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetRepositoryPolicy(admin, "team-a/app", ciPullPolicy, false); err != nil {
		t.Fatalf("SetRepositoryPolicy() error = %v", err)
	}
	if err := reg.PutRegistryPolicy(admin, devListPolicy); err != nil {
		t.Fatalf("PutRegistryPolicy() error = %v", err)
	}
	stop()

	reg, stop = start()
	if got, err := reg.GetRepositoryPolicy(admin, "team-a/app"); err != nil || got != ciPullPolicy {
		t.Errorf("after restart: GetRepositoryPolicy() = %q, %v; want the policy set", got, err)
	}
	if got, err := reg.GetRegistryPolicy(admin); err != nil || got != devListPolicy {
		t.Errorf("after restart: GetRegistryPolicy() = %q, %v; want the policy set", got, err)
	}
	if _, _, err := reg.ListTags(ci, "team-a/app", "", 0); err != nil {
		t.Errorf("after restart: ci ListTags() error = %v, want allowed by the repository policy", err)
	}
	if _, _, err := reg.ListTags(dev, "team-a/app", "", 0); err != nil {
		t.Errorf("after restart: dev ListTags() error = %v, want allowed by the registry policy", err)
	}
	records := policyRecordKeys(t, reg.Storage())
	if want := "policy/v1/identity/arn:aws:iam::000000000000:user%2Fadmin/policy-0 policy/v1/registry policy/v1/repository/team-a/app"; strings.Join(records, " ") != want {
		t.Errorf("policy records = %q, want %q", records, want)
	}

	// ECR deletes a repository's policy with the repository.
	if _, err := reg.DeleteRepository(admin, "team-a/app", true); err != nil {
		t.Fatal(err)
	}
	stop()

	reg, stop = start()
	defer stop()
	if _, err := reg.CreateRepository(admin, registry.CreateRepositoryInput{Name: "team-a/app"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.GetRepositoryPolicy(admin, "team-a/app"); !errors.Is(err, policy.ErrPolicyNotFound) {
		t.Errorf("recreated repository: GetRepositoryPolicy() error = %v, want ErrPolicyNotFound", err)
	}
	if _, _, err := reg.ListTags(ci, "team-a/app", "", 0); !errors.Is(err, registry.ErrDenied) {
		t.Errorf("recreated repository: ci ListTags() error = %v, want ErrDenied", err)
	}
	if _, err := reg.GetRegistryPolicy(admin); err != nil {
		t.Errorf("registry policy lost with the repository: %v", err)
	}
}

func policyRecordKeys(t *testing.T, s storage.Storage) []string {
	t.Helper()
	var keys []string
	err := s.(storage.RecordStore).WalkRecords(context.Background(), registry.PolicyRecordPrefix, func(key string, _ []byte) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// failingRecords is memory storage whose record writes fail on demand.
type failingRecords struct {
	*memory.Store
	fail bool
}

var errDiskFull = errors.New("disk full")

func (f *failingRecords) PutRecord(ctx context.Context, key string, value []byte) error {
	if f.fail {
		return errDiskFull
	}
	return f.Store.PutRecord(ctx, key, value)
}

func (f *failingRecords) DeleteRecord(ctx context.Context, key string) error {
	if f.fail {
		return errDiskFull
	}
	return f.Store.DeleteRecord(ctx, key)
}

// TestPolicyWriteFailure: a change that cannot be written does not take
// effect.
func TestPolicyWriteFailure(t *testing.T) {
	ctx := context.Background()
	store := &failingRecords{Store: memory.New()}
	t.Cleanup(func() { store.Close() })
	reg, err := registry.New(store, registry.WithAuthorizer(newPolicyAuthorizer(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	admin := policy.WithPrincipal(ctx, &policy.Principal{ID: "admin", Name: "admin"})
	ci := policy.WithPrincipal(ctx, &policy.Principal{ID: "ci", Name: "ci"})
	if _, err := reg.CreateRepository(admin, registry.CreateRepositoryInput{Name: "team-a/app"}); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetRepositoryPolicy(admin, "team-a/app", ciPullPolicy, false); err != nil {
		t.Fatal(err)
	}

	store.fail = true
	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:user/ci"},"Action":"ecr:*"}]}`
	if err := reg.SetRepositoryPolicy(admin, "team-a/app", deny, false); !errors.Is(err, errDiskFull) {
		t.Errorf("SetRepositoryPolicy() with failing storage: error = %v, want the storage error", err)
	}
	if err := reg.DeleteRepositoryPolicy(admin, "team-a/app"); !errors.Is(err, errDiskFull) {
		t.Errorf("DeleteRepositoryPolicy() with failing storage: error = %v, want the storage error", err)
	}
	if err := reg.PutRegistryPolicy(admin, devListPolicy); !errors.Is(err, errDiskFull) {
		t.Errorf("PutRegistryPolicy() with failing storage: error = %v, want the storage error", err)
	}
	if got, _ := reg.GetRepositoryPolicy(admin, "team-a/app"); got != ciPullPolicy {
		t.Errorf("GetRepositoryPolicy() = %q, want the old policy", got)
	}
	if _, _, err := reg.ListTags(ci, "team-a/app", "", 0); err != nil {
		t.Errorf("ci ListTags() error = %v, want the old policy in force", err)
	}
	if _, err := reg.GetRegistryPolicy(admin); !errors.Is(err, policy.ErrPolicyNotFound) {
		t.Errorf("GetRegistryPolicy() error = %v, want ErrPolicyNotFound", err)
	}
}

// TestStoredInvalidPolicy: a stored policy that no longer compiles fails
// registry.New, naming its record, rather than being dropped (a dropped
// Deny would open the repository).
func TestStoredInvalidPolicy(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	key := registry.PolicyRecordPrefix + "v1/repository/team-a/app"
	if err := store.PutRecord(ctx, key, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]}`)); err != nil {
		t.Fatal(err)
	}
	_, err := registry.New(store, registry.WithAuthorizer(newPolicyAuthorizer(t)))
	if !errors.Is(err, policy.ErrInvalidPolicy) || !strings.Contains(err.Error(), key) {
		t.Fatalf("registry.New() error = %v, want ErrInvalidPolicy naming %s", err, key)
	}
	// Removing (or replacing) the record lets the registry start.
	if err := store.DeleteRecord(ctx, key); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(store, registry.WithAuthorizer(newPolicyAuthorizer(t)))
	if err != nil {
		t.Fatalf("registry.New() after removing the record: %v", err)
	}
	reg.Close()
}

// TestPolicyStoreKeptByAuthorizer: an Authorizer with a Store of its own
// keeps it; one bound to a registry's storage refuses another.
func TestPolicyStoreKeptByAuthorizer(t *testing.T) {
	ctx := context.Background()
	own := rego.NewMemoryStore()
	authz, err := rego.New(ctx, rego.Options{Store: own, RepositoryPolicies: map[string]string{"team-a/app": ciPullPolicy}})
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	if _, err := registry.New(store, registry.WithAuthorizer(authz)); err != nil {
		t.Fatal(err)
	}
	if keys := policyRecordKeys(t, store); len(keys) != 0 {
		t.Errorf("policy records = %q, want none: the Authorizer keeps its own Store", keys)
	}

	shared := newPolicyAuthorizer(t)
	if _, err := registry.New(store, registry.WithAuthorizer(shared)); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.New(store, registry.WithAuthorizer(shared)); err != nil {
		t.Errorf("registry.New() again on the same storage: %v", err)
	}
	other := memory.New()
	t.Cleanup(func() { other.Close() })
	if _, err := registry.New(other, registry.WithAuthorizer(shared)); err == nil {
		t.Error("registry.New() on other storage with a bound Authorizer: no error")
	}
}
