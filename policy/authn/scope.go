package authn

import (
	"fmt"
	"slices"
	"strings"
)

// Scope types and actions of the Docker/OCI token flow.
//
// Reference: https://distribution.github.io/distribution/spec/auth/scope/
const (
	// ScopeRepository is the type of repository scopes
	// (repository:<name>:<actions>).
	ScopeRepository = "repository"
	// ScopeRegistry is the type of registry scopes; registry:catalog:*
	// covers the catalog.
	ScopeRegistry = "registry"

	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
	// ActionAll covers every action.
	ActionAll = "*"
)

// maxScopeNameLength bounds a scope's resource name.
const maxScopeNameLength = 512

// Scope is access to one resource that a bearer token is limited to:
// repository:team/app:pull,push. It grants nothing by itself; the
// registry's Authorizer still decides every request.
type Scope struct {
	// Type is ScopeRepository or ScopeRegistry.
	Type string `json:"type"`
	// Name is the repository name, or "catalog" for ScopeRegistry. It is
	// compared literally: "*" is not a wildcard.
	Name string `json:"name"`
	// Actions are ActionPull, ActionPush, ActionDelete or ActionAll.
	Actions []string `json:"actions"`
}

// ParseScope parses a scope in the Docker form type:name:actions, with
// actions separated by commas. The name may contain colons (the type ends
// at the first, the actions start after the last). A resource class, as in
// repository(plugin):name:pull, is dropped. Actions other than those of
// Scope are dropped too, as the token flow lets a server grant a subset; the
// error is for a malformed scope or an unknown type.
func ParseScope(s string) (Scope, error) {
	typ, rest, ok1 := strings.Cut(s, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok1 || i < 0 {
		return Scope{}, fmt.Errorf("authn: scope %q: want type:name:actions", truncate(s))
	}
	if j := strings.IndexByte(typ, '('); j >= 0 && strings.HasSuffix(typ, ")") {
		typ = typ[:j]
	}
	sc := Scope{Type: typ, Name: rest[:i]}
	for a := range strings.SplitSeq(rest[i+1:], ",") {
		if isAction(a) && !slices.Contains(sc.Actions, a) {
			sc.Actions = append(sc.Actions, a)
		}
	}
	if err := sc.validate(); err != nil {
		return Scope{}, fmt.Errorf("authn: %w", err)
	}
	return sc, nil
}

func (s Scope) validate() error {
	if s.Type != ScopeRepository && s.Type != ScopeRegistry {
		return fmt.Errorf("scope %q: unknown type %q", truncate(s.String()), truncate(s.Type))
	}
	if s.Name == "" || len(s.Name) > maxScopeNameLength || strings.ContainsAny(s.Name, " \t\r\n\"") {
		return fmt.Errorf("scope %q: bad name", truncate(s.String()))
	}
	for _, a := range s.Actions {
		if !isAction(a) {
			return fmt.Errorf("scope %q: unknown action %q", truncate(s.String()), truncate(a))
		}
	}
	return nil
}

func isAction(a string) bool {
	switch a {
	case ActionPull, ActionPush, ActionDelete, ActionAll:
		return true
	}
	return false
}

// String returns the scope in the form ParseScope reads.
func (s Scope) String() string {
	return s.Type + ":" + s.Name + ":" + strings.Join(s.Actions, ",")
}

// Allows reports whether the scope covers action on the resource typ:name.
func (s Scope) Allows(typ, name, action string) bool {
	if s.Type != typ || s.Name != name {
		return false
	}
	for _, a := range s.Actions {
		if a == action || a == ActionAll {
			return true
		}
	}
	return false
}

// ScopesAllow reports whether any of scopes covers action on typ:name.
func ScopesAllow(scopes []Scope, typ, name, action string) bool {
	for _, s := range scopes {
		if s.Allows(typ, name, action) {
			return true
		}
	}
	return false
}

func truncate(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
