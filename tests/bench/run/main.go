//go:build bench

// Command run is the side-by-side benchmark behind `make bench`: for each corpus size it runs
// hpguard and its peers on the same input several times, records median wall time, CPU time and
// peak RSS, checks that the engines report the same findings, and writes BENCHMARKS.md.
//
//	go run ./tests/bench/run -sizes 1000,10000,100000 -runs 3 -out BENCHMARKS.md
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hpguard/hpguard/gatekeeper"
	"github.com/hpguard/hpguard/internal/bundle"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/vap"
)

// tool is one benchmarked command; args gets the corpus directory.
type tool struct {
	name string
	bin  string
	args func(dir string) []string
	// findings parses the tool's output into pod name -> sorted rule ids (nil: not comparable).
	findings func(out []byte, dir string) (map[string][]string, error)
}

type sample struct {
	wall, cpu time.Duration
	rssKB     int64
	exit      int
}

type row struct {
	corpus string
	tool   string
	size   int
	median sample
	runs   int
	agree  string
}

func main() {
	sizes := flag.String("sizes", "1000,10000,100000", "corpus sizes (pods)")
	corpora := flag.String("corpora", "mixed,heavy", "corpus kinds (tests/bench/corpus -kind): mixed, heavy (findings-heavy)")
	only := flag.String("tools", "", "comma-separated tool names to run (default: all), e.g. \"hpguard check,PSA baseline (native Go)\"")
	onlyLarge := flag.String("tools-large", "hpguard check,decode only (same reader),PSA baseline (native Go)", "comma-separated tools run at sizes of 100,000 pods and more (empty: all); the peers take minutes there")
	startRuns := flag.Int("startup-runs", 5, "runs per engine for the start-up table (0: none)")
	runs := flag.Int("runs", 3, "runs per tool and size (median reported)")
	runsLarge := flag.Int("runs-large", 1, "runs per tool at sizes of 100,000 pods and more")
	out := flag.String("out", "BENCHMARKS.md", "report file")
	bin := flag.String("bin", ".bin", "directory with the built tools (hpguard, decode, psa-bench, conftest, gator)")
	work := flag.String("work", "", "work directory for corpora (default: a temp dir)")
	strict := flag.Bool("strict", false, "exit 1 when an engine's findings differ from the corpus expectations")
	notes := flag.String("notes", "", "markdown file appended to the report (what the profile shows)")
	gkReviews := flag.Int("gatekeeper-reviews", 2000, "reviews timed through the frameworks client (per-review latency)")
	flag.Parse()
	if *work == "" {
		d, err := os.MkdirTemp("", "hpguard-bench-")
		check(err)
		defer os.RemoveAll(d)
		*work = d
	}
	binPath := func(name string) string { p, _ := filepath.Abs(filepath.Join(*bin, name)); return p }
	tools := []tool{
		{name: "hpguard check", bin: binPath("hpguard"), args: func(d string) []string {
			return []string{"check", "--profile", "hostprocess", "-o", "json", filepath.Join(d, "pods.yaml")}
		}, findings: hpguardFindings},
		{name: "decode only (same reader)", bin: binPath("decode"), args: func(d string) []string { return []string{filepath.Join(d, "pods.yaml")} }},
		{name: "PSA baseline (native Go)", bin: binPath("psa-bench"), args: func(d string) []string { return []string{filepath.Join(d, "pods.yaml")} }},
		{name: "conftest, one file", bin: binPath("conftest"), args: func(d string) []string {
			return []string{"test", "--no-color", "--policy", "policies/rego", "--namespace", "hpguard.profiles.hostprocess", "-o", "json", filepath.Join(d, "pods.yaml")}
		}},
		{name: "conftest, one file per pod", bin: binPath("conftest"), args: func(d string) []string {
			return []string{"test", "--no-color", "--policy", "policies/rego", "--namespace", "hpguard.profiles.hostprocess", "-o", "json", filepath.Join(d, "pods")}
		}, findings: conftestFindings},
		{name: "gator test", bin: binPath("gator"), args: func(d string) []string {
			return []string{"test", "--enable-k8s-native-validation=false", "-f", "gatekeeper/templates", "-f", filepath.Join(d, "constraints"), "-f", filepath.Join(d, "pods.yaml"), "-o", "json"}
		}, findings: gatorFindings},
	}
	var rows []row
	for _, kind := range strings.Split(*corpora, ",") {
		for _, s := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			check(err)
			dir := filepath.Join(*work, fmt.Sprintf("%s-%d", kind, n))
			cmd := exec.Command(binPath("corpus"), "-kind", kind, "-pods", strconv.Itoa(n), "-seed", "1", "-out", dir)
			cmd.Stderr = os.Stderr
			check(cmd.Run())
			check(copyConstraints(dir))
			expected := map[string][]string{}
			b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
			check(err)
			check(json.Unmarshal(b, &expected))
			for _, t := range tools {
				if *only != "" && !slices.Contains(strings.Split(*only, ","), t.name) {
					continue
				}
				if n >= 100000 && *onlyLarge != "" && !slices.Contains(strings.Split(*onlyLarge, ","), t.name) {
					continue
				}
				if _, err := os.Stat(t.bin); err != nil {
					fmt.Fprintf(os.Stderr, "skip %s: %s not built\n", t.name, t.bin)
					continue
				}
				nruns := *runs
				if n >= 100000 {
					nruns = *runsLarge
				}
				r := row{corpus: kind, tool: t.name, size: n, runs: nruns, agree: "-"}
				var samples []sample
				var lastOut []byte
				for i := 0; i < nruns; i++ {
					smp, outb := measure(t.bin, t.args(dir))
					samples = append(samples, smp)
					lastOut = outb
				}
				r.median = median(samples)
				if t.findings != nil {
					got, err := t.findings(lastOut, dir)
					switch {
					case err != nil:
						r.agree = "error: " + err.Error()
					default:
						r.agree = agreement(expected, got)
					}
				}
				fmt.Fprintf(os.Stderr, "%-6s %-28s %7d pods  wall %8.3fs  cpu %8.3fs  rss %6d MiB  %s\n", kind, t.name, n, r.median.wall.Seconds(), r.median.cpu.Seconds(), r.median.rssKB/1024, r.agree)
				rows = append(rows, r)
			}
		}
	}
	text := header(*runs, *sizes, *corpora)
	for _, kind := range strings.Split(*corpora, ",") {
		text += render(rows, kind) + targets(rows, kind)
	}
	if *startRuns > 0 {
		st := startup(binPath("hpguard"), *startRuns)
		fmt.Fprint(os.Stderr, st)
		text += "\n" + st
	}
	if *gkReviews > 0 {
		var lat strings.Builder
		lat.WriteString(latencyHeader(*gkReviews))
		for _, kind := range strings.Split(*corpora, ",") {
			l, err := reviewLatency(kind, filepath.Join(*work, kind+"-10000", "pods.yaml"), *gkReviews)
			if err != nil {
				l = fmt.Sprintf("| %s | not measured: %v | | | | |\n", kind, err)
			}
			lat.WriteString(l)
		}
		fmt.Fprint(os.Stderr, lat.String())
		text += "\n" + lat.String()
	}
	if *notes != "" {
		b, err := os.ReadFile(*notes)
		check(err)
		text += "\n" + string(b)
	}
	check(os.WriteFile(*out, []byte(text), 0o644))
	for _, r := range rows {
		if *strict && r.agree != "-" && !strings.HasPrefix(r.agree, "all ") {
			fmt.Fprintf(os.Stderr, "bench: %s disagrees at %d pods: %s\n", r.tool, r.size, r.agree)
			os.Exit(1)
		}
	}
}

