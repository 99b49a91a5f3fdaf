package registry

import (
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

// TestCanonicalDigest checks that the fast digest check accepts only what
// ParseDigest accepts.
func TestCanonicalDigest(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	for _, d := range []string{
		"sha256:" + hex64,
		"sha512:" + hex64 + hex64,
		"sha256:" + strings.ToUpper(hex64),
		"sha256:" + hex64[:63],
		"sha256:" + hex64 + "0",
		"sha256:" + hex64[:63] + "g",
		"sha512:" + hex64,
		"sha384:" + hex64 + hex64[:32],
		"SHA256:" + hex64,
		"sha256+b64:" + hex64,
		":" + hex64,
		"",
	} {
		_, err := ParseDigest(d)
		if canonicalDigest(digest.Digest(d)) && err != nil {
			t.Errorf("canonicalDigest(%q) = true, but ParseDigest fails: %v", d, err)
		}
		if strings.HasPrefix(d, "sha") && err == nil && !canonicalDigest(digest.Digest(d)) {
			t.Errorf("canonicalDigest(%q) = false for a valid digest", d)
		}
	}
}

func BenchmarkParseManifest(b *testing.B) {
	payload := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("1", 64) + `","size":95},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:` + strings.Repeat("2", 64) + `","size":1024}],` +
		`"annotations":{"org.example.id":"12345"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseManifest(MediaTypeOCIManifest, payload); err != nil {
			b.Fatal(err)
		}
	}
}
