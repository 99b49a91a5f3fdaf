package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/storage"
)

// Scan types, as ECR's ScanType.
const (
	ScanTypeBasic    = "BASIC"
	ScanTypeEnhanced = "ENHANCED"
)

// Scan frequencies, as ECR's ScanFrequency.
const (
	ScanFrequencyOnPush     = "SCAN_ON_PUSH"
	ScanFrequencyContinuous = "CONTINUOUS_SCAN"
	ScanFrequencyManual     = "MANUAL"
)

// FilterTypeWildcard is the only repository filter type of scanning rules.
const FilterTypeWildcard = "WILDCARD"

// Limits of a scanning configuration, as in ECR.
const (
	MaxScanningRules             = 2
	MaxScanningRepositoryFilters = 100
	MaxScanningFilterLength      = 255
)

// ScanningConfiguration is the registry's scanning configuration (ECR's
// RegistryScanningConfiguration).
type ScanningConfiguration struct {
	// ScanType is BASIC or ENHANCED; empty means BASIC. Berth runs the same
	// Scanner for both; the type is stored and reported, and only ENHANCED
	// allows CONTINUOUS_SCAN rules, as in ECR.
	ScanType string `json:"scanType"`
	// Rules are at most two rules with different scan frequencies.
	Rules []ScanningRule `json:"rules"`
}

// ScanningRule applies a scan frequency to the repositories matching any of
// its filters (ECR's RegistryScanningRule).
type ScanningRule struct {
	// ScanFrequency is SCAN_ON_PUSH, CONTINUOUS_SCAN (scanned on push and
	// re-matched when the vulnerability data changes) or MANUAL.
	ScanFrequency string `json:"scanFrequency"`
	// RepositoryFilters are at most 100 filters.
	RepositoryFilters []ScanningRepositoryFilter `json:"repositoryFilters"`
}

// ScanningRepositoryFilter selects repositories by name (ECR's
// ScanningRepositoryFilter). A filter with '*' must match the whole name,
// '*' standing for any run of characters ("prod*" matches "prod-app" but
// not "app-prod"); a filter without '*' matches names containing it.
type ScanningRepositoryFilter struct {
	// Filter is 1 to 255 characters: lower-case letters, digits, '.', '_',
	// '-', '/' and '*'.
	Filter string `json:"filter"`
	// FilterType is WILDCARD; empty means WILDCARD.
	FilterType string `json:"filterType"`
}

// validate checks the configuration and fills defaults. Errors wrap
// ErrInvalidParameter.
func (c *ScanningConfiguration) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("scanning configuration: "+format+": %w", append(args, ErrInvalidParameter)...)
	}
	switch c.ScanType {
	case "":
		c.ScanType = ScanTypeBasic
	case ScanTypeBasic, ScanTypeEnhanced:
	default:
		return bad("scan type %q: must be BASIC or ENHANCED", truncate(c.ScanType))
	}
	if len(c.Rules) > MaxScanningRules {
		return bad("%d rules, at most %d", len(c.Rules), MaxScanningRules)
	}
	seen := map[string]bool{}
	for i := range c.Rules {
		rule := &c.Rules[i]
		switch rule.ScanFrequency {
		case ScanFrequencyOnPush, ScanFrequencyManual:
		case ScanFrequencyContinuous:
			if c.ScanType != ScanTypeEnhanced {
				return bad("rules[%d]: scan frequency CONTINUOUS_SCAN needs scan type ENHANCED", i)
			}
		case "":
			return bad("rules[%d]: scan frequency is required", i)
		default:
			return bad("rules[%d]: scan frequency %q: must be SCAN_ON_PUSH, CONTINUOUS_SCAN or MANUAL", i, truncate(rule.ScanFrequency))
		}
		if seen[rule.ScanFrequency] {
			return bad("rules[%d]: a second rule with scan frequency %s", i, rule.ScanFrequency)
		}
		seen[rule.ScanFrequency] = true
		if len(rule.RepositoryFilters) > MaxScanningRepositoryFilters {
			return bad("rules[%d]: %d repository filters, at most %d", i, len(rule.RepositoryFilters), MaxScanningRepositoryFilters)
		}
		for j := range rule.RepositoryFilters {
			f := &rule.RepositoryFilters[j]
			switch f.FilterType {
			case "":
				f.FilterType = FilterTypeWildcard
			case FilterTypeWildcard:
			default:
				return bad("rules[%d].repositoryFilters[%d]: filter type %q: must be WILDCARD", i, j, truncate(f.FilterType))
			}
			if err := validateScanFilter(f.Filter); err != nil {
				return bad("rules[%d].repositoryFilters[%d]: %v", i, j, err)
			}
		}
	}
	return nil
}

