package rego

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/cache"

	"github.com/berth-dev/berth/policy"
)

// The Rego policies that implement the decision, shipped in the binary.
// Their unit tests (policies/*_test.rego) are run by the package's Go tests.
//
//go:embed policies/authz.rego policies/iam.rego policies/custom_deny.rego policies/custom_allow.rego
var builtinFS embed.FS

const (
	// DecisionQuery is the query the Authorizer evaluates for every
	// request. It returns {"allow": bool, "reasons": set of strings}.
	DecisionQuery = "data.berth.authz.decision"

	// CustomPackage is the Rego package in which custom modules define the
	// partial sets "deny" and "allow" (see the package documentation).
	CustomPackage = "berth.custom"

	// DefaultRegistryID is the account ID used in ARNs when
	// Options.RegistryID is empty.
	DefaultRegistryID = "000000000000"

	// DefaultRegion is the region used in repository ARNs when
	// Options.Region is empty.
	DefaultRegion = "local"
)

// ECR actions that manage policies. The registry names them when it
// authorizes the corresponding operations.
const (
	ActionSetRepositoryPolicy    = policy.ActionSetRepositoryPolicy
	ActionGetRepositoryPolicy    = policy.ActionGetRepositoryPolicy
	ActionDeleteRepositoryPolicy = policy.ActionDeleteRepositoryPolicy
	ActionPutRegistryPolicy      = policy.ActionPutRegistryPolicy
	ActionGetRegistryPolicy      = policy.ActionGetRegistryPolicy
	ActionDeleteRegistryPolicy   = policy.ActionDeleteRegistryPolicy
)

// Options configure an Authorizer. The zero value is valid: it denies
// everything until policies are set.
type Options struct {
	// RegistryID is the account ID in the ARNs of principals
	// (arn:aws:iam::<RegistryID>:user/<name>) and repositories. The default
	// is DefaultRegistryID.
	RegistryID string

	// Region is the region in repository ARNs
	// (arn:aws:ecr:<Region>:<RegistryID>:repository/<name>). The default is
	// DefaultRegion.
	Region string

	// AllowAnonymous makes the principal "*" in repository and registry
	// policies match anonymous requests (those without a Principal), as
	// it does in ECR for public access. Whether the registry lets
	// anonymous requests reach the Authorizer at all is decided elsewhere.
	// The default is false: "*" matches authenticated principals only.
	AllowAnonymous bool

	// RepositoryPolicies are repository policy documents by repository
	// name. The default is none.
	RepositoryPolicies map[string]string

	// RegistryPolicy is the registry policy document. The default is none.
	RegistryPolicy string

	// IdentityPolicies are identity policy documents by the ARN they are
	// attached to: a user (arn:aws:iam::<id>:user/<name>), a group
	// (...:group/<name>), a role (...:role/<name>), or "*" for every
	// authenticated principal. Each document is named by its Id element,
	// or "policy-<index>" if it has none. The default is none.
	IdentityPolicies map[string][]string

	// Modules are custom Rego modules (file name → source, Rego v1 syntax)
	// evaluated with the documents; see the package documentation. The
	// default is none.
	Modules map[string]string

	// Store persists policies. New loads what it holds, then applies the
	// policies and modules above on top, replacing stored entries with the
	// same key (and, if Modules is non-nil, the whole stored module set)
	// and writing them back. The default is a new MemoryStore, which the
	// registry replaces with its storage's records by calling UseStore
	// (see Persistence in the package documentation); an Authorizer given
	// a Store here keeps it.
	Store Store

	// ResourceTags, if set, returns the tags of a repository, which become
	// the condition keys ecr:ResourceTag/<key> and aws:ResourceTag/<key>.
	// It is called on every request that names a repository, so it must
	// be fast. The default is nil: no resource tag keys.
	ResourceTags func(ctx context.Context, repository string) (map[string]string, error)

	// Logger receives policy changes (Info) and, with LogDecisions, one
	// Info record per decision. The default discards everything.
	Logger *slog.Logger

	// LogDecisions logs every decision with the keys principal, action,
	// resource, decision ("allow" or "deny") and reasons. The default is
	// false.
	LogDecisions bool

	// DecisionCacheSize sizes the cache of decisions made with the policy
	// set in force, which holds at most 2×DecisionCacheSize decisions (see
	// Performance in the package documentation). The default (0) is
	// DefaultDecisionCacheSize; a negative value disables the cache.
	DecisionCacheSize int
}

