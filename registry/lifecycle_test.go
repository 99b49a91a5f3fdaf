package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/lifecycle"
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/badgerstore"
	"github.com/berth-dev/berth/storage/memory"
)

const day = 24 * time.Hour

// fakeClock is a settable clock for registry.WithClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// lcRule renders one rule of a lifecycle policy.
func lcRule(priority int, selection string) string {
	return fmt.Sprintf(`{"rulePriority": %d, "description": "rule %d", "selection": {%s}, "action": {"type": "expire"}}`, priority, priority, selection)
}

// lcPolicy renders a policy document of the rules.
func lcPolicy(rules ...string) string {
	return `{"rules": [` + strings.Join(rules, ", ") + `]}`
}

// Policies in the shape of ECR's lifecycle examples
// (lifecycle_policy_examples.html).
var (
	policyUntaggedAge   = lcPolicy(lcRule(1, `"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14`))
	policyProdAge       = lcPolicy(lcRule(1, `"tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14`))
	policyUntaggedCount = lcPolicy(lcRule(1, `"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1`))
	policyProdBeta      = lcPolicy(
		lcRule(1, `"tagStatus": "tagged", "tagPrefixList": ["prod"], "countType": "imageCountMoreThan", "countNumber": 1`),
		lcRule(2, `"tagStatus": "tagged", "tagPrefixList": ["beta"], "countType": "imageCountMoreThan", "countNumber": 1`))
	policyAllImages = lcPolicy(lcRule(1, `"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1`))
	policyAlphaB    = lcPolicy(
		lcRule(1, `"tagStatus": "tagged", "tagPatternList": ["alpha*"], "countType": "imageCountMoreThan", "countNumber": 1`),
		lcRule(2, `"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1`),
		lcRule(3, `"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1`))
	policyPulled = lcPolicy(lcRule(1, `"tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 7`))
)

// lcFixture is a repository of images with known push times, pulls,
// an index with children and referrers.
type lcFixture struct {
	reg   *registry.Registry
	store storage.Storage
	clock *fakeClock
	repo  string
	// digests by name
	d     map[string]digest.Digest
	blobs []digest.Digest
	// events seen by the registry's listener
	mu     sync.Mutex
	events []registry.Event
}

func (f *lcFixture) Events() []registry.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

func (f *lcFixture) ResetEvents() {
	f.mu.Lock()
	f.events = nil
	f.mu.Unlock()
}

func newLCFixture(t *testing.T, opts ...registry.Option) *lcFixture {
	t.Helper()
	f := &lcFixture{clock: newFakeClock(), repo: "team/app", d: map[string]digest.Digest{}}
	f.store = memory.New()
	opts = append([]registry.Option{
		registry.WithClock(f.clock.Now),
		registry.WithListener(registry.ListenerFunc(func(_ context.Context, ev registry.Event) {
			f.mu.Lock()
			f.events = append(f.events, ev)
			f.mu.Unlock()
		})),
	}, opts...)
	reg, err := registry.New(f.store, opts...)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	t.Cleanup(func() {
		reg.Close()
		f.store.Close()
	})
	f.reg = reg
	if _, err := reg.CreateRepository(context.Background(), registry.CreateRepositoryInput{Name: f.repo}); err != nil {
		t.Fatalf("CreateRepository() error = %v", err)
	}
	return f
}

// push pushes a new image, pushed age ago (relative to the fixture's
// current time, which is restored), with the tags, and names it.
func (f *lcFixture) push(t *testing.T, name string, age time.Duration, mutate func(*ocispec.Manifest), tags ...string) ocispec.Descriptor {
	t.Helper()
	now := f.clock.Now()
	f.clock.Set(now.Add(-age))
	defer f.clock.Set(now)
	m := image(t, f.reg, f.repo, mutate)
	var pm ocispec.Manifest
	if err := json.Unmarshal(m, &pm); err != nil {
		t.Fatal(err)
	}
	f.blobs = append(f.blobs, pm.Config.Digest)
	for _, l := range pm.Layers {
		f.blobs = append(f.blobs, l.Digest)
	}
	return f.putManifest(t, name, m, tags...)
}

func (f *lcFixture) putManifest(t *testing.T, name string, m []byte, tags ...string) ocispec.Descriptor {
	t.Helper()
	in := registry.PutImageInput{Repository: f.repo, Manifest: m}
	if len(tags) > 0 {
		in.Tag, in.Tags = tags[0], tags[1:]
	}
	img, err := f.reg.PutImage(context.Background(), in)
	if err != nil {
		t.Fatalf("PutImage(%s) error = %v", name, err)
	}
	f.d[name] = img.Descriptor.Digest
	return img.Descriptor
}

// pushIndex pushes an image index of the named children.
func (f *lcFixture) pushIndex(t *testing.T, name string, age time.Duration, children []ocispec.Descriptor, tags ...string) ocispec.Descriptor {
	t.Helper()
	now := f.clock.Now()
	f.clock.Set(now.Add(-age))
	defer f.clock.Set(now)
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for _, c := range children {
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: c.MediaType, Digest: c.Digest, Size: c.Size})
	}
	b, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	return f.putManifest(t, name, b, tags...)
}

// referrer pushes an untagged artifact whose subject is subject.
func (f *lcFixture) referrer(t *testing.T, name string, age time.Duration, subject ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	return f.push(t, name, age, func(m *ocispec.Manifest) {
		m.ArtifactType = "application/vnd.example.signature"
		m.Subject = &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	})
}

// pull pulls the named image age ago.
func (f *lcFixture) pull(t *testing.T, name string, age time.Duration) {
	t.Helper()
	now := f.clock.Now()
	f.clock.Set(now.Add(-age))
	defer f.clock.Set(now)
	if _, err := f.reg.GetImage(context.Background(), f.repo, f.d[name].String()); err != nil {
		t.Fatalf("GetImage(%s) error = %v", name, err)
	}
}

func (f *lcFixture) name(d digest.Digest) string {
	for n, v := range f.d {
		if v == d {
			return n
		}
	}
	return d.String()
}

