package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/registry"
)

// Manifest bodies for the table. Placeholders are expanded by the fixture;
// {bodyDigest} in a URL or header is the sha256 of the expanded body.
const (
	newManifest    = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{configSize}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{layerSize}}],"annotations":{"n":"1"}}`
	subjectPayload = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sbom","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest}","size":{manifestSize}}}`
	missingBlob    = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{unknownDigest}","size":10},"layers":[]}`
	missingChild   = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{unknownDigest}","size":10}]}`
	goodIndex      = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest}","size":{manifestSize},"platform":{"os":"linux","architecture":"amd64"}}]}`
	schema1        = `{"schemaVersion":1,"name":"test/repo","tag":"latest","architecture":"amd64","fsLayers":[{"blobSum":"{layer}"}],"history":[{"v1Compatibility":"{}"}]}`
	noConfig       = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}`
	badLayerDigest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{configSize}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:nothex","size":1}]}`

	mtManifest = "application/vnd.oci.image.manifest.v1+json"
	mtIndex    = "application/vnd.oci.image.index.v1+json"
)

type row struct {
	name    string
	method  string
	url     string
	headers map[string]string
	body    string
	// wantCode is the expected status.
	wantCode int
	// wantHeaders are expected response headers. A value ending in "*"
	// is a prefix; "-" means the header must be absent; several values
	// of one header are compared joined with ", ".
	wantHeaders map[string]string
	// wantBody, if set, is the exact expected body.
	wantBody string
	// wantErrCode is the expected OCI error code of an error response.
	wantErrCode string
	// mayStore lets a refused request change what is stored.
	mayStore bool
	// check makes follow-up assertions.
	check func(t *testing.T, f *fixture)
}