// Authorizer is a policy.Authorizer that evaluates IAM policy documents and
// custom Rego modules with OPA. Its methods are safe for concurrent use.
type Authorizer struct {
	registryID     string
	region         string
	allowAnonymous bool
	resourceTags   func(context.Context, string) (map[string]string, error)
	logger         *slog.Logger
	logDecisions   bool
	accountTerm    *ast.Term

	// store receives every change before it takes effect. It is set in
	// New and replaced by UseStore; guarded by mu after New.
	store Store
	// ownStore: Options.Store was given, and UseStore keeps it.
	ownStore bool
	// bound is the Store given to UseStore, if any.
	bound Store
	// modulesSet: the custom modules come from Options.Modules or
	// SetModules, and replace the stored module set in UseStore.
	modulesSet bool

	decisionCacheSize int // <= 0: no decision cache

	// snap is the policy set in force. It is replaced, never modified:
	// every evaluation sees one consistent set of policies and modules.
	snap atomic.Pointer[snapshot]
	// mu serialises changes.
	mu sync.Mutex
}

// snapshot is an immutable policy set with its prepared decision query.
type snapshot struct {
	st *state
	q  *prepared
	// dc caches the decisions made with this snapshot; nil if caching is
	// disabled or the custom modules may depend on the time.
	dc *decisionCache
}

// newSnapshot returns a snapshot of st and q with a new, empty decision
// cache: a cache never outlives the policies its decisions were made with.
func (a *Authorizer) newSnapshot(st *state, q *prepared) *snapshot {
	s := &snapshot{st: st, q: q}
	if q.cacheable {
		s.dc = newDecisionCache(a.decisionCacheSize)
	}
	return s
}

// state holds the compiled documents and the custom modules. Changes copy
// it (copy-on-write), so a state in a snapshot is never modified.
type state struct {
	repositories map[string]*document
	registry     *document
	identities   map[string]map[string]*document // arn → name → document
	modules      map[string]string
}

func (s *state) clone() *state {
	return &state{
		repositories: maps.Clone(s.repositories),
		registry:     s.registry,
		identities:   maps.Clone(s.identities),
		modules:      s.modules,
	}
}

// prepared is the decision query compiled against the embedded policies and
// the custom modules, evaluated with OPA's evaluator (topdown) directly:
// the rego package's per-call set-up (evaluation context, result set in
// Go values, a goroutine watching a cancellable context) cost about 20
// allocations and a fifth of the time of an evaluation, and Authorize
// needs none of it.
type prepared struct {
	compiler *ast.Compiler
	qc       ast.QueryCompiler
	query    ast.Body // decisionVar = data.berth.authz.decision, compiled
	store    storage.Store
	// cache holds compiled glob patterns for this query, so that
	// evaluations don't contend on OPA's small global glob cache.
	cache cache.InterQueryValueCache
	// cacheable is modulesCacheable for the custom modules.
	cacheable bool
}

var _ policy.Authorizer = (*Authorizer)(nil)

// New returns an Authorizer with the policies in opts.Store and opts. Every
// document and module is validated and compiled here; New fails with an
// error matching ErrInvalidPolicy, naming the policy and location, if one is
// rejected.
func New(ctx context.Context, opts Options) (*Authorizer, error) {
	a := &Authorizer{
		registryID:     opts.RegistryID,
		region:         opts.Region,
		allowAnonymous: opts.AllowAnonymous,
		resourceTags:   opts.ResourceTags,
		logger:         opts.Logger,
		logDecisions:   opts.LogDecisions,
		store:          opts.Store,
		ownStore:       opts.Store != nil,
		modulesSet:     opts.Modules != nil,
	}
	switch {
	case opts.DecisionCacheSize == 0:
		a.decisionCacheSize = DefaultDecisionCacheSize
	case opts.DecisionCacheSize > 0:
		a.decisionCacheSize = opts.DecisionCacheSize
	}
	if a.registryID == "" {
		a.registryID = DefaultRegistryID
	}
	if a.region == "" {
		a.region = DefaultRegion
	}
	if !validARNPart(a.registryID) {
		return nil, fmt.Errorf("rego: bad RegistryID %q", a.registryID)
	}
	if !validARNPart(a.region) {
		return nil, fmt.Errorf("rego: bad Region %q", a.region)
	}
	a.accountTerm = ast.StringTerm(a.registryID)
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if a.store == nil {
		a.store = NewMemoryStore()
	}

	// Stored policies first, then the options on top.
	st := &state{
		repositories: map[string]*document{},
		identities:   map[string]map[string]*document{},
		modules:      map[string]string{},
	}
	if err := load(ctx, a.store, st, nil); err != nil {
		return nil, err
	}
	puts := map[string]string{}
	var dels []string
	for repo, text := range opts.RepositoryPolicies {
		if err := st.setRepository(repo, text); err != nil {
			return nil, err
		}
		puts[repositoryKey(repo)] = text
	}
	if opts.RegistryPolicy != "" {
		if err := st.setRegistry(opts.RegistryPolicy); err != nil {
			return nil, err
		}
		puts[keyRegistry] = opts.RegistryPolicy
	}
	for _, arn := range sortedKeys(opts.IdentityPolicies) {
		used := map[string]bool{}
		for i, text := range opts.IdentityPolicies[arn] {
			name := fmt.Sprintf("policy-%d", i)
			if d, err := ParsePolicyDocument(text); err == nil && d.ID != "" && !used[d.ID] {
				name = d.ID
			}
			used[name] = true
			if err := st.setIdentity(arn, name, text); err != nil {
				return nil, err
			}
			puts[identityKey(arn, name)] = text
		}
	}
	if opts.Modules != nil {
		for name := range st.modules {
			if _, ok := opts.Modules[name]; !ok {
				dels = append(dels, moduleKey(name))
			}
		}
		st.modules = maps.Clone(opts.Modules)
		for name, src := range opts.Modules {
			puts[moduleKey(name)] = src
		}
	}

	q, err := a.prepare(ctx, st.modules)
	if err != nil {
		return nil, err
	}
	a.snap.Store(a.newSnapshot(st, q))

	for _, key := range sortedKeys(puts) {
		if err := a.store.Put(ctx, key, puts[key]); err != nil {
			return nil, fmt.Errorf("rego: store %s: %w", key, err)
		}
	}
	for _, key := range dels {
		if err := a.store.Delete(ctx, key); err != nil {
			return nil, fmt.Errorf("rego: store %s: %w", key, err)
		}
	}
	return a, nil
}

