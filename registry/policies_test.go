package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/rego"
	"github.com/berth-dev/berth/registry"
)

func TestListingsHideInvisibleRepositories(t *testing.T) {
	// team-a may do anything in team-a/*, nothing elsewhere.
	authz := policy.AuthorizerFunc(func(_ context.Context, in policy.Input) (policy.Decision, error) {
		if in.Principal == nil {
			return policy.Decision{}, nil
		}
		if in.Principal.ID == "admin" || strings.HasPrefix(in.Repository, in.Principal.ID+"/") {
			return policy.Decision{Allow: true}, nil
		}
		return policy.Decision{}, nil
	})
	reg := newRegistry(t, registry.WithAuthorizer(authz))
	admin := policy.WithPrincipal(context.Background(), &policy.Principal{ID: "admin"})
	for _, n := range []string{"team-a/one", "team-a/two", "team-b/one"} {
		if _, err := reg.CreateRepository(admin, registry.CreateRepositoryInput{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	teamA := policy.WithPrincipal(context.Background(), &policy.Principal{ID: "team-a"})
	names, more, err := reg.ListRepositories(teamA, "", 1)
	if err != nil || strings.Join(names, ",") != "team-a/one" || !more {
		t.Errorf("ListRepositories(team-a, n=1) = %v, %v, %v", names, more, err)
	}
	names, more, err = reg.ListRepositories(teamA, "team-a/one", 10)
	if err != nil || strings.Join(names, ",") != "team-a/two" || more {
		t.Errorf("ListRepositories(team-a, after one) = %v, %v, %v; want [team-a/two] and no more", names, more, err)
	}
	out, err := reg.DescribeRepositories(teamA, registry.DescribeRepositoriesInput{})
	if err != nil || len(out.Repositories) != 2 {
		t.Errorf("DescribeRepositories(team-a) = %+v, %v", out, err)
	}
	if names, _, _ := reg.ListRepositories(context.Background(), "", 10); len(names) != 0 {
		t.Errorf("anonymous catalog = %v, want empty", names)
	}
	// Denied and unknown look the same.
	_, errDenied := reg.DescribeRepository(teamA, "team-b/one")
	_, errUnknown := reg.DescribeRepository(teamA, "team-b/none")
	if !errors.Is(errDenied, registry.ErrDenied) || !errors.Is(errUnknown, registry.ErrDenied) {
		t.Errorf("DescribeRepository(other team) = %v and %v, want ErrDenied for both", errDenied, errUnknown)
	}
}

func TestRepositoryPolicies(t *testing.T) {
	ctx := context.Background()
	authz, err := rego.New(ctx, rego.Options{
		IdentityPolicies: map[string][]string{
			"arn:aws:iam::000000000000:user/admin": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}`},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t, registry.WithAuthorizer(authz))
	admin := policy.WithPrincipal(ctx, &policy.Principal{ID: "admin", Name: "admin"})
	ci := policy.WithPrincipal(ctx, &policy.Principal{ID: "ci", Name: "ci"})
	if _, err := reg.CreateRepository(admin, registry.CreateRepositoryInput{Name: "team-a/app"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.ListTags(ci, "team-a/app", "", 0); !errors.Is(err, registry.ErrDenied) {
		t.Fatalf("ci before policy: %v, want ErrDenied", err)
	}
	if _, err := reg.GetRepositoryPolicy(admin, "team-a/app"); !errors.Is(err, policy.ErrPolicyNotFound) {
		t.Errorf("GetRepositoryPolicy(none) error = %v, want ErrPolicyNotFound", err)
	}
	pull := `{"Version":"2012-10-17","Statement":[{"Sid":"ci-pull","Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::000000000000:user/ci"},
		"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:ListImages"]}]}`
	if err := reg.SetRepositoryPolicy(admin, "team-a/app", pull, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.ListTags(ci, "team-a/app", "", 0); err != nil {
		t.Errorf("ci after policy: %v", err)
	}
	if err := reg.SetRepositoryPolicy(admin, "team-a/app", `{"Statement":[{"Effect":"Maybe"}]}`, false); !errors.Is(err, policy.ErrInvalidPolicy) {
		t.Errorf("invalid policy error = %v, want ErrInvalidPolicy", err)
	}
	if _, _, err := reg.ListTags(ci, "team-a/app", "", 0); err != nil {
		t.Errorf("the old policy must stay in force: %v", err)
	}
	if err := reg.SetRepositoryPolicy(admin, "team-a/none", pull, false); !errors.Is(err, registry.ErrNameUnknown) {
		t.Errorf("SetRepositoryPolicy(unknown repo) error = %v, want ErrNameUnknown", err)
	}
	// Deleting the repository drops its policy: a new one with the same
	// name starts closed.
	if _, err := reg.DeleteRepository(admin, "team-a/app", true); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CreateRepository(admin, registry.CreateRepositoryInput{Name: "team-a/app"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.ListTags(ci, "team-a/app", "", 0); !errors.Is(err, registry.ErrDenied) {
		t.Errorf("ci on recreated repository: %v, want ErrDenied", err)
	}

	plain := newRegistry(t)
	if _, err := plain.CreateRepository(ctx, registry.CreateRepositoryInput{Name: "x/y"}); err != nil {
		t.Fatal(err)
	}
	if err := plain.SetRepositoryPolicy(ctx, "x/y", pull, false); !errors.Is(err, registry.ErrUnsupported) {
		t.Errorf("SetRepositoryPolicy without a policy authorizer: %v, want ErrUnsupported", err)
	}
}
