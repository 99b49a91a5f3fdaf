package inventory_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/scan/osv/inventory"
)

func ExampleRead() {
	// A one-layer Alpine image, built in memory.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range map[string]string{
		"etc/os-release":       "ID=alpine\nVERSION_ID=3.19.1\n",
		"lib/apk/db/installed": "P:musl\nV:1.2.4_git20230717-r4\nA:x86_64\no:musl\n",
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		io.WriteString(tw, body)
	}
	tw.Close()
	blob := buf.Bytes()
	layer := inventory.Layer{
		Digest:    digest.FromBytes(blob),
		MediaType: "application/vnd.oci.image.layer.v1.tar",
		Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(blob)), nil
		},
	}

	cache := inventory.NewMemoryCache(64 << 20) // share between scans
	img, err := inventory.Read(context.Background(), []inventory.Layer{layer}, inventory.Options{Cache: cache})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(img.OS.ID, img.OS.VersionID)
	for _, p := range img.Packages {
		fmt.Println(p.Ecosystem, p.Name, p.Version, "source:", p.SourceName)
	}
	// Output:
	// alpine 3.19.1
	// Alpine:v3.19 musl 1.2.4_git20230717-r4 source: musl
}