// standard builds a repository that every example policy acts on: tagged
// prod/beta/alpha images of various ages, untagged images, an index with
// untagged children, a signed image, and pulls.
func (f *lcFixture) standard(t *testing.T) {
	t.Helper()
	f.push(t, "prod-old", 30*day, nil, "prod-1", "beta-1")
	f.push(t, "prod-mid", 20*day, nil, "prod-2", "beta-2")
	f.push(t, "prod-new", 2*day, nil, "prod-3")
	f.push(t, "beta-new", 3*day, nil, "beta-3")
	f.push(t, "alpha-old", 25*day, nil, "alpha-1")
	f.push(t, "alpha-new", 5*day, nil, "alpha-2")
	f.push(t, "untagged-old", 40*day, nil)
	f.push(t, "untagged-mid", 15*day, nil)
	f.push(t, "untagged-new", 1*day, nil)
	a := f.push(t, "child-amd64", 50*day, nil)
	b := f.push(t, "child-arm64", 50*day, nil)
	f.pushIndex(t, "index", 50*day, []ocispec.Descriptor{a, b}, "multi-1")
	s := f.push(t, "signed", 35*day, nil, "release-1")
	f.referrer(t, "signature", 35*day, s)
	f.pull(t, "prod-old", 1*day)
	f.pull(t, "untagged-old", 3*day)
}

// storageState is everything observable about the repository, read from
// storage directly (no pull is recorded) and through the registry.
type storageState struct {
	Repository storage.Repository
	Manifests  map[digest.Digest]storage.Manifest // with payloads
	Tags       map[string]digest.Digest
	Links      []storage.BlobLink
	Blobs      map[digest.Digest]storage.BlobInfo
	Images     []registry.ImageDetail
	TagList    []string
	BlobDescs  map[digest.Digest]ocispec.Descriptor
}

