package rego

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	opa "github.com/open-policy-agent/opa/v1/rego"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/scan"
)

const (
	// GatePackage is the Rego package in which scan gate modules define
	// the partial set "deny" of reasons to refuse a pull.
	GatePackage = "berth.scan"
	// GateQuery is the query a Gate evaluates for every pull.
	GateQuery = "data." + GatePackage + ".deny"
)

// Gate is a registry.ScanGate that evaluates Rego modules: a pull is
// denied when the set data.berth.scan.deny is not empty, with its elements
// as reasons. Modules see the JSON form of registry.GateInput as input:
//
//	{
//	  "principal":  {"id": "u-42", "name": "alice", "groups": ["ci"]},  // absent if anonymous
//	  "repository": "prod/api",
//	  "reference":  "v1.2.3",                  // tag or digest of the pull
//	  "digest":     "sha256:…",
//	  "mediaType":  "application/vnd.oci.image.manifest.v1+json",
//	  "artifactType": "application/vnd.oci.image.config.v1+json",
//	  "scanStatus": "COMPLETE",                // "" if never scanned
//	  "scanDescription": "…",
//	  "scanCompletedAt": "2026-03-01T12:00:00Z",
//	  "databaseVersion": "2026-03-01T00:00:00Z",
//	  "findingSeverityCounts": {"CRITICAL": 1, "HIGH": 0, …},  // every severity present
//	  "findings": [{"name": "CVE-2024-0001", "severity": "CRITICAL",
//	                "package": "openssl", "installedVersion": "3.0.1", "fixedVersion": "3.0.2", …}]
//	}
//
// For example, to refuse pulls of images with critical findings, or not
// yet scanned, in prod/*:
//
//	package berth.scan
//
//	deny contains sprintf("%d CRITICAL findings", [n]) if {
//		startswith(input.repository, "prod/")
//		n := input.findingSeverityCounts.CRITICAL
//		n > 0
//	}
//
//	deny contains "image not scanned" if {
//		startswith(input.repository, "prod/")
//		input.scanStatus != "COMPLETE"
//	}
//
// An image index has the scan status its Scanner gives it (its child
// images are scanned on their own when pushed, and each is gated when
// pulled by digest): a rule that denies unscanned images may want to
// exempt index media types.
//
// Helper rules may live in package berth.scan, its subpackages, or outside
// data.berth. NewGate compiles the modules and prepares the query once; a
// Gate is immutable and safe for concurrent use.
type Gate struct {
	pq      opa.PreparedEvalQuery
	modules map[string]string
	// findings is false when no module can read input.findings, which
	// are then left out of the input: building them is most of the cost
	// of a call for images with many findings.
	findings bool
}

var _ registry.ScanGate = (*Gate)(nil)

// NewGate compiles modules (file name → source, Rego v1 syntax), which must
// define the partial set rule deny in package berth.scan. A module that does
// not parse or compile, or a set without deny, fails with an error matching
// ErrInvalidPolicy that names the module and location.
func NewGate(ctx context.Context, modules map[string]string) (*Gate, error) {
	if len(modules) == 0 {
		return nil, &InvalidPolicyError{Policy: "scan gate", Reason: "no modules"}
	}
	mods := map[string]*ast.Module{}
	for _, name := range sortedKeys(modules) {
		label := fmt.Sprintf("module %q", name)
		if name == "" || strings.HasPrefix(name, "berth/") {
			return nil, &InvalidPolicyError{Policy: label, Reason: `module names must be non-empty and not start with "berth/"`}
		}
		m, err := ast.ParseModuleWithOpts(name, modules[name], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, regoErr(label, err)
		}
		pkg := m.Package.Path.String()
		if (pkg == "data.berth" || strings.HasPrefix(pkg, "data.berth.")) &&
			pkg != "data."+GatePackage && !strings.HasPrefix(pkg, "data."+GatePackage+".") {
			return nil, &InvalidPolicyError{Policy: label, Location: locationString(m.Package.Location),
				Reason: fmt.Sprintf("package %s is reserved; gate rules belong in package %s", strings.TrimPrefix(pkg, "data."), GatePackage)}
		}
		mods[name] = m
	}
	c := ast.NewCompiler()
	c.Compile(mods)
	if c.Failed() {
		return nil, regoErr("modules", c.Errors)
	}
	rules := c.GetRulesExact(ast.MustParseRef(GateQuery))
	if len(rules) == 0 {
		return nil, &InvalidPolicyError{Policy: "scan gate", Reason: "no module defines deny in package " + GatePackage}
	}
	for _, r := range rules {
		if r.Head.RuleKind() != ast.MultiValue {
			return nil, &InvalidPolicyError{Policy: fmt.Sprintf("module %q", r.Location.File), Location: locationString(r.Location),
				Reason: "deny must be a partial set rule (deny contains reason if { … })"}
		}
	}
	pq, err := opa.New(opa.Query(GateQuery), opa.Compiler(c)).PrepareForEval(ctx)
	if err != nil {
		return nil, regoErr("modules", err)
	}
	return &Gate{pq: pq, modules: maps.Clone(modules), findings: readsInput(c, "findings")}, nil
}