// measure runs a tool once. Peak RSS comes from GNU time's child when /usr/bin/time exists: Linux
// carries the parent's high-water mark into a child's ru_maxrss across exec (so a small tool started
// from this process would report this process's memory), while time forks its child afresh.
func measure(bin string, args []string) (sample, []byte) {
	var stdout bytes.Buffer
	rssFile := ""
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		f, err := os.CreateTemp("", "hpguard-bench-rss-")
		check(err)
		f.Close()
		rssFile = f.Name()
		defer os.Remove(rssFile)
		args = append([]string{"-f", "%M", "-o", rssFile, bin}, args...)
		bin = "/usr/bin/time"
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = &stdout
	cmd.Stderr = nil
	start := time.Now()
	_ = cmd.Run()
	wall := time.Since(start)
	s := sample{wall: wall, exit: cmd.ProcessState.ExitCode()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		s.rssKB = ru.Maxrss
	}
	if rssFile != "" {
		b, err := os.ReadFile(rssFile)
		check(err)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if kb, err := strconv.ParseInt(strings.TrimSpace(lines[len(lines)-1]), 10, 64); err == nil {
			s.rssKB = kb
		}
		if code := cmd.ProcessState.ExitCode(); code >= 0 {
			s.exit = code
		}
	}
	return s, stdout.Bytes()
}

