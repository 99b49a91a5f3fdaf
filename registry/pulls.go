package registry

import (
	"context"
	"errors"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

// Pull-time recording.
//
// A manifest GET must not cost a metadata write, yet lifecycle rules on
// sinceImagePulled and DescribeImages need the last pull time. So a pull
// is written at most once per image per PullRecordInterval, and not in the
// request: it is noted in memory and a batch of notes is written after
// pullFlushDelay (or at Close). The notes are visible at once: the Go API
// (DescribeImages, lifecycle evaluation) reads the newer of the stored time
// and the pending one, so batching changes only what a crash may lose —
// at most pullFlushDelay of pull times, which are statistics, never
// content. The flush writes the batch from a few goroutines at once so
// that a store with group commit (badgerstore) makes it one transaction.

// pullFlushDelay is how long pull notes wait before they are written.
const pullFlushDelay = time.Second

// pullFlushWriters bounds the concurrent writes of a flush.
const pullFlushWriters = 16

type pullKey struct {
	repo string
	dgst digest.Digest
}

// pullRecorder holds the pull notes of a Registry.
type pullRecorder struct {
	// written remembers when each image's pull was last noted, for the
	// interval; entries older than the interval are dropped at each flush.
	written sync.Map // pullKey -> time.Time

	mu      sync.Mutex
	pending map[pullKey]time.Time
	timer   *time.Timer
	closed  bool
	running sync.WaitGroup // flushes in progress
}

// recordPull notes a pull of repo@dgst and emits EventManifestPulled.
func (r *Registry) recordPull(ctx context.Context, repo string, dgst digest.Digest) {
	now := r.now()
	k := pullKey{repo, dgst}
	p := &r.pullRec
	if v, ok := p.written.Load(k); ok && now.Sub(v.(time.Time)) < r.opts.pullRecordInterval {
		return
	}
	p.written.Store(k, now)
	p.mu.Lock()
	if !p.closed {
		if p.pending == nil {
			p.pending = make(map[pullKey]time.Time)
		}
		p.pending[k] = now
		if p.timer == nil {
			p.running.Add(1)
			p.timer = time.AfterFunc(pullFlushDelay, func() {
				defer p.running.Done()
				r.flushPulls(context.Background())
			})
		}
	}
	p.mu.Unlock()
	r.emit(ctx, Event{Kind: EventManifestPulled, Repository: repo, Digest: dgst.String()})
}

// pendingPull returns the noted, not yet written, pull time of repo@dgst.
func (r *Registry) pendingPull(repo string, dgst digest.Digest) (time.Time, bool) {
	p := &r.pullRec
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.pending[pullKey{repo, dgst}]
	return t, ok
}

// withPendingPull sets m.LastPulledAt to a newer noted pull, if any.
func (r *Registry) withPendingPull(repo string, m *storage.Manifest) {
	if t, ok := r.pendingPull(repo, m.Digest); ok && t.After(m.LastPulledAt) {
		m.LastPulledAt = t
	}
}

// flushPulls writes the pending notes. A note stays visible through
// pendingPull until its write has returned.
func (r *Registry) flushPulls(ctx context.Context) {
	p := &r.pullRec
	p.mu.Lock()
	batch := p.pending
	p.timer = nil
	p.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	type note struct {
		k  pullKey
		at time.Time
	}
	notes := make(chan note)
	var wg sync.WaitGroup
	for range min(pullFlushWriters, len(batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range notes {
				err := r.store.RecordPull(ctx, n.k.repo, n.k.dgst, n.at)
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					r.log.WarnContext(ctx, "record pull", "repo", n.k.repo, "digest", n.k.dgst, "err", err)
				}
			}
		}()
	}
	for k, at := range batch {
		notes <- note{k, at}
	}
	close(notes)
	wg.Wait()

	// Drop the written notes, unless a newer pull replaced one meanwhile
	// (it is written by the next flush).
	p.mu.Lock()
	for k, at := range batch {
		if cur, ok := p.pending[k]; ok && cur.Equal(at) {
			delete(p.pending, k)
		}
	}
	p.mu.Unlock()
	now := r.now()
	p.written.Range(func(k, v any) bool {
		if now.Sub(v.(time.Time)) >= r.opts.pullRecordInterval {
			p.written.Delete(k)
		}
		return true
	})
}

// closePulls writes the pending notes and stops recording. It is
// idempotent.
func (r *Registry) closePulls() {
	p := &r.pullRec
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.timer != nil && p.timer.Stop() {
		p.running.Done() // the timer's flush will not run
	}
	p.mu.Unlock()
	p.running.Wait()
	r.flushPulls(context.Background())
}

// forgetPull drops what is noted about repo@dgst, when it is deleted: a
// push of the same digest later starts without a pull time.
func (r *Registry) forgetPull(repo string, dgst digest.Digest) {
	p := &r.pullRec
	k := pullKey{repo, dgst}
	p.written.Delete(k)
	p.mu.Lock()
	delete(p.pending, k)
	p.mu.Unlock()
}