// readsInput reports whether a compiled module may read input.<key>: it
// refers to it, to the whole input, or to input[<variable>].
func readsInput(c *ast.Compiler, key string) bool {
	found := false
	for _, m := range c.Modules {
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if found || !r.HasPrefix(ast.InputRootRef) {
				return found
			}
			if len(r) == 1 {
				found = true
			} else if s, ok := r[1].Value.(ast.String); !ok || string(s) == key {
				found = true
			}
			return found
		})
	}
	return found
}

// Modules returns a copy of the gate's modules.
func (g *Gate) Modules() map[string]string { return maps.Clone(g.modules) }

// AllowPull implements registry.ScanGate: it denies the pull if deny has
// any element, with the elements, sorted, as reasons (non-string elements
// in their JSON form). It fails only if the evaluation fails (a conflict,
// a cancelled context).
func (g *Gate) AllowPull(ctx context.Context, in registry.GateInput) (policy.Decision, error) {
	if err := ctx.Err(); err != nil {
		return policy.Decision{}, err
	}
	if !g.findings {
		in.Findings = nil
	}
	v, err := gateInput(in)
	if err != nil {
		return policy.Decision{}, fmt.Errorf("rego: gate input: %w", err)
	}
	rs, err := g.pq.Eval(ctx, opa.EvalParsedInput(v), opa.EvalMetrics(metrics.NoOp()))
	if err != nil {
		return policy.Decision{}, fmt.Errorf("rego: evaluate %s: %w", GateQuery, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return policy.Decision{}, fmt.Errorf("rego: %s is undefined", GateQuery)
	}
	set, ok := rs[0].Expressions[0].Value.([]any)
	if !ok {
		return policy.Decision{}, fmt.Errorf("rego: %s is not a set", GateQuery)
	}
	if len(set) == 0 {
		return policy.Decision{Allow: true}, nil
	}
	d := policy.Decision{Reasons: make([]string, 0, len(set))}
	for _, e := range set {
		if s, ok := e.(string); ok {
			d.Reasons = append(d.Reasons, s)
			continue
		}
		d.Reasons = append(d.Reasons, ast.MustInterfaceToValue(e).String())
	}
	slices.Sort(d.Reasons)
	return d, nil
}

// gateKeys are the object keys of gate inputs, shared by all inputs as the
// Authorizer shares its input keys: OPA does not modify input terms.
var gateKeys = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, k := range []string{"repository", "reference", "digest", "mediaType", "scanStatus", "artifactType", "scanDescription", "databaseVersion", "scanCompletedAt", "principal", "findingSeverityCounts", "findings", "name", "severity", "description", "uri", "package", "installedVersion", "fixedVersion", "sourcePackage", "packageManager", "ecosystem", "filePath", "sourceLayerHash", "aliases", "referenceUrls", "cvss", "version", "scoringVector", "baseScore", "source"} {
		m[k] = ast.StringTerm(k)
	}
	return m
}()