// setRepository compiles text as the policy of repo into s, which must be
// a private copy.
func (s *state) setRepository(repo, text string) error {
	if err := validRepositoryName(repo); err != nil {
		return err
	}
	d, err := compileKind(text, repositoryPolicy, repositoryLabel(repo))
	if err != nil {
		return err
	}
	s.repositories[repo] = d
	return nil
}

func (s *state) setRegistry(text string) error {
	d, err := compileKind(text, registryPolicy, registryLabel)
	if err != nil {
		return err
	}
	s.registry = d
	return nil
}

func (s *state) setIdentity(arn, name, text string) error {
	if err := validIdentityTarget(arn, name); err != nil {
		return err
	}
	d, err := compileKind(text, identityPolicy, identityLabel(arn, name))
	if err != nil {
		return err
	}
	docs := maps.Clone(s.identities[arn])
	if docs == nil {
		docs = map[string]*document{}
	}
	docs[name] = d
	s.identities[arn] = docs
	return nil
}

// load reads the policies in s into st. If texts is not nil, it receives
// every stored text by key. A stored policy that does not compile fails
// load with an error that names its key and matches ErrInvalidPolicy.
func load(ctx context.Context, s Store, st *state, texts map[string]string) error {
	err := s.List(ctx, keyPrefix, func(key, text string) error {
		if err := st.apply(key, text); err != nil {
			return fmt.Errorf("stored policy %s: %w", key, err)
		}
		if texts != nil {
			texts[key] = text
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rego: load policies from store: %w", err)
	}
	return nil
}

// apply compiles the text stored under key into s, which must be a private
// copy. Keys outside the layout are ignored.
func (s *state) apply(key, text string) error {
	switch {
	case key == keyRegistry:
		return s.setRegistry(text)
	case strings.HasPrefix(key, keyRepositoryPrefix):
		return s.setRepository(strings.TrimPrefix(key, keyRepositoryPrefix), text)
	case strings.HasPrefix(key, keyIdentityPrefix):
		arn, name, err := parseIdentityKey(strings.TrimPrefix(key, keyIdentityPrefix))
		if err != nil {
			return &InvalidPolicyError{Reason: err.Error()}
		}
		return s.setIdentity(arn, name, text)
	case strings.HasPrefix(key, keyModulePrefix):
		name, err := url.PathUnescape(strings.TrimPrefix(key, keyModulePrefix))
		if err != nil {
			return &InvalidPolicyError{Reason: err.Error()}
		}
		s.modules[name] = text
	}
	return nil
}

// compileKind parses, checks and compiles a policy document of kind k;
// label names it in errors and in decision reasons.
func compileKind(text string, k policyKind, label string) (*document, error) {
	d, err := ParsePolicyDocument(text)
	if err == nil {
		err = checkKind(d, k)
	}
	if err != nil {
		return nil, withPolicy(err, label)
	}
	return compileDocument(d, k, label, text)
}

const registryLabel = "registry policy"

func repositoryLabel(repo string) string { return fmt.Sprintf("repository policy %q", repo) }

func identityLabel(arn, name string) string {
	return fmt.Sprintf("identity policy %q of %s", name, arn)
}

func validRepositoryName(repo string) error {
	if repo == "" || len(repo) > 256 {
		return &InvalidPolicyError{Reason: fmt.Sprintf("bad repository name %q", repo)}
	}
	return nil
}

// validIdentityTarget checks the ARN an identity policy is attached to and
// the policy's name.
func validIdentityTarget(arn, name string) error {
	if name == "" || len(name) > 128 || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return &InvalidPolicyError{Reason: fmt.Sprintf("bad identity policy name %q", name)}
	}
	if arn == "*" {
		return nil
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" && parts[2] == "iam" && parts[3] == "" && parts[4] != "" {
		for _, p := range []string{"user/", "group/", "role/"} {
			if strings.HasPrefix(parts[5], p) && len(parts[5]) > len(p) {
				return nil
			}
		}
	}
	return &InvalidPolicyError{Reason: fmt.Sprintf(
		"identity policies attach to \"*\" or a user, group or role ARN (arn:aws:iam::<account>:user/<name>), not %q", arn)}
}

func validARNPart(s string) bool {
	return s != "" && !strings.ContainsAny(s, ":/ \t\r\n")
}

// builtinModules returns the embedded policies, by file name.
func builtinModules() map[string]string {
	out := map[string]string{}
	err := fs.WalkDir(builtinFS, "policies", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := builtinFS.ReadFile(p)
		if err != nil {
			return err
		}
		out["berth/"+path.Base(p)] = string(b)
		return nil
	})
	if err != nil {
		panic(err) // embedded files are always readable
	}
	return out
}

