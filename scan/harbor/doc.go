// Package harbor is a scan.Scanner that delegates to an external scanner
// through Harbor's Pluggable Scanner API (v1.1): the adapter of Trivy,
// Clair, Anchore or Sysdig that a Harbor installation would use can scan
// a Berth registry's images.
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
// The adapter pulls the image from the registry itself, so the Scanner is
// configured with the URL under which the adapter reaches Berth and a
// function that mints a short-lived, pull-only Authorization header for a
// repository (for example from policy/authn's token service).
//
// Mapping to ECR's shape: Harbor's severities Unknown, Negligible, Low,
// Medium, High and Critical become UNDEFINED, INFORMATIONAL, LOW, MEDIUM,
// HIGH and CRITICAL; an image whose media type the adapter does not
// consume is UNSUPPORTED_IMAGE; an adapter that reports a failed scan
// (500 on the report) gives a FAILED report with its message. Transport
// errors, refusals of the scan request and malformed or oversized answers
// are errors wrapping ErrAdapter, which the registry records as FAILED and
// may retry. Every answer is read through a size limit
// (Options.MaxResponseSize) and every wait is bounded by the context and
// Options.MaxWait.
package harbor
