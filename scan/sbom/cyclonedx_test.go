package sbom_test

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/berth-dev/berth/scan/sbom"
)

var serialRE = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

var cdxTypes = map[string]bool{"application": true, "framework": true, "library": true, "container": true, "platform": true,
	"operating-system": true, "device": true, "device-driver": true, "firmware": true, "file": true, "machine-learning-model": true, "data": true}

// checkCycloneDX validates bom against the required fields of the
// CycloneDX 1.5 JSON schema, as generic JSON.
func checkCycloneDX(t *testing.T, bom []byte) map[string]any {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bom, &b); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if b["bomFormat"] != "CycloneDX" || b["specVersion"] != "1.5" || b["version"] != 1.0 {
		t.Errorf("bomFormat %v specVersion %v version %v", b["bomFormat"], b["specVersion"], b["version"])
	}
	if s, _ := b["serialNumber"].(string); !serialRE.MatchString(s) {
		t.Errorf("serialNumber %q", s)
	}
	md, _ := b["metadata"].(map[string]any)
	if ts, _ := md["timestamp"].(string); !createdRE.MatchString(ts) {
		t.Errorf("timestamp %q", ts)
	}
	refs := map[string]bool{}
	check := func(c map[string]any) {
		if !cdxTypes[c["type"].(string)] {
			t.Errorf("component type %v", c["type"])
		}
		if _, ok := c["name"].(string); !ok {
			t.Errorf("component without a name: %v", c)
		}
		if r, ok := c["bom-ref"].(string); ok {
			if refs[r] {
				t.Errorf("bom-ref %q twice", r)
			}
			refs[r] = true
		}
	}
	check(md["component"].(map[string]any))
	for _, c := range b["components"].([]any) {
		check(c.(map[string]any))
	}
	for _, d := range b["dependencies"].([]any) {
		d := d.(map[string]any)
		if !refs[d["ref"].(string)] {
			t.Errorf("dependency of unknown %v", d["ref"])
		}
		for _, o := range d["dependsOn"].([]any) {
			if !refs[o.(string)] {
				t.Errorf("dependency on unknown %v", o)
			}
		}
	}
	return b
}

func TestCycloneDX(t *testing.T) {
	bom, err := sbom.CycloneDX(img, inventory(), opts)
	if err != nil {
		t.Fatal(err)
	}
	b := checkCycloneDX(t, bom)
	golden(t, "cyclonedx.json", bom)

	md := b["metadata"].(map[string]any)
	c := md["component"].(map[string]any)
	if c["type"] != "container" || c["name"] != "team-a/web" || c["version"] != img.Digest.String() {
		t.Errorf("metadata.component = %v", c)
	}
	comps := b["components"].([]any)
	if len(comps) != 9 { // OS + 8 distinct packages
		t.Fatalf("%d components, want 9", len(comps))
	}
	deps := b["dependencies"].([]any)[0].(map[string]any)
	if deps["ref"] != "image" || len(deps["dependsOn"].([]any)) != 9 {
		t.Errorf("dependencies = %v", deps)
	}
	// The same purls as the SPDX document.
	doc, err := sbom.SPDX(img, inventory(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	json.Unmarshal(doc, &d)
	spdxPURLs := map[string]bool{}
	for _, p := range d["packages"].([]any) {
		spdxPURLs[purlOf(p.(map[string]any))] = true
	}
	for _, c := range comps {
		c := c.(map[string]any)
		if p, ok := c["purl"].(string); ok && !spdxPURLs[p] {
			t.Errorf("purl %q is not in the SPDX document", p)
		}
	}
}
