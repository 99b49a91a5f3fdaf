package inventory_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/berth-dev/berth/scan/osv/inventory"
)

// syntheticLayer returns the entries of a ~64 MiB layer that compresses
// about as well as a typical OS layer: a dpkg database, text files (about
// 9/10 of the files), incompressible data and a few executables.
func syntheticLayer(b *testing.B) []ent {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three")
	var status strings.Builder
	for i := range 500 {
		fmt.Fprintf(&status, "Package: pkg%d\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: %d\nMaintainer: Someone <someone@example.org>\nArchitecture: amd64\nSource: src%d (1.%d-1)\nVersion: 1.%d-1+b1\nDepends: libc6 (>= 2.36)\nDescription: package number %d\n synthetic package\n\n", i, 100+i, i/3, i, i, i)
	}
	ents := []ent{file("etc/os-release", "ID=debian\nVERSION_ID=12\n"), file("var/lib/dpkg/status", status.String())}
	const fileSize = 32 << 10
	for i := 0; i < 2048-4-len(ents); i++ {
		buf := make([]byte, 0, fileSize)
		if i%10 == 9 {
			for len(buf) < fileSize {
				buf = append(buf, byte(rng.Uint32()))
			}
		} else {
			for len(buf) < fileSize {
				buf = append(buf, words[rng.IntN(len(words))]...)
				if rng.IntN(12) == 0 {
					buf = fmt.Appendf(buf, " %d\n", rng.IntN(100000))
				} else {
					buf = append(buf, ' ')
				}
			}
		}
		ents = append(ents, file(fmt.Sprintf("usr/share/data/%03d/file%d.txt", i%97, i), string(buf[:fileSize])))
	}
	for i := range 4 {
		elf := []byte("\x7fELF\x02\x01\x01\x00")
		for len(elf) < 1<<20 {
			elf = append(elf, byte(rng.Uint32()&0x0f))
		}
		ents = append(ents, exe(fmt.Sprintf("usr/bin/tool%d", i), elf))
	}
	return ents
}

func benchmarkInventory(b *testing.B, compression string) {
	ents := syntheticLayer(b)
	raw := tarBytes(b, ents...)
	s := newBlobs()
	l := layerOf(b, s, compression, ents...)
	var compressed int64
	if rc, err := l.Open(context.Background()); err == nil {
		for buf := make([]byte, 1<<20); ; {
			n, err := rc.Read(buf)
			compressed += int64(n)
			if err != nil {
				break
			}
		}
	}
	b.SetBytes(compressed)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		img, err := inventory.Read(context.Background(), []inventory.Layer{l}, inventory.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(img.Packages) != 500 {
			b.Fatalf("packages = %d, want 500", len(img.Packages))
		}
	}
	b.ReportMetric(float64(len(raw))/float64(compressed), "ratio")
}

// BenchmarkInventoryGzip reports MB/s of gzip-compressed layer read by one
// goroutine (the target is 60 MB/s per core).
func BenchmarkInventoryGzip(b *testing.B) { benchmarkInventory(b, "gzip") }

// BenchmarkInventoryZstd reports MB/s of zstd-compressed layer read by one
// goroutine (the target is 120 MB/s per core).
func BenchmarkInventoryZstd(b *testing.B) { benchmarkInventory(b, "zstd") }

// BenchmarkInventoryTar is the uncompressed baseline.
func BenchmarkInventoryTar(b *testing.B) { benchmarkInventory(b, "none") }