func validateScanFilter(f string) error {
	if f == "" || len(f) > MaxScanningFilterLength {
		return fmt.Errorf("filter of %d characters: must be 1 to %d", len(f), MaxScanningFilterLength)
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("._-/*", c) >= 0) {
			return fmt.Errorf("filter %q: character %q not allowed (lower-case letters, digits, '.', '_', '-', '/', '*')", truncate(f), c)
		}
	}
	return nil
}

// matchScanFilter applies ECR's WILDCARD filter semantics.
func matchScanFilter(filter, repo string) bool {
	if !strings.Contains(filter, "*") {
		return strings.Contains(repo, filter)
	}
	return wildcardMatch(filter, repo)
}

// frequency returns the scan frequency of a repository under the rules:
// CONTINUOUS_SCAN if a continuous rule matches (it wins, as in ECR), else
// SCAN_ON_PUSH if a scan-on-push rule matches, else MANUAL.
func (c *ScanningConfiguration) frequency(repo string) string {
	best := ScanFrequencyManual
	for _, rule := range c.Rules {
		if rule.ScanFrequency == ScanFrequencyManual || !slices.ContainsFunc(rule.RepositoryFilters, func(f ScanningRepositoryFilter) bool {
			return matchScanFilter(f.Filter, repo)
		}) {
			continue
		}
		if rule.ScanFrequency == ScanFrequencyContinuous {
			return ScanFrequencyContinuous
		}
		best = rule.ScanFrequency
	}
	return best
}

func (c *ScanningConfiguration) clone() ScanningConfiguration {
	out := ScanningConfiguration{ScanType: c.ScanType, Rules: make([]ScanningRule, len(c.Rules))}
	for i, r := range c.Rules {
		out.Rules[i] = ScanningRule{ScanFrequency: r.ScanFrequency, RepositoryFilters: slices.Clone(r.RepositoryFilters)}
	}
	return out
}

// config returns the scanning configuration, loading it from the records
// the first time. The default is BASIC without rules.
func (s *scanService) config(ctx context.Context) (*ScanningConfiguration, error) {
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	if s.cfg != nil {
		return s.cfg, nil
	}
	v, err := s.records.GetRecord(ctx, scanConfigKey)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.cfg = &ScanningConfiguration{ScanType: ScanTypeBasic, Rules: []ScanningRule{}}
		return s.cfg, nil
	case err != nil:
		return nil, fmt.Errorf("scanning configuration: %w", err)
	}
	var c ScanningConfiguration
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("scanning configuration: %w", err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("stored %w", err)
	}
	s.cfg = &c
	return s.cfg, nil
}

// PutRegistryScanningConfiguration validates and stores the registry's
// scanning configuration, replacing the previous one (ECR's
// PutRegistryScanningConfiguration), and returns it with defaults filled
// in. It is kept in the store's storage.RecordStore when the store has one
// (in memory otherwise), and read from there by the next Registry. An
// invalid configuration fails with ErrInvalidParameter and leaves the old
// one in force.
func (r *Registry) PutRegistryScanningConfiguration(ctx context.Context, cfg ScanningConfiguration) (ScanningConfiguration, error) {
	if err := r.beginRegistry(ctx, policy.ActionPutRegistryScanningConfiguration); err != nil {
		return ScanningConfiguration{}, err
	}
	c := cfg.clone()
	if err := c.validate(); err != nil {
		return ScanningConfiguration{}, err
	}
	v, err := json.Marshal(c)
	if err != nil {
		return ScanningConfiguration{}, fmt.Errorf("scanning configuration: %w", err)
	}
	s := r.scans
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	if err := s.records.PutRecord(ctx, scanConfigKey, v); err != nil {
		return ScanningConfiguration{}, fmt.Errorf("store scanning configuration: %w", err)
	}
	s.cfg = &c
	return c.clone(), nil
}

