// Package scan defines the vulnerability-scanning contract of a Berth
// registry: a Scanner receives a Request (repository, manifest descriptor and
// read access to the repository's content) and returns a Report with ECR's
// statuses and severities.
//
// A registry without a Scanner (the default) scans nothing. Implementations
// live in leaf packages.
package scan
