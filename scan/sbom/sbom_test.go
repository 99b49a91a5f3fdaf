package sbom_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/sbom"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var (
	img = sbom.Image{
		Repository: "team-a/web",
		Digest:     digest.FromString("manifest of team-a/web"),
		Registry:   "berth.example.com:5000",
	}
	created = time.Date(2026, 11, 25, 8, 0, 0, 123, time.UTC)
	opts    = sbom.Options{Created: created, Tool: "berth-1.0.0", Organization: "Example Corp"}
	layer1  = digest.FromString("layer 1")
	layer2  = digest.FromString("layer 2")
)

// inventory is what scan/osv reports for a small Debian image with a Go
// binary, a Python and a Node.js application.
func inventory() scan.Inventory {
	return scan.Inventory{
		OS: debian,
		Packages: []scan.Package{
			{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", PackageManager: "dpkg", SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u2", Arch: "amd64", Path: "var/lib/dpkg/status", Layer: layer1},
			{Name: "bash", Version: "5.2.15-2+b2", Ecosystem: "Debian:12", PackageManager: "dpkg", SourceName: "bash", SourceVersion: "5.2.15-2", Arch: "amd64", Path: "var/lib/dpkg/status", Layer: layer1},
			{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Ecosystem: "Debian:12", PackageManager: "dpkg", SourceName: "zlib", SourceVersion: "1:1.2.13.dfsg-1", Arch: "amd64", Path: "var/lib/dpkg/status", Layer: layer1},
			{Name: "stdlib", Version: "v1.22.1", Ecosystem: "Go", PackageManager: "go", GOOS: "linux", Arch: "amd64", Path: "usr/local/bin/app", Layer: layer2},
			{Name: "golang.org/x/net", Version: "v0.17.0", Ecosystem: "Go", PackageManager: "go", GOOS: "linux", Arch: "amd64", Path: "usr/local/bin/app", Layer: layer2},
			{Name: "Flask_Login", Version: "0.6.3", Ecosystem: "PyPI", PackageManager: "python", Path: "usr/lib/python3/dist-packages/Flask_Login-0.6.3.dist-info/METADATA", Layer: layer2},
			{Name: "@babel/core", Version: "7.23.2", Ecosystem: "npm", PackageManager: "npm", Path: "app/node_modules/@babel/core/package.json", Layer: layer2},
			// The same module in a second binary is a second package.
			{Name: "golang.org/x/net", Version: "v0.17.0", Ecosystem: "Go", PackageManager: "go", GOOS: "linux", Arch: "amd64", Path: "usr/local/bin/helper", Layer: layer2},
			// An exact duplicate is listed once.
			{Name: "bash", Version: "5.2.15-2+b2", Ecosystem: "Debian:12", PackageManager: "dpkg", SourceName: "bash", SourceVersion: "5.2.15-2", Arch: "amd64", Path: "var/lib/dpkg/status", Layer: layer1},
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

var (
	spdxIDRE   = regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.-]+$`)
	createdRE  = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	creatorRE  = regexp.MustCompile(`^(Tool|Organization|Person): .+`)
	relTypes   = map[string]bool{"DESCRIBES": true, "CONTAINS": true}
	refCats    = map[string]bool{"SECURITY": true, "PACKAGE-MANAGER": true, "PERSISTENT-ID": true, "OTHER": true}
	pkgPurpose = map[string]bool{"APPLICATION": true, "FRAMEWORK": true, "LIBRARY": true, "CONTAINER": true, "OPERATING-SYSTEM": true, "DEVICE": true, "FIRMWARE": true, "SOURCE": true, "ARCHIVE": true, "FILE": true, "INSTALL": true, "OTHER": true}
)

// checkSPDX validates doc against the required fields and formats of the
// SPDX 2.3 JSON schema, reading it as generic JSON (not through the
// package's types), and returns it decoded.
func checkSPDX(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	str := func(m map[string]any, k string) string {
		t.Helper()
		s, ok := m[k].(string)
		if !ok || s == "" {
			t.Errorf("%s: missing or not a string: %v", k, m[k])
		}
		return s
	}
	if v := str(d, "spdxVersion"); v != "SPDX-2.3" {
		t.Errorf("spdxVersion = %q", v)
	}
	if v := str(d, "dataLicense"); v != "CC0-1.0" {
		t.Errorf("dataLicense = %q", v)
	}
	if v := str(d, "SPDXID"); v != "SPDXRef-DOCUMENT" {
		t.Errorf("SPDXID = %q", v)
	}
	str(d, "name")
	ns := str(d, "documentNamespace")
	if u, err := url.Parse(ns); err != nil || !u.IsAbs() || strings.Contains(ns, "#") {
		t.Errorf("documentNamespace %q is not an absolute URI without '#'", ns)
	}
	ci, _ := d["creationInfo"].(map[string]any)
	if ci == nil {
		t.Fatal("no creationInfo")
	}
	if c := str(ci, "created"); !createdRE.MatchString(c) {
		t.Errorf("created = %q, want YYYY-MM-DDThh:mm:ssZ", c)
	}
	creators, _ := ci["creators"].([]any)
	if len(creators) == 0 {
		t.Error("no creators")
	}
	for _, c := range creators {
		if s, _ := c.(string); !creatorRE.MatchString(s) {
			t.Errorf("creator %q", c)
		}
	}
	pkgs, _ := d["packages"].([]any)
	ids := map[string]bool{"SPDXRef-DOCUMENT": true}
	for _, p := range pkgs {
		p, _ := p.(map[string]any)
		id := str(p, "SPDXID")
		if !spdxIDRE.MatchString(id) {
			t.Errorf("package SPDXID %q", id)
		}
		if ids[id] {
			t.Errorf("SPDXID %q twice", id)
		}
		ids[id] = true
		str(p, "name")
		str(p, "downloadLocation")
		if fa, ok := p["filesAnalyzed"].(bool); !ok || fa {
			t.Errorf("package %s: filesAnalyzed = %v, want false (no files are listed)", id, p["filesAnalyzed"])
		}
		if pp, ok := p["primaryPackagePurpose"]; ok && !pkgPurpose[pp.(string)] {
			t.Errorf("package %s: primaryPackagePurpose %v", id, pp)
		}
		refs, _ := p["externalRefs"].([]any)
		for _, r := range refs {
			r, _ := r.(map[string]any)
			if !refCats[str(r, "referenceCategory")] {
				t.Errorf("package %s: referenceCategory %v", id, r["referenceCategory"])
			}
			str(r, "referenceType")
			str(r, "referenceLocator")
		}
		checksums, _ := p["checksums"].([]any)
		for _, c := range checksums {
			c, _ := c.(map[string]any)
			str(c, "algorithm")
			str(c, "checksumValue")
		}
	}
	rels, _ := d["relationships"].([]any)
	describes := 0
	contained := map[string]bool{}
	for _, r := range rels {
		r, _ := r.(map[string]any)
		a, typ, b := str(r, "spdxElementId"), str(r, "relationshipType"), str(r, "relatedSpdxElement")
		if !ids[a] || !ids[b] {
			t.Errorf("relationship %s %s %s names an unknown element", a, typ, b)
		}
		if !relTypes[typ] {
			t.Errorf("relationship type %q", typ)
		}
		if typ == "DESCRIBES" && a == "SPDXRef-DOCUMENT" {
			describes++
		}
		if typ == "CONTAINS" {
			contained[b] = true
		}
	}
	if describes != 1 {
		t.Errorf("document DESCRIBES %d elements, want 1", describes)
	}
	for id := range ids {
		if id != "SPDXRef-DOCUMENT" && id != "SPDXRef-Image" && !contained[id] {
			t.Errorf("package %s is not CONTAINed by the image", id)
		}
	}
	return d
}

func TestSPDX(t *testing.T) {
	doc, err := sbom.SPDX(img, inventory(), opts)
	if err != nil {
		t.Fatal(err)
	}
	d := checkSPDX(t, doc)
	golden(t, "spdx.json", doc)

	pkgs := d["packages"].([]any)
	// image + OS + 8 distinct packages.
	if len(pkgs) != 10 {
		t.Fatalf("%d packages, want 10", len(pkgs))
	}
	byName := map[string][]map[string]any{}
	for _, p := range pkgs {
		p := p.(map[string]any)
		byName[p["name"].(string)] = append(byName[p["name"].(string)], p)
	}
	image := byName["team-a/web"][0]
	if image["SPDXID"] != "SPDXRef-Image" || image["versionInfo"] != img.Digest.String() || image["primaryPackagePurpose"] != "CONTAINER" {
		t.Errorf("image package = %v", image)
	}
	if purl := purlOf(image); purl != "pkg:oci/web@"+img.Digest.String()+"?repository_url=berth.example.com:5000/team-a/web" {
		t.Errorf("image purl = %q", purl)
	}
	if c := image["checksums"].([]any)[0].(map[string]any); c["algorithm"] != "SHA256" || c["checksumValue"] != img.Digest.Encoded() {
		t.Errorf("image checksum = %v", c)
	}
	if osPkg := byName["debian"]; len(osPkg) != 1 || osPkg[0]["versionInfo"] != "12" || osPkg[0]["primaryPackagePurpose"] != "OPERATING-SYSTEM" {
		t.Errorf("OS package = %v", osPkg)
	}
	ssl := byName["libssl3"][0]
	if purlOf(ssl) != "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12" {
		t.Errorf("libssl3 purl = %q", purlOf(ssl))
	}
	if si := ssl["sourceInfo"]; si != "acquired package info from /var/lib/dpkg/status in layer "+layer1.String()+"; built from source package openssl 3.0.11-1~deb12u2" {
		t.Errorf("libssl3 sourceInfo = %q", si)
	}
	if n := len(byName["bash"]); n != 1 {
		t.Errorf("bash listed %d times, want once", n)
	}
	if n := len(byName["golang.org/x/net"]); n != 2 {
		t.Errorf("golang.org/x/net listed %d times, want twice (two binaries)", n)
	}
	if p := purlOf(byName["@babel/core"][0]); p != "pkg:npm/%40babel/core@7.23.2" {
		t.Errorf("npm purl = %q", p)
	}
	// Packages are sorted by purl.
	var purls []string
	for _, p := range pkgs[2:] {
		purls = append(purls, purlOf(p.(map[string]any)))
	}
	if !slices.IsSorted(purls) {
		t.Errorf("packages not sorted by purl: %q", purls)
	}
	if ci := d["creationInfo"].(map[string]any); ci["created"] != "2026-11-25T08:00:00Z" || len(ci["creators"].([]any)) != 2 {
		t.Errorf("creationInfo = %v", ci)
	}
	if ns := d["documentNamespace"].(string); !strings.HasPrefix(ns, sbom.DefaultNamespaceBase+"/team-a/web@"+img.Digest.String()+"/") {
		t.Errorf("documentNamespace = %q", ns)
	}
}

func purlOf(p map[string]any) string {
	refs, _ := p["externalRefs"].([]any)
	for _, r := range refs {
		r := r.(map[string]any)
		if r["referenceType"] == "purl" {
			return r["referenceLocator"].(string)
		}
	}
	return ""
}

func TestDeterministic(t *testing.T) {
	for _, f := range []struct {
		name string
		fn   func(sbom.Image, scan.Inventory, sbom.Options) ([]byte, error)
	}{{"SPDX", sbom.SPDX}, {"CycloneDX", sbom.CycloneDX}} {
		t.Run(f.name, func(t *testing.T) {
			want, err := f.fn(img, inventory(), opts)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			for range 20 {
				inv := inventory()
				r.Shuffle(len(inv.Packages), func(i, j int) { inv.Packages[i], inv.Packages[j] = inv.Packages[j], inv.Packages[i] })
				got, err := f.fn(img, inv, opts)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("output depends on the order of the inventory")
				}
			}
			// A different document of the same image has another
			// namespace / serial number.
			inv := inventory()
			inv.Packages = inv.Packages[1:]
			other, err := f.fn(img, inv, opts)
			if err != nil {
				t.Fatal(err)
			}
			key := map[string]string{"SPDX": "documentNamespace", "CycloneDX": "serialNumber"}[f.name]
			if id(t, other, key) == id(t, want, key) {
				t.Errorf("%s is the same for different documents", key)
			}
			o2 := opts
			o2.Created = created.Add(time.Hour)
			later, err := f.fn(img, inventory(), o2)
			if err != nil {
				t.Fatal(err)
			}
			if id(t, later, key) == id(t, want, key) {
				t.Errorf("%s is the same for documents created at different times", key)
			}
		})
	}
}

func id(t *testing.T, doc []byte, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[key].(string)
	return s
}

// Names, versions and paths come from the image: anything at all must
// still give a valid document.
func TestHostileInventory(t *testing.T) {
	weird := []string{"", "\x00\x01\xff\xfe", "</script><script>", "a\"b\\c", "SPDXRef-DOCUMENT", "../../etc/passwd",
		strings.Repeat("x", 100000), "名前", "a b/c?d#e@f&g=h%", "\u2028\u2029"}
	inv := scan.Inventory{OS: &scan.OS{ID: "\xff<os>", VersionID: "1?2", Name: "\x00"}}
	for i, w := range weird {
		for _, pm := range []string{"dpkg", "apk", "go", "python", "npm", "", w} {
			inv.Packages = append(inv.Packages, scan.Package{Name: w, Version: weird[(i+1)%len(weird)], PackageManager: pm, Path: w, Arch: w, SourceName: w, Ecosystem: w})
		}
	}
	doc, err := sbom.SPDX(img, inv, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSPDX(t, doc)
	bom, err := sbom.CycloneDX(img, inv, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkCycloneDX(t, bom)
}

func TestInvalidInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		img  sbom.Image
		opts sbom.Options
	}{
		{"no repository", sbom.Image{Digest: img.Digest}, opts},
		{"bad digest", sbom.Image{Repository: "a", Digest: "sha256:xyz"}, opts},
		{"no digest", sbom.Image{Repository: "a"}, opts},
		{"registry with path", sbom.Image{Repository: "a", Digest: img.Digest, Registry: "host/x"}, opts},
		{"relative namespace", img, sbom.Options{NamespaceBase: "spdx/docs"}},
		{"namespace with fragment", img, sbom.Options{NamespaceBase: "https://x/#y"}},
		{"tool with newline", img, sbom.Options{Tool: "a\nb"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sbom.SPDX(tc.img, inventory(), tc.opts); !errors.Is(err, sbom.ErrInvalid) {
				t.Errorf("SPDX error = %v, want ErrInvalid", err)
			}
			if _, err := sbom.CycloneDX(tc.img, inventory(), tc.opts); !errors.Is(err, sbom.ErrInvalid) {
				t.Errorf("CycloneDX error = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestEmptyInventory(t *testing.T) {
	doc, err := sbom.SPDX(img, scan.Inventory{}, sbom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := checkSPDX(t, doc)
	if n := len(d["packages"].([]any)); n != 1 {
		t.Errorf("%d packages, want the image only", n)
	}
	created, _ := time.Parse(time.RFC3339, d["creationInfo"].(map[string]any)["created"].(string))
	if time.Since(created) > time.Minute || time.Since(created) < -time.Minute {
		t.Errorf("default created = %v, want now", created)
	}
}
