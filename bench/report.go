package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// results holds every measurement of a run.
type results struct {
	vals       map[string]map[string][]float64 // workload -> target -> per repetition
	errs       map[string]map[string]string    // workload -> target -> error
	setupErr   map[string]string
	singlePOST map[string]bool
	rss        map[string]rssResult
	// listRequests is, per target, the requests one full listing took, by n.
	listRequests map[string]map[int]int
	sha256       float64
	elapsed      time.Duration
}

func newResults() *results {
	return &results{
		vals:       map[string]map[string][]float64{},
		errs:       map[string]map[string]string{},
		setupErr:   map[string]string{},
		singlePOST: map[string]bool{},
		rss:        map[string]rssResult{},

		listRequests: map[string]map[int]int{},
	}
}

// set records target t's value in round n of workload w.
func (r *results) set(w, t string, n int, v float64) {
	if r.vals[w] == nil {
		r.vals[w] = map[string][]float64{}
	}
	for len(r.vals[w][t]) <= n {
		r.vals[w][t] = append(r.vals[w][t], math.NaN())
	}
	r.vals[w][t][n] = v
}

func (r *results) fail(w, t string, err error) {
	if r.errs[w] == nil {
		r.errs[w] = map[string]string{}
	}
	r.errs[w][t] = err.Error()
}

func (r *results) failed(w, t string) bool { _, ok := r.errs[w][t]; return ok }

// value is the median over rounds of a workload's values for a target.
func (r *results) value(w, t string) (float64, bool) {
	var v []float64
	for _, x := range r.vals[w][t] {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0, false
	}
	return median(v), true
}

// ratio is the median over rounds of a's value divided by b's in the same
// round.
func (r *results) ratio(w, a, b string) (float64, bool) {
	va, vb := r.vals[w][a], r.vals[w][b]
	var q []float64
	for i := range min(len(va), len(vb)) {
		if !math.IsNaN(va[i]) && !math.IsNaN(vb[i]) && vb[i] != 0 {
			q = append(q, va[i]/vb[i])
		}
	}
	if len(q) == 0 {
		return 0, false
	}
	return median(q), true
}

