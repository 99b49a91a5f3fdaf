package inventory_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/scan/osv/inventory"
)

const (
	statusV1 = "Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.11-1~deb12u1\nArchitecture: amd64\n\n" +
		"Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10\nArchitecture: amd64\n\n" +
		"Package: wget\nStatus: install ok installed\nVersion: 1.21.3-1+b2\nArchitecture: amd64\n"
	statusV2 = "Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.13-1~deb12u1\nArchitecture: amd64\n\n" +
		"Package: curl\nStatus: deinstall ok config-files\nVersion: 7.88.1-10\nArchitecture: amd64\n"
)

func pkgStrings(img *inventory.Image) []string {
	var out []string
	for _, p := range img.Packages {
		out = append(out, fmt.Sprintf("%s %s@%s", p.Path, p.Name, p.Version))
	}
	return out
}

func TestLayersMerge(t *testing.T) {
	bin := helloBinary(t)
	s := newBlobs()
	base := layerOf(t, s, "gzip",
		dir("etc/"), file("etc/os-release", "ID=debian\nVERSION_ID=12\n"),
		file("var/lib/dpkg/status", statusV1),
		exe("usr/local/bin/hello", bin),
		exe("usr/local/bin/tool", bin),
		exe("opt/bin/kept", bin),
		file("app/node_modules/left-pad/package.json", `{"name":"left-pad","version":"1.3.0"}`),
		file("app/node_modules/lodash/package.json", `{"name":"lodash","version":"4.17.20"}`),
		file("srv/py/x-1.0.dist-info/METADATA", "Name: x\nVersion: 1.0\n"),
		file("srv/py2/y-2.0.dist-info/METADATA", "Name: y\nVersion: 2.0\n"),
	)
	top := layerOf(t, s, "zstd",
		// The package database is replaced.
		file("var/lib/dpkg/status", statusV2),
		// A binary is deleted, another replaced by a shell script.
		whiteout("usr/local/bin/.wh.hello"),
		exe("usr/local/bin/tool", []byte("#!/bin/sh\necho tool\n")),
		// An opaque directory hides the lower node_modules; the
		// layer's own entries below it stay.
		dir("app/node_modules/"), file("app/node_modules/.wh..wh..opq", ""),
		file("app/node_modules/lodash/package.json", `{"name":"lodash","version":"4.17.21"}`),
		// A directory is replaced by a symbolic link, another deleted.
		symlink("srv/py", "/elsewhere"),
		whiteout("srv/.wh.py2"),
	)
	img, err := inventory.Read(context.Background(), []inventory.Layer{base, top}, inventory.Options{})
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	var got []string
	for _, p := range img.Packages {
		if p.Kind == inventory.KindGoModule || p.Kind == inventory.KindGoStdlib {
			continue
		}
		layer := "base"
		if p.Layer == top.Digest {
			layer = "top"
		}
		got = append(got, fmt.Sprintf("%s %s %s@%s %s", layer, p.Path, p.Name, p.Version, p.Ecosystem))
	}
	want := []string{
		"top app/node_modules/lodash/package.json lodash@4.17.21 npm",
		"base opt/bin/kept example.com/hello@(devel) Go",
		"top var/lib/dpkg/status libssl3@3.0.13-1~deb12u1 Debian:12",
	}
	if !slices.Equal(got, want) {
		t.Errorf("packages =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Each layer alone.
	img, err = inventory.Read(context.Background(), []inventory.Layer{base}, inventory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := countKind(img, inventory.KindGoMain); n != 3 {
		t.Errorf("Go binaries in the base layer = %d, want 3", n)
	}
	if n := countKind(img, inventory.KindDpkg); n != 3 {
		t.Errorf("dpkg packages in the base layer = %d, want 3", n)
	}
}

func TestOpaqueRootAndReAdd(t *testing.T) {
	s := newBlobs()
	l1 := layerOf(t, s, "none", file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.0\n"), file("lib/apk/db/installed", "P:musl\nV:1.2.4-r1\n"))
	l2 := layerOf(t, s, "none", whiteout("lib/apk/db/.wh.installed"))
	l3 := layerOf(t, s, "none", file("lib/apk/db/installed", "P:musl\nV:1.2.4-r3\n"))
	l4 := layerOf(t, s, "none", file(".wh..wh..opq", ""), file("etc/os-release", "ID=debian\nVERSION_ID=12\n"))
	for _, tc := range []struct {
		layers []inventory.Layer
		want   []string
	}{
		{[]inventory.Layer{l1}, []string{"lib/apk/db/installed musl@1.2.4-r1"}},
		{[]inventory.Layer{l1, l2}, nil},
		{[]inventory.Layer{l1, l2, l3}, []string{"lib/apk/db/installed musl@1.2.4-r3"}},
		{[]inventory.Layer{l1, l2, l3, l4}, nil},
	} {
		img, err := inventory.Read(context.Background(), tc.layers, inventory.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := pkgStrings(img); !slices.Equal(got, tc.want) {
			t.Errorf("%d layers: packages = %q, want %q", len(tc.layers), got, tc.want)
		}
	}
	img, _ := inventory.Read(context.Background(), []inventory.Layer{l1, l4}, inventory.Options{})
	if img.OS == nil || img.OS.ID != "debian" || img.OS.Layer != l4.Digest {
		t.Errorf("OS after an opaque root = %+v, want debian from the last layer", img.OS)
	}
}

func TestSharedBaseReadOnce(t *testing.T) {
	status := readFixture(t, "dpkg-status")
	s := newBlobs()
	base := layerOf(t, s, "gzip", file("etc/os-release", string(readFixture(t, "os-release"))), file("var/lib/dpkg/status", string(status)))
	a := layerOf(t, s, "gzip", file("app/node_modules/a/package.json", `{"name":"a","version":"1.0.0"}`))
	b := layerOf(t, s, "zstd", file("app/node_modules/b/package.json", `{"name":"b","version":"2.0.0"}`))
	empty := layerOf(t, s, "gzip")

	cache := inventory.NewMemoryCache(0)
	opts := inventory.Options{Cache: cache}
	images := [][]inventory.Layer{{base, a, empty}, {base, b, empty, empty}, {base, a}}
	var wg sync.WaitGroup
	results := make([]*inventory.Image, len(images))
	// The first image fills the cache; the others run concurrently.
	var err error
	results[0], err = inventory.Read(context.Background(), images[0], opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(images); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			img, err := inventory.Read(context.Background(), images[i], opts)
			if err != nil {
				t.Error(err)
			}
			results[i] = img
		}()
	}
	wg.Wait()
	for name, l := range map[string]inventory.Layer{"base": base, "a": a, "b": b, "empty": empty} {
		if n := s.opened(l.Digest); n != 1 {
			t.Errorf("layer %s opened %d times, want 1", name, n)
		}
	}
	if cache.Len() != 4 {
		t.Errorf("cache.Len() = %d, want 4", cache.Len())
	}
	for i, img := range results {
		if img == nil {
			continue
		}
		if n := countKind(img, inventory.KindDpkg); n != 88 {
			t.Errorf("image %d: dpkg packages = %d, want 88", i, n)
		}
		if n := countKind(img, inventory.KindNPM); n != 1 {
			t.Errorf("image %d: npm packages = %d, want 1", i, n)
		}
		for _, p := range img.Packages {
			if p.Kind == inventory.KindDpkg && (p.Ecosystem != "Debian:12" || p.Layer != base.Digest) {
				t.Fatalf("image %d: package %+v, want Debian:12 from the base layer", i, p)
			}
		}
	}

	// Without a cache, a layer repeated in one image is still read once.
	s2 := newBlobs()
	l := layerOf(t, s2, "gzip", file("lib/apk/db/installed", alpineInstalled))
	if _, err := inventory.Read(context.Background(), []inventory.Layer{l, l, l}, inventory.Options{}); err != nil {
		t.Fatal(err)
	}
	if n := s2.opened(l.Digest); n != 1 {
		t.Errorf("repeated layer opened %d times, want 1", n)
	}
}

func TestMemoryCacheEviction(t *testing.T) {
	s := newBlobs()
	var layers []inventory.Layer
	for i := range 10 {
		layers = append(layers, layerOf(t, s, "none", file(fmt.Sprintf("f%d", i), "x")))
	}
	c0, err := inventory.ReadLayer(context.Background(), layers[0], inventory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cache := inventory.NewMemoryCache(3 * c0.Size())
	opts := inventory.Options{Cache: cache}
	for _, l := range layers {
		if _, err := inventory.ReadLayer(context.Background(), l, opts); err != nil {
			t.Fatal(err)
		}
	}
	if cache.Len() != 3 {
		t.Errorf("cache.Len() = %d, want 3", cache.Len())
	}
	if _, ok := cache.Get(layers[9].Digest); !ok {
		t.Error("most recent layer evicted")
	}
	if _, ok := cache.Get(layers[0].Digest); ok {
		t.Error("oldest layer kept")
	}
}
