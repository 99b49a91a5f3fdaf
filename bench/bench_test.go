package main

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// The Go benchmarks run single workloads against each target in-process,
// for profiling one of them, e.g.:
//
//	go test -run '^$' -bench 'ManifestPut/berth' -cpuprofile cpu.out
//
// The side-by-side report is the program (go run .), which interleaves the
// targets and takes medians.

func benchTargets(b *testing.B, fn func(b *testing.B, t *target, fx *fixtures, st *targetState)) {
	for _, name := range allTargets {
		b.Run(name, func(b *testing.B) {
			p := quickParams()
			p.blobSize = 64 << 20
			p.chunkSize = 8 << 20
			t, err := startTarget(name, b.TempDir(), newHTTPClient())
			if err != nil {
				b.Fatal(err)
			}
			defer t.stop()
			fx := newFixtures(p)
			st := newTargetState()
			if err := setup(t, fx, st); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			fn(b, t, fx, st)
		})
	}
}

func BenchmarkPushMonolithic(b *testing.B) {
	benchTargets(b, func(b *testing.B, t *target, fx *fixtures, st *targetState) {
		b.SetBytes(int64(fx.p.blobSize))
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			d := fx.blob.set(uint64(i))
			b.StartTimer()
			if err := t.c.pushMonolithic(repoBlobs, d, fx.blob.buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPushChunked(b *testing.B) {
	benchTargets(b, func(b *testing.B, t *target, fx *fixtures, st *targetState) {
		b.SetBytes(int64(fx.p.blobSize))
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			d := fx.blob.set(uint64(i))
			b.StartTimer()
			if err := t.c.pushChunked(repoBlobs, d, fx.blob.buf, fx.p.chunkSize); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPull(b *testing.B) {
	benchTargets(b, func(b *testing.B, t *target, fx *fixtures, st *targetState) {
		if _, err := pushMono(t, fx, st, 1); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(fx.p.blobSize))
		b.ResetTimer()
		for b.Loop() {
			if _, err := t.c.pullBlob(repoBlobs, st.pullDigest); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// parallel16 runs op on 16 goroutines (8 per GOMAXPROCS on 2 cores).
func parallel16(b *testing.B, op func(i int64) error) {
	var seq atomic.Int64
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(seq.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkManifestPut(b *testing.B) {
	benchTargets(b, func(b *testing.B, t *target, fx *fixtures, st *targetState) {
		parallel16(b, func(i int64) error {
			tag := fmt.Sprintf("bput-%d", i)
			return t.c.putManifest(repoManifests, tag, fx.smallManifest(tag))
		})
	})
}

func BenchmarkManifestGet(b *testing.B) {
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		b.Run(strings.ToLower(m), func(b *testing.B) {
			benchTargets(b, func(b *testing.B, t *target, fx *fixtures, st *targetState) {
				parallel16(b, func(i int64) error {
					_, err := t.c.getManifest(m, repoManifests, st.getTags[int(i)%len(st.getTags)])
					return err
				})
			})
		})
	}
}

func BenchmarkTagList(b *testing.B) {
	benchTargets(b, func(b *testing.B, t *target, fx *fixtures, st *targetState) {
		for b.Loop() {
			if _, _, err := t.c.listTags(repoTags, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestQuick runs the whole program in its -quick mode, so `go test` checks
// that every target starts and answers every workload.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	cfg := runConfig{p: quickParams(), quick: true, targets: allTargets, rss: false}
	rep, err := run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rep, "## Errors") || strings.Contains(rep, "not run:") {
		t.Fatalf("quick run had errors:\n%s", rep)
	}
}
