package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRun runs the example: the outdated demo package must be found, with
// the severity from the advisory's CVSS vector and its fixed version.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, "osv"); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	for _, want := range []string{
		"scan COMPLETE",
		"CRITICAL DEMO-2026-0001 demo 1.2-1 (fixed in 1.2-3)",
		"attached application/spdx+json",
		"attached application/vnd.berth.scan.report.v1+json",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "base-files") {
		t.Error("a package without an advisory was reported")
	}
}
