// Command bench runs the same OCI distribution workloads over loopback HTTP
// against Berth and its peers, side by side, and reports each figure with
// its ratio to the best peer and to a trivial handler that bounds what the
// machine can do for the same requests.
//
// Targets (each in its own httptest server on 127.0.0.1):
//
//   - berth: registry.New(badgerstore.New(badgerstore.Options{Dir: tmp}))
//     wrapped by httpapi.New, with its durable (fsync) defaults;
//   - distribution: CNCF Distribution v3 embedded with handlers.NewApp on
//     the filesystem driver, delete enabled;
//   - berth-auth: the same Berth with Basic authentication (a static
//     access key) and rego policies on, for the authenticated workloads
//     only (berth_auth.go);
//   - ggcr: go-containerregistry's pkg/registry, in memory;
//   - ggcr-disk: the same with its disk blob handler;
//   - trivial: handlers that do only the unavoidable work (see trivial.go).
//
// Workloads: monolithic and chunked push of a 64 MiB blob, pull at
// concurrency 1 and 4, manifest PUT/GET/HEAD at concurrency 1 and 16, full
// listing of 5,000 tags whole and by pages of 100, manifest GET at
// concurrency 1 and 16 with authentication and policies (berth-auth)
// against the same without (berth), pushing 20 images of 5
// layers at concurrency 4, and the peak RSS of a Berth server process while
// it takes 64 MiB and 256 MiB blobs.
//
// The machine is shared and noisy, so every workload runs in rounds: in each
// round every target takes one short turn (one push, a few pulls, a
// 400 ms window of manifest requests, a few listings, 20 images), in an
// order that rotates between rounds, with a GC before each turn. Figures are
// medians over rounds, and ratios are medians of the per-round ratios
// (paired), so a burst of outside load moves numerator and denominator
// together.
//
// Usage:
//
//	go run .                    # full run, several minutes
//	go run . -quick             # smoke run for CI, well under a minute
//	go run . -out results.md    # also write the report as Markdown
//
// With -process every target is served by its own child process instead
// (the bench binary re-executes itself with -serve), which separates the
// servers' CPU time and garbage from the client's; -berth-cpuprofile FILE
// then profiles the Berth child after its setup.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	var (
		quick       = flag.Bool("quick", false, "short smoke run for CI: small sizes, one round")
		out         = flag.String("out", "", "also write the Markdown report to this file")
		rounds      = flag.Int("rounds", 0, "rounds of every workload (default: 5 to 11 by workload, 1 with -quick)")
		only        = flag.String("targets", strings.Join(allTargets, ","), "comma-separated targets to run")
		skipRSS     = flag.Bool("skip-rss", false, "skip the peak-RSS measurement")
		process     = flag.Bool("process", false, "serve every target from its own child process instead of in-process httptest servers")
		berthProf   = flag.String("berth-cpuprofile", "", "with -process: write the Berth child's CPU profile (after setup) to this file")
		verbose     = flag.Bool("v", false, "log every turn of every target")
		serve       = flag.String("serve", "", "internal: serve this target on a loopback port (child mode)")
		serveDir    = flag.String("dir", "", "internal: data directory for -serve")
		serveProf   = flag.String("cpuprofile", "", "internal: CPU profile of the -serve child")
		workloadSel = flag.String("workloads", "", "comma-separated workload ids to run (default all)")
	)
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")

	if *serve != "" {
		if err := serveChild(*serve, *serveDir, *serveProf); err != nil {
			log.Fatal(err)
		}
		return
	}

	p := fullParams()
	if *quick {
		p = quickParams()
	}
	if *rounds > 0 {
		p.blobRounds, p.manifestRounds, p.listRounds, p.imageRounds = *rounds, *rounds, *rounds, *rounds
	}
	cfg := runConfig{
		p:         p,
		quick:     *quick,
		targets:   splitList(*only),
		rss:       !*skipRSS,
		process:   *process,
		berthProf: *berthProf,
		verbose:   *verbose,
	}
	for _, t := range cfg.targets {
		if !slices.Contains(allTargets, t) {
			log.Fatalf("unknown target %q (have %s)", t, strings.Join(allTargets, ", "))
		}
	}
	if *workloadSel != "" {
		cfg.workloads = splitList(*workloadSel)
		for _, w := range cfg.workloads {
			if !slices.ContainsFunc(workloads, func(x workload) bool { return x.id == w }) {
				log.Fatalf("unknown workload %q", w)
			}
		}
	}
	rep, err := run(cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(rep)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(rep), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func splitList(s string) []string {
	var l []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			l = append(l, f)
		}
	}
	return l
}