func key(k string) *ast.Term {
	if t, ok := gateKeys[k]; ok {
		return t
	}
	return ast.StringTerm(k)
}

// gateInput builds the JSON form of in as an AST value directly, without
// OPA's JSON round trip, which dominates the cost of a call for images
// with many findings. The principal (small, with free-form attributes)
// goes through ast.InterfaceToValue.
func gateInput(in registry.GateInput) (ast.Object, error) {
	obj := ast.NewObject(
		ast.Item(key("repository"), ast.StringTerm(in.Repository)),
		ast.Item(key("reference"), ast.StringTerm(in.Reference)),
		ast.Item(key("digest"), ast.StringTerm(in.Digest)),
		ast.Item(key("mediaType"), ast.StringTerm(in.MediaType)),
		ast.Item(key("scanStatus"), ast.StringTerm(in.ScanStatus)),
	)
	optional := func(k, v string) {
		if v != "" {
			obj.Insert(key(k), ast.StringTerm(v))
		}
	}
	optional("artifactType", in.ArtifactType)
	optional("scanDescription", in.ScanDescription)
	optional("databaseVersion", in.DatabaseVersion)
	if !in.ScanCompletedAt.IsZero() {
		obj.Insert(key("scanCompletedAt"), ast.StringTerm(in.ScanCompletedAt.UTC().Format(time.RFC3339Nano)))
	}
	if in.Principal != nil {
		p, err := ast.InterfaceToValue(in.Principal)
		if err != nil {
			return nil, err
		}
		obj.Insert(key("principal"), ast.NewTerm(p))
	}
	counts := ast.NewObject()
	for _, k := range sortedKeys(in.FindingSeverityCounts) {
		counts.Insert(ast.StringTerm(k), ast.IntNumberTerm(in.FindingSeverityCounts[k]))
	}
	obj.Insert(key("findingSeverityCounts"), ast.NewTerm(counts))
	findings := make([]*ast.Term, len(in.Findings))
	for i := range in.Findings {
		findings[i] = ast.NewTerm(findingValue(&in.Findings[i]))
	}
	obj.Insert(key("findings"), ast.ArrayTerm(findings...))
	return obj, nil
}

// findingValue is the JSON form of a scan.Finding (its json tags, empty
// fields omitted).
func findingValue(f *scan.Finding) ast.Object {
	o := ast.NewObject(
		ast.Item(key("name"), ast.StringTerm(f.ID)),
		ast.Item(key("severity"), ast.StringTerm(f.Severity)),
	)
	for _, kv := range [...][2]string{
		{"description", f.Description}, {"uri", f.URI},
		{"package", f.Package}, {"installedVersion", f.InstalledVersion}, {"fixedVersion", f.FixedVersion},
		{"sourcePackage", f.SourcePackage}, {"packageManager", f.PackageManager}, {"ecosystem", f.Ecosystem},
		{"filePath", f.Path}, {"sourceLayerHash", f.Layer.String()},
	} {
		if kv[1] != "" {
			o.Insert(key(kv[0]), ast.StringTerm(kv[1]))
		}
	}
	strs := func(k string, ss []string) {
		if len(ss) == 0 {
			return
		}
		ts := make([]*ast.Term, len(ss))
		for i, s := range ss {
			ts[i] = ast.StringTerm(s)
		}
		o.Insert(key(k), ast.ArrayTerm(ts...))
	}
	strs("aliases", f.Aliases)
	strs("referenceUrls", f.References)
	if c := f.CVSS; c != nil {
		cv := ast.NewObject(
			ast.Item(key("version"), ast.StringTerm(c.Version)),
			ast.Item(key("scoringVector"), ast.StringTerm(c.Vector)),
			ast.Item(key("baseScore"), ast.FloatNumberTerm(c.Score)),
		)
		if c.Source != "" {
			cv.Insert(key("source"), ast.StringTerm(c.Source))
		}
		o.Insert(key("cvss"), ast.NewTerm(cv))
	}
	return o
}
