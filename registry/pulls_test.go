package registry_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/memory"
)

// countingStore counts RecordPull calls.
type countingStore struct {
	storage.Storage
	pulls atomic.Int64
}

func (s *countingStore) RecordPull(ctx context.Context, repo string, dgst digest.Digest, at time.Time) error {
	s.pulls.Add(1)
	return s.Storage.RecordPull(ctx, repo, dgst, at)
}

// TestPullRecordingIsBatched: pulls never write in the request; they are
// visible at once through the Go API and written by a later flush or by
// Close, at most once per image per interval.
func TestPullRecordingIsBatched(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Storage: memory.New()}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reg, err := registry.New(store, registry.WithClock(func() time.Time { return now }), registry.WithPullRecordInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	const images = 20
	var digests []digest.Digest
	for range images {
		img := putImage(t, reg, "app", "", image(t, reg, "app", nil))
		digests = append(digests, img.Descriptor.Digest)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, d := range digests {
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := reg.GetImage(ctx, "app", d.String()); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if n := store.pulls.Load(); n != 0 && time.Since(start) < 500*time.Millisecond {
		t.Errorf("%d pull writes in the requests", n)
	}
	out, err := reg.DescribeImages(ctx, registry.DescribeImagesInput{Repository: "app", MaxResults: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range out.ImageDetails {
		if !d.LastRecordedPullTime.Equal(now) {
			t.Errorf("image %s: LastRecordedPullTime = %v before the flush, want %v", d.ImageDigest, d.LastRecordedPullTime, now)
		}
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if n := store.pulls.Load(); n != images {
		t.Errorf("%d pull writes for %d images pulled 10 times each, want one per image", n, images)
	}
	for _, d := range digests {
		m, err := store.GetManifest(ctx, "app", d)
		if err != nil || !m.LastPulledAt.Equal(now) {
			t.Errorf("stored LastPulledAt of %s = %v (%v), want %v", d, m.LastPulledAt, err, now)
		}
	}
	if err := reg.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestPullFlushAfterDelay: without Close, notes are written within about
// a second.
func TestPullFlushAfterDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the flush delay")
	}
	ctx := context.Background()
	store := &countingStore{Storage: memory.New()}
	reg, err := registry.New(store)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	img := putImage(t, reg, "app", "v1", image(t, reg, "app", nil))
	if _, err := reg.GetImage(ctx, "app", "v1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for store.pulls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	m, err := store.GetManifest(ctx, "app", img.Descriptor.Digest)
	if err != nil || m.LastPulledAt.IsZero() {
		t.Fatalf("pull not written within 10s: %v, %v", m.LastPulledAt, err)
	}
}
