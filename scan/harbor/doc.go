// Package harbor is a scan.Scanner that delegates to an external scanner
// through Harbor's Pluggable Scanner API v1.1
// (https://github.com/goharbor/pluggable-scanner-spec): the adapter of
// Trivy, Clair, Anchore or Sysdig that a Harbor installation would use can
// scan a Berth registry's images.
//
// A scan is three calls to the adapter, all under its base URL:
//
//	GET  /api/v1/metadata                  the adapter's capabilities (cached)
//	POST /api/v1/scan                      a ScanRequest naming the registry, a
//	                                       pull credential and the artifact;
//	                                       answered 202 with a scan ID
//	GET  /api/v1/scan/{id}/report          polled: 302 with Refresh-After while
//	                                       the report is being made, then 200
//
// The report asked for is the v1.1 vulnerability report
// (MediaTypeVulnerabilityReport) if the adapter produces it for the
// image's media type, else the older Harbor report (MediaTypeReport).
//
// The adapter pulls the image from the registry itself, so the Scanner is
// configured with the URL under which the adapter reaches Berth and a
// function that mints a short-lived, pull-only Authorization header for a
// repository (for example from Berth's token service).
//
// Mapping to ECR's shape: Harbor's severities Unknown, Negligible, Low,
// Medium, High and Critical become UNDEFINED, INFORMATIONAL, LOW, MEDIUM,
// HIGH and CRITICAL (anything else UNDEFINED); the CVSS rating is taken
// from preferred_cvss, the older report's cvss fields or Trivy's
// vendor_attributes; links that are not http(s) are dropped. An image whose
// media type the adapter does not consume (per its metadata) is
// UNSUPPORTED_IMAGE, without a scan request.
//
// Errors: transport errors, refused requests, a failed scan (500 on the
// report, with the adapter's message), a forgotten scan ID (404), malformed
// or oversized answers and waits past the deadline are errors wrapping
// ErrAdapter, which the registry records as a FAILED scan and may retry.
// Invalid Options or requests give ErrInvalid.
//
// Limits: every answer is read through a size limit
// (Options.MaxResponseSize, 64 MiB by default; error bodies 64 KiB and
// their messages 1 KiB); every scan is bounded by the context and
// Options.MaxWait; polls back off from Options.PollInterval, honour the
// adapter's Refresh-After and never wait longer than
// Options.MaxPollInterval. New does no I/O and starts no goroutines; the
// package never logs.
package harbor