func (f *lcFixture) snapshot(t *testing.T) storageState {
	t.Helper()
	ctx := context.Background()
	s := storageState{
		Manifests: map[digest.Digest]storage.Manifest{},
		Tags:      map[string]digest.Digest{},
		Blobs:     map[digest.Digest]storage.BlobInfo{},
		BlobDescs: map[digest.Digest]ocispec.Descriptor{},
	}
	var err error
	if s.Repository, err = f.store.GetRepository(ctx, f.repo); err != nil {
		t.Fatal(err)
	}
	err = f.store.WalkManifests(ctx, f.repo, "", func(m storage.Manifest) error {
		full, err := f.store.GetManifest(ctx, f.repo, m.Digest)
		s.Manifests[m.Digest] = full
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.WalkTags(ctx, f.repo, "", func(tag string, d digest.Digest) error { s.Tags[tag] = d; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := f.store.WalkBlobLinks(ctx, f.repo, func(l storage.BlobLink) error { s.Links = append(s.Links, l); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, d := range f.blobs {
		info, err := f.store.StatBlob(ctx, d)
		if err != nil {
			t.Fatalf("StatBlob(%s) error = %v", d, err)
		}
		s.Blobs[d] = info
		desc, err := f.reg.StatBlob(ctx, f.repo, d)
		if err != nil {
			t.Fatalf("registry StatBlob(%s) error = %v", d, err)
		}
		s.BlobDescs[d] = desc
	}
	out, err := f.reg.DescribeImages(ctx, registry.DescribeImagesInput{Repository: f.repo, MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	s.Images = out.ImageDetails
	if s.TagList, _, err = f.reg.ListTags(ctx, f.repo, "", 0); err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *lcFixture) putPolicy(t *testing.T, text string) {
	t.Helper()
	if _, err := f.reg.PutLifecyclePolicy(context.Background(), f.repo, text); err != nil {
		t.Fatalf("PutLifecyclePolicy() error = %v", err)
	}
}

// previewAll reads a whole preview, page by page.
func (f *lcFixture) previewAll(t *testing.T, pageSize int) registry.GetLifecyclePolicyPreviewOutput {
	t.Helper()
	var all registry.GetLifecyclePolicyPreviewOutput
	tok := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("GetLifecyclePolicyPreview() does not end")
		}
		out, err := f.reg.GetLifecyclePolicyPreview(context.Background(), registry.GetLifecyclePolicyPreviewInput{Repository: f.repo, NextToken: tok, MaxResults: pageSize})
		if err != nil {
			t.Fatalf("GetLifecyclePolicyPreview() error = %v", err)
		}
		if len(out.PreviewResults) > pageSize {
			t.Fatalf("page of %d results, want at most %d", len(out.PreviewResults), pageSize)
		}
		all.Status, all.Summary, all.LifecyclePolicyText = out.Status, out.Summary, out.LifecyclePolicyText
		all.PreviewResults = append(all.PreviewResults, out.PreviewResults...)
		if tok = out.NextToken; tok == "" {
			return all
		}
	}
}

type expiry struct {
	Name     string
	Priority int
}

func (f *lcFixture) previewExpiries(out registry.GetLifecyclePolicyPreviewOutput) []expiry {
	var got []expiry
	for _, r := range out.PreviewResults {
		got = append(got, expiry{f.name(r.ImageDigest), r.AppliedRulePriority})
	}
	sortExpiries(got)
	return got
}

func (f *lcFixture) reportExpiries(rep registry.LifecycleReport) []expiry {
	var got []expiry
	for _, e := range rep.Expired {
		got = append(got, expiry{f.name(e.Digest), e.RulePriority})
	}
	sortExpiries(got)
	return got
}

func sortExpiries(e []expiry) {
	sort.Slice(e, func(i, j int) bool { return e[i].Name < e[j].Name })
}

func TestLifecyclePolicyPutGetDelete(t *testing.T) {
	f := newLCFixture(t)
	ctx := context.Background()

	if _, err := f.reg.GetLifecyclePolicy(ctx, f.repo); !errors.Is(err, registry.ErrLifecyclePolicyNotFound) {
		t.Fatalf("GetLifecyclePolicy() before Put error = %v, want ErrLifecyclePolicyNotFound", err)
	}
	out, err := f.reg.PutLifecyclePolicy(ctx, f.repo, policyProdBeta)
	if err != nil {
		t.Fatalf("PutLifecyclePolicy() error = %v", err)
	}
	want := registry.LifecyclePolicyOutput{RepositoryName: f.repo, LifecyclePolicyText: policyProdBeta}
	if out != want {
		t.Errorf("PutLifecyclePolicy() = %+v, want %+v", out, want)
	}
	if got, err := f.reg.GetLifecyclePolicy(ctx, f.repo); err != nil || got != want {
		t.Errorf("GetLifecyclePolicy() = %+v, %v; want %+v", got, err, want)
	}

	invalid := []struct {
		name, text, msg string
	}{
		{"too short", `{"rules": []}`,
			"Invalid parameter at 'lifecyclePolicyText' failed to satisfy constraint: 'Member must have length greater than or equal to 100'"},
		{"not json", strings.Repeat("x", 120),
			"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: Could not map policyString into LifecyclePolicy.'"},
		{"count 0", lcPolicy(lcRule(1, `"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 0`)),
			"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: numeric instance is lower than the required minimum (minimum: 1, found: 0)'"},
		{"bad tag status", lcPolicy(lcRule(1, `"tagStatus": "all", "countType": "imageCountMoreThan", "countNumber": 1`)),
			`Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: instance value (all) not found in enum :(possible values: ["any","tagged","untagged"])'`},
		{"two untagged rules", lcPolicy(
			lcRule(1, `"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1`),
			lcRule(2, `"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1`)),
			"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: Only one rule can select Untagged images per storage class.'"},
		{"both lists", lcPolicy(lcRule(1, `"tagStatus": "tagged", "tagPrefixList": ["a"], "tagPatternList": ["b*"], "countType": "imageCountMoreThan", "countNumber": 1`)),
			"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: tagPrefixList and tagPatternList cannot both be specified in one rule'"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.reg.PutLifecyclePolicy(ctx, f.repo, tc.text)
			if !errors.Is(err, registry.ErrInvalidParameter) || !errors.Is(err, lifecycle.ErrInvalidPolicy) {
				t.Fatalf("PutLifecyclePolicy() error = %v, want ErrInvalidParameter and lifecycle.ErrInvalidPolicy", err)
			}
			if err.Error() != tc.msg {
				t.Errorf("error message =\n%s\nwant\n%s", err, tc.msg)
			}
			var pe *lifecycle.PolicyError
			if !errors.As(err, &pe) {
				t.Errorf("errors.As(*lifecycle.PolicyError) = false")
			}
			// The stored policy stays.
			if got, err := f.reg.GetLifecyclePolicy(ctx, f.repo); err != nil || got.LifecyclePolicyText != policyProdBeta {
				t.Errorf("after invalid Put: GetLifecyclePolicy() = %q, %v; want the previous policy", got.LifecyclePolicyText, err)
			}
			// A draft preview is validated the same way.
			if _, err := f.reg.StartLifecyclePolicyPreview(ctx, f.repo, tc.text); !errors.Is(err, registry.ErrInvalidParameter) || !errors.Is(err, lifecycle.ErrInvalidPolicy) {
				t.Errorf("StartLifecyclePolicyPreview(invalid) error = %v", err)
			}
		})
	}
	// ECR features Berth lacks are invalid and unsupported.
	archive := lcPolicy(lcRule(1, `"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1`))
	archive = strings.Replace(archive, `{"type": "expire"}`, `{"type": "transition", "targetStorageClass": "archive"}`, 1)
	if _, err := f.reg.PutLifecyclePolicy(ctx, f.repo, archive); !errors.Is(err, lifecycle.ErrUnsupported) || !errors.Is(err, registry.ErrInvalidParameter) {
		t.Errorf("PutLifecyclePolicy(transition) error = %v, want lifecycle.ErrUnsupported and ErrInvalidParameter", err)
	}

	// Unknown and invalid repositories.
	if _, err := f.reg.PutLifecyclePolicy(ctx, "nope", policyProdBeta); !errors.Is(err, registry.ErrNameUnknown) {
		t.Errorf("PutLifecyclePolicy(unknown repo) error = %v, want ErrNameUnknown", err)
	}
	if _, err := f.reg.GetLifecyclePolicy(ctx, "nope"); !errors.Is(err, registry.ErrNameUnknown) {
		t.Errorf("GetLifecyclePolicy(unknown repo) error = %v, want ErrNameUnknown", err)
	}
	if _, err := f.reg.DeleteLifecyclePolicy(ctx, "nope"); !errors.Is(err, registry.ErrNameUnknown) {
		t.Errorf("DeleteLifecyclePolicy(unknown repo) error = %v, want ErrNameUnknown", err)
	}
	if _, err := f.reg.GetLifecyclePolicy(ctx, "Bad Name"); !errors.Is(err, registry.ErrNameInvalid) {
		t.Errorf("GetLifecyclePolicy(invalid name) error = %v, want ErrNameInvalid", err)
	}

	// Replacing and deleting.
	f.putPolicy(t, policyUntaggedAge)
	if got, _ := f.reg.GetLifecyclePolicy(ctx, f.repo); got.LifecyclePolicyText != policyUntaggedAge {
		t.Errorf("after second Put: text = %q", got.LifecyclePolicyText)
	}
	del, err := f.reg.DeleteLifecyclePolicy(ctx, f.repo)
	if err != nil || del.LifecyclePolicyText != policyUntaggedAge || del.RepositoryName != f.repo {
		t.Errorf("DeleteLifecyclePolicy() = %+v, %v", del, err)
	}
	if _, err := f.reg.GetLifecyclePolicy(ctx, f.repo); !errors.Is(err, registry.ErrLifecyclePolicyNotFound) {
		t.Errorf("GetLifecyclePolicy() after Delete error = %v, want ErrLifecyclePolicyNotFound", err)
	}
	if _, err := f.reg.DeleteLifecyclePolicy(ctx, f.repo); !errors.Is(err, registry.ErrLifecyclePolicyNotFound) {
		t.Errorf("second DeleteLifecyclePolicy() error = %v, want ErrLifecyclePolicyNotFound", err)
	}
	// Other repository settings are untouched.
	rec, err := f.reg.DescribeRepository(ctx, f.repo)
	if err != nil || rec.TagMutability != registry.Mutable {
		t.Errorf("DescribeRepository() = %+v, %v", rec, err)
	}
}

// TestLifecyclePolicyPersists checks that both stores keep the policy and
// LastEvaluatedAt in the repository record, across a reopen for badger.
func TestLifecyclePolicyPersists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() (storage.Storage, *registry.Registry) {
		s, err := badgerstore.New(badgerstore.Options{Dir: dir, NoSync: true})
		if err != nil {
			t.Fatalf("badgerstore.New() error = %v", err)
		}
		reg, err := registry.New(s)
		if err != nil {
			t.Fatal(err)
		}
		return s, reg
	}
	for _, backend := range []string{"memory", "badger"} {
		t.Run(backend, func(t *testing.T) {
			var s storage.Storage
			var reg *registry.Registry
			if backend == "memory" {
				s = memory.New()
				reg, _ = registry.New(s)
			} else {
				s, reg = open()
			}
			if _, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: "app", ScanOnPush: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := reg.PutLifecyclePolicy(ctx, "app", policyAllImages); err != nil {
				t.Fatal(err)
			}
			if _, err := reg.RunLifecycle(ctx, registry.LifecycleRunOptions{}); err != nil {
				t.Fatal(err)
			}
			if backend == "badger" {
				reg.Close()
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s, reg = open()
			}
			defer s.Close()
			got, err := reg.GetLifecyclePolicy(ctx, "app")
			if err != nil || got.LifecyclePolicyText != policyAllImages || got.LastEvaluatedAt.IsZero() {
				t.Errorf("GetLifecyclePolicy() = %+v, %v; want the policy with LastEvaluatedAt", got, err)
			}
			rec, err := s.GetRepository(ctx, "app")
			if err != nil || !rec.ScanOnPush || rec.LifecyclePolicyUpdatedAt.IsZero() {
				t.Errorf("GetRepository() = %+v, %v", rec, err)
			}
			if _, err := reg.DeleteLifecyclePolicy(ctx, "app"); err != nil {
				t.Fatal(err)
			}
			if rec, _ := s.GetRepository(ctx, "app"); rec.LifecyclePolicy != "" || !rec.LastEvaluatedAt.IsZero() || !rec.ScanOnPush {
				t.Errorf("after Delete: record = %+v", rec)
			}
		})
	}
}

// TestLifecyclePreviewChangesNothing previews each example policy and
// checks that storage is identical before and after.
func TestLifecyclePreviewChangesNothing(t *testing.T) {
	policies := map[string]string{
		"untagged age":    policyUntaggedAge,
		"prod age":        policyProdAge,
		"untagged count":  policyUntaggedCount,
		"prod and beta":   policyProdBeta,
		"all images":      policyAllImages,
		"alpha example B": policyAlphaB,
		"since pulled":    policyPulled,
	}
	for name, text := range policies {
		t.Run(name, func(t *testing.T) {
			f := newLCFixture(t)
			f.standard(t)
			f.clock.Add(time.Hour) // no preview shares a timestamp with a push
			before := f.snapshot(t)
			f.ResetEvents()

			// A draft, then the stored policy.
			ctx := context.Background()
			st, err := f.reg.StartLifecyclePolicyPreview(ctx, f.repo, text)
			if err != nil || st.Status != registry.LifecyclePolicyPreviewComplete || st.LifecyclePolicyText != text {
				t.Fatalf("StartLifecyclePolicyPreview() = %+v, %v", st, err)
			}
			draft := f.previewAll(t, 3)
			if draft.Summary.ExpiringImageTotalCount == 0 || len(draft.PreviewResults) != draft.Summary.ExpiringImageTotalCount {
				t.Errorf("preview has %d results, summary %d; want the same, above 0", len(draft.PreviewResults), draft.Summary.ExpiringImageTotalCount)
			}
			if _, err := f.reg.StartLifecyclePolicyPreview(ctx, f.repo, ""); !errors.Is(err, registry.ErrLifecyclePolicyNotFound) {
				t.Errorf("StartLifecyclePolicyPreview(stored, none) error = %v, want ErrLifecyclePolicyNotFound", err)
			}
			// Storing the policy changes the record: snapshot again.
			f.putPolicy(t, text)
			before.Repository, _ = f.store.GetRepository(ctx, f.repo)
			if _, err := f.reg.StartLifecyclePolicyPreview(ctx, f.repo, ""); err != nil {
				t.Fatal(err)
			}
			stored := f.previewAll(t, 100)
			if !reflect.DeepEqual(f.previewExpiries(stored), f.previewExpiries(draft)) {
				t.Errorf("stored-policy preview = %v, draft preview = %v", f.previewExpiries(stored), f.previewExpiries(draft))
			}
			// A dry run reads the same way.
			if _, err := f.reg.RunLifecycle(ctx, registry.LifecycleRunOptions{DryRun: true}); err != nil {
				t.Fatal(err)
			}

			after := f.snapshot(t)
			if !reflect.DeepEqual(before, after) {
				t.Errorf("storage changed by preview:\nbefore %+v\nafter  %+v", before, after)
			}
			if ev := f.Events(); len(ev) != 0 {
				t.Errorf("preview emitted events %+v", ev)
			}
		})
	}
}

func TestLifecyclePreviewMatchesRun(t *testing.T) {
	for name, text := range map[string]string{
		"untagged age":    policyUntaggedAge,
		"prod and beta":   policyProdBeta,
		"all images":      policyAllImages,
		"alpha example B": policyAlphaB,
		"since pulled":    policyPulled,
	} {
		t.Run(name, func(t *testing.T) {
			f := newLCFixture(t)
			f.standard(t)
			ctx := context.Background()
			f.putPolicy(t, text)
			if _, err := f.reg.StartLifecyclePolicyPreview(ctx, f.repo, ""); err != nil {
				t.Fatal(err)
			}
			preview := f.previewExpiries(f.previewAll(t, 2))

			dry, err := f.reg.RunLifecycle(ctx, registry.LifecycleRunOptions{DryRun: true})
			if err != nil || !dry.DryRun || len(dry.Errors) > 0 {
				t.Fatalf("RunLifecycle(dry) = %+v, %v", dry, err)
			}
			if got := f.reportExpiries(dry); !reflect.DeepEqual(got, preview) {
				t.Errorf("dry run expires %v, preview %v", got, preview)
			}
			before := f.snapshot(t)
			run, err := f.reg.RunLifecycle(ctx, registry.LifecycleRunOptions{})
			if err != nil || len(run.Errors) > 0 || len(run.Skipped) > 0 {
				t.Fatalf("RunLifecycle() = %+v, %v", run, err)
			}
			if got := f.reportExpiries(run); !reflect.DeepEqual(got, preview) {
				t.Errorf("run expires %v, preview %v", got, preview)
			}
			if !slices.Equal(run.Repositories, []string{f.repo}) {
				t.Errorf("run.Repositories = %v", run.Repositories)
			}
			// Exactly the expired images are gone.
			after := f.snapshot(t)
			expired := map[digest.Digest]bool{}
			for _, e := range run.Expired {
				expired[e.Digest] = true
			}
			for d := range before.Manifests {
				_, kept := after.Manifests[d]
				if kept == expired[d] {
					t.Errorf("%s: kept = %v, expired = %v", f.name(d), kept, expired[d])
				}
			}
			// Blobs stay (garbage collection removes them).
			if !reflect.DeepEqual(before.Blobs, after.Blobs) || !reflect.DeepEqual(before.Links, after.Links) {
				t.Errorf("blobs changed by the run")
			}
			// Nothing left to expire.
			again, err := f.reg.RunLifecycle(ctx, registry.LifecycleRunOptions{})
			if err != nil || len(again.Expired) != 0 {
				t.Errorf("second RunLifecycle() = %+v, %v; want nothing expired", again, err)
			}
		})
	}
}

func TestLifecycleDryRunChangesNothing(t *testing.T) {
	f := newLCFixture(t)
	f.standard(t)
	f.putPolicy(t, policyAlphaB)
	before := f.snapshot(t)
	f.ResetEvents()
	rep, err := f.reg.RunLifecycle(context.Background(), registry.LifecycleRunOptions{DryRun: true})
	if err != nil || len(rep.Expired) == 0 {
		t.Fatalf("RunLifecycle(dry) = %+v, %v; want expiries", rep, err)
	}
	if after := f.snapshot(t); !reflect.DeepEqual(before, after) {
		t.Errorf("dry run changed storage:\nbefore %+v\nafter  %+v", before, after)
	}
	if ev := f.Events(); len(ev) != 0 {
		t.Errorf("dry run emitted %+v", ev)
	}
	if got, _ := f.reg.GetLifecyclePolicy(context.Background(), f.repo); !got.LastEvaluatedAt.IsZero() {
		t.Errorf("dry run set LastEvaluatedAt = %v", got.LastEvaluatedAt)
	}
}

func TestLifecycleRunDeletesAndEmits(t *testing.T) {
	f := newLCFixture(t)
	ctx := context.Background()
	// ECR's "Filtering on multiple rules", example A: prod keeps 1, beta
	// keeps 1. A (beta-1, prod-1) is expired by rule 1 (prod) and takes
	// its beta tag with it; C (beta-3) is kept by rule 2 as the newest
	// beta that rule 1 does not own... B (prod-2) is the newest prod.
	f.push(t, "A", 10*day, nil, "beta-1", "prod-1")
	f.push(t, "B", 9*day, nil, "beta-2", "prod-2")
	f.push(t, "C", 8*day, nil, "beta-3")
	f.push(t, "U", 20*day, nil)
	f.putPolicy(t, policyProdBeta)
	f.ResetEvents()

	rep, err := f.reg.RunLifecycle(ctx, registry.LifecycleRunOptions{})
	if err != nil || len(rep.Errors) != 0 {
		t.Fatalf("RunLifecycle() = %+v, %v", rep, err)
	}
	if got, want := f.reportExpiries(rep), []expiry{{"A", 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("expired %v, want %v", got, want)
	}
	if !slices.Equal(rep.Expired[0].Tags, []string{"beta-1", "prod-1"}) || rep.Expired[0].Repository != f.repo {
		t.Errorf("expired image = %+v", rep.Expired[0])
	}
	// All of A's tags went at once; the others stay.
	tags, _, err := f.reg.ListTags(ctx, f.repo, "", 0)
	if err != nil || !slices.Equal(tags, []string{"beta-2", "beta-3", "prod-2"}) {
		t.Errorf("ListTags() = %v, %v", tags, err)
	}
	if _, err := f.reg.StatImage(ctx, f.repo, f.d["A"].String()); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Errorf("StatImage(A) error = %v, want ErrManifestUnknown", err)
	}
	for _, n := range []string{"B", "C", "U"} {
		if _, err := f.reg.StatImage(ctx, f.repo, f.d[n].String()); err != nil {
			t.Errorf("StatImage(%s) error = %v", n, err)
		}
	}
	ev := f.Events()
	if len(ev) != 2 || ev[0].Kind != registry.EventManifestDeleted || ev[1].Kind != registry.EventImageExpired {
		t.Fatalf("events = %+v, want ManifestDeleted then ImageExpired", ev)
	}
	for _, e := range ev {
		if e.Repository != f.repo || e.Digest != f.d["A"].String() || !slices.Equal(e.Tags, []string{"beta-1", "prod-1"}) || !e.Time.Equal(f.clock.Now()) {
			t.Errorf("event = %+v", e)
		}
	}
	got, err := f.reg.GetLifecyclePolicy(ctx, f.repo)
	if err != nil || !got.LastEvaluatedAt.Equal(f.clock.Now()) {
		t.Errorf("LastEvaluatedAt = %v, %v; want %v", got.LastEvaluatedAt, err, f.clock.Now())
	}

	// Repositories without a policy are not touched by a run over all, and
	// named ones without a policy are reported.
	if _, err := f.reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	rep, err = f.reg.RunLifecycle(ctx, registry.LifecycleRunOptions{})
	if err != nil || !slices.Equal(rep.Repositories, []string{f.repo}) {
		t.Errorf("RunLifecycle(all) = %+v, %v; want only %s", rep, err, f.repo)
	}
	rep, err = f.reg.RunLifecycle(ctx, registry.LifecycleRunOptions{Repositories: []string{"other", "missing", f.repo}})
	if err != nil || len(rep.Errors) != 2 || !errors.Is(rep.Errors[0], registry.ErrLifecyclePolicyNotFound) || !errors.Is(rep.Errors[1], registry.ErrNameUnknown) {
		t.Errorf("RunLifecycle(named) = %+v, %v", rep, err)
	}
	if !slices.Equal(rep.Repositories, []string{f.repo}) {
		t.Errorf("RunLifecycle(named).Repositories = %v", rep.Repositories)
	}
}

func TestLifecycleIndexChildrenKept(t *testing.T) {
	f := newLCFixture(t)
	ctx := context.Background()
	a1 := f.push(t, "a1", 30*day, nil)
	b1 := f.push(t, "b1", 30*day, nil)
	f.pushIndex(t, "index1", 30*day, []ocispec.Descriptor{a1, b1}, "multi-1")
	a2 := f.push(t, "a2", 10*day, nil)
	b2 := f.push(t, "b2", 10*day, nil)
	f.pushIndex(t, "index2", 10*day, []ocispec.Descriptor{a2, b2}, "multi-2")

	// Untagged children are old enough, but their indexes are kept.
	f.putPolicy(t, policyUntaggedAge)
	rep, err := f.reg.RunLifecycle(ctx, registry.LifecycleRunOptions{})
	if err != nil || len(rep.Expired) != 0 {
		t.Fatalf("RunLifecycle(untagged) = %+v, %v; want nothing expired", rep, err)
	}

	// Keep one multi-* index: index1 goes, and its children with it, after
	// it; index2 and its children stay.
	f.putPolicy(t, lcPolicy(
		lcRule(1, `"tagStatus": "tagged", "tagPrefixList": ["multi"], "countType": "imageCountMoreThan", "countNumber": 1`),
		lcRule(2, `"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14`)))
	rep, err = f.reg.RunLifecycle(ctx, registry.LifecycleRunOptions{})
	if err != nil || len(rep.Errors) != 0 {
		t.Fatalf("RunLifecycle() = %+v, %v", rep, err)
	}
	var order []string
	for _, e := range rep.Expired {
		order = append(order, f.name(e.Digest))
	}
	if len(order) != 3 || order[0] != "index1" || !slices.Contains(order, "a1") || !slices.Contains(order, "b1") {
		t.Errorf("expired in order %v, want index1 then a1, b1", order)
	}
	for _, n := range []string{"index2", "a2", "b2"} {
		if _, err := f.reg.StatImage(ctx, f.repo, f.d[n].String()); err != nil {
			t.Errorf("StatImage(%s) error = %v", n, err)
		}
	}
}

func TestLifecycleReferrersGoWithSubject(t *testing.T) {
	f := newLCFixture(t)
	ctx := context.Background()
	old := f.push(t, "old", 30*day, nil, "old-1")
	sig := f.referrer(t, "sig", 30*day, old)
	f.push(t, "sbom-of-sig", 30*day, func(m *ocispec.Manifest) {
		m.ArtifactType = "application/vnd.example.sbom"
		m.Subject = &ocispec.Descriptor{MediaType: sig.MediaType, Digest: sig.Digest, Size: sig.Size}
	})
	kept := f.push(t, "kept", 1*day, nil, "old-2")
	f.referrer(t, "kept-sig", 30*day, kept)

	f.putPolicy(t, lcPolicy(
		lcRule(1, `"tagStatus": "tagged", "tagPrefixList": ["old"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14`),
		lcRule(2, `"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14`)))
	rep, err := f.reg.RunLifecycle(ctx, registry.LifecycleRunOptions{})
	if err != nil || len(rep.Errors) != 0 {
		t.Fatalf("RunLifecycle() = %+v, %v", rep, err)
	}
	var order []string
	for _, e := range rep.Expired {
		order = append(order, f.name(e.Digest))
		if e.RulePriority != 1 {
			t.Errorf("%s expired by rule %d, want 1 (its subject's)", f.name(e.Digest), e.RulePriority)
		}
	}
	// Referrers first, down the chain.
	if want := []string{"sbom-of-sig", "sig", "old"}; !slices.Equal(order, want) {
		t.Errorf("expired in order %v, want %v", order, want)
	}
	if refs, err := f.reg.Referrers(ctx, f.repo, old.Digest, ""); err != nil || len(refs) != 0 {
		t.Errorf("Referrers(old) = %v, %v; want none", refs, err)
	}
	// The referrer of a kept image stays, however old and untagged.
	if refs, err := f.reg.Referrers(ctx, f.repo, kept.Digest, ""); err != nil || len(refs) != 1 {
		t.Errorf("Referrers(kept) = %v, %v; want the signature", refs, err)
	}
}

// hookStore calls onTagsOf once, the first time TagsOf is called while
// armed: after the runner's evaluation, before its deletions.
type hookStore struct {
	storage.Storage
	armed    atomic.Bool
	onTagsOf func()
}

func (s *hookStore) TagsOf(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	if s.armed.CompareAndSwap(true, false) {
		s.onTagsOf()
	}
	return s.Storage.TagsOf(ctx, repo, d)
}

func TestLifecycleRunSkipsChangedImages(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	store := &hookStore{Storage: memory.New()}
	reg, err := registry.New(store, registry.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	f := &lcFixture{reg: reg, store: store, clock: clock, repo: "app", d: map[string]digest.Digest{}}
	if _, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: f.repo}); err != nil {
		t.Fatal(err)
	}
	a := f.push(t, "A", 30*day, nil)
	f.referrer(t, "A-sig", 30*day, a)
	f.push(t, "B", 31*day, nil)
	f.putPolicy(t, policyUntaggedAge)

	// While the run checks its images, someone tags A.
	payload, err := store.GetManifest(ctx, f.repo, a.Digest)
	if err != nil {
		t.Fatal(err)
	}
	store.onTagsOf = func() {
		if _, err := reg.PutImage(ctx, registry.PutImageInput{Repository: f.repo, Manifest: payload.Payload, Tag: "rescued"}); err != nil {
			t.Errorf("PutImage(rescued) error = %v", err)
		}
	}
	store.armed.Store(true)
	rep, err := reg.RunLifecycle(ctx, registry.LifecycleRunOptions{})
	if err != nil || len(rep.Errors) != 0 {
		t.Fatalf("RunLifecycle() = %+v, %v", rep, err)
	}
	var expired, skipped []string
	for _, e := range rep.Expired {
		expired = append(expired, f.name(e.Digest))
	}
	for _, e := range rep.Skipped {
		skipped = append(skipped, f.name(e.Digest))
	}
	slices.Sort(skipped)
	if !slices.Equal(expired, []string{"B"}) || !slices.Equal(skipped, []string{"A", "A-sig"}) {
		t.Errorf("expired %v, skipped %v; want [B], [A A-sig]", expired, skipped)
	}
	for _, n := range []string{"A", "A-sig"} {
		if _, err := reg.StatImage(ctx, f.repo, f.d[n].String()); err != nil {
			t.Errorf("StatImage(%s) error = %v", n, err)
		}
	}
}

func TestLifecyclePreviewPages(t *testing.T) {
	f := newLCFixture(t)
	ctx := context.Background()
	get := func(in registry.GetLifecyclePolicyPreviewInput) (registry.GetLifecyclePolicyPreviewOutput, error) {
		in.Repository = f.repo
		return f.reg.GetLifecyclePolicyPreview(ctx, in)
	}
	if _, err := get(registry.GetLifecyclePolicyPreviewInput{}); !errors.Is(err, registry.ErrLifecyclePolicyPreviewNotFound) {
		t.Errorf("GetLifecyclePolicyPreview() before Start error = %v, want ErrLifecyclePolicyPreviewNotFound", err)
	}
	for i := range 5 {
		f.push(t, fmt.Sprintf("t%d", i), time.Duration(10+i)*day, nil, fmt.Sprintf("v%d", i))
		f.push(t, fmt.Sprintf("u%d", i), time.Duration(10+i)*day, nil)
	}
	f.push(t, "newest", 0, nil, "v9")
	if _, err := f.reg.StartLifecyclePolicyPreview(ctx, f.repo, policyAllImages); err != nil {
		t.Fatal(err)
	}
	all := f.previewAll(t, 3)
	if len(all.PreviewResults) != 10 || all.Summary.ExpiringImageTotalCount != 10 {
		t.Fatalf("preview has %d results, summary %+v; want 10", len(all.PreviewResults), all.Summary)
	}
	for i, r := range all.PreviewResults {
		if r.Action.Type != lifecycle.ImageActionExpire || r.AppliedRulePriority != 1 || r.ImagePushedAt.IsZero() {
			t.Errorf("result %d = %+v", i, r)
		}
		if i > 0 && r.ImagePushedAt.Before(all.PreviewResults[i-1].ImagePushedAt) {
			t.Errorf("results not ordered by push time")
		}
	}

	tagged, err := get(registry.GetLifecyclePolicyPreviewInput{TagStatus: registry.TagStatusTagged})
	if err != nil || len(tagged.PreviewResults) != 5 || tagged.Summary.ExpiringImageTotalCount != 10 {
		t.Errorf("TAGGED preview = %d results, %+v, %v; want 5 of 10", len(tagged.PreviewResults), tagged.Summary, err)
	}
	untagged, err := get(registry.GetLifecyclePolicyPreviewInput{TagStatus: registry.TagStatusUntagged, MaxResults: 2})
	if err != nil || len(untagged.PreviewResults) != 2 || untagged.NextToken == "" {
		t.Errorf("UNTAGGED page = %+v, %v", untagged, err)
	}
	for _, r := range untagged.PreviewResults {
		if len(r.ImageTags) != 0 {
			t.Errorf("UNTAGGED page holds %+v", r)
		}
	}
	byID, err := get(registry.GetLifecyclePolicyPreviewInput{ImageIDs: []registry.ImageID{{ImageTag: "v1"}, {ImageDigest: f.d["u2"]}, {ImageTag: "v9"}}})
	if err != nil || len(byID.PreviewResults) != 2 {
		t.Errorf("preview by id = %+v, %v; want t1 and u2 (newest is kept)", byID, err)
	}

	for _, in := range []registry.GetLifecyclePolicyPreviewInput{
		{TagStatus: "SOME"},
		{MaxResults: 101},
		{MaxResults: -1},
		{NextToken: "garbage"},
		{ImageIDs: []registry.ImageID{{ImageTag: "v1"}}, NextToken: untagged.NextToken},
		{ImageIDs: []registry.ImageID{{}}},
	} {
		if _, err := get(in); !errors.Is(err, registry.ErrInvalidParameter) {
			t.Errorf("GetLifecyclePolicyPreview(%+v) error = %v, want ErrInvalidParameter", in, err)
		}
	}
	// A new preview invalidates the old one's tokens.
	if _, err := f.reg.StartLifecyclePolicyPreview(ctx, f.repo, policyUntaggedCount); err != nil {
		t.Fatal(err)
	}
	if _, err := get(registry.GetLifecyclePolicyPreviewInput{NextToken: untagged.NextToken}); !errors.Is(err, registry.ErrInvalidParameter) {
		t.Errorf("token of an older preview: error = %v, want ErrInvalidParameter", err)
	}
	if out, err := get(registry.GetLifecyclePolicyPreviewInput{}); err != nil || out.Summary.ExpiringImageTotalCount != 4 || out.LifecyclePolicyText != policyUntaggedCount {
		t.Errorf("new preview = %+v, %v; want 4 untagged expiring", out, err)
	}

	// Previews expire.
	f.clock.Add(registry.LifecyclePolicyPreviewTTL + time.Minute)
	out, err := get(registry.GetLifecyclePolicyPreviewInput{})
	if err != nil || out.Status != registry.LifecyclePolicyPreviewExpired || len(out.PreviewResults) != 0 {
		t.Errorf("old preview = %+v, %v; want EXPIRED", out, err)
	}
	if _, err := get(registry.GetLifecyclePolicyPreviewInput{}); !errors.Is(err, registry.ErrLifecyclePolicyPreviewNotFound) {
		t.Errorf("expired preview read twice: error = %v, want ErrLifecyclePolicyPreviewNotFound", err)
	}

	// A re-created repository has no preview.
	if _, err := f.reg.StartLifecyclePolicyPreview(ctx, f.repo, policyAllImages); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.DeleteRepository(ctx, f.repo, true); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Second)
	if _, err := f.reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: f.repo}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(registry.GetLifecyclePolicyPreviewInput{}); !errors.Is(err, registry.ErrLifecyclePolicyPreviewNotFound) {
		t.Errorf("preview of a re-created repository: error = %v, want ErrLifecyclePolicyPreviewNotFound", err)
	}
}

func TestLifecycleAuthorization(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	deny := ""
	authz := policy.AuthorizerFunc(func(_ context.Context, in policy.Input) (policy.Decision, error) {
		mu.Lock()
		defer mu.Unlock()
		seen[in.Action]++
		return policy.Decision{Allow: in.Action != deny}, nil
	})
	f := newLCFixture(t, registry.WithAuthorizer(authz))
	ctx := context.Background()
	f.putPolicy(t, policyAllImages)
	if _, err := f.reg.GetLifecyclePolicy(ctx, f.repo); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.StartLifecyclePolicyPreview(ctx, f.repo, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.GetLifecyclePolicyPreview(ctx, registry.GetLifecyclePolicyPreviewInput{Repository: f.repo}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.DeleteLifecyclePolicy(ctx, f.repo); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"ecr:PutLifecyclePolicy", "ecr:GetLifecyclePolicy", "ecr:DeleteLifecyclePolicy", "ecr:StartLifecyclePolicyPreview", "ecr:GetLifecyclePolicyPreview"} {
		if seen[a] != 1 {
			t.Errorf("action %s authorized %d times, want 1 (seen %v)", a, seen[a], seen)
		}
	}

	calls := map[string]func() error{
		"ecr:PutLifecyclePolicy":    func() error { _, err := f.reg.PutLifecyclePolicy(ctx, f.repo, policyAllImages); return err },
		"ecr:GetLifecyclePolicy":    func() error { _, err := f.reg.GetLifecyclePolicy(ctx, f.repo); return err },
		"ecr:DeleteLifecyclePolicy": func() error { _, err := f.reg.DeleteLifecyclePolicy(ctx, f.repo); return err },
		"ecr:StartLifecyclePolicyPreview": func() error {
			_, err := f.reg.StartLifecyclePolicyPreview(ctx, f.repo, policyAllImages)
			return err
		},
		"ecr:GetLifecyclePolicyPreview": func() error {
			_, err := f.reg.GetLifecyclePolicyPreview(ctx, registry.GetLifecyclePolicyPreviewInput{Repository: f.repo})
			return err
		},
	}
	for action, call := range calls {
		mu.Lock()
		deny = action
		mu.Unlock()
		if err := call(); !errors.Is(err, registry.ErrUnauthorized) {
			t.Errorf("%s denied: error = %v, want ErrUnauthorized", action, err)
		}
	}
	mu.Lock()
	deny = ""
	mu.Unlock()
	// A denied Put leaves no policy behind.
	if _, err := f.reg.GetLifecyclePolicy(ctx, f.repo); !errors.Is(err, registry.ErrLifecyclePolicyNotFound) {
		t.Errorf("after denied Put: error = %v, want ErrLifecyclePolicyNotFound", err)
	}
}

// countHandler counts "lifecycle run" log records.
type countHandler struct{ runs atomic.Int64 }

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "lifecycle run" {
		h.runs.Add(1)
	}
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func TestLifecycleScheduler(t *testing.T) {
	h := &countHandler{}
	f := newLCFixture(t, registry.WithLogger(slog.New(h)))
	f.push(t, "old", 30*day, nil)
	f.push(t, "new", 1*day, nil)
	f.putPolicy(t, policyUntaggedCount)

	if _, err := registry.NewLifecycleScheduler(nil, time.Second, registry.LifecycleRunOptions{}); err == nil {
		t.Error("NewLifecycleScheduler(nil) error = nil")
	}
	if _, err := registry.NewLifecycleScheduler(f.reg, 0, registry.LifecycleRunOptions{}); err == nil {
		t.Error("NewLifecycleScheduler(interval 0) error = nil")
	}

	base := runtime.NumGoroutine()
	s, err := registry.NewLifecycleScheduler(f.reg, 5*time.Millisecond, registry.LifecycleRunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("NewLifecycleScheduler started %d goroutines", n-base)
	}
	ctx := t.Context()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start() error = %v", err)
	}
	if err := s.Start(ctx); err == nil {
		t.Error("second Start() error = nil")
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.runs.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d runs in 10s", h.runs.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := f.reg.StatImage(context.Background(), f.repo, f.d["old"].String()); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Errorf("scheduled runs kept the old image: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	// Close waited for the goroutine: no run starts afterwards.
	runs := h.runs.Load()
	time.Sleep(30 * time.Millisecond)
	if got := h.runs.Load(); got != runs {
		t.Errorf("%d runs after Close", got-runs)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() error = %v", err)
	}
	if err := s.Start(ctx); !errors.Is(err, registry.ErrClosed) {
		t.Errorf("Start() after Close error = %v, want ErrClosed", err)
	}
	var nilS *registry.LifecycleScheduler
	if err := nilS.Close(); err != nil {
		t.Errorf("nil Close() error = %v", err)
	}
	// RunNow works without the goroutine.
	rep, err := s.RunNow(context.Background())
	if err != nil || len(rep.Repositories) != 1 {
		t.Errorf("RunNow() = %+v, %v", rep, err)
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > base; {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d after Close, %d before Start", runtime.NumGoroutine(), base)
		}
		time.Sleep(time.Millisecond)
	}

	// Cancelling Start's context stops the goroutine too; Close then
	// returns at once.
	s2, _ := registry.NewLifecycleScheduler(f.reg, time.Hour, registry.LifecycleRunOptions{DryRun: true})
	ctx2, cancel := context.WithCancel(context.Background())
	if err := s2.Start(ctx2); err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan struct{})
	go func() { s2.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close() after cancel does not return")
	}
	// A closed registry stops runs.
	f.reg.Close()
	if _, err := f.reg.RunLifecycle(context.Background(), registry.LifecycleRunOptions{}); !errors.Is(err, registry.ErrClosed) {
		t.Errorf("RunLifecycle() on closed registry error = %v, want ErrClosed", err)
	}
}

// BenchmarkLifecycleDryRun10k measures a dry run (listing, tags,
// evaluation) over a repository of 10,000 images, half of them tagged.
func BenchmarkLifecycleDryRun10k(b *testing.B) {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	clock := newFakeClock()
	reg, err := registry.New(store, registry.WithClock(clock.Now))
	if err != nil {
		b.Fatal(err)
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := []byte("layer")
	for _, blob := range [][]byte{cfg, layer} {
		if _, err := reg.PushBlob(ctx, "app", digest.FromBytes(blob), strings.NewReader(string(blob))); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 10000 {
		m := ocispec.Manifest{
			Versioned:   specs.Versioned{SchemaVersion: 2},
			MediaType:   ocispec.MediaTypeImageManifest,
			Config:      ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
			Layers:      []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}},
			Annotations: map[string]string{"n": fmt.Sprint(i)},
		}
		payload, _ := json.Marshal(m)
		in := registry.PutImageInput{Repository: "app", Manifest: payload}
		if i%2 == 0 {
			in.Tag = fmt.Sprintf("v%d", i)
		}
		clock.Add(time.Minute)
		if _, err := reg.PutImage(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := reg.PutLifecyclePolicy(ctx, "app", policyAlphaB); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rep, err := reg.RunLifecycle(ctx, registry.LifecycleRunOptions{DryRun: true})
		if err != nil || len(rep.Expired) < 5000 {
			b.Fatalf("RunLifecycle() = %d expired, %v", len(rep.Expired), err)
		}
	}
}