// compileModules parses and compiles the embedded policies, the
// configuration module and the custom modules.
func (a *Authorizer) compileModules(custom map[string]string) (*ast.Compiler, error) {
	sources := builtinModules()
	// The custom rules are combined only if custom modules define them:
	// evaluating an empty set costs as much as a statement.
	glue := map[string]string{"deny": sources["berth/custom_deny.rego"], "allow": sources["berth/custom_allow.rego"]}
	delete(sources, "berth/custom_deny.rego")
	delete(sources, "berth/custom_allow.rego")
	sources["berth/config.rego"] = fmt.Sprintf("package berth.config\n\nallow_anonymous := %t\n\nregistry_id := %q\n\nregion := %q\n",
		a.allowAnonymous, a.registryID, a.region)
	mods := map[string]*ast.Module{}
	for name, src := range sources {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("rego: embedded policy %s: %w", name, err)
		}
		mods[name] = m
	}
	for _, name := range sortedKeys(custom) {
		label := fmt.Sprintf("module %q", name)
		if name == "" || strings.HasPrefix(name, "berth/") {
			return nil, &InvalidPolicyError{Policy: label, Reason: `module names must be non-empty and not start with "berth/"`}
		}
		m, err := ast.ParseModuleWithOpts(name, custom[name], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, regoErr(label, err)
		}
		pkg := m.Package.Path.String()
		if (pkg == "data.berth" || strings.HasPrefix(pkg, "data.berth.")) &&
			pkg != "data."+CustomPackage && !strings.HasPrefix(pkg, "data."+CustomPackage+".") {
			return nil, &InvalidPolicyError{Policy: label, Location: locationString(m.Package.Location),
				Reason: fmt.Sprintf("package %s is reserved; custom rules belong in package %s", strings.TrimPrefix(pkg, "data."), CustomPackage)}
		}
		mods[name] = m
		if pkg == "data."+CustomPackage {
			for _, r := range m.Rules {
				if set := r.Head.Ref(); len(set) > 0 {
					if v, ok := set[0].Value.(ast.Var); ok && glue[string(v)] != "" {
						name := "berth/custom_" + string(v) + ".rego"
						gm, err := ast.ParseModuleWithOpts(name, glue[string(v)], ast.ParserOptions{RegoVersion: ast.RegoV1})
						if err != nil {
							return nil, fmt.Errorf("rego: embedded policy %s: %w", name, err)
						}
						mods[name] = gm
					}
				}
			}
		}
	}
	c := ast.NewCompiler().WithBuiltins(map[string]*ast.Builtin{ipInBuiltin.Name: ipInBuiltin})
	c.Compile(mods)
	if c.Failed() {
		return nil, regoErr("modules", c.Errors)
	}
	return c, nil
}

