package registry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

// TestGoAPISecurityMatrix runs every Go API operation as an anonymous
// caller, as a principal the authorizer denies, and as one it allows, on an
// existing and on a missing repository. Refusals must not depend on whether
// the target exists, and must change nothing.
func TestGoAPISecurityMatrix(t *testing.T) {
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	setup, err := registry.New(store)
	if err != nil {
		t.Fatal(err)
	}
	const repo = "team/app"
	manifest := image(t, setup, repo, nil)
	img := putImage(t, setup, repo, "v1", manifest)
	blob := pushBlob(t, setup, repo, []byte("a blob"))
	up, err := setup.StartUpload(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}

	authz := policy.AuthorizerFunc(func(_ context.Context, in policy.Input) (policy.Decision, error) {
		return policy.Decision{Allow: in.Principal != nil && in.Principal.ID == "admin"}, nil
	})
	reg, err := registry.New(store, registry.WithAuthorizer(authz))
	if err != nil {
		t.Fatal(err)
	}

	// Each operation runs against a repository name; for the missing one,
	// ids and digests name nothing either.
	type op struct {
		name string
		run  func(ctx context.Context, repo string) error
	}
	ops := []op{
		{"CreateRepository", func(ctx context.Context, r string) error {
			_, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: r + "-new"})
			return err
		}},
		{"DescribeRepository", func(ctx context.Context, r string) error { _, err := reg.DescribeRepository(ctx, r); return err }},
		{"DeleteRepository", func(ctx context.Context, r string) error { _, err := reg.DeleteRepository(ctx, r, true); return err }},
		{"PutImageTagMutability", func(ctx context.Context, r string) error {
			return reg.PutImageTagMutability(ctx, r, registry.Immutable, nil)
		}},
		{"PutImageScanningConfiguration", func(ctx context.Context, r string) error { return reg.PutImageScanningConfiguration(ctx, r, true) }},
		{"TagResource", func(ctx context.Context, r string) error { return reg.TagResource(ctx, r, map[string]string{"k": "v"}) }},
		{"UntagResource", func(ctx context.Context, r string) error { return reg.UntagResource(ctx, r, []string{"k"}) }},
		{"ListTagsForResource", func(ctx context.Context, r string) error { _, err := reg.ListTagsForResource(ctx, r); return err }},
		{"StartUpload", func(ctx context.Context, r string) error { _, err := reg.StartUpload(ctx, r); return err }},
		{"UploadStatus", func(ctx context.Context, r string) error { _, err := reg.UploadStatus(ctx, r, up.ID); return err }},
		{"WriteUpload", func(ctx context.Context, r string) error {
			_, err := reg.WriteUpload(ctx, r, up.ID, -1, strings.NewReader("x"))
			return err
		}},
		{"CompleteUpload", func(ctx context.Context, r string) error {
			_, err := reg.CompleteUpload(ctx, r, up.ID, digest.FromString("x"), -1, nil)
			return err
		}},
		{"CancelUpload", func(ctx context.Context, r string) error { return reg.CancelUpload(ctx, r, up.ID) }},
		{"PushBlob", func(ctx context.Context, r string) error {
			_, err := reg.PushBlob(ctx, r, "", strings.NewReader("pushed"))
			return err
		}},
		{"StatBlob", func(ctx context.Context, r string) error { _, err := reg.StatBlob(ctx, r, blob.Digest); return err }},
		{"OpenBlob", func(ctx context.Context, r string) error {
			rc, _, err := reg.OpenBlob(ctx, r, blob.Digest)
			if rc != nil {
				rc.Close()
			}
			return err
		}},
		{"DeleteBlob", func(ctx context.Context, r string) error { return reg.DeleteBlob(ctx, r, blob.Digest) }},
		{"MountBlob", func(ctx context.Context, r string) error {
			_, err := reg.MountBlob(ctx, "other/app", r, blob.Digest)
			return err
		}},
		{"PutImage", func(ctx context.Context, r string) error {
			_, err := reg.PutImage(ctx, registry.PutImageInput{Repository: r, Manifest: manifest, Tag: "v2"})
			return err
		}},
		{"GetImage", func(ctx context.Context, r string) error { _, err := reg.GetImage(ctx, r, "v1"); return err }},
		{"StatImage", func(ctx context.Context, r string) error {
			_, err := reg.StatImage(ctx, r, img.Descriptor.Digest.String())
			return err
		}},
		{"DeleteImage", func(ctx context.Context, r string) error { return reg.DeleteImage(ctx, r, "v1") }},
		{"BatchDeleteImage", func(ctx context.Context, r string) error {
			_, _, err := reg.BatchDeleteImage(ctx, r, []registry.ImageID{{ImageTag: "v1"}})
			return err
		}},
		{"ListTags", func(ctx context.Context, r string) error { _, _, err := reg.ListTags(ctx, r, "", 0); return err }},
		{"ListImages", func(ctx context.Context, r string) error {
			_, err := reg.ListImages(ctx, registry.ListImagesInput{Repository: r})
			return err
		}},
		{"DescribeImages", func(ctx context.Context, r string) error {
			_, err := reg.DescribeImages(ctx, registry.DescribeImagesInput{Repository: r})
			return err
		}},
		{"Referrers", func(ctx context.Context, r string) error {
			_, err := reg.Referrers(ctx, r, img.Descriptor.Digest, "")
			return err
		}},
		{"SetRepositoryPolicy", func(ctx context.Context, r string) error { return reg.SetRepositoryPolicy(ctx, r, "{}", true) }},
		{"GetRepositoryPolicy", func(ctx context.Context, r string) error { _, err := reg.GetRepositoryPolicy(ctx, r); return err }},
		{"DeleteRepositoryPolicy", func(ctx context.Context, r string) error { return reg.DeleteRepositoryPolicy(ctx, r) }},
	}
	callers := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"anonymous", context.Background(), registry.ErrUnauthorized},
		{"denied", policy.WithPrincipal(context.Background(), &policy.Principal{ID: "mallory"}), registry.ErrDenied},
	}
	before := snapshot(t, setup, repo)
	for _, c := range callers {
		for _, o := range ops {
			t.Run(c.name+"/"+o.name, func(t *testing.T) {
				errExisting := o.run(c.ctx, repo)
				errMissing := o.run(c.ctx, "team/missing")
				if !errors.Is(errExisting, c.want) || !errors.Is(errMissing, c.want) {
					t.Fatalf("errors = %v / %v, want %v for both", errExisting, errMissing, c.want)
				}
				// The message names the action and repository asked for,
				// nothing about what exists.
				if strings.ReplaceAll(errMissing.Error(), "team/missing", repo) != errExisting.Error() {
					t.Errorf("refusals differ:\n%v\n%v", errExisting, errMissing)
				}
			})
		}
	}
	if after := snapshot(t, setup, repo); after != before {
		t.Errorf("refused calls changed the repository:\nbefore %s\nafter  %s", before, after)
	}
	// The registry-wide listings show nothing to callers who may see nothing.
	for _, c := range callers {
		if names, _, err := reg.ListRepositories(c.ctx, "", 0); err != nil || len(names) != 0 {
			t.Errorf("%s: ListRepositories() = %v, %v; want nothing", c.name, names, err)
		}
	}

	// The allowed principal gets through every operation's authorization:
	// whatever fails now fails for another reason.
	admin := policy.WithPrincipal(context.Background(), &policy.Principal{ID: "admin"})
	for _, o := range ops {
		if err := o.run(admin, repo); errors.Is(err, registry.ErrDenied) || errors.Is(err, registry.ErrUnauthorized) {
			t.Errorf("admin: %s: %v", o.name, err)
		}
	}
}

// snapshot describes a repository's observable state.
func snapshot(t *testing.T, reg *registry.Registry, repo string) string {
	t.Helper()
	ctx := context.Background()
	r, err := reg.DescribeRepository(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	out, err := reg.DescribeImages(ctx, registry.DescribeImagesInput{Repository: repo})
	if err != nil {
		t.Fatal(err)
	}
	names, _, _ := reg.ListRepositories(ctx, "", 0)
	return fmt.Sprintf("%+v %+v %v", r, out.ImageDetails, names)
}