func median(ss []sample) sample {
	pick := func(get func(sample) int64) int64 {
		v := make([]int64, len(ss))
		for i, s := range ss {
			v[i] = get(s)
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[len(v)/2]
	}
	return sample{
		wall:  time.Duration(pick(func(s sample) int64 { return int64(s.wall) })),
		cpu:   time.Duration(pick(func(s sample) int64 { return int64(s.cpu) })),
		rssKB: pick(func(s sample) int64 { return s.rssKB }),
		exit:  ss[0].exit,
	}
}

// agreement compares per-pod rule sets with the corpus' expectations.
func agreement(expected, got map[string][]string) string {
	diff := 0
	var first string
	for pod, want := range expected {
		if strings.Join(want, ",") != strings.Join(got[pod], ",") {
			if diff == 0 {
				first = fmt.Sprintf("%s: want %v got %v", pod, want, got[pod])
			}
			diff++
		}
	}
	if diff == 0 {
		return fmt.Sprintf("all %d pods as expected", len(expected))
	}
	return fmt.Sprintf("%d pods differ (first %s)", diff, first)
}

func uniqSorted(m map[string][]string) map[string][]string {
	for k, v := range m {
		sort.Strings(v)
		out := v[:0]
		for i, s := range v {
			if i == 0 || s != v[i-1] {
				out = append(out, s)
			}
		}
		m[k] = out
	}
	return m
}

func hpguardFindings(out []byte, _ string) (map[string][]string, error) {
	var rep struct {
		Results []struct {
			Name     string `json:"name"`
			Findings []struct {
				Rule string `json:"rule"`
			} `json:"findings"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, err
	}
	got := map[string][]string{}
	for _, r := range rep.Results {
		got[r.Name] = []string{}
		for _, f := range r.Findings {
			got[r.Name] = append(got[r.Name], f.Rule)
		}
	}
	return uniqSorted(got), nil
}

func conftestFindings(out []byte, _ string) (map[string][]string, error) {
	var res []struct {
		Filename string `json:"filename"`
		Failures []struct {
			Metadata map[string]any `json:"metadata"`
		} `json:"failures"`
		Warnings []struct {
			Metadata map[string]any `json:"metadata"`
		} `json:"warnings"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, err
	}
	got := map[string][]string{}
	for _, r := range res {
		pod := strings.TrimSuffix(filepath.Base(r.Filename), ".yaml")
		got[pod] = []string{}
		for _, f := range append(r.Failures, r.Warnings...) {
			if id, ok := f.Metadata["rule"].(string); ok {
				got[pod] = append(got[pod], id)
			}
		}
	}
	return uniqSorted(got), nil
}

func gatorFindings(out []byte, _ string) (map[string][]string, error) {
	var res []struct {
		Msg        string `json:"msg"`
		Constraint struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"constraint"`
		ViolatingObject map[string]any `json:"violatingObject"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, err
	}
	got := map[string][]string{}
	for _, r := range res {
		name := ""
		if md, ok := r.ViolatingObject["metadata"].(map[string]any); ok {
			name, _ = md["name"].(string)
		}
		got[name] = append(got[name], r.Constraint.Metadata.Name)
	}
	return uniqSorted(got), nil
}

// copyConstraints gives gator the hostprocess profile's constraints without the kustomization file.
func copyConstraints(dir string) error {
	dst := filepath.Join(dir, "constraints")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	files, _ := filepath.Glob("gatekeeper/profiles/hostprocess/*.yaml")
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// corpusTitles describe the corpus kinds.
var corpusTitles = map[string]string{
	"mixed": "Corpus `mixed`: a third valid HostProcess pods, a third HostProcess pods with one mistake each, a third Linux pods",
	"heavy": "Corpus `heavy` (findings-heavy): nine in ten pods are HostProcess pods with three or four mistakes each (about 4 findings per pod, deny and warn), one in ten a Linux pod",
}

func header(runs int, sizes, corpora string) string {
	return fmt.Sprintf("# Benchmarks\n\nMeasured by `make bench` (`go run ./tests/bench/run -corpora %s -sizes %s -runs %d`) on %d CPUs (%s/%s), %s.\n"+
		"Corpora from `tests/bench/corpus`, one multi-document file unless stated. Median of the runs; ratios are the tool's wall time over hpguard's at the same size.\n",
		corpora, sizes, runs, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02"))
}

func render(rows []row, kind string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## %s\n\n%s.\n\n", kind, corpusTitles[kind])
	b.WriteString("| pods | tool | runs | wall (s) | CPU (s) | peak RSS (MiB) | docs/s | × hpguard wall | findings |\n|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
	base := map[int]time.Duration{}
	for _, r := range rows {
		if r.corpus == kind && r.tool == "hpguard check" {
			base[r.size] = r.median.wall
		}
	}
	for _, r := range rows {
		if r.corpus != kind {
			continue
		}
		ratio := "-"
		if bw := base[r.size]; bw > 0 {
			ratio = fmt.Sprintf("%.2f", r.median.wall.Seconds()/bw.Seconds())
		}
		fmt.Fprintf(&b, "| %d | %s | %d | %.3f | %.3f | %d | %.0f | %s | %s |\n", r.size, r.tool, r.runs, r.median.wall.Seconds(), r.median.cpu.Seconds(), r.median.rssKB/1024, float64(r.size)/r.median.wall.Seconds(), ratio, r.agree)
	}
	return b.String()
}

// targets compares a corpus' 10,000-pod figures (and the 100,000-pod memory) with the project's
// targets: hpguard's wall time at most 1.0 × PSA's native evaluator on the mixed corpus and 1.5 ×
// on the findings-heavy one.
func targets(rows []row, kind string) string {
	find := func(tool string, size int) *row {
		for i := range rows {
			if rows[i].corpus == kind && rows[i].tool == tool && rows[i].size == size {
				return &rows[i]
			}
		}
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nTargets, corpus `%s` (10,000 pods, one file):\n\n| target | measured | met |\n|---|---|---|\n", kind)
	hp := find("hpguard check", 10000)
	if hp == nil {
		b.WriteString("| (no 10,000-pod run) | | |\n")
		return b.String()
	}
	ratio := func(tool string) (float64, bool) {
		r := find(tool, 10000)
		if r == nil {
			return 0, false
		}
		return r.median.wall.Seconds() / hp.median.wall.Seconds(), true
	}
	line := func(target, measured string, ok bool) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", target, measured, map[bool]string{true: "yes", false: "**no**"}[ok])
	}
	psa := 1.0
	if kind == "heavy" {
		psa = 1.5
	}
	if x, ok := ratio("PSA baseline (native Go)"); ok {
		line(fmt.Sprintf("hpguard wall ≤ %.1f × PSA native", psa), fmt.Sprintf("%.2f ×", 1/x), 1/x <= psa)
	}
	if x, ok := ratio("decode only (same reader)"); ok {
		line("hpguard wall ≤ 1.5 × decode-only", fmt.Sprintf("%.2f ×", 1/x), 1/x <= 1.5)
	}
	if x, ok := ratio("conftest, one file"); ok {
		line("≥ 6 × faster than conftest", fmt.Sprintf("%.1f ×", x), x >= 6)
	}
	if x, ok := ratio("gator test"); ok {
		line("≥ 4 × faster than gator test", fmt.Sprintf("%.1f ×", x), x >= 4)
	}
	line("peak RSS ≤ 150 MiB at 10,000 pods", fmt.Sprintf("%d MiB", hp.median.rssKB/1024), hp.median.rssKB/1024 <= 150)
	if big := find("hpguard check", 100000); big != nil {
		line("peak RSS ≤ 200 MiB at 100,000 pods", fmt.Sprintf("%d MiB", big.median.rssKB/1024), big.median.rssKB/1024 <= 200)
		growth := float64(big.median.rssKB) / float64(hp.median.rssKB)
		line("peak RSS at 100,000 pods ≤ 1.3 × at 10,000", fmt.Sprintf("%.2f ×", growth), growth <= 1.3)
	}
	return b.String()
}

// startup times `hpguard check` of one small file with each engine and profile: what a run costs
// before its first document (loading and compiling the engine), median of runs.
func startup(bin string, runs int) string {
	var b strings.Builder
	b.WriteString("## Start-up\n\n`hpguard check -q --engine E --profile P examples/kube-proxy.yaml` (one DaemonSet), median of " + strconv.Itoa(runs) + " runs; `hpguard version` for the binary alone.\n\n| engine | profile | wall (s) | CPU (s) | peak RSS (MiB) |\n|---|---|---:|---:|---:|\n")
	row := func(engine, profile string, args []string) {
		var ss []sample
		for i := 0; i < runs; i++ {
			smp, _ := measure(bin, args)
			ss = append(ss, smp)
		}
		m := median(ss)
		fmt.Fprintf(&b, "| %s | %s | %.3f | %.3f | %d |\n", engine, profile, m.wall.Seconds(), m.cpu.Seconds(), m.rssKB/1024)
	}
	row("(version)", "-", []string{"version"})
	for _, e := range engine.Names() {
		for _, p := range []string{"hostprocess", "strict"} {
			row(e, p, []string{"check", "-q", "--engine", e, "--profile", p, "examples/kube-proxy.yaml"})
		}
	}
	return b.String()
}

// latencyOption is one way of evaluating a whole profile per review.
type latencyOption struct {
	name string
	new  func(ctx context.Context) (engine.Evaluator, error)
}

func latencyOptions() []latencyOption {
	src := engine.Sources{Gatekeeper: gatekeeper.FS(), VAP: vap.FS()}
	pol, err := bundle.Embedded()
	check(err)
	src.Policy = pol
	kind := func(name string) func(ctx context.Context) (engine.Evaluator, error) {
		return func(ctx context.Context) (engine.Evaluator, error) {
			k, err := engine.Lookup(name)
			if err != nil {
				return nil, err
			}
			return k.New(ctx, src, "hostprocess", nil)
		}
	}
	return []latencyOption{
		{"Gatekeeper: a template per rule (rego driver)", kind("gatekeeper")},
		{"Gatekeeper: the combined template, a Constraint per severity (rego driver)", kind("gatekeeper-combined")},
		{"ValidatingAdmissionPolicy CEL (the API server's CEL machinery)", kind("cel")},
		{"embedded OPA (hpguard check)", kind("opa")},
	}
}

func latencyHeader(n int) string {
	return fmt.Sprintf("## Per-review latency, whole profile\n\nThe hostprocess profile (every rule) evaluated one review at a time, in process, over %d pods of each 10,000-pod corpus (decoded one at a time, untimed), after 50 warm-up reviews; Gatekeeper through the frameworks client with Gatekeeper's Kubernetes target (as `hpguard check --engine gatekeeper` and gator). Target: p99 ≤ 1 ms for Gatekeeper.\n\n| corpus | option | p50 | p95 | p99 | p99 ≤ 1 ms |\n|---|---|---:|---:|---:|---|\n", n)
}

// reviewLatency times each option over the first n pods of a corpus.
func reviewLatency(kind, path string, n int) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no 10,000-pod corpus")
	}
	ctx := context.Background()
	var b strings.Builder
	for _, o := range latencyOptions() {
		ev, err := o.new(ctx)
		if err != nil {
			return "", fmt.Errorf("%s: %w", o.name, err)
		}
		// One object decoded at a time, as a webhook receives them: the heap holds the engine and
		// the review, not the corpus, so that collections cost what they would in a server.
		lat := make([]time.Duration, 0, n)
		i := 0
		var evalErr error
		err = manifest.StreamFile(path, nil, manifest.DefaultOptions(), func(d manifest.Document) {
			if i >= n+50 || evalErr != nil || d.Object == nil {
				return
			}
			start := time.Now()
			_, evalErr = ev.Evaluate(ctx, d.Object)
			if i >= 50 { // the first 50 warm up
				lat = append(lat, time.Since(start))
			}
			i++
		})
		if err == nil {
			err = evalErr
		}
		if err != nil {
			return "", err
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
		gk := strings.HasPrefix(o.name, "Gatekeeper")
		met := "-"
		if gk {
			met = map[bool]string{true: "yes", false: "**no**"}[q(0.99) <= time.Millisecond]
		}
		fmt.Fprintf(&b, "| %s | %s | %v | %v | %v | %s |\n", kind, o.name, q(0.50).Round(time.Microsecond), q(0.95).Round(time.Microsecond), q(0.99).Round(time.Microsecond), met)
	}
	return b.String(), nil
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
