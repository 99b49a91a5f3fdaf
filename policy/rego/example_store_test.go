package rego_test

import (
	"context"
	"fmt"

	"github.com/berth-dev/berth/policy/rego"
)

// UseStore is how a registry keeps an Authorizer's policies in its storage
// (registry.New calls it with a Store over the storage's records): the
// stored policies are loaded, and every change is written before it takes
// effect. Here a MemoryStore stands in for the storage, and a second
// Authorizer, as after a restart, finds the policy set on the first.
func ExampleAuthorizer_UseStore() {
	ctx := context.Background()
	storage := rego.NewMemoryStore()
	const pull = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
	  "Principal": {"AWS": "arn:aws:iam::000000000000:group/ci"}, "Action": "ecr:BatchGetImage"}]}`

	first, err := rego.New(ctx, rego.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := first.UseStore(ctx, storage); err != nil {
		fmt.Println(err)
		return
	}
	if err := first.SetRepositoryPolicy(ctx, "team/app", pull, false); err != nil {
		fmt.Println(err)
		return
	}

	// After a restart.
	second, err := rego.New(ctx, rego.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := second.UseStore(ctx, storage); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(second.RepositoryPolicies(ctx))
	_ = storage.List(ctx, "", func(key, _ string) error {
		fmt.Println(key)
		return nil
	})
	// Output:
	// [team/app]
	// v1/repository/team/app
}
