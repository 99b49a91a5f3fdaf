package rego_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/rego"
)

func newAuthorizer(t testing.TB, opts rego.Options) *rego.Authorizer {
	t.Helper()
	a, err := rego.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func allowed(t testing.TB, a *rego.Authorizer, in policy.Input) bool {
	t.Helper()
	d, err := a.Authorize(context.Background(), in)
	if err != nil {
		t.Fatalf("Authorize(%+v): %v", in, err)
	}
	return d.Allow
}

// adminPolicy lets admin do anything on the repository and others pull.
const adminPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/admin"}, "Action": "ecr:*"},
    {"Sid": "Pull", "Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}
  ]
}`

// pullOnlyPolicy no longer names admin.
const pullOnlyPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Pull", "Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}
  ]
}`

func TestSetRepositoryPolicyLockout(t *testing.T) {
	admin := user("admin")
	ctx := policy.WithPrincipal(context.Background(), admin)

	t.Run("refused without force", func(t *testing.T) {
		a := newAuthorizer(t, rego.Options{RepositoryPolicies: map[string]string{"app": adminPolicy}})
		err := a.SetRepositoryPolicy(ctx, "app", pullOnlyPolicy, false)
		if !errors.Is(err, rego.ErrLockout) {
			t.Fatalf("SetRepositoryPolicy() error = %v, want ErrLockout", err)
		}
		if got, _ := a.GetRepositoryPolicy(ctx, "app"); got != adminPolicy {
			t.Errorf("policy changed after a refused SetRepositoryPolicy: %s", got)
		}
		if !allowed(t, a, req(admin, rego.ActionSetRepositoryPolicy, "app")) {
			t.Errorf("admin lost ecr:SetRepositoryPolicy after a refused change")
		}
	})

	t.Run("accepted with force", func(t *testing.T) {
		a := newAuthorizer(t, rego.Options{RepositoryPolicies: map[string]string{"app": adminPolicy}})
		if err := a.SetRepositoryPolicy(ctx, "app", pullOnlyPolicy, true); err != nil {
			t.Fatalf("SetRepositoryPolicy(force) = %v", err)
		}
		if allowed(t, a, req(admin, rego.ActionSetRepositoryPolicy, "app")) {
			t.Errorf("admin can still set the policy after locking itself out")
		}
		if !allowed(t, a, req(admin, policy.ActionBatchGetImage, "app")) {
			t.Errorf("the new policy is not in force")
		}
	})

	t.Run("explicit deny of the caller is a lockout", func(t *testing.T) {
		a := newAuthorizer(t, rego.Options{IdentityPolicies: map[string][]string{
			"arn:aws:iam::000000000000:user/admin": {allowAllIdentity},
		}})
		deny := `{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "ecr:Set*"}]}`
		if err := a.SetRepositoryPolicy(ctx, "app", deny, false); !errors.Is(err, rego.ErrLockout) {
			t.Fatalf("SetRepositoryPolicy() error = %v, want ErrLockout", err)
		}
		if _, err := a.GetRepositoryPolicy(ctx, "app"); !errors.Is(err, rego.ErrPolicyNotFound) {
			t.Errorf("GetRepositoryPolicy() error = %v, want ErrPolicyNotFound", err)
		}
	})

	t.Run("identity policy keeps the caller in", func(t *testing.T) {
		a := newAuthorizer(t, rego.Options{IdentityPolicies: map[string][]string{
			"arn:aws:iam::000000000000:user/admin": {allowAllIdentity},
		}})
		if err := a.SetRepositoryPolicy(ctx, "app", pullOnlyPolicy, false); err != nil {
			t.Fatalf("SetRepositoryPolicy() = %v", err)
		}
	})

	t.Run("no principal in ctx skips the check", func(t *testing.T) {
		a := newAuthorizer(t, rego.Options{})
		if err := a.SetRepositoryPolicy(context.Background(), "app", pullOnlyPolicy, false); err != nil {
			t.Fatalf("SetRepositoryPolicy() = %v", err)
		}
	})

	t.Run("custom deny is a lockout", func(t *testing.T) {
		a := newAuthorizer(t, rego.Options{Modules: map[string]string{"freeze.rego": `package berth.custom
deny contains "policies are frozen" if input.action == "ecr:SetRepositoryPolicy"`}})
		err := a.SetRepositoryPolicy(ctx, "app", adminPolicy, false)
		if !errors.Is(err, rego.ErrLockout) || !strings.Contains(err.Error(), "policies are frozen") {
			t.Fatalf("SetRepositoryPolicy() error = %v, want ErrLockout naming the custom rule", err)
		}
	})
}

