package rego_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/rego"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/storage/memory"
)

// prodGate denies pulls of prod/* images with CRITICAL findings, or not
// scanned; ops may pull anything.
const prodGate = `package berth.scan

import rego.v1

prod if startswith(input.repository, "prod/")

ops if "ops" in input.principal.groups

deny contains sprintf("%d CRITICAL findings in %s", [n, input.repository]) if {
	prod
	not ops
	n := input.findingSeverityCounts.CRITICAL
	n > 0
}

deny contains "image not scanned" if {
	prod
	not ops
	input.scanStatus != "COMPLETE"
}
`

func newProdGate(t testing.TB) *rego.Gate {
	t.Helper()
	g, err := rego.NewGate(context.Background(), map[string]string{"prod.rego": prodGate})
	if err != nil {
		t.Fatalf("NewGate() error = %v", err)
	}
	return g
}

func counts(crit int) map[string]int {
	return map[string]int{"CRITICAL": crit, "HIGH": 0, "MEDIUM": 0, "LOW": 0, "INFORMATIONAL": 0, "UNDEFINED": 0}
}

func TestGateDecisions(t *testing.T) {
	ctx := context.Background()
	g := newProdGate(t)
	ops := &policy.Principal{ID: "u1", Groups: []string{"ops"}}
	dev := &policy.Principal{ID: "u2", Groups: []string{"dev"}}
	for _, c := range []struct {
		name    string
		in      registry.GateInput
		reasons []string
	}{
		{"prod critical", registry.GateInput{Principal: dev, Repository: "prod/api", ScanStatus: "COMPLETE", FindingSeverityCounts: counts(2)},
			[]string{"2 CRITICAL findings in prod/api"}},
		{"prod critical anonymous", registry.GateInput{Repository: "prod/api", ScanStatus: "COMPLETE", FindingSeverityCounts: counts(1)},
			[]string{"1 CRITICAL findings in prod/api"}},
		{"prod clean", registry.GateInput{Principal: dev, Repository: "prod/api", ScanStatus: "COMPLETE", FindingSeverityCounts: counts(0)}, nil},
		{"prod unscanned", registry.GateInput{Principal: dev, Repository: "prod/api", FindingSeverityCounts: counts(0)}, []string{"image not scanned"}},
		{"prod failed and critical", registry.GateInput{Principal: dev, Repository: "prod/api", ScanStatus: "IN_PROGRESS", FindingSeverityCounts: counts(1)},
			[]string{"1 CRITICAL findings in prod/api", "image not scanned"}},
		{"prod critical ops", registry.GateInput{Principal: ops, Repository: "prod/api", ScanStatus: "COMPLETE", FindingSeverityCounts: counts(3)}, nil},
		{"dev critical", registry.GateInput{Principal: dev, Repository: "dev/api", ScanStatus: "COMPLETE", FindingSeverityCounts: counts(3)}, nil},
	} {
		d, err := g.AllowPull(ctx, c.in)
		if err != nil {
			t.Errorf("%s: error = %v", c.name, err)
			continue
		}
		if d.Allow != (len(c.reasons) == 0) || !slices.Equal(d.Reasons, c.reasons) {
			t.Errorf("%s: decision = %+v, want reasons %q", c.name, d, c.reasons)
		}
	}
}

func TestGateSeesFindings(t *testing.T) {
	g, err := rego.NewGate(context.Background(), map[string]string{"cve.rego": `package berth.scan

deny contains sprintf("%s in %s %s (fixed in %s)", [f.name, f.package, f.installedVersion, f.fixedVersion]) if {
	some f in input.findings
	f.name in data.berth.scan.blocked
}

blocked := {"CVE-2024-3094"}
`})
	if err != nil {
		t.Fatal(err)
	}
	in := registry.GateInput{Repository: "any/repo", Findings: []scan.Finding{
		{ID: "CVE-2024-3094", Package: "xz-utils", InstalledVersion: "5.6.0", FixedVersion: "5.6.2", Severity: "CRITICAL"},
		{ID: "CVE-2023-0001", Package: "zlib", Severity: "LOW"},
	}}
	d, err := g.AllowPull(context.Background(), in)
	if err != nil || d.Allow || !slices.Equal(d.Reasons, []string{"CVE-2024-3094 in xz-utils 5.6.0 (fixed in 5.6.2)"}) {
		t.Errorf("AllowPull() = %+v, %v", d, err)
	}
	// Modules that read the whole input, or input[key], see the findings
	// too.
	for _, src := range []string{
		"package berth.scan\n\ndeny contains \"some\" if { x := input; count(x.findings) > 0 }",
		"package berth.scan\n\ndeny contains \"some\" if { some k; k == \"findings\"; count(input[k]) > 0 }",
	} {
		g, err := rego.NewGate(context.Background(), map[string]string{"a.rego": src})
		if err != nil {
			t.Fatal(err)
		}
		if d, err := g.AllowPull(context.Background(), in); err != nil || d.Allow {
			t.Errorf("%s: AllowPull() = %+v, %v; want a denial", src, d, err)
		}
	}
}