func TestHandler(t *testing.T) {
	longName := strings.Repeat("a", 300)
	rows := []row{
		// Base.
		{name: "base", method: "GET", url: "/v2/", wantCode: 200, wantBody: "{}",
			wantHeaders: map[string]string{"Docker-Distribution-Api-Version": "registry/2.0", "Content-Type": "application/json"}},
		{name: "base without slash", method: "GET", url: "/v2", wantCode: 200},
		{name: "base head", method: "HEAD", url: "/v2/", wantCode: 200, wantHeaders: map[string]string{"Docker-Distribution-Api-Version": "registry/2.0"}},
		{name: "base post", method: "POST", url: "/v2/", wantCode: 405, wantErrCode: "UNSUPPORTED", wantHeaders: map[string]string{"Allow": "GET, HEAD"}},
		{name: "not v2", method: "GET", url: "/v1/_ping", wantCode: 404, wantErrCode: "NAME_UNKNOWN"},
		{name: "unknown endpoint", method: "GET", url: "/v2/test/repo/unknown/x", wantCode: 404, wantErrCode: "NAME_UNKNOWN"},
		{name: "name only", method: "GET", url: "/v2/test/repo", wantCode: 404, wantErrCode: "NAME_UNKNOWN"},
		{name: "manifests without reference", method: "GET", url: "/v2/test/repo/manifests/", wantCode: 404, wantErrCode: "NAME_UNKNOWN"},

		// Catalog.
		{name: "catalog", method: "GET", url: "/v2/_catalog", wantCode: 200, wantBody: `{"repositories":["test/other","test/repo"]}`,
			wantHeaders: map[string]string{"Link": "-"}},
		{name: "catalog page", method: "GET", url: "/v2/_catalog?n=1", wantCode: 200, wantBody: `{"repositories":["test/other"]}`,
			wantHeaders: map[string]string{"Link": `</v2/_catalog?last=test%2Fother&n=1>; rel="next"`}},
		{name: "catalog last page", method: "GET", url: "/v2/_catalog?n=1&last=test/other", wantCode: 200, wantBody: `{"repositories":["test/repo"]}`,
			wantHeaders: map[string]string{"Link": "-"}},
		{name: "catalog n=0", method: "GET", url: "/v2/_catalog?n=0", wantCode: 200, wantBody: `{"repositories":[]}`},
		{name: "catalog n=-1", method: "GET", url: "/v2/_catalog?n=-1", wantCode: 400, wantErrCode: "UNSUPPORTED"},
		{name: "catalog n=abc", method: "GET", url: "/v2/_catalog?n=abc", wantCode: 400, wantErrCode: "UNSUPPORTED"},
		{name: "catalog delete", method: "DELETE", url: "/v2/_catalog", wantCode: 405, wantErrCode: "UNSUPPORTED"},

		// Tags.
		{name: "tags", method: "GET", url: "/v2/test/repo/tags/list", wantCode: 200, wantBody: `{"name":"test/repo","tags":["latest","v1"]}`,
			wantHeaders: map[string]string{"Content-Type": "application/json", "Link": "-"}},
		{name: "tags page", method: "GET", url: "/v2/test/repo/tags/list?n=1", wantCode: 200, wantBody: `{"name":"test/repo","tags":["latest"]}`,
			wantHeaders: map[string]string{"Link": `</v2/test/repo/tags/list?last=latest&n=1>; rel="next"`}},
		{name: "tags last page", method: "GET", url: "/v2/test/repo/tags/list?n=1&last=latest", wantCode: 200, wantBody: `{"name":"test/repo","tags":["v1"]}`,
			wantHeaders: map[string]string{"Link": "-"}},
		{name: "tags exact page", method: "GET", url: "/v2/test/repo/tags/list?n=2", wantCode: 200, wantBody: `{"name":"test/repo","tags":["latest","v1"]}`,
			wantHeaders: map[string]string{"Link": "-"}},
		{name: "tags after all", method: "GET", url: "/v2/test/repo/tags/list?last=v1", wantCode: 200, wantBody: `{"name":"test/repo","tags":[]}`},
		{name: "tags n=0", method: "GET", url: "/v2/test/repo/tags/list?n=0", wantCode: 200, wantBody: `{"name":"test/repo","tags":[]}`},
		{name: "tags of empty repo", method: "GET", url: "/v2/test/other/tags/list", wantCode: 200, wantBody: `{"name":"test/other","tags":[]}`},
		{name: "tags n=-1", method: "GET", url: "/v2/test/repo/tags/list?n=-1", wantCode: 400, wantErrCode: "UNSUPPORTED"},
		{name: "tags n=abc", method: "GET", url: "/v2/test/repo/tags/list?n=abc", wantCode: 400, wantErrCode: "UNSUPPORTED"},
		{name: "tags n=1.5", method: "GET", url: "/v2/test/repo/tags/list?n=1.5", wantCode: 400, wantErrCode: "UNSUPPORTED"},
		{name: "tags unknown repo", method: "GET", url: "/v2/test/nope/tags/list", wantCode: 404, wantErrCode: "NAME_UNKNOWN"},
		{name: "tags invalid name", method: "GET", url: "/v2/Test/Repo/tags/list", wantCode: 400, wantErrCode: "NAME_INVALID"},
		{name: "tags put", method: "PUT", url: "/v2/test/repo/tags/list", wantCode: 405, wantErrCode: "UNSUPPORTED"},

		// Manifest pulls.
		{name: "manifest by tag", method: "GET", url: "/v2/test/repo/manifests/latest", wantCode: 200, wantBody: "{manifestPayload}",
			wantHeaders: map[string]string{"Content-Type": mtManifest, "Docker-Content-Digest": "{manifest}", "Content-Length": "{manifestSize}"}},
		{name: "manifest by digest", method: "GET", url: "/v2/test/repo/manifests/{manifest}", wantCode: 200, wantBody: "{manifestPayload}",
			wantHeaders: map[string]string{"Docker-Content-Digest": "{manifest}"}},
		{name: "manifest head", method: "HEAD", url: "/v2/test/repo/manifests/latest", wantCode: 200, wantBody: "",
			wantHeaders: map[string]string{"Content-Type": mtManifest, "Docker-Content-Digest": "{manifest}", "Content-Length": "{manifestSize}"}},
		{name: "manifest unknown tag", method: "GET", url: "/v2/test/repo/manifests/nope", wantCode: 404, wantErrCode: "MANIFEST_UNKNOWN"},
		{name: "manifest unknown digest", method: "GET", url: "/v2/test/repo/manifests/{unknownDigest}", wantCode: 404, wantErrCode: "MANIFEST_UNKNOWN"},
		{name: "manifest unknown sha512", method: "GET", url: "/v2/test/repo/manifests/{unknownSha512}", wantCode: 404, wantErrCode: "MANIFEST_UNKNOWN"},
		{name: "manifest head unknown", method: "HEAD", url: "/v2/test/repo/manifests/nope", wantCode: 404, wantBody: ""},
		{name: "manifest unknown repo", method: "GET", url: "/v2/test/nope/manifests/latest", wantCode: 404, wantErrCode: "NAME_UNKNOWN"},
		{name: "manifest invalid tag", method: "GET", url: "/v2/test/repo/manifests/-bad", wantCode: 400, wantErrCode: "TAG_INVALID"},
		{name: "manifest tag too long", method: "GET", url: "/v2/test/repo/manifests/" + strings.Repeat("t", 129), wantCode: 400, wantErrCode: "TAG_INVALID"},
		{name: "manifest invalid digest", method: "GET", url: "/v2/test/repo/manifests/sha256:baddigeststring", wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "manifest md5 digest", method: "GET", url: "/v2/test/repo/manifests/md5:d41d8cd98f00b204e9800998ecf8427e", wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "manifest invalid name", method: "GET", url: "/v2/Test/manifests/latest", wantCode: 400, wantErrCode: "NAME_INVALID"},
		{name: "manifest short name", method: "GET", url: "/v2/a/manifests/latest", wantCode: 400, wantErrCode: "NAME_INVALID"},
		{name: "manifest long name", method: "GET", url: "/v2/" + longName + "/manifests/latest", wantCode: 400, wantErrCode: "NAME_INVALID"},
		{name: "manifest name with double slash", method: "GET", url: "/v2/test//repo/manifests/latest", wantCode: 400, wantErrCode: "NAME_INVALID"},
		{name: "manifest patch", method: "PATCH", url: "/v2/test/repo/manifests/latest", wantCode: 405, wantErrCode: "UNSUPPORTED",
			wantHeaders: map[string]string{"Allow": "GET, HEAD, PUT, DELETE"}},

		// Manifest pushes.
		{name: "put manifest by tag", method: "PUT", url: "/v2/test/repo/manifests/new",
			headers: map[string]string{"Content-Type": mtManifest}, body: newManifest, wantCode: 201,
			wantHeaders: map[string]string{"Location": "/v2/test/repo/manifests/{bodyDigest}", "Docker-Content-Digest": "{bodyDigest}", "OCI-Subject": "-"},
			check: func(t *testing.T, f *fixture) {
				wantStatus(t, f, "/v2/test/repo/manifests/new", 200)
				wantGet(t, f, "/v2/test/repo/tags/list", `{"name":"test/repo","tags":["latest","new","v1"]}`)
			}},
		{name: "put manifest by digest", method: "PUT", url: "/v2/test/repo/manifests/{bodyDigest}",
			headers: map[string]string{"Content-Type": mtManifest}, body: newManifest, wantCode: 201,
			wantHeaders: map[string]string{"Location": "/v2/test/repo/manifests/{bodyDigest}", "Docker-Content-Digest": "{bodyDigest}", "OCI-Tag": "-"},
			check: func(t *testing.T, f *fixture) {
				wantGet(t, f, "/v2/test/repo/tags/list", `{"name":"test/repo","tags":["latest","v1"]}`)
			}},
		{name: "put manifest with tag params", method: "PUT", url: "/v2/test/repo/manifests/{bodyDigest}?tag=a&tag=b",
			headers: map[string]string{"Content-Type": mtManifest}, body: newManifest, wantCode: 201,
			wantHeaders: map[string]string{"Docker-Content-Digest": "{bodyDigest}", "OCI-Tag": "a, b"},
			check: func(t *testing.T, f *fixture) {
				wantGet(t, f, "/v2/test/repo/tags/list", `{"name":"test/repo","tags":["a","b","latest","v1"]}`)
			}},
		{name: "put manifest without content type", method: "PUT", url: "/v2/test/repo/manifests/new", body: newManifest, wantCode: 201},
		{name: "put manifest with subject", method: "PUT", url: "/v2/test/repo/manifests/sbom",
			headers: map[string]string{"Content-Type": mtManifest}, body: subjectPayload, wantCode: 201,
			wantHeaders: map[string]string{"OCI-Subject": "{manifest}", "Docker-Content-Digest": "{bodyDigest}"},
			check: func(t *testing.T, f *fixture) {
				idx := referrers(t, f, "/v2/test/repo/referrers/{manifest}?artifactType=application/vnd.example.sbom")
				if len(idx.Manifests) != 1 || idx.Manifests[0].ArtifactType != "application/vnd.example.sbom" {
					t.Errorf("referrers = %+v, want the sbom", idx.Manifests)
				}
			}},
		{name: "put index", method: "PUT", url: "/v2/test/repo/manifests/multi",
			headers: map[string]string{"Content-Type": mtIndex}, body: goodIndex, wantCode: 201,
			check: func(t *testing.T, f *fixture) {
				resp := f.do(t, "HEAD", "/v2/test/repo/manifests/multi", nil, nil)
				resp.Body.Close()
				if got := resp.Header.Get("Content-Type"); got != mtIndex {
					t.Errorf("Content-Type = %q, want %q", got, mtIndex)
				}
			}},
		{name: "put manifest digest mismatch", method: "PUT", url: "/v2/test/repo/manifests/{unknownDigest}",
			headers: map[string]string{"Content-Type": mtManifest}, body: newManifest, wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "put manifest malformed digest", method: "PUT", url: "/v2/test/repo/manifests/sha256:baddigeststring",
			headers: map[string]string{"Content-Type": mtManifest}, body: newManifest, wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "put manifest sha512 mismatch", method: "PUT", url: "/v2/test/repo/manifests/{unknownSha512}",
			headers: map[string]string{"Content-Type": mtManifest}, body: newManifest, wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "put manifest invalid json", method: "PUT", url: "/v2/test/repo/manifests/bad",
			headers: map[string]string{"Content-Type": mtManifest}, body: `{"schemaVersion":2,`, wantCode: 400, wantErrCode: "MANIFEST_INVALID"},
		{name: "put manifest not json", method: "PUT", url: "/v2/test/repo/manifests/bad",
			headers: map[string]string{"Content-Type": mtManifest}, body: "\x00\x01binary", wantCode: 400, wantErrCode: "MANIFEST_INVALID"},
		{name: "put manifest empty", method: "PUT", url: "/v2/test/repo/manifests/bad",
			headers: map[string]string{"Content-Type": mtManifest}, wantCode: 400, wantErrCode: "MANIFEST_INVALID"},
		{name: "put manifest wrong media type", method: "PUT", url: "/v2/test/repo/manifests/bad",
			headers: map[string]string{"Content-Type": mtIndex}, body: newManifest, wantCode: 400, wantErrCode: "MANIFEST_INVALID"},
		{name: "put manifest unsupported media type", method: "PUT", url: "/v2/test/repo/manifests/bad",
			headers: map[string]string{"Content-Type": "application/json"}, body: `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"{config}","size":{configSize}},"layers":[]}`,
			wantCode: 400, wantErrCode: "MANIFEST_INVALID"},
		{name: "put manifest missing blob", method: "PUT", url: "/v2/test/repo/manifests/bad",
			headers: map[string]string{"Content-Type": mtManifest}, body: missingBlob, wantCode: 400, wantErrCode: "MANIFEST_BLOB_UNKNOWN"},
		{name: "put manifest blob of another repo", method: "PUT", url: "/v2/test/other/manifests/bad",
			headers: map[string]string{"Content-Type": mtManifest}, body: newManifest, wantCode: 400, wantErrCode: "MANIFEST_BLOB_UNKNOWN"},
		{name: "put index missing child", method: "PUT", url: "/v2/test/repo/manifests/bad",
			headers: map[string]string{"Content-Type": mtIndex}, body: missingChild, wantCode: 400, wantErrCode: "MANIFEST_BLOB_UNKNOWN"},
		{name: "put schema1", method: "PUT", url: "/v2/test/repo/manifests/bad",
			headers: map[string]string{"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}, body: schema1,
			wantCode: 400, wantErrCode: "MANIFEST_INVALID"},
		{name: "put schema1 without content type", method: "PUT", url: "/v2/test/repo/manifests/bad", body: schema1,
			wantCode: 400, wantErrCode: "MANIFEST_INVALID"},
		{name: "put manifest without config", method: "PUT", url: "/v2/test/repo/manifests/bad",
			headers: map[string]string{"Content-Type": mtManifest}, body: noConfig, wantCode: 400, wantErrCode: "MANIFEST_INVALID"},
		{name: "put manifest bad layer digest", method: "PUT", url: "/v2/test/repo/manifests/bad",
			headers: map[string]string{"Content-Type": mtManifest}, body: badLayerDigest, wantCode: 400, wantErrCode: "MANIFEST_INVALID"},
		{name: "put manifest over the registry limit", method: "PUT", url: "/v2/test/repo/manifests/big",
			headers: map[string]string{"Content-Type": mtManifest}, body: strings.Repeat(" ", testMaxManifestSize+1),
			wantCode: 413, wantErrCode: "MANIFEST_INVALID"},
		{name: "put manifest over the read cap", method: "PUT", url: "/v2/test/repo/manifests/big",
			headers: map[string]string{"Content-Type": mtManifest}, body: strings.Repeat(" ", registry.DefaultMaxManifestSize+1),
			wantCode: 413, wantErrCode: "MANIFEST_INVALID"},
		{name: "put manifest over the read cap chunked", method: "PUT", url: "/v2/test/repo/manifests/big",
			headers: map[string]string{"Content-Type": mtManifest, "Content-Length": "-1"}, body: strings.Repeat(" ", registry.DefaultMaxManifestSize+1),
			wantCode: 413, wantErrCode: "MANIFEST_INVALID"},
		{name: "put manifest invalid tag", method: "PUT", url: "/v2/test/repo/manifests/-bad",
			headers: map[string]string{"Content-Type": mtManifest}, body: newManifest, wantCode: 400, wantErrCode: "TAG_INVALID"},
		{name: "put manifest invalid tag param", method: "PUT", url: "/v2/test/repo/manifests/{bodyDigest}?tag=ok&tag=-bad",
			headers: map[string]string{"Content-Type": mtManifest}, body: newManifest, wantCode: 400, wantErrCode: "TAG_INVALID"},
		{name: "put manifest invalid name", method: "PUT", url: "/v2/Bad/manifests/latest",
			headers: map[string]string{"Content-Type": mtManifest}, body: newManifest, wantCode: 400, wantErrCode: "NAME_INVALID"},
		{name: "put manifest invalid name and digest", method: "PUT", url: "/v2/Bad/manifests/sha256:x",
			headers: map[string]string{"Content-Type": mtManifest}, body: newManifest, wantCode: 400, wantErrCode: "NAME_INVALID"},
		{name: "put manifest in new repo", method: "PUT", url: "/v2/test/new/manifests/latest",
			headers: map[string]string{"Content-Type": mtManifest}, body: missingBlob, wantCode: 400, wantErrCode: "MANIFEST_BLOB_UNKNOWN"},

		// Manifest deletes.
		{name: "delete tag", method: "DELETE", url: "/v2/test/repo/manifests/v1", wantCode: 202,
			check: func(t *testing.T, f *fixture) {
				wantGet(t, f, "/v2/test/repo/tags/list", `{"name":"test/repo","tags":["latest"]}`)
				wantStatus(t, f, "/v2/test/repo/manifests/v1", 404)
				wantStatus(t, f, "/v2/test/repo/manifests/{manifest}", 200)
			}},
		{name: "delete manifest", method: "DELETE", url: "/v2/test/repo/manifests/{manifest}", wantCode: 202,
			check: func(t *testing.T, f *fixture) {
				wantGet(t, f, "/v2/test/repo/tags/list", `{"name":"test/repo","tags":[]}`)
				wantStatus(t, f, "/v2/test/repo/manifests/latest", 404)
				wantStatus(t, f, "/v2/test/repo/manifests/{manifest}", 404)
			}},
		{name: "delete unknown tag", method: "DELETE", url: "/v2/test/repo/manifests/nope", wantCode: 404, wantErrCode: "MANIFEST_UNKNOWN"},
		{name: "delete unknown manifest", method: "DELETE", url: "/v2/test/repo/manifests/{unknownDigest}", wantCode: 404, wantErrCode: "MANIFEST_UNKNOWN"},
		{name: "delete manifest bad digest", method: "DELETE", url: "/v2/test/repo/manifests/sha256:zz", wantCode: 400, wantErrCode: "DIGEST_INVALID"},

		// Blobs.
		{name: "blob", method: "GET", url: "/v2/test/repo/blobs/{layer}", wantCode: 200, wantBody: string(layerBytes),
			wantHeaders: map[string]string{"Content-Type": "application/octet-stream", "Docker-Content-Digest": "{layer}", "Content-Length": "{layerSize}", "Accept-Ranges": "bytes"}},
		{name: "blob sha512", method: "GET", url: "/v2/test/repo/blobs/{sha512blob}", wantCode: 200, wantBody: string(sha512Bytes),
			wantHeaders: map[string]string{"Docker-Content-Digest": "{sha512blob}"}},
		{name: "blob range", method: "GET", url: "/v2/test/repo/blobs/{layer}", headers: map[string]string{"Range": "bytes=1-3"},
			wantCode: 206, wantBody: "123", wantHeaders: map[string]string{"Content-Range": "bytes 1-3/{layerSize}", "Content-Length": "3"}},
		{name: "blob suffix range", method: "GET", url: "/v2/test/repo/blobs/{layer}", headers: map[string]string{"Range": "bytes=-2"},
			wantCode: 206, wantBody: "yz"},
		{name: "blob range not satisfiable", method: "GET", url: "/v2/test/repo/blobs/{layer}", headers: map[string]string{"Range": "bytes=100-200"},
			wantCode: 416},
		{name: "blob head", method: "HEAD", url: "/v2/test/repo/blobs/{layer}", wantCode: 200, wantBody: "",
			wantHeaders: map[string]string{"Content-Length": "{layerSize}", "Docker-Content-Digest": "{layer}", "Content-Type": "application/octet-stream"}},
		{name: "blob unknown", method: "GET", url: "/v2/test/repo/blobs/{unknownDigest}", wantCode: 404, wantErrCode: "BLOB_UNKNOWN"},
		{name: "blob of another repo", method: "GET", url: "/v2/test/other/blobs/{layer}", wantCode: 404, wantErrCode: "BLOB_UNKNOWN"},
		{name: "blob head unknown", method: "HEAD", url: "/v2/test/repo/blobs/{unknownDigest}", wantCode: 404, wantBody: ""},
		{name: "blob bad digest", method: "GET", url: "/v2/test/repo/blobs/sha256:xyz", wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "blob no algorithm", method: "GET", url: "/v2/test/repo/blobs/0123", wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "blob bad name", method: "GET", url: "/v2/-x-/blobs/{layer}", wantCode: 400, wantErrCode: "NAME_INVALID"},
		{name: "blob bad name and digest", method: "GET", url: "/v2/-x-/blobs/nope", wantCode: 400, wantErrCode: "NAME_INVALID"},
		{name: "blob delete", method: "DELETE", url: "/v2/test/repo/blobs/{layer}", wantCode: 202,
			check: func(t *testing.T, f *fixture) {
				wantStatus(t, f, "/v2/test/repo/blobs/{layer}", 404)
			}},
		{name: "blob delete unknown", method: "DELETE", url: "/v2/test/repo/blobs/{unknownDigest}", wantCode: 404, wantErrCode: "BLOB_UNKNOWN"},
		{name: "blob put", method: "PUT", url: "/v2/test/repo/blobs/{layer}", wantCode: 405, wantErrCode: "UNSUPPORTED",
			wantHeaders: map[string]string{"Allow": "GET, HEAD, DELETE"}},

		// Starting uploads.
		{name: "upload start", method: "POST", url: "/v2/test/repo/blobs/uploads/", wantCode: 202,
			wantHeaders: map[string]string{"Location": "/v2/test/repo/blobs/uploads/*", "Range": "0-0", "Docker-Upload-UUID": "", "Content-Length": "0"}},
		{name: "upload start without slash", method: "POST", url: "/v2/test/repo/blobs/uploads", wantCode: 202,
			wantHeaders: map[string]string{"Location": "/v2/test/repo/blobs/uploads/*"}},
		{name: "upload start creates repo", method: "POST", url: "/v2/test/brand-new/blobs/uploads/", wantCode: 202,
			check: func(t *testing.T, f *fixture) {
				wantGet(t, f, "/v2/_catalog", `{"repositories":["test/brand-new","test/other","test/repo"]}`)
			}},
		{name: "upload start invalid name", method: "POST", url: "/v2/UP/blobs/uploads/", wantCode: 400, wantErrCode: "NAME_INVALID"},
		{name: "upload monolithic", method: "POST", url: "/v2/test/repo/blobs/uploads/?digest={hello}", body: "hello", wantCode: 201,
			wantHeaders: map[string]string{"Location": "/v2/test/repo/blobs/{hello}", "Docker-Content-Digest": "{hello}"},
			check: func(t *testing.T, f *fixture) {
				wantGet(t, f, "/v2/test/repo/blobs/{hello}", "hello")
			}},
		{name: "upload monolithic sha512", method: "POST", url: "/v2/test/repo/blobs/uploads/?digest={helloWorld512}", body: "hello world", wantCode: 201,
			wantHeaders: map[string]string{"Docker-Content-Digest": "{helloWorld512}"},
			check: func(t *testing.T, f *fixture) {
				wantGet(t, f, "/v2/test/repo/blobs/{helloWorld512}", "hello world")
			}},
		{name: "upload monolithic empty", method: "POST", url: "/v2/test/repo/blobs/uploads/?digest={emptyDigest}", wantCode: 201,
			check: func(t *testing.T, f *fixture) {
				wantGet(t, f, "/v2/test/repo/blobs/{emptyDigest}", "")
			}},
		{name: "upload monolithic chunked", method: "POST", url: "/v2/test/repo/blobs/uploads/?digest={hello}", body: "hello",
			headers: map[string]string{"Content-Length": "-1"}, wantCode: 201},
		{name: "upload monolithic wrong digest", method: "POST", url: "/v2/test/repo/blobs/uploads/?digest={hello}", body: "hellO", wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "upload monolithic malformed digest", method: "POST", url: "/v2/test/repo/blobs/uploads/?digest=sha256:abc", body: "hello", wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "upload monolithic empty digest", method: "POST", url: "/v2/test/repo/blobs/uploads/?digest=", body: "hello", wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "upload monolithic too large", method: "POST", url: "/v2/test/repo/blobs/uploads/?digest={hello}", body: strings.Repeat("x", testMaxBlobSize+1),
			wantCode: 413, wantErrCode: "SIZE_INVALID"},
		{name: "mount", method: "POST", url: "/v2/test/other/blobs/uploads/?mount={layer}&from=test/repo", wantCode: 201,
			wantHeaders: map[string]string{"Location": "/v2/test/other/blobs/{layer}", "Docker-Content-Digest": "{layer}"},
			check: func(t *testing.T, f *fixture) {
				wantGet(t, f, "/v2/test/other/blobs/{layer}", string(layerBytes))
			}},
		{name: "mount sha512", method: "POST", url: "/v2/test/other/blobs/uploads/?mount={sha512blob}&from=test/repo", wantCode: 201,
			wantHeaders: map[string]string{"Docker-Content-Digest": "{sha512blob}"}},
		{name: "mount unknown blob", method: "POST", url: "/v2/test/other/blobs/uploads/?mount={unknownDigest}&from=test/repo", wantCode: 202,
			wantHeaders: map[string]string{"Location": "/v2/test/other/blobs/uploads/*", "Docker-Content-Digest": "-"}},
		{name: "mount from unknown repo", method: "POST", url: "/v2/test/other/blobs/uploads/?mount={layer}&from=test/nope", wantCode: 202},
		{name: "mount from invalid repo", method: "POST", url: "/v2/test/other/blobs/uploads/?mount={layer}&from=NOPE", wantCode: 202},
		{name: "mount without from", method: "POST", url: "/v2/test/other/blobs/uploads/?mount={layer}", wantCode: 202,
			check: func(t *testing.T, f *fixture) {
				wantStatus(t, f, "/v2/test/other/blobs/{layer}", 404)
			}},
		{name: "mount malformed digest", method: "POST", url: "/v2/test/other/blobs/uploads/?mount=sha256:1&from=test/repo", wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "mount into invalid name", method: "POST", url: "/v2/BAD/blobs/uploads/?mount={layer}&from=test/repo", wantCode: 400, wantErrCode: "NAME_INVALID"},
		{name: "uploads get without id", method: "GET", url: "/v2/test/repo/blobs/uploads/", wantCode: 405, wantErrCode: "UNSUPPORTED",
			wantHeaders: map[string]string{"Allow": "POST"}},

		// Upload sessions.
		{name: "upload status", method: "GET", url: "/v2/test/repo/blobs/uploads/{upload}", wantCode: 204,
			wantHeaders: map[string]string{"Range": "0-4", "Location": "/v2/test/repo/blobs/uploads/{upload}", "Docker-Upload-UUID": "{upload}"}},
		{name: "upload status of empty upload", method: "GET", url: "/v2/test/other/blobs/uploads/{otherUpload}", wantCode: 204,
			wantHeaders: map[string]string{"Range": "0-0"}},
		{name: "upload status garbage id", method: "GET", url: "/v2/test/repo/blobs/uploads/garbage", wantCode: 404, wantErrCode: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload status unknown id", method: "GET", url: "/v2/test/repo/blobs/uploads/0123456789abcdef0123456789abcdef", wantCode: 404, wantErrCode: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload status wrong repo", method: "GET", url: "/v2/test/other/blobs/uploads/{upload}", wantCode: 404, wantErrCode: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload chunk", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}", headers: map[string]string{"Content-Range": "5-10"}, body: " world",
			wantCode: 202, wantHeaders: map[string]string{"Range": "0-10", "Location": "/v2/test/repo/blobs/uploads/{upload}", "Docker-Upload-UUID": "{upload}"},
			check: func(t *testing.T, f *fixture) {
				resp := f.do(t, "PUT", f.expand("/v2/test/repo/blobs/uploads/{upload}?digest={helloWorld}"), nil, nil)
				resp.Body.Close()
				if resp.StatusCode != 201 {
					t.Fatalf("PUT after PATCH = %d, want 201", resp.StatusCode)
				}
				wantGet(t, f, "/v2/test/repo/blobs/{helloWorld}", "hello world")
			}},
		{name: "upload chunk bytes form", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}", headers: map[string]string{"Content-Range": "bytes 5-10/*"}, body: " world",
			wantCode: 202, wantHeaders: map[string]string{"Range": "0-10"}},
		{name: "upload stream", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}", body: " world",
			wantCode: 202, wantHeaders: map[string]string{"Range": "0-10"}},
		{name: "upload stream chunked", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}", body: " world", headers: map[string]string{"Content-Length": "-1"},
			wantCode: 202, wantHeaders: map[string]string{"Range": "0-10"}},
		{name: "upload empty patch", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}",
			wantCode: 202, wantHeaders: map[string]string{"Range": "0-4"}},
		{name: "upload chunk out of order", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}", headers: map[string]string{"Content-Range": "0-4"}, body: "hello",
			wantCode: 416, wantErrCode: "BLOB_UPLOAD_INVALID",
			wantHeaders: map[string]string{"Range": "0-4", "Location": "/v2/test/repo/blobs/uploads/{upload}"}},
		{name: "upload chunk with gap", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}", headers: map[string]string{"Content-Range": "6-10"}, body: "world",
			wantCode: 416, wantErrCode: "BLOB_UPLOAD_INVALID", wantHeaders: map[string]string{"Range": "0-4"}},
		{name: "upload chunk backwards range", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}", headers: map[string]string{"Content-Range": "9-5"}, body: "hello",
			wantCode: 416, wantErrCode: "BLOB_UPLOAD_INVALID", wantHeaders: map[string]string{"Range": "0-4"}},
		{name: "upload chunk malformed range", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}", headers: map[string]string{"Content-Range": "five-ten"}, body: "hello",
			wantCode: 400, wantErrCode: "BLOB_UPLOAD_INVALID"},
		{name: "upload chunk negative range", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}", headers: map[string]string{"Content-Range": "-5-9"}, body: "hello",
			wantCode: 400, wantErrCode: "BLOB_UPLOAD_INVALID"},
		{name: "upload chunk range without end", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}", headers: map[string]string{"Content-Range": "5"}, body: "hello",
			wantCode: 400, wantErrCode: "BLOB_UPLOAD_INVALID"},
		{name: "upload chunk range overflow", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}", headers: map[string]string{"Content-Range": "5-99999999999999999999"}, body: "hello",
			wantCode: 400, wantErrCode: "BLOB_UPLOAD_INVALID"},
		{name: "upload chunk length mismatch", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}", headers: map[string]string{"Content-Range": "5-9"}, body: "abc",
			wantCode: 400, wantErrCode: "SIZE_INVALID"},
		{name: "upload chunk short chunked body", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}",
			headers: map[string]string{"Content-Range": "5-9", "Content-Length": "-1"}, body: "abc",
			wantCode: 400, wantErrCode: "SIZE_INVALID"},
		{name: "upload chunk long chunked body", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}",
			headers: map[string]string{"Content-Range": "5-6", "Content-Length": "-1"}, body: "abcdef",
			wantCode: 400, wantErrCode: "SIZE_INVALID"},
		{name: "upload chunk too large", method: "PATCH", url: "/v2/test/repo/blobs/uploads/{upload}", body: strings.Repeat("x", testMaxBlobSize),
			wantCode: 413, wantErrCode: "SIZE_INVALID"},
		{name: "upload chunk garbage id", method: "PATCH", url: "/v2/test/repo/blobs/uploads/../../x", body: "x", wantCode: 404},
		{name: "upload chunk unknown id", method: "PATCH", url: "/v2/test/repo/blobs/uploads/ffffffffffffffffffffffffffffffff", body: "x",
			wantCode: 404, wantErrCode: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload chunk unknown id with range", method: "PATCH", url: "/v2/test/repo/blobs/uploads/ffffffffffffffffffffffffffffffff",
			headers: map[string]string{"Content-Range": "9-5"}, body: "x", wantCode: 404, wantErrCode: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload complete", method: "PUT", url: "/v2/test/repo/blobs/uploads/{upload}?digest={hello}", wantCode: 201,
			wantHeaders: map[string]string{"Location": "/v2/test/repo/blobs/{hello}", "Docker-Content-Digest": "{hello}"},
			check: func(t *testing.T, f *fixture) {
				wantGet(t, f, "/v2/test/repo/blobs/{hello}", "hello")
				wantStatus(t, f, "/v2/test/repo/blobs/uploads/{upload}", 404)
			}},
		{name: "upload complete with last chunk", method: "PUT", url: "/v2/test/repo/blobs/uploads/{upload}?digest={helloWorld}", body: " world",
			wantCode: 201, wantHeaders: map[string]string{"Docker-Content-Digest": "{helloWorld}"},
			check: func(t *testing.T, f *fixture) {
				wantGet(t, f, "/v2/test/repo/blobs/{helloWorld}", "hello world")
			}},
		{name: "upload complete with ranged last chunk", method: "PUT", url: "/v2/test/repo/blobs/uploads/{upload}?digest={helloWorld}", body: " world",
			headers: map[string]string{"Content-Range": "5-10"}, wantCode: 201},
		{name: "upload complete sha512", method: "PUT", url: "/v2/test/repo/blobs/uploads/{upload}?digest={helloWorld512}", body: " world",
			wantCode: 201, wantHeaders: map[string]string{"Docker-Content-Digest": "{helloWorld512}"},
			check: func(t *testing.T, f *fixture) {
				wantGet(t, f, "/v2/test/repo/blobs/{helloWorld512}", "hello world")
			}},
		{name: "upload complete out of order", method: "PUT", url: "/v2/test/repo/blobs/uploads/{upload}?digest={helloWorld}", body: "hello world",
			headers: map[string]string{"Content-Range": "0-10"}, wantCode: 416, wantErrCode: "BLOB_UPLOAD_INVALID",
			wantHeaders: map[string]string{"Range": "0-4", "Location": "/v2/test/repo/blobs/uploads/{upload}"}},
		{name: "upload complete without digest", method: "PUT", url: "/v2/test/repo/blobs/uploads/{upload}", wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "upload complete wrong digest", method: "PUT", url: "/v2/test/repo/blobs/uploads/{upload}?digest={helloWorld}", wantCode: 400, wantErrCode: "DIGEST_INVALID",
			check: func(t *testing.T, f *fixture) {
				wantStatus(t, f, "/v2/test/repo/blobs/{helloWorld}", 404)
				wantStatus(t, f, "/v2/test/repo/blobs/uploads/{upload}", 204)
			}},
		{name: "upload complete wrong digest with chunk", method: "PUT", url: "/v2/test/repo/blobs/uploads/{upload}?digest={hello}", body: " world",
			wantCode: 400, wantErrCode: "DIGEST_INVALID", mayStore: true,
			check: func(t *testing.T, f *fixture) {
				wantStatus(t, f, "/v2/test/repo/blobs/{hello}", 404)
			}},
		{name: "upload complete malformed digest", method: "PUT", url: "/v2/test/repo/blobs/uploads/{upload}?digest=hello", wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "upload complete unknown id", method: "PUT", url: "/v2/test/repo/blobs/uploads/ffffffffffffffffffffffffffffffff?digest={hello}", wantCode: 404, wantErrCode: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload complete too large", method: "PUT", url: "/v2/test/repo/blobs/uploads/{upload}?digest={hello}", body: strings.Repeat("x", testMaxBlobSize),
			wantCode: 413, wantErrCode: "SIZE_INVALID"},
		{name: "upload cancel", method: "DELETE", url: "/v2/test/repo/blobs/uploads/{upload}", wantCode: 204,
			check: func(t *testing.T, f *fixture) {
				wantStatus(t, f, "/v2/test/repo/blobs/uploads/{upload}", 404)
			}},
		{name: "upload cancel unknown", method: "DELETE", url: "/v2/test/repo/blobs/uploads/ffffffffffffffffffffffffffffffff", wantCode: 404, wantErrCode: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload cancel wrong repo", method: "DELETE", url: "/v2/test/other/blobs/uploads/{upload}", wantCode: 404, wantErrCode: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload post to session", method: "POST", url: "/v2/test/repo/blobs/uploads/{upload}", wantCode: 405, wantErrCode: "UNSUPPORTED",
			wantHeaders: map[string]string{"Allow": "GET, PATCH, PUT, DELETE"}},

		// Referrers.
		{name: "referrers", method: "GET", url: "/v2/test/repo/referrers/{manifest}", wantCode: 200,
			wantHeaders: map[string]string{"Content-Type": mtIndex, "OCI-Filters-Applied": "-"},
			check: func(t *testing.T, f *fixture) {
				idx := referrers(t, f, "/v2/test/repo/referrers/{manifest}")
				if len(idx.Manifests) != 1 {
					t.Fatalf("referrers = %+v, want 1", idx.Manifests)
				}
				d := idx.Manifests[0]
				if d.Digest.String() != f.vars["{artifact}"] || d.ArtifactType != sigType || d.MediaType != mtManifest || d.Annotations["org.example.note"] != "signed" {
					t.Errorf("referrer = %+v, want the signature", d)
				}
			}},
		{name: "referrers filtered", method: "GET", url: "/v2/test/repo/referrers/{manifest}?artifactType=" + sigType, wantCode: 200,
			wantHeaders: map[string]string{"OCI-Filters-Applied": "artifactType"},
			check: func(t *testing.T, f *fixture) {
				if idx := referrers(t, f, "/v2/test/repo/referrers/{manifest}?artifactType="+sigType); len(idx.Manifests) != 1 {
					t.Errorf("referrers = %+v, want 1", idx.Manifests)
				}
				if idx := referrers(t, f, "/v2/test/repo/referrers/{manifest}?artifactType=application/other"); len(idx.Manifests) != 0 {
					t.Errorf("referrers of another type = %+v, want none", idx.Manifests)
				}
			}},
		{name: "referrers of unknown subject", method: "GET", url: "/v2/test/repo/referrers/{unknownSha512}", wantCode: 200,
			wantBody: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`},
		{name: "referrers in unknown repo", method: "GET", url: "/v2/test/nope/referrers/{manifest}", wantCode: 200,
			wantBody: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`},
		{name: "referrers bad digest", method: "GET", url: "/v2/test/repo/referrers/latest", wantCode: 400, wantErrCode: "DIGEST_INVALID"},
		{name: "referrers bad name", method: "GET", url: "/v2/X/referrers/{manifest}", wantCode: 400, wantErrCode: "NAME_INVALID"},
		{name: "referrers post", method: "POST", url: "/v2/test/repo/referrers/{manifest}", wantCode: 405, wantErrCode: "UNSUPPORTED"},
	}

	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			body := f.expand(tc.body)
			f.vars["{bodyDigest}"] = digest.FromString(body).String()
			before := f.snapshot(t)

			hdr := map[string]string{}
			for k, v := range tc.headers {
				hdr[k] = f.expand(v)
			}
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			if hdr["Content-Length"] == "-1" && rd != nil {
				rd = io.MultiReader(rd) // hide the length: chunked encoding
			}
			resp := f.do(t, tc.method, f.expand(tc.url), hdr, rd)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("%s %s = %d, want %d; body %s", tc.method, tc.url, resp.StatusCode, tc.wantCode, got)
			}
			if v := resp.Header.Get("Docker-Distribution-Api-Version"); v != "registry/2.0" {
				t.Errorf("Docker-Distribution-Api-Version = %q, want registry/2.0", v)
			}
			for k, want := range tc.wantHeaders {
				want = f.expand(want)
				vals := resp.Header.Values(k)
				gotv := strings.Join(vals, ", ")
				switch {
				case want == "-":
					if len(vals) > 0 {
						t.Errorf("header %s = %q, want none", k, gotv)
					}
				case want == "":
					if len(vals) == 0 {
						t.Errorf("header %s missing", k)
					}
				case strings.HasSuffix(want, "*"):
					if !strings.HasPrefix(gotv, strings.TrimSuffix(want, "*")) {
						t.Errorf("header %s = %q, want prefix %q", k, gotv, want)
					}
				default:
					if gotv != want {
						t.Errorf("header %s = %q, want %q", k, gotv, want)
					}
				}
			}
			if tc.wantBody != "" || tc.method == "HEAD" {
				if want := f.expand(tc.wantBody); string(got) != want {
					t.Errorf("body = %.200q, want %.200q", got, want)
				}
			}
			if tc.wantCode >= 400 && tc.method != "HEAD" && tc.wantCode != 416 || tc.wantErrCode != "" {
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("error Content-Type = %q, want application/json", ct)
				}
				codes, err := errorCodes(string(got))
				if err != nil {
					t.Fatalf("error body %q: %v", got, err)
				}
				if tc.wantErrCode != "" && !containsAll(codes, tc.wantErrCode) {
					t.Errorf("error codes = %v, want %s", codes, tc.wantErrCode)
				}
			}
			if tc.wantCode >= 400 && !tc.mayStore {
				if after := f.snapshot(t); after != before {
					t.Errorf("refused request changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
				}
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

// wantStatus checks the status of a GET.
func wantStatus(t *testing.T, f *fixture, url string, want int) {
	t.Helper()
	resp := f.do(t, http.MethodGet, f.expand(url), nil, nil)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Errorf("GET %s = %d, want %d", url, resp.StatusCode, want)
	}
}

// wantGet checks the body of a GET that must succeed.
func wantGet(t *testing.T, f *fixture, url, want string) {
	t.Helper()
	code, body := f.get(t, f.expand(url))
	if code != http.StatusOK || body != want {
		t.Errorf("GET %s = %d %q, want 200 %q", url, code, body, want)
	}
}

func referrers(t *testing.T, f *fixture, url string) ocispec.Index {
	t.Helper()
	code, body := f.get(t, f.expand(url))
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d, want 200", url, code)
	}
	var idx ocispec.Index
	if err := json.Unmarshal([]byte(body), &idx); err != nil {
		t.Fatalf("referrers body %q: %v", body, err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != mtIndex || idx.Manifests == nil {
		t.Errorf("referrers index = %+v, want schemaVersion 2, OCI index media type, manifests array", idx)
	}
	return idx
}

func TestNew(t *testing.T) {
	if _, err := httpapi.New(nil); err == nil {
		t.Error("New(nil) error = nil, want an error")
	}
	f := newFixture(t)
	if _, err := httpapi.New(f.reg, httpapi.WithLogger(nil)); err == nil {
		t.Error("New(WithLogger(nil)) error = nil, want an error")
	}
	if _, err := httpapi.New(f.reg, httpapi.WithAuthChallenge("")); err == nil {
		t.Error(`New(WithAuthChallenge("")) error = nil, want an error`)
	}
	if _, err := httpapi.New(f.reg, nil, httpapi.WithLogger(slog.New(slog.DiscardHandler))); err != nil {
		t.Errorf("New() error = %v", err)
	}
}