func TestInvalidPolicyKeepsOldOne(t *testing.T) {
	ctx := context.Background()
	alice := user("alice")
	a := newAuthorizer(t, rego.Options{RepositoryPolicies: map[string]string{"app": pullPolicy}})
	pullUser := user("pull-user")
	check := func() {
		t.Helper()
		if !allowed(t, a, req(pullUser, policy.ActionBatchGetImage, "app")) {
			t.Errorf("pull-user may no longer pull")
		}
		if allowed(t, a, req(alice, policy.ActionBatchGetImage, "app")) {
			t.Errorf("alice may pull")
		}
		if got, err := a.GetRepositoryPolicy(ctx, "app"); err != nil || got != pullPolicy {
			t.Errorf("GetRepositoryPolicy() = %q, %v; want the old policy", got, err)
		}
	}
	check()

	bad := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*",
		"Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.300/8"}}}]}`
	err := a.SetRepositoryPolicy(ctx, "app", bad, true)
	var ipe *rego.InvalidPolicyError
	if !errors.Is(err, rego.ErrInvalidPolicy) || !errors.As(err, &ipe) {
		t.Fatalf("SetRepositoryPolicy(bad) error = %v, want an InvalidPolicyError", err)
	}
	if want := "$.Statement[0].Condition.IpAddress.aws:SourceIp[0]"; ipe.Location != want {
		t.Errorf("Location = %q, want %q", ipe.Location, want)
	}
	if want := `repository policy "app"`; ipe.Policy != want {
		t.Errorf("Policy = %q, want %q", ipe.Policy, want)
	}
	check()

	// Kind-specific checks: a repository policy statement needs a Principal.
	err = a.SetRepositoryPolicy(ctx, "app", allowAllIdentity, true)
	if !errors.As(err, &ipe) || ipe.Location != "$.Statement[0]" || !strings.Contains(ipe.Reason, "Principal") {
		t.Errorf("SetRepositoryPolicy(no principal) error = %v", err)
	}
	check()

	// A module that does not compile is rejected with its location, and
	// the old modules stay in force.
	good := map[string]string{"deny-alice.rego": `package berth.custom