func TestNewGateRejects(t *testing.T) {
	ctx := context.Background()
	for name, mods := range map[string]map[string]string{
		"no modules":        nil,
		"syntax":            {"a.rego": "package berth.scan\n\ndeny contains x if {"},
		"reserved package":  {"a.rego": "package berth.authz\n\ndeny contains \"x\" if true"},
		"reserved name":     {"berth/a.rego": "package berth.scan\n\ndeny contains \"x\" if true"},
		"no deny":           {"a.rego": "package berth.scan\n\nallow if true"},
		"deny not a set":    {"a.rego": "package berth.scan\n\ndeny := true"},
		"deny in other pkg": {"a.rego": "package berth.scan.sub\n\ndeny contains \"x\" if true"},
		"unsafe variable":   {"a.rego": "package berth.scan\n\ndeny contains x if { y := 1 }"},
	} {
		_, err := rego.NewGate(ctx, mods)
		var ipe *rego.InvalidPolicyError
		if !errors.Is(err, rego.ErrInvalidPolicy) || !errors.As(err, &ipe) {
			t.Errorf("%s: error = %v, want ErrInvalidPolicy", name, err)
		}
	}
	// Helpers outside data.berth and in subpackages are fine.
	_, err := rego.NewGate(ctx, map[string]string{
		"a.rego": "package berth.scan\n\nimport data.lib\n\ndeny contains \"x\" if lib.bad",
		"b.rego": "package lib\n\nbad if input.repository == \"x\"",
		"c.rego": "package berth.scan.util\n\nok := true",
	})
	if err != nil {
		t.Errorf("helpers: %v", err)
	}
}