// regoErr turns Rego parse and compile errors into an *InvalidPolicyError
// that gives the location of the first.
func regoErr(label string, err error) error {
	var errs ast.Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		return &InvalidPolicyError{Policy: label, Reason: err.Error()}
	}
	first := errs[0]
	e := &InvalidPolicyError{Policy: label, Reason: first.Message}
	if first.Location != nil {
		e.Location = locationString(first.Location)
		if label == "modules" {
			e.Policy = fmt.Sprintf("module %q", first.Location.File)
		}
	}
	if len(errs) > 1 {
		e.Reason += fmt.Sprintf(" (and %d more errors)", len(errs)-1)
	}
	return e
}

func locationString(l *ast.Location) string {
	if l == nil {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", l.File, l.Row, l.Col)
}

// prepare compiles the modules and prepares the decision query.
func (a *Authorizer) prepare(ctx context.Context, custom map[string]string) (*prepared, error) {
	c, err := a.compileModules(custom)
	if err != nil {
		return nil, err
	}
	qc := c.QueryCompiler()
	query, err := qc.Compile(ast.NewBody(ast.Equality.Expr(ast.NewTerm(decisionVar), ast.MustParseTerm(DecisionQuery))))
	if err != nil {
		return nil, regoErr("modules", err)
	}
	n := 4096
	return &prepared{
		compiler:  c,
		qc:        qc,
		query:     query,
		store:     inmem.New(),
		cacheable: modulesCacheable(c),
		cache: cache.NewInterQueryValueCache(ctx, &cache.Config{
			InterQueryBuiltinValueCache: cache.InterQueryBuiltinValueCacheConfig{MaxNumEntries: &n},
		}),
	}, nil
}

// Authorize implements policy.Authorizer. It returns an error only if the
// evaluation fails (a custom module raising a conflict, a ResourceTags
// error, a cancelled context); the registry then fails the request.
func (a *Authorizer) Authorize(ctx context.Context, in policy.Input) (policy.Decision, error) {
	d, err := a.authorize(ctx, a.snap.Load(), in)
	if err != nil {
		a.logger.LogAttrs(ctx, slog.LevelError, "authorization failed",
			slog.String("action", in.Action), slog.String("repo", in.Repository), slog.Any("error", err))
		return policy.Decision{}, err
	}
	if a.logDecisions {
		verdict := "deny"
		if d.Allow {
			verdict = "allow"
		}
		principal := "anonymous"
		if in.Principal != nil {
			principal = a.PrincipalARN(in.Principal)
		}
		a.logger.LogAttrs(ctx, slog.LevelInfo, "authorization decision",
			slog.String("principal", principal),
			slog.String("action", in.Action),
			slog.String("resource", a.RepositoryARN(in.Repository)),
			slog.String("decision", verdict),
			slog.Any("reasons", d.Reasons))
	}
	return d, nil
}

func (a *Authorizer) authorize(ctx context.Context, snap *snapshot, in policy.Input) (policy.Decision, error) {
	var tags map[string]string
	if in.Repository != "" && a.resourceTags != nil {
		var err error
		if tags, err = a.resourceTags(ctx, in.Repository); err != nil {
			return policy.Decision{}, fmt.Errorf("rego: tags of %q: %w", in.Repository, err)
		}
	}
	var key string
	if snap.dc != nil {
		key = decisionKey(in, tags)
		if d, ok := snap.dc.get(key); ok {
			if err := ctx.Err(); err != nil {
				// As an evaluation would.
				return policy.Decision{}, fmt.Errorf("rego: evaluate %s: %w", DecisionQuery, err)
			}
			return d, nil
		}
	}
	input, usesTime := a.input(snap.st, in, tags)
	d, err := a.evaluate(ctx, snap, in, input)
	if err == nil && snap.dc != nil && !usesTime {
		snap.dc.put(key, d)
	}
	return d, err
}

// decisionVar is bound to the decision in the compiled query.
var decisionVar = ast.Var("__berth_decision__")

// evalBuiltins are the built-in functions the embedded policies add to
// OPA's.
var evalBuiltins = map[string]*topdown.Builtin{ipInBuiltin.Name: {
	Decl: ipInBuiltin,
	Func: func(bctx topdown.BuiltinContext, ops []*ast.Term, iter func(*ast.Term) error) error {
		t, err := ipIn(bctx, ops[0], ops[1])
		if err != nil {
			return err
		}
		return iter(t)
	},
}}

// evaluate evaluates the decision query for input, built from in. A
// cancelled context fails the call before the evaluation; the evaluation
// itself is not interrupted (it takes microseconds, and built-in functions
// such as http.send see ctx).
func (a *Authorizer) evaluate(ctx context.Context, snap *snapshot, in policy.Input, input ast.Object) (policy.Decision, error) {
	if err := ctx.Err(); err != nil {
		return policy.Decision{}, fmt.Errorf("rego: evaluate %s: %w", DecisionQuery, err)
	}
	q := snap.q
	txn, err := q.store.NewTransaction(ctx)
	if err != nil {
		return policy.Decision{}, fmt.Errorf("rego: evaluate %s: %w", DecisionQuery, err)
	}
	defer q.store.Abort(ctx, txn)
	var result *ast.Term
	n := 0
	err = topdown.NewQuery(q.query).
		WithQueryCompiler(q.qc).
		WithCompiler(q.compiler).
		WithStore(q.store).
		WithTransaction(txn).
		WithInput(ast.NewTerm(input)).
		WithBuiltins(evalBuiltins).
		WithMetrics(noMetrics).
		WithIndexing(true).
		WithEarlyExit(true).
		WithInterQueryBuiltinValueCache(q.cache).
		Iter(ctx, func(qr topdown.QueryResult) error {
			result = qr[decisionVar]
			n++
			return nil
		})
	if err != nil {
		return policy.Decision{}, fmt.Errorf("rego: evaluate %s: %w", DecisionQuery, err)
	}
	if n != 1 || result == nil {
		return policy.Decision{}, fmt.Errorf("rego: %s is undefined", DecisionQuery)
	}
	d, err := decisionFrom(result)
	if err == nil && !d.Allow && len(d.Reasons) == 0 {
		d.Reasons = []string{"no statement allows " + in.Action + " on " + a.RepositoryARN(in.Repository)}
	}
	return d, err
}

var noMetrics = metrics.NoOp()

// decisionFrom reads {"allow": bool, "reasons": set or array of strings}.
func decisionFrom(t *ast.Term) (policy.Decision, error) {
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return policy.Decision{}, fmt.Errorf("rego: %s is not an object", DecisionQuery)
	}
	var b ast.Boolean
	ok = false
	if t := obj.Get(kAllow); t != nil {
		b, ok = t.Value.(ast.Boolean)
	}
	if !ok {
		return policy.Decision{}, fmt.Errorf("rego: %s.allow is not a boolean", DecisionQuery)
	}
	d := policy.Decision{Allow: bool(b)}
	add := func(x *ast.Term) {
		if s, ok := x.Value.(ast.String); ok {
			d.Reasons = append(d.Reasons, string(s))
		}
	}
	if r := obj.Get(kReasons); r != nil {
		switch v := r.Value.(type) {
		case ast.Set:
			d.Reasons = make([]string, 0, v.Len())
			v.Foreach(add)
		case *ast.Array:
			d.Reasons = make([]string, 0, v.Len())
			v.Foreach(add)
		}
		slices.Sort(d.Reasons)
	}
	return d, nil
}