// line is a progress line with each target's median.
func (r *results) line(w string) string {
	var b strings.Builder
	for _, t := range allTargets {
		if v, ok := r.value(w, t); ok {
			fmt.Fprintf(&b, " %s=%.4g", t, v)
		} else if _, ok := r.errs[w][t]; ok {
			fmt.Fprintf(&b, " %s=error", t)
		}
	}
	return b.String()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// bestPeer is the best value among registries other than t.
func (r *results) bestPeer(w workload, t string) (string, float64, bool) {
	var name string
	var best float64
	found := false
	for _, o := range allTargets {
		if o == t || !isRegistry(o) || o == tBerthAuth || o == tBerthScan {
			continue
		}
		v, ok := r.value(w.id, o)
		if !ok {
			continue
		}
		if !found || (w.higherBetter && v > best) || (!w.higherBetter && v < best) {
			name, best, found = o, v, true
		}
	}
	return name, best, found
}

func fmtVal(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fmtRatio(r float64) string {
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

// check is one target line of the report.
type check struct {
	name string
	pass bool
	have string
	ok   bool // false: could not be evaluated
}

// checks evaluates the targets Berth is held to.
func (r *results) checks(p params) []check {
	var cs []check
	ratio := func(w, other string) (float64, bool) { return r.ratio(w, tBerth, other) }
	atLeast := func(name, w, other string, min float64) {
		v, ok := ratio(w, other)
		cs = append(cs, check{name: name, ok: ok, pass: ok && v >= min, have: fmt.Sprintf("%.2f× (need ≥ %.2f×)", v, min)})
	}
	atLeast("monolithic push ≥ 90% of trivial (a)", "push-mono", tTrivial, 0.90)
	atLeast("blob pull c=1 ≥ 85% of trivial (b)", "pull-c1", tTrivial, 0.85)
	atLeast("blob pull c=4 ≥ 85% of trivial (b)", "pull-c4", tTrivial, 0.85)
	atLeast("manifest GET c=16 ≥ 70% of trivial (c)", "mget-c16", tTrivial, 0.70)
	atLeast("manifest HEAD c=16 ≥ 70% of trivial (c)", "mhead-c16", tTrivial, 0.70)
	atLeast("durable manifest PUT c=16 ≥ 20× Distribution", "mput-c16", tDistribution, 20)
	for _, c := range []int{1, 16} {
		w := fmt.Sprintf("mget-auth-c%d", c)
		v, ok := r.ratio(w, tBerthAuth, tBerth)
		cs = append(cs, check{name: fmt.Sprintf("manifest GET c=%d with authentication and policies ≥ 80%% of Berth without (berth-auth ÷ berth)", c),
			ok: ok, pass: ok && v >= 0.80, have: fmt.Sprintf("%.2f× (need ≥ 0.80×)", v)})
	}
	if v, ok := r.ratio("image-push-scan", tBerthScan, tBerth); true {
		cs = append(cs, check{name: "image push with scan on push within 10% of Berth without (berth-scan ÷ berth)",
			ok: ok, pass: ok && v >= 0.90, have: fmt.Sprintf("%.2f× (need ≥ 0.90×)", v)})
	}
	v, ok := ratio("tags-whole", tTrivial)
	cs = append(cs, check{name: fmt.Sprintf("full listing of %d tags ≤ 3× trivial (d) time", p.tags), ok: ok, pass: ok && v <= 3,
		have: fmt.Sprintf("%.2f× the time (need ≤ 3×)", v)})
	if rs, found := r.rss[tBerth]; found {
		ok := rs.err == ""
		peak := max(rs.peakSmall, rs.peakBig)
		cs = append(cs, check{name: "peak RSS of the Berth server < 100 MiB", ok: ok, pass: ok && peak < 100,
			have: fmt.Sprintf("%.1f MiB with %d MiB blobs, %.1f MiB with %d MiB blobs", rs.peakSmall, p.blobSize>>20, rs.peakBig, p.bigBlobSize>>20)})
		growth := rs.peakBig - rs.peakSmall
		allowed := max(16, 0.15*rs.peakSmall)
		cs = append(cs, check{name: "memory does not grow with blob size", ok: ok, pass: ok && growth <= allowed,
			have: fmt.Sprintf("%+.1f MiB from %d to %d MiB blobs (allowed ≤ %.0f MiB)", growth, p.blobSize>>20, p.bigBlobSize>>20, allowed)})
	}
	return cs
}

// report renders the run as Markdown.
func (r *results) report(cfg runConfig) string {
	p := cfg.p
	var b strings.Builder
	mode := "full"
	if cfg.quick {
		mode = "quick (smoke run: small sizes, figures are not meaningful)"
	}
	fmt.Fprintf(&b, "# Berth side-by-side benchmark\n\n")
	fmt.Fprintf(&b, "- Run: %s, %s, took %s; rounds: %d per blob workload, %d per manifest workload (%s windows), %d per listing workload (%d listings each), %d of image push\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), mode, r.elapsed.Round(time.Second), p.blobRounds, p.manifestRounds, p.slice, p.listRounds, p.listIters, p.imageRounds)
	fmt.Fprintf(&b, "- Machine: %d CPUs (%s), %s, Linux %s, Go %s, GOMAXPROCS %d\n", runtime.NumCPU(), cpuModel(), memTotal(), kernel(), runtime.Version(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&b, "- Machine limit: sha256 on one core %.0f MB/s\n", r.sha256)
	fmt.Fprintf(&b, "- Berth source: %s\n", berthSource())
	fmt.Fprintf(&b, "- Sizes: blob %d MiB (chunks %d MiB), big blob %d MiB, %d tags (pages of %d), %d images × %d layers of %d KiB at concurrency %d\n",
		p.blobSize>>20, p.chunkSize>>20, p.bigBlobSize>>20, p.tags, p.pageSize, p.images, p.layers, p.layerSize>>10, p.imageConc)
	var mono []string
	for _, t := range allTargets {
		if v, ok := r.singlePOST[t]; ok {
			if v {
				mono = append(mono, t+": single POST ?digest=")
			} else {
				mono = append(mono, t+": POST + PUT with body")
			}
		}
	}
	fmt.Fprintf(&b, "- Monolithic push: %s\n", strings.Join(mono, "; "))
	if cfg.process {
		fmt.Fprintf(&b, "- Every target served from its own child process (-process)\n")
	} else {
		fmt.Fprintf(&b, "- Every target served in-process by its own httptest server on 127.0.0.1\n")
	}
	b.WriteString("\nTargets:\n\n")
	for _, t := range allTargets {
		if slices.Contains(cfg.targets, t) {
			fmt.Fprintf(&b, "- `%s`: %s", t, targetInfo[t])
			if e, ok := r.setupErr[t]; ok {
				fmt.Fprintf(&b, " — **not run: %s**", e)
			}
			b.WriteString("\n")
		}
	}

	b.WriteString("\n## Results\n\n")
	b.WriteString("Medians over rounds. `ms` rows are times (lower is better) and their ratios are time ratios; other rows are rates (higher is better). " +
		"Ratios are medians of per-round ratios. \"Berth ÷ best peer\" compares with the registry (Distribution, ggcr in memory or on disk) whose median is best.\n\n")
	b.WriteString("| Workload | Unit |")
	var cols []string
	for _, t := range allTargets {
		if slices.Contains(cfg.targets, t) {
			cols = append(cols, t)
			fmt.Fprintf(&b, " %s |", t)
		}
	}
	b.WriteString(" Berth ÷ trivial | Berth ÷ best peer |\n|---|---|")
	for range cols {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|\n")
	for _, w := range workloads {
		if _, ok := r.vals[w.id]; !ok && r.errs[w.id] == nil {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s |", w.title, w.unit)
		for _, t := range cols {
			if v, ok := r.value(w.id, t); ok {
				fmt.Fprintf(&b, " %s |", fmtVal(v))
			} else if _, bad := r.errs[w.id][t]; bad {
				b.WriteString(" error |")
			} else {
				b.WriteString(" – |")
			}
		}
		if q, ok := r.ratio(w.id, tBerth, tTrivial); ok {
			fmt.Fprintf(&b, " %s |", fmtRatio(q))
		} else {
			b.WriteString(" – |")
		}
		name, _, ok := r.bestPeer(w, tBerth)
		if q, ok2 := r.ratio(w.id, tBerth, name); ok && ok2 {
			fmt.Fprintf(&b, " %s (%s) |", fmtRatio(q), name)
		} else {
			b.WriteString(" – |")
		}
		b.WriteString("\n")
	}

	var auth []string
	for _, c := range []int{1, 16} {
		if q, ok := r.ratio(fmt.Sprintf("mget-auth-c%d", c), tBerthAuth, tBerth); ok {
			auth = append(auth, fmt.Sprintf("c=%d %s", c, fmtRatio(q)))
		}
	}
	if len(auth) > 0 {
		fmt.Fprintf(&b, "\nCost of security, paired: manifest GET with Basic authentication (static key) and policies (berth-auth) ÷ the same Berth without (berth): %s.\n", strings.Join(auth, ", "))
	}

	var lr []string
	for _, t := range cols {
		if m := r.listRequests[t]; len(m) > 0 {
			lr = append(lr, fmt.Sprintf("%s %d / %d", t, m[0], m[p.pageSize]))
		}
	}
	if len(lr) > 0 {
		fmt.Fprintf(&b, "\nRequests per full listing (no n / n=%d): %s.\n", p.pageSize, strings.Join(lr, ", "))
	}

	b.WriteString("\nEvery target against the trivial bound (same units as above: rate ratio, or time ratio for `ms` rows):\n\n| Workload |")
	for _, t := range cols {
		if isRegistry(t) {
			fmt.Fprintf(&b, " %s |", t)
		}
	}
	b.WriteString("\n|---|")
	for _, t := range cols {
		if isRegistry(t) {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, w := range workloads {
		if _, ok := r.value(w.id, tTrivial); !ok {
			continue
		}
		fmt.Fprintf(&b, "| %s |", w.title)
		for _, t := range cols {
			if !isRegistry(t) {
				continue
			}
			if q, ok := r.ratio(w.id, t, tTrivial); ok {
				fmt.Fprintf(&b, " %s |", fmtRatio(q))
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}

	if len(r.rss) > 0 {
		b.WriteString("\n## Server memory (child process, /proc/PID/status)\n\n")
		fmt.Fprintf(&b, "| Target | VmRSS after start | VmHWM after %d MiB pushes + pulls | VmHWM after %d MiB pushes | push MB/s (%d MiB / %d MiB) |\n|---|---:|---:|---:|---:|\n",
			p.blobSize>>20, p.bigBlobSize>>20, p.blobSize>>20, p.bigBlobSize>>20)
		for _, t := range allTargets {
			rs, ok := r.rss[t]
			if !ok {
				continue
			}
			if rs.err != "" {
				fmt.Fprintf(&b, "| %s | error: %s | | | |\n", t, rs.err)
				continue
			}
			fmt.Fprintf(&b, "| %s | %.1f MiB | %.1f MiB | %.1f MiB | %.0f / %.0f |\n", t, rs.baseline, rs.peakSmall, rs.peakBig, rs.pushSmall, rs.pushBig)
		}
	}

	b.WriteString("\n## Targets\n\n")
	for _, c := range r.checks(p) {
		verdict := "FAIL"
		if !c.ok {
			verdict = "N/A "
			c.have = "not measured"
		} else if c.pass {
			verdict = "PASS"
		}
		fmt.Fprintf(&b, "- %s %s: %s\n", verdict, c.name, c.have)
	}

	var errs []string
	for _, w := range workloads {
		for _, t := range allTargets {
			if e, ok := r.errs[w.id][t]; ok {
				errs = append(errs, fmt.Sprintf("- %s / %s: %s", w.id, t, e))
			}
		}
	}
	if len(errs) > 0 {
		b.WriteString("\n## Errors\n\n" + strings.Join(errs, "\n") + "\n")
	}
	return b.String()
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown memory"
	}
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "MemTotal:") {
			var kb int64
			fmt.Sscanf(strings.TrimPrefix(line, "MemTotal:"), "%d", &kb)
			return fmt.Sprintf("%.1f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return "unknown memory"
}

// berthSource names the commit of the Berth tree the bench was built from,
// and whether the tree had uncommitted changes.
func berthSource() string {
	rev, err := exec.Command("git", "-C", "..", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (no git)"
	}
	s := "commit " + strings.TrimSpace(string(rev))
	if st, err := exec.Command("git", "-C", "..", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		s += " plus uncommitted changes"
	}
	if st, err := exec.Command("git", "-C", "..", "status", "--porcelain").Output(); err == nil && strings.Contains(string(st), "??") {
		s += " and untracked files"
	}
	return s
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