type runConfig struct {
	p         params
	quick     bool
	targets   []string
	workloads []string // nil: all
	rss       bool
	process   bool
	berthProf string
	verbose   bool
}

func (c runConfig) want(workload string) bool {
	return c.workloads == nil || slices.Contains(c.workloads, workload)
}

// job is a workload as run: rounds turns of every target.
type job struct {
	id     string
	rounds int
	before func(round int) // once per round, before the targets' turns
	run    func(t *target, st *targetState, round int) (float64, error)
	// targets are the targets that take turns; nil means every target
	// but berth-auth and berth-scan, which run only their own workloads.
	targets []string
	// after, if set, runs after each turn, untimed.
	after func(t *target, round int) error
}

// takes reports whether target name takes turns in the job.
func (j job) takes(name string) bool {
	if j.targets == nil {
		return name != tBerthAuth && name != tBerthScan
	}
	return slices.Contains(j.targets, name)
}

// run starts the targets, runs every workload in rounds and returns the
// report.
func run(cfg runConfig) (string, error) {
	p := cfg.p
	begin := time.Now()
	root, err := os.MkdirTemp("", "berth-bench-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(root)
	hc := newHTTPClient()
	res := newResults()

	progress("machine: %d CPUs, %s, %s", runtime.NumCPU(), cpuModel(), runtime.Version())
	res.sha256 = sha256MBps(64<<20, 3)
	progress("sha256 on one core: %.0f MB/s", res.sha256)

	fx := newFixtures(p)
	states := map[*target]*targetState{}
	var targets []*target
	for _, name := range allTargets {
		if !slices.Contains(cfg.targets, name) {
			continue
		}
		var t *target
		var err error
		if cfg.process {
			prof := ""
			if name == tBerth {
				prof = cfg.berthProf
			}
			t, err = startChild(name, root, prof, hc)
		} else {
			t, err = startTarget(name, root, hc)
		}
		if err != nil {
			res.setupErr[name] = err.Error()
			progress("%s: not started: %v", name, err)
			continue
		}
		start := time.Now()
		st := newTargetState()
		if err := setup(t, fx, st); err != nil {
			res.setupErr[name] = err.Error()
			progress("%s: setup failed: %v", name, err)
			t.stop()
			continue
		}
		if t.child != nil {
			if err := t.child.startProfile(); err != nil {
				return "", err
			}
		}
		res.singlePOST[name] = t.c.singlePOST
		progress("%s: up at %s, setup %.1fs (single-POST push: %v)", name, t.url, time.Since(start).Seconds(), t.c.singlePOST)
		states[t] = st
		targets = append(targets, t)
	}
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()

	if len(targets) == 0 {
		return "", fmt.Errorf("no target started: %v", res.setupErr)
	}
	var images imageSet
	var scanImages imageSet
	var scanPrepErr error
	jobs := []job{
		{id: "push-mono", rounds: p.blobRounds, run: func(t *target, st *targetState, r int) (float64, error) { return pushMono(t, fx, st, uint64(10+r)) }},
		{id: "push-chunked", rounds: p.blobRounds, run: func(t *target, st *targetState, r int) (float64, error) { return pushChunked(t, fx, uint64(1000+r)) }},
		{id: "pull-c1", rounds: p.blobRounds, run: func(t *target, st *targetState, r int) (float64, error) { return pull(t, fx, st, 1, p.pullsC1) }},
		{id: "pull-c4", rounds: p.blobRounds, run: func(t *target, st *targetState, r int) (float64, error) { return pull(t, fx, st, 4, p.pullsC4) }},
	}
	for _, c := range []int{1, 16} {
		jobs = append(jobs, job{id: fmt.Sprintf("mput-c%d", c), rounds: p.manifestRounds, run: func(t *target, st *targetState, r int) (float64, error) {
			return manifestPut(t, fx, r, c)
		}})
	}
	for _, c := range []int{1, 16} {
		jobs = append(jobs,
			job{id: fmt.Sprintf("mget-c%d", c), rounds: p.manifestRounds, run: func(t *target, st *targetState, r int) (float64, error) {
				return manifestGet(t, fx, st, http.MethodGet, c)
			}},
			job{id: fmt.Sprintf("mhead-c%d", c), rounds: p.manifestRounds, run: func(t *target, st *targetState, r int) (float64, error) {
				return manifestGet(t, fx, st, http.MethodHead, c)
			}})
	}
	// The cost of security: the same GETs with Basic authentication and
	// policies on (berth-auth) and off (berth), paired in each round.
	for _, c := range []int{1, 16} {
		jobs = append(jobs, job{id: fmt.Sprintf("mget-auth-c%d", c), rounds: p.manifestRounds, targets: []string{tBerth, tBerthAuth},
			run: func(t *target, st *targetState, r int) (float64, error) {
				return manifestGet(t, fx, st, http.MethodGet, c)
			}})
	}
	jobs = append(jobs,
		job{id: "tags-whole", rounds: p.listRounds, run: func(t *target, st *targetState, r int) (float64, error) { return listing(t, fx, st, 0) }},
		job{id: "tags-paged", rounds: p.listRounds, run: func(t *target, st *targetState, r int) (float64, error) { return listing(t, fx, st, p.pageSize) }},
		job{id: "image-push", rounds: p.imageRounds, before: func(r int) { images = prepareImages(fx, r) },
			run: func(t *target, st *targetState, r int) (float64, error) { return imagePush(t, fx, images, r) }},
		// The cost of scanning: the same pushes, of images with real
		// layers, with scan on push (berth-scan) and without (berth).
		job{id: "image-push-scan", rounds: p.imageRounds, targets: []string{tBerth, tBerthScan},
			before: func(r int) {
				scanImages, scanPrepErr = prepareScanImages(fx, r)
			},
			run: func(t *target, st *targetState, r int) (float64, error) {
				if scanPrepErr != nil {
					return 0, scanPrepErr
				}
				return imagePush(t, fx, scanImages, r)
			},
			after: func(t *target, r int) error { return awaitScans(t, int64(p.images*(r+1))) }},
	)

	if !cfg.want("push-mono") && (cfg.want("pull-c1") || cfg.want("pull-c4")) {
		// The pulls need a blob.
		for _, t := range targets {
			if _, err := pushMono(t, fx, states[t], 9); err != nil {
				return "", fmt.Errorf("%s: push for pulls: %w", t.name, err)
			}
		}
	}
	for _, j := range jobs {
		if !cfg.want(j.id) {
			continue
		}
		start := time.Now()
		for r := range j.rounds {
			if j.before != nil {
				j.before(r)
			}
			// Rotate the order of targets so that none always runs first.
			var turns []*target
			for _, t := range targets {
				if j.takes(t.name) {
					turns = append(turns, t)
				}
			}
			if len(turns) == 0 {
				break
			}
			k := r % len(turns)
			for _, t := range append(slices.Clone(turns[k:]), turns[:k]...) {
				if res.failed(j.id, t.name) {
					continue
				}
				// Do not let one target's garbage be collected in
				// another's turn.
				gcStart := time.Now()
				runtime.GC()
				turnStart := time.Now()
				v, err := j.run(t, states[t], r)
				if cfg.verbose {
					progress("turn %s %s round %d: gc %v, run %v", j.id, t.name, r, turnStart.Sub(gcStart), time.Since(turnStart))
				}
				if err != nil {
					res.fail(j.id, t.name, err)
					progress("%s %s: %v", j.id, t.name, err)
					continue
				}
				res.set(j.id, t.name, r, v)
				if j.after != nil {
					if err := j.after(t, r); err != nil {
						res.fail(j.id, t.name, err)
						progress("%s %s: %v", j.id, t.name, err)
					}
				}
			}
		}
		progress("%-12s %2d rounds %5.1fs: %s", j.id, j.rounds, time.Since(start).Seconds(), res.line(j.id))
	}
	for _, t := range targets {
		res.listRequests[t.name] = states[t].listRequests
	}
	// Release the in-process targets (ggcr keeps blobs in memory) before
	// measuring a child's memory.
	for _, t := range targets {
		t.stop()
	}
	targets = nil

	if cfg.rss && slices.Contains(cfg.targets, tBerth) {
		for _, name := range []string{tBerth, tDistribution, tTrivial} {
			if !slices.Contains(cfg.targets, name) {
				continue
			}
			r, err := measureRSS(name, root, hc, fx)
			if err != nil {
				progress("rss %s: %v", name, err)
				r.err = err.Error()
			} else {
				progress("rss %s: baseline %.1f MiB, peak %.1f MiB (%d MiB blobs), %.1f MiB (%d MiB blobs)",
					name, r.baseline, r.peakSmall, p.blobSize>>20, r.peakBig, p.bigBlobSize>>20)
			}
			res.rss[name] = r
		}
	}
	res.elapsed = time.Since(begin)
	return res.report(cfg), nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
