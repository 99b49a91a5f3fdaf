package registrytest_test

import (
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/registry/registrytest"
)

// In a test, registrytest.New(t) does the same as Start and registers Close
// with t.Cleanup.
func ExampleStart() {
	reg, err := registrytest.Start()
	if err != nil {
		panic(err)
	}
	defer reg.Close()

	// Push a one-layer image with go-containerregistry.
	layer := static.NewLayer([]byte("hello, berth\n"), types.OCILayer)
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		panic(err)
	}
	ref, err := name.ParseReference(reg.Ref("demo/hello:v1"))
	if err != nil {
		panic(err)
	}
	if err := remote.Write(ref, img); err != nil {
		panic(err)
	}

	// Pull it back.
	pulled, err := remote.Image(ref)
	if err != nil {
		panic(err)
	}
	want, _ := img.Digest()
	got, _ := pulled.Digest()
	fmt.Println("same digest:", got == want)

	// The server speaks the OCI distribution API.
	resp, err := reg.Client().Get(reg.URL() + "/v2/demo/hello/tags/list")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("tags/list:", resp.StatusCode == http.StatusOK)
	// Output:
	// same digest: true
	// tags/list: true
}