// GetRegistryScanningConfiguration returns the registry's scanning
// configuration (ECR's GetRegistryScanningConfiguration): BASIC without
// rules if none was put.
func (r *Registry) GetRegistryScanningConfiguration(ctx context.Context) (ScanningConfiguration, error) {
	if err := r.beginRegistry(ctx, policy.ActionGetRegistryScanningConfiguration); err != nil {
		return ScanningConfiguration{}, err
	}
	c, err := r.scans.config(ctx)
	if err != nil {
		return ScanningConfiguration{}, err
	}
	return c.clone(), nil
}

// MaxScanningConfigurationRepositories is how many repositories one
// BatchGetRepositoryScanningConfiguration call may name, as in ECR.
const MaxScanningConfigurationRepositories = 25

// RepositoryScanningConfiguration is how a repository is scanned (ECR's
// RepositoryScanningConfiguration).
type RepositoryScanningConfiguration struct {
	RepositoryName string
	// ScanOnPush says whether pushed images are scanned: the repository's
	// setting, or a SCAN_ON_PUSH or CONTINUOUS_SCAN rule.
	ScanOnPush bool
	// ScanFrequency is the frequency of the rule that applies, MANUAL if
	// none does.
	ScanFrequency string
	// AppliedScanFilters are the filters of that rule matching the
	// repository.
	AppliedScanFilters []ScanningRepositoryFilter
}

// RepositoryScanningConfigurationFailure names a repository that could not
// be described; FailureCode is REPOSITORY_NOT_FOUND.
type RepositoryScanningConfigurationFailure struct {
	RepositoryName string
	FailureCode    string
	FailureReason  string
}

// BatchGetRepositoryScanningConfiguration returns how each of 1 to 25
// repositories is scanned (ECR's BatchGetRepositoryScanningConfiguration);
// unknown repositories are reported as failures. It is authorized per
// repository.
func (r *Registry) BatchGetRepositoryScanningConfiguration(ctx context.Context, repos []string) ([]RepositoryScanningConfiguration, []RepositoryScanningConfigurationFailure, error) {
	if len(repos) == 0 || len(repos) > MaxScanningConfigurationRepositories {
		return nil, nil, fmt.Errorf("%d repository names, must be 1 to %d: %w", len(repos), MaxScanningConfigurationRepositories, ErrInvalidParameter)
	}
	for _, name := range repos {
		if err := r.begin(ctx, policy.ActionBatchGetRepositoryScanningConfiguration, name, ""); err != nil {
			return nil, nil, err
		}
	}
	cfg, err := r.scans.config(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []RepositoryScanningConfiguration
	var failures []RepositoryScanningConfigurationFailure
	for _, name := range repos {
		rec, err := r.store.GetRepository(ctx, name)
		if errors.Is(err, storage.ErrNotFound) {
			failures = append(failures, RepositoryScanningConfigurationFailure{RepositoryName: name, FailureCode: "REPOSITORY_NOT_FOUND",
				FailureReason: fmt.Sprintf("the repository with name %q does not exist", name)})
			continue
		}
		if err != nil {
			return nil, nil, repoErr(name, err)
		}
		freq := cfg.frequency(name)
		rc := RepositoryScanningConfiguration{RepositoryName: name, ScanFrequency: freq, ScanOnPush: rec.ScanOnPush || freq != ScanFrequencyManual}
		for _, rule := range cfg.Rules {
			if rule.ScanFrequency != freq {
				continue
			}
			for _, f := range rule.RepositoryFilters {
				if matchScanFilter(f.Filter, name) {
					rc.AppliedScanFilters = append(rc.AppliedScanFilters, f)
				}
			}
		}
		out = append(out, rc)
	}
	return out, failures, nil
}