deny contains "no alice" if input.principal.name == "alice"`}
	if err := a.SetModules(ctx, good); err != nil {
		t.Fatal(err)
	}
	err = a.SetModules(ctx, map[string]string{"broken.rego": "package berth.custom\n\ndeny contains x if {\n\tx := undefined_function(1)\n}\n"})
	if !errors.As(err, &ipe) || ipe.Location != "broken.rego:4:7" || ipe.Policy != `module "broken.rego"` {
		t.Errorf("SetModules(broken) error = %v, want a location of broken.rego:4:7", err)
	}
	err = a.SetModules(ctx, map[string]string{"syntax.rego": "package berth.custom\n\ndeny contains if {\n"})
	if !errors.As(err, &ipe) || !strings.HasPrefix(ipe.Location, "syntax.rego:") {
		t.Errorf("SetModules(syntax) error = %v, want a location in syntax.rego", err)
	}
	err = a.SetModules(ctx, map[string]string{"evil.rego": "package berth.authz\n\ndecision := {\"allow\": true}\n"})
	if !errors.As(err, &ipe) || !strings.Contains(ipe.Reason, "reserved") {
		t.Errorf("SetModules(reserved package) error = %v", err)
	}
	if got := a.Modules(ctx); !reflect.DeepEqual(got, good) {
		t.Errorf("Modules() = %v, want %v", got, good)
	}
	d, err := a.Authorize(ctx, req(alice, policy.ActionBatchGetImage, "app"))
	if err != nil || d.Allow || !slicesContain(d.Reasons, "denied by custom rule: no alice") {
		t.Errorf("Authorize(alice) = %+v, %v; want the custom deny", d, err)
	}
}

func slicesContain(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func TestPolicyManagement(t *testing.T) {
	ctx := context.Background()
	store := rego.NewMemoryStore()
	a := newAuthorizer(t, rego.Options{Store: store})
	alice := user("alice", "dev")

	// Repository policy.
	if _, err := a.GetRepositoryPolicy(ctx, "app"); !errors.Is(err, rego.ErrPolicyNotFound) {
		t.Errorf("GetRepositoryPolicy() error = %v, want ErrPolicyNotFound", err)
	}
	if err := a.DeleteRepositoryPolicy(ctx, "app"); !errors.Is(err, rego.ErrPolicyNotFound) {
		t.Errorf("DeleteRepositoryPolicy() error = %v, want ErrPolicyNotFound", err)
	}
	if err := a.SetRepositoryPolicy(ctx, "app", publicPullPolicy, false); err != nil {
		t.Fatal(err)
	}
	if !allowed(t, a, req(alice, policy.ActionBatchGetImage, "app")) {
		t.Error("repository policy not in force")
	}

	// Registry policy.
	if _, err := a.GetRegistryPolicy(ctx); !errors.Is(err, rego.ErrPolicyNotFound) {
		t.Errorf("GetRegistryPolicy() error = %v, want ErrPolicyNotFound", err)
	}
	registry := `{"Version": "2012-10-17", "Statement": [{"Sid": "DevPush", "Effect": "Allow",
		"Principal": {"AWS": "arn:aws:iam::000000000000:group/dev"}, "Action": "ecr:PutImage",
		"Resource": "arn:aws:ecr:local:000000000000:repository/dev/*"}]}`
	if err := a.PutRegistryPolicy(ctx, pullOnlyPolicy); !errors.Is(err, rego.ErrInvalidPolicy) {
		t.Errorf("PutRegistryPolicy(no Resource) error = %v, want ErrInvalidPolicy", err)
	}
	if err := a.PutRegistryPolicy(ctx, registry); err != nil {
		t.Fatal(err)
	}
	if !allowed(t, a, req(alice, policy.ActionPutImage, "dev/x")) || allowed(t, a, req(alice, policy.ActionPutImage, "prod/x")) {
		t.Error("registry policy not in force")
	}

	// Identity policies.
	const ciARN = "arn:aws:iam::000000000000:group/ci"
	ciPush := `{"Version": "2012-10-17", "Id": "ci-push", "Statement": [{"Effect": "Allow", "Action": ["ecr:PutImage", "ecr:Batch*"], "Resource": "*"}]}`
	if err := a.SetIdentityPolicy(ctx, ciARN, "push", publicPullPolicy); !errors.Is(err, rego.ErrInvalidPolicy) {
		t.Errorf("SetIdentityPolicy(with Principal) error = %v, want ErrInvalidPolicy", err)
	}
	if err := a.SetIdentityPolicy(ctx, "alice", "push", ciPush); !errors.Is(err, rego.ErrInvalidPolicy) {
		t.Errorf("SetIdentityPolicy(bad ARN) error = %v, want ErrInvalidPolicy", err)
	}
	if err := a.SetIdentityPolicy(ctx, ciARN, "push", ciPush); err != nil {
		t.Fatal(err)
	}
	if err := a.SetIdentityPolicy(ctx, ciARN, "extra", allowAllIdentity); err != nil {
		t.Fatal(err)
	}
	runner := user("runner", "ci")
	if !allowed(t, a, req(runner, policy.ActionPutImage, "prod/x")) {
		t.Error("identity policy not in force")
	}
	if got := a.IdentityPolicies(ctx, ciARN); !reflect.DeepEqual(got, []string{"extra", "push"}) {
		t.Errorf("IdentityPolicies() = %v", got)
	}
	if err := a.DeleteIdentityPolicy(ctx, ciARN, "extra"); err != nil {
		t.Fatal(err)
	}
	if allowed(t, a, req(runner, policy.ActionDeleteRepository, "prod/x")) {
		t.Error("deleted identity policy still in force")
	}

	// A second Authorizer on the same Store sees the same policies.
	b := newAuthorizer(t, rego.Options{Store: store})
	for _, in := range []policy.Input{
		req(alice, policy.ActionBatchGetImage, "app"),
		req(alice, policy.ActionPutImage, "dev/x"),
		req(alice, policy.ActionPutImage, "prod/x"),
		req(runner, policy.ActionPutImage, "prod/x"),
		req(runner, policy.ActionDeleteRepository, "prod/x"),
	} {
		if x, y := allowed(t, a, in), allowed(t, b, in); x != y {
			t.Errorf("%s %s by %s: reloaded Authorizer says %v, original %v", in.Action, in.Repository, in.Principal.Name, y, x)
		}
	}
	if got, err := b.GetIdentityPolicy(ctx, ciARN, "push"); err != nil || got != ciPush {
		t.Errorf("reloaded GetIdentityPolicy() = %q, %v", got, err)
	}

	// Deletions.
	if err := a.DeleteIdentityPolicy(ctx, ciARN, "push"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteIdentityPolicy(ctx, ciARN, "push"); !errors.Is(err, rego.ErrPolicyNotFound) {
		t.Errorf("DeleteIdentityPolicy() twice error = %v", err)
	}
	if err := a.DeleteRegistryPolicy(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteRegistryPolicy(ctx); !errors.Is(err, rego.ErrPolicyNotFound) {
		t.Errorf("DeleteRegistryPolicy() twice error = %v", err)
	}
	if err := a.DeleteRepositoryPolicy(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	for _, in := range []policy.Input{
		req(alice, policy.ActionBatchGetImage, "app"),
		req(alice, policy.ActionPutImage, "dev/x"),
		req(runner, policy.ActionPutImage, "prod/x"),
	} {
		if allowed(t, a, in) {
			t.Errorf("%s %s still allowed after deleting every policy", in.Action, in.Repository)
		}
	}
	var keys []string
	store.List(ctx, "", func(k, _ string) error { keys = append(keys, k); return nil })
	if len(keys) != 0 {
		t.Errorf("store still holds %q", keys)
	}
}

func TestNewLoadsStoreAndRejectsBadStoredPolicy(t *testing.T) {
	ctx := context.Background()
	store := rego.NewMemoryStore()
	store.Put(ctx, "v1/repository/app", `{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:*"}}`)
	store.Put(ctx, "v1/module/m.rego", "package berth.custom\ndeny contains \"no deletes\" if input.action == \"ecr:BatchDeleteImage\"\n")
	a := newAuthorizer(t, rego.Options{Store: store})
	if !allowed(t, a, req(user("x"), policy.ActionPutImage, "app")) {
		t.Error("stored repository policy not loaded")
	}
	if allowed(t, a, req(user("x"), policy.ActionBatchDeleteImage, "app")) {
		t.Error("stored module not loaded")
	}

	// Options replace stored entries with the same key and are written back.
	b := newAuthorizer(t, rego.Options{Store: store, RepositoryPolicies: map[string]string{"app": pullOnlyPolicy}, Modules: map[string]string{}})
	if allowed(t, b, req(user("x"), policy.ActionPutImage, "app")) {
		t.Error("option did not replace the stored policy")
	}
	if got, _ := store.Get(ctx, "v1/repository/app"); got != pullOnlyPolicy {
		t.Errorf("store holds %q after New", got)
	}
	if _, err := store.Get(ctx, "v1/module/m.rego"); !errors.Is(err, rego.ErrPolicyNotFound) {
		t.Errorf("Modules: {} did not remove the stored module: %v", err)
	}

	store.Put(ctx, "v1/repository/bad", `{"Statement": {"Effect": "Maybe"}}`)
	_, err := rego.New(ctx, rego.Options{Store: store})
	var ipe *rego.InvalidPolicyError
	if !errors.As(err, &ipe) || ipe.Policy != `repository policy "bad"` || ipe.Location != "$.Statement.Effect" {
		t.Errorf("New() with a bad stored policy: error = %v", err)
	}
}

