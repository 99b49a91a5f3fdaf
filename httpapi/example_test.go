package httpapi_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

// ExampleNew serves a registry over HTTP, pushes a blob in one request and
// reads it back.
func ExampleNew() {
	reg, err := registry.New(memory.New())
	if err != nil {
		log.Fatal(err)
	}
	h, err := httpapi.New(reg)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v2/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	blob := "hello, registry"
	d := digest.FromString(blob)
	resp, err := http.Post(srv.URL+"/v2/demo/app/blobs/uploads/?digest="+d.String(), "application/octet-stream", strings.NewReader(blob))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status, resp.Header.Get("Location"))

	resp, err = http.Get(srv.URL + "/v2/demo/app/blobs/" + d.String())
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, string(body))
	// Output:
	// 201 Created /v2/demo/app/blobs/sha256:d4ceac3b8b759b17b86618c4165bb23a506c157c81a034147cf8e3510691aa1c
	// 200 OK hello, registry
}