// PrincipalARN returns the IAM ARN that stands for p in policies:
// arn:aws:iam::<RegistryID>:user/<p.Name>, or .../<p.ID> when Name is empty.
// It returns "" for nil.
func (a *Authorizer) PrincipalARN(p *policy.Principal) string {
	if p == nil {
		return ""
	}
	name := p.Name
	if name == "" {
		name = p.ID
	}
	return "arn:aws:iam::" + a.registryID + ":user/" + name
}

// GroupARN returns the IAM ARN that stands for membership in group g: a
// group named "role/<r>" is the role arn:aws:iam::<RegistryID>:role/<r>;
// any other is arn:aws:iam::<RegistryID>:group/<g>.
func (a *Authorizer) GroupARN(g string) string {
	if r, ok := strings.CutPrefix(g, "role/"); ok {
		return "arn:aws:iam::" + a.registryID + ":role/" + r
	}
	return "arn:aws:iam::" + a.registryID + ":group/" + g
}

// RepositoryARN returns arn:aws:ecr:<Region>:<RegistryID>:repository/<repo>,
// or "*" for the empty name (registry-wide operations).
func (a *Authorizer) RepositoryARN(repo string) string {
	if repo == "" {
		return "*"
	}
	return "arn:aws:ecr:" + a.region + ":" + a.registryID + ":repository/" + repo
}