func TestCustomModules(t *testing.T) {
	ctx := context.Background()
	modules := map[string]string{
		// Only CI may push tags matching v*.
		"release.rego": `package berth.custom

deny contains "only CI may push release tags" if {
	input.action == "ecr:PutImage"
	startswith(input.reference, "v")
	not "ci" in input.principal.groups
}
`,
		// Pulls of prod/* only from 10.0.0.0/8.
		"prod.rego": `package berth.custom

pull_actions := {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}

deny contains sprintf("pulls of %s only from 10.0.0.0/8", [input.repository]) if {
	input.action in pull_actions
	startswith(input.repository, "prod/")
	not net.cidr_contains("10.0.0.0/8", object.get(input, "sourceIp", "0.0.0.0"))
}
`,
		// Members of group "ops" may do anything.
		"ops.rego": `package berth.custom

allow contains "ops" if "ops" in input.principal.groups
`,
	}
	a := newAuthorizer(t, rego.Options{
		Modules:          modules,
		IdentityPolicies: map[string][]string{"*": {allowAllIdentity}},
	})
	dev, ci, ops := user("dev"), user("runner", "ci"), &policy.Principal{ID: "o", Name: "olga", Groups: []string{"ops"}}
	push := func(p *policy.Principal, ref string) policy.Input {
		in := req(p, policy.ActionPutImage, "app")
		in.Reference = ref
		return in
	}
	tests := []struct {
		name  string
		in    policy.Input
		allow bool
	}{
		{"dev pushes a branch tag", push(dev, "main"), true},
		{"dev pushes a release tag", push(dev, "v1.2.3"), false},
		{"ci pushes a release tag", push(ci, "v1.2.3"), true},
		{"prod pull from inside", withIP(req(dev, policy.ActionBatchGetImage, "prod/api"), "10.3.4.5"), true},
		{"prod pull from outside", withIP(req(dev, policy.ActionBatchGetImage, "prod/api"), "192.0.2.1"), false},
		{"prod pull without IP", req(dev, policy.ActionBatchGetImage, "prod/api"), false},
		{"custom allow without any document", req(ops, policy.ActionDeleteRepository, "x"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := a.Authorize(ctx, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.allow {
				t.Errorf("Allow = %v, want %v (reasons %q)", d.Allow, tt.allow, d.Reasons)
			}
		})
	}

	// Custom allow only: without the identity policy, ops is still allowed
	// and dev is not.
	b := newAuthorizer(t, rego.Options{Modules: modules})
	if !allowed(t, b, req(ops, policy.ActionPutImage, "x")) || allowed(t, b, req(dev, policy.ActionPutImage, "x")) {
		t.Error("custom allow did not combine as documented")
	}
}

func TestDecisionLogging(t *testing.T) {
	var buf bytes.Buffer
	a := newAuthorizer(t, rego.Options{
		RepositoryPolicies: map[string]string{"app": pullPolicy},
		Logger:             slog.New(slog.NewJSONHandler(&buf, nil)),
		LogDecisions:       true,
	})
	buf.Reset() // drop anything logged by New
	allowed(t, a, req(user("pull-user"), policy.ActionBatchGetImage, "app"))
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("decision log %q: %v", buf.String(), err)
	}
	want := map[string]any{
		"principal": "arn:aws:iam::000000000000:user/pull-user",
		"action":    "ecr:BatchGetImage",
		"resource":  "arn:aws:ecr:local:000000000000:repository/app",
		"decision":  "allow",
		"reasons":   []any{`allowed by repository policy "app": statement "AllowPull"`},
	}
	for k, v := range want {
		if !reflect.DeepEqual(rec[k], v) {
			t.Errorf("log[%q] = %v, want %v", k, rec[k], v)
		}
	}

	// Off unless asked.
	buf.Reset()
	b := newAuthorizer(t, rego.Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	allowed(t, b, req(user("x"), policy.ActionBatchGetImage, "app"))
	if buf.Len() != 0 {
		t.Errorf("decisions logged without LogDecisions: %s", buf.String())
	}
}

func TestResourceTags(t *testing.T) {
	a := newAuthorizer(t, rego.Options{
		IdentityPolicies: map[string][]string{"*": {`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*",
			"Condition": {"StringEquals": {"ecr:ResourceTag/Team": "${aws:PrincipalTag/team}"}}}]}`}},
		ResourceTags: func(_ context.Context, repo string) (map[string]string, error) {
			if repo == "broken" {
				return nil, errors.New("tag store down")
			}
			return map[string]string{"team": strings.Split(repo, "/")[0]}, nil
		},
	})
	carol := &policy.Principal{ID: "c", Name: "carol", Attributes: map[string]string{"Team": "web"}}
	if !allowed(t, a, req(carol, policy.ActionPutImage, "web/site")) {
		t.Error("tag match denied")
	}
	if allowed(t, a, req(carol, policy.ActionPutImage, "db/site")) {
		t.Error("tag mismatch allowed")
	}
	if _, err := a.Authorize(context.Background(), req(carol, policy.ActionPutImage, "broken")); err == nil {
		t.Error("ResourceTags error not returned")
	}
}

func TestConcurrentAuthorizeAndChanges(t *testing.T) {
	ctx := context.Background()
	a := newAuthorizer(t, rego.Options{RepositoryPolicies: map[string]string{"app": pullPolicy}})
	pullUser := user("pull-user")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// pull-user may pull app under every policy set below.
				d, err := a.Authorize(ctx, req(pullUser, policy.ActionBatchGetImage, "app"))
				if err != nil || !d.Allow {
					t.Errorf("Authorize() = %+v, %v", d, err)
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		repo := fmt.Sprintf("repo-%d", i)
		if err := a.SetRepositoryPolicy(ctx, repo, publicPullPolicy, false); err != nil {
			t.Fatal(err)
		}
		if err := a.SetRepositoryPolicy(ctx, "app", []string{pullPolicy, publicPullPolicy}[i%2], false); err != nil {
			t.Fatal(err)
		}
		if err := a.SetModules(ctx, map[string]string{"m.rego": fmt.Sprintf("package berth.custom\ndeny contains \"x\" if input.repository == %q\n", repo)}); err != nil {
			t.Fatal(err)
		}
		if err := a.DeleteRepositoryPolicy(ctx, repo); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
