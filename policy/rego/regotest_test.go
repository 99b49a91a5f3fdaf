package rego

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestRegoUnitTests runs the *_test.rego files next to the embedded
// policies through OPA's test runner.
func TestRegoUnitTests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("policies", "*.rego"))
	if err != nil {
		t.Fatal(err)
	}
	modules := map[string]*ast.Module{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ast.ParseModuleWithOpts(f, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		modules[f] = m
	}
	ch, err := tester.NewRunner().SetModules(modules).
		AddCustomBuiltins([]*tester.Builtin{{Decl: ipInBuiltin, Func: ipInFunction}}).RunTests(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for r := range ch {
		ran++
		switch {
		case r.Error != nil:
			t.Errorf("%s.%s: error: %v", r.Package, r.Name, r.Error)
		case r.Fail:
			t.Errorf("%s.%s (%v): FAIL", r.Package, r.Name, r.Location)
		case r.Skip:
			t.Logf("%s.%s: skipped", r.Package, r.Name)
		}
	}
	if ran == 0 {
		t.Fatal("no Rego tests ran")
	}
	t.Logf("%d Rego tests ran", ran)
}

// TestRegoFormatted checks that the Rego files are formatted as opa fmt
// formats them.
func TestRegoFormatted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("policies", "*.rego"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Rego files: %v", err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := format.Source(f, src)
		if err != nil {
			t.Errorf("format %s: %v", f, err)
			continue
		}
		if string(out) != string(src) {
			t.Errorf("%s is not formatted (opa fmt -w %s)", f, f)
		}
	}
}