// input builds the Rego input for in (see the package documentation for
// its shape) directly as an AST value, which spares OPA a JSON round trip
// per request. It selects the statements that may apply: those of the
// identity policies attached to the principal's ARNs and "*", of the
// repository's policy and of the registry policy, whose Action or
// NotAction covers the action.
//
// It also reports whether one of the statements may depend on the time.
func (a *Authorizer) input(st *state, in policy.Input, tags map[string]string) (_ ast.Object, usesTime bool) {
	t := in.Time
	if t.IsZero() {
		t = time.Now()
	}
	t = t.UTC()
	var slab termSlab
	now := slab.str(t.Format(time.RFC3339Nano))
	action, actionIdx := actionKey(in.Action)
	ipStr, ipOK := normalizeIP(in.SourceIP)
	ip := slab.str(ipStr)

	// The context's items, made into an object once they are all known.
	nctx := 3 + 2*len(tags)
	if in.Principal != nil {
		nctx += 5 + len(in.Principal.Attributes)
	}
	ctxItems := make([][2]*ast.Term, 0, nctx)
	ctxItems = append(ctxItems,
		ast.Item(kAwsCurrenttime, now),
		ast.Item(kAwsEpochtime, slab.term(ast.Number(strconv.FormatInt(t.Unix(), 10)))),
	)
	if ipOK {
		ctxItems = append(ctxItems, ast.Item(kAwsSourceip, ip))
	}

	var allow, deny []*ast.Term
	var hasAllow, hasDeny [numFastKinds]bool
	var arnStrings []string // the caller's ARNs: user, then groups and roles
	add := func(d *document) {
		allow = candidates(allow, d.allow, action, actionIdx, arnStrings, &usesTime, &hasAllow)
		deny = candidates(deny, d.deny, action, actionIdx, arnStrings, &usesTime, &hasDeny)
	}

	var principal, principalARN *ast.Term
	var arns []*ast.Term
	if p := in.Principal; p != nil {
		arnStrings = make([]string, 1, 1+len(p.Groups))
		arnStrings[0] = a.PrincipalARN(p)
		principalARN = slab.str(arnStrings[0])
		arns = make([]*ast.Term, 1, 1+len(p.Groups))
		arns[0] = principalARN
		groups := make([]*ast.Term, len(p.Groups))
		for i, g := range p.Groups {
			groups[i] = slab.str(g)
			garn := a.GroupARN(g)
			arnStrings = append(arnStrings, garn)
			arns = append(arns, slab.str(garn))
		}
		for _, arn := range arnStrings {
			for _, d := range st.identities[arn] {
				add(d)
			}
		}
		for _, d := range st.identities["*"] {
			add(d)
		}
		attrs := ast.NewObject()
		for k, v := range p.Attributes {
			vt := slab.str(v)
			attrs.Insert(slab.str(k), vt)
			ctxItems = append(ctxItems, ast.Item(slab.str("aws:principaltag/"+strings.ToLower(k)), vt))
		}
		id := slab.str(p.ID)
		name := slab.str(p.Name)
		username := name
		if p.Name == "" {
			username = id
		}
		principal = slab.term(ast.NewObject(
			ast.Item(kID, id),
			ast.Item(kName, name),
			ast.Item(kGroups, slab.term(ast.NewArray(groups...))),
			ast.Item(kAttributes, slab.term(attrs)),
		))
		ctxItems = append(ctxItems,
			ast.Item(kAwsPrincipalarn, principalARN),
			ast.Item(kAwsUsername, username),
			ast.Item(kAwsUserid, id),
			ast.Item(kAwsPrincipalaccount, a.accountTerm),
			ast.Item(kAwsPrincipaltype, valUser),
		)
	}
	if in.Repository != "" {
		if d := st.repositories[in.Repository]; d != nil {
			add(d)
		}
		for k, v := range tags {
			vt := slab.str(v)
			lk := strings.ToLower(k)
			ctxItems = append(ctxItems,
				ast.Item(slab.str("ecr:resourcetag/"+lk), vt),
				ast.Item(slab.str("aws:resourcetag/"+lk), vt))
		}
	}
	if st.registry != nil {
		add(st.registry)
	}

	var actionTerm *ast.Term
	if actionIdx >= 0 && actionTerms[actionIdx].Value.(ast.String) == ast.String(in.Action) {
		actionTerm = actionTerms[actionIdx]
	} else {
		actionTerm = slab.str(in.Action)
	}
	items := make([][2]*ast.Term, 0, 15)
	items = append(items,
		ast.Item(kVersion, ast.InternedTerm(in.Version)),
		ast.Item(kAction, actionTerm),
		ast.Item(kRepository, slab.str(in.Repository)),
		ast.Item(kReference, slab.str(in.Reference)),
		ast.Item(kSourceip, ip),
		ast.Item(kTime, now),
		ast.Item(kResource, slab.str(a.RepositoryARN(in.Repository))),
		ast.Item(kAccount, a.accountTerm),
		ast.Item(kPrincipalarns, slab.term(ast.NewArray(arns...))),
		ast.Item(kContext, slab.term(ast.NewObject(ctxItems...))),
		ast.Item(kStatements, slab.term(ast.NewObject(
			ast.Item(kAllow, slab.term(ast.NewArray(allow...))),
			ast.Item(kDeny, slab.term(ast.NewArray(deny...))),
		))),
		ast.Item(kHas, hasTerm(hasAllow, hasDeny)),
	)
	if principal != nil {
		items = append(items, ast.Item(kPrincipal, principal), ast.Item(kPrincipalarn, principalARN))
	}
	return ast.NewObject(items...), usesTime
}