func TestGateEvaluationError(t *testing.T) {
	g, err := rego.NewGate(context.Background(), map[string]string{"a.rego": `package berth.scan

deny contains "x" if to_number(input.repository) > 0
`})
	if err != nil {
		t.Fatal(err)
	}
	// Strict built-in errors are off: to_number of a name is undefined.
	if d, err := g.AllowPull(context.Background(), registry.GateInput{Repository: "a/b"}); err != nil || !d.Allow {
		t.Errorf("AllowPull() = %+v, %v", d, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.AllowPull(ctx, registry.GateInput{Repository: "a/b"}); err == nil {
		t.Error("AllowPull(cancelled) error = nil")
	}
	if m := g.Modules(); len(m) != 1 {
		t.Errorf("Modules() = %v", m)
	}
	// A conflict between complete rules fails the evaluation.
	g, err = rego.NewGate(context.Background(), map[string]string{"a.rego": `package berth.scan

level := 1 if input.repository != ""

level := 2 if startswith(input.repository, "prod/")

deny contains "x" if level > 1
`})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := g.AllowPull(context.Background(), registry.GateInput{Repository: "prod/a"}); err == nil {
		t.Errorf("AllowPull(conflict) = %+v, want an error", d)
	}
}

// gateScanner reports one CRITICAL finding for images whose config says
// so.
type gateScanner struct{}

func (gateScanner) Scan(ctx context.Context, req scan.Request) (scan.Report, error) {
	b, _, err := req.Content.ReadManifest(ctx, req.Manifest.Digest)
	if err != nil {
		return scan.Report{}, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return scan.Report{}, err
	}
	rc, err := req.Content.OpenBlob(ctx, m.Config.Digest)
	if err != nil {
		return scan.Report{}, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		return scan.Report{}, err
	}
	if strings.Contains(buf.String(), "vulnerable") {
		return scan.Report{Findings: []scan.Finding{{ID: "CVE-2024-3094", Severity: scan.SeverityCritical, Package: "xz-utils"}}}, nil
	}
	return scan.Report{}, nil
}

// TestGateInRegistry runs the Rego gate in a registry: pulls of prod/*
// images with CRITICAL findings are denied with ErrDenied; others pass.
func TestGateInRegistry(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	done := make(chan struct{}, 16)
	reg, err := registry.New(store,
		registry.WithScanner(gateScanner{}),
		registry.WithScanGate(newProdGate(t)),
		registry.WithListener(registry.ListenerFunc(func(_ context.Context, ev registry.Event) {
			if ev.Kind == registry.EventImageScanCompleted {
				done <- struct{}{}
			}
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, err := reg.PutRegistryScanningConfiguration(ctx, registry.ScanningConfiguration{Rules: []registry.ScanningRule{
		{ScanFrequency: registry.ScanFrequencyOnPush, RepositoryFilters: []registry.ScanningRepositoryFilter{{Filter: "*"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := reg.StartScanning(ctx); err != nil {
		t.Fatal(err)
	}
	push := func(repo, tag, config string) {
		t.Helper()
		blob := func(data []byte, mt string) ocispec.Descriptor {
			d, err := reg.PushBlob(ctx, repo, digest.FromBytes(data), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			d.MediaType = mt
			return d
		}
		m, _ := json.Marshal(ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    blob([]byte(config), ocispec.MediaTypeImageConfig),
			Layers:    []ocispec.Descriptor{blob([]byte("layer "+tag), ocispec.MediaTypeImageLayer)},
		})
		if _, err := reg.PutImage(ctx, registry.PutImageInput{Repository: repo, Manifest: m, Tag: tag}); err != nil {
			t.Fatal(err)
		}
	}
	push("prod/api", "bad", `{"os":"linux","vulnerable":true}`)
	push("prod/api", "good", `{"os":"linux"}`)
	push("dev/api", "bad", `{"os":"linux","vulnerable":true}`)
	for range 3 {
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("scans did not complete")
		}
	}

	_, err = reg.GetImage(ctx, "prod/api", "bad")
	if !errors.Is(err, registry.ErrDenied) || !errors.Is(err, registry.ErrImagePullDenied) || !strings.Contains(err.Error(), "1 CRITICAL findings in prod/api") {
		t.Errorf("GetImage(prod/api:bad) error = %v, want a denial", err)
	}
	for _, ref := range [][2]string{{"prod/api", "good"}, {"dev/api", "bad"}} {
		if _, err := reg.GetImage(ctx, ref[0], ref[1]); err != nil {
			t.Errorf("GetImage(%s:%s) error = %v", ref[0], ref[1], err)
		}
	}
	opsCtx := policy.WithPrincipal(ctx, &policy.Principal{ID: "o", Groups: []string{"ops"}})
	if _, err := reg.GetImage(opsCtx, "prod/api", "bad"); err != nil {
		t.Errorf("ops GetImage(prod/api:bad) error = %v", err)
	}
}

func ExampleNewGate() {
	ctx := context.Background()
	gate, err := rego.NewGate(ctx, map[string]string{"gate.rego": `package berth.scan

deny contains sprintf("%d CRITICAL findings", [n]) if {
	startswith(input.repository, "prod/")
	n := input.findingSeverityCounts.CRITICAL
	n > 0
}
`})
	if err != nil {
		fmt.Println(err)
		return
	}
	// registry.New(store, registry.WithScanner(s), registry.WithScanGate(gate))
	// consults the gate on every manifest GET; here it is asked directly.
	for _, repo := range []string{"prod/api", "dev/api"} {
		d, err := gate.AllowPull(ctx, registry.GateInput{
			Repository:            repo,
			ScanStatus:            scan.StatusComplete,
			FindingSeverityCounts: map[string]int{scan.SeverityCritical: 1},
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(repo, d.Allow, d.Reasons)
	}
	// Output:
	// prod/api false [1 CRITICAL findings]
	// dev/api true []
}

// BenchmarkGateAllowPull evaluates a gate for an image with 50 findings,
// as a manifest GET does: "counts" is the prod gate, which reads the
// severity counts only (the findings are then left out of the input);
// "findings" reads the findings.
func BenchmarkGateAllowPull(b *testing.B) {
	in := registry.GateInput{Repository: "prod/api", Reference: "v1", ScanStatus: scan.StatusComplete, FindingSeverityCounts: counts(0)}
	for i := range 50 {
		in.Findings = append(in.Findings, scan.Finding{ID: fmt.Sprintf("CVE-2024-%04d", i), Severity: scan.SeverityHigh, Package: "openssl", InstalledVersion: "3.0.1"})
	}
	ctx := context.Background()
	for _, c := range []struct{ name, module string }{
		{"counts", prodGate},
		{"findings", "package berth.scan\n\ndeny contains f.name if {\n\tsome f in input.findings\n\tf.name in {\"CVE-2024-3094\"}\n}\n"},
	} {
		b.Run(c.name, func(b *testing.B) {
			g, err := rego.NewGate(ctx, map[string]string{"gate.rego": c.module})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if d, err := g.AllowPull(ctx, in); err != nil || !d.Allow {
					b.Fatal(d, err)
				}
			}
		})
	}
}