// hasTerms holds the input's "has" object for every combination of the
// kinds of statements present, built once: hasTerms()[mask], where bit k
// of mask is allow[k] and bit numFastKinds+k is deny[k].
var hasTerms = sync.OnceValue(func() []*ast.Term {
	var keys []*ast.Term
	for _, effect := range []string{"allow_", "deny_"} {
		for _, name := range fastNames {
			keys = append(keys, ast.StringTerm(effect+name))
		}
	}
	out := make([]*ast.Term, 1<<len(keys))
	for mask := range out {
		var items [][2]*ast.Term
		for bit, k := range keys {
			if mask&(1<<bit) != 0 {
				items = append(items, ast.Item(k, ast.InternedTerm(true)))
			}
		}
		out[mask] = ast.ObjectTerm(items...)
	}
	return out
})

// hasTerm is the input's "has" object: which kinds of candidate statements
// (by their "fast" field) there are, so that OPA's rule index skips the
// rules for the others without evaluating them.
func hasTerm(allow, deny [numFastKinds]bool) *ast.Term {
	mask := 0
	for k := range numFastKinds {
		if allow[k] {
			mask |= 1 << k
		}
		if deny[k] {
			mask |= 1 << (numFastKinds + k)
		}
	}
	return hasTerms()[mask]
}

// termSlab hands out the terms of one input from a few allocations
// instead of one per term. Terms are never modified once built, so they
// may share a backing array.
type termSlab struct{ buf []ast.Term }

func (s *termSlab) term(v ast.Value) *ast.Term {
	if len(s.buf) == 0 {
		s.buf = make([]ast.Term, 24)
	}
	t := &s.buf[0]
	s.buf = s.buf[1:]
	t.Value = v
	return t
}

// str is a string term, not allocating for "".
func (s *termSlab) str(x string) *ast.Term {
	if x == "" {
		return ast.InternedEmptyString
	}
	return s.term(ast.String(x))
}

// Input keys, allocated once: terms are immutable and may be shared.
var (
	kAccount             = ast.StringTerm("account")
	kAction              = ast.StringTerm("action")
	kAllow               = ast.StringTerm("allow")
	kReasons             = ast.StringTerm("reasons")
	kAttributes          = ast.StringTerm("attributes")
	kAwsCurrenttime      = ast.StringTerm("aws:currenttime")
	kAwsEpochtime        = ast.StringTerm("aws:epochtime")
	kAwsPrincipalaccount = ast.StringTerm("aws:principalaccount")
	kAwsPrincipalarn     = ast.StringTerm("aws:principalarn")
	kAwsPrincipaltype    = ast.StringTerm("aws:principaltype")
	kAwsSourceip         = ast.StringTerm("aws:sourceip")
	kAwsUserid           = ast.StringTerm("aws:userid")
	kAwsUsername         = ast.StringTerm("aws:username")
	kContext             = ast.StringTerm("context")
	kDeny                = ast.StringTerm("deny")
	kGroups              = ast.StringTerm("groups")
	kHas                 = ast.StringTerm("has")
	kID                  = ast.StringTerm("id")
	kName                = ast.StringTerm("name")
	kPrincipal           = ast.StringTerm("principal")
	kPrincipalarn        = ast.StringTerm("principalArn")
	kPrincipalarns       = ast.StringTerm("principalArns")
	kReference           = ast.StringTerm("reference")
	kRepository          = ast.StringTerm("repository")
	kResource            = ast.StringTerm("resource")
	kSourceip            = ast.StringTerm("sourceIp")
	kStatements          = ast.StringTerm("statements")
	kTime                = ast.StringTerm("time")
	kVersion             = ast.StringTerm("version")
	valUser              = ast.StringTerm("User")
)

// normalizeIP returns the address in s (an address or address:port), with
// IPv4-mapped IPv6 addresses unmapped so that IPv4 CIDRs match them, and
// true. It returns s unchanged and false if s is not an address.
func normalizeIP(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return s, false
		}
		addr = ap.Addr()
	} else if !addr.Is4In6() && addr.Zone() == "" {
		return s, true
	}
	return addr.Unmap().WithZone("").String(), true
}

// Modules returns a copy of the custom modules in force.
func (a *Authorizer) Modules(context.Context) map[string]string {
	return maps.Clone(a.snap.Load().st.modules)
}

// RepositoryPolicies returns the names of the repositories that have a
// policy, sorted.
func (a *Authorizer) RepositoryPolicies(context.Context) []string {
	return slices.Sorted(maps.Keys(a.snap.Load().st.repositories))
}
