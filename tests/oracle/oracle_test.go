package oracle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/policies"
)

var (
	seedFlag  = flag.Uint64("seed", 20261126, "seed of the random generator (a run is reproducible from its seed)")
	casesFlag = flag.Int("cases", 10000, "cases per differential test (the first 1296 are the exhaustive shapes)")
	cliFlag   = flag.Int("cli-every", 5, "also run every n-th case through the hpguard binary (HPGUARD_BIN, or built from ../..); 0: none")
	showFlag  = flag.Int("show", -1, "print at most this many disagreements in full (-1: every one)")
)

// testCase is one generated manifest.
type testCase struct {
	id    string
	kind  Kind
	shape Shape
	data  []byte // the manifest as written (JSON or YAML)
	ext   string
}

// generate returns n cases: the exhaustive shapes in every kind first, then random shapes. Each case
// has its own generator seeded by (seed, index), so any case can be regenerated alone.
func generate(t *testing.T, seed uint64, n int, opts Options) []testCase {
	t.Helper()
	var out []testCase
	shapes := Shapes()
	for i := 0; i < n; i++ {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		var s Shape
		var k Kind
		if i < len(shapes)*len(Kinds) {
			s, k = shapes[i/len(Kinds)], Kinds[i%len(Kinds)]
		} else {
			s, k = RandomShape(r), Kinds[r.IntN(len(Kinds))]
		}
		obj := Generate(r, k, s, opts)
		var data []byte
		var err error
		ext := "yaml"
		asYAML := r.IntN(2) == 0
		if asYAML {
			data, err = yaml.Marshal(obj)
		}
		if !asYAML || err != nil { // JSON, or YAML cannot hold the value (control characters)
			data, err = json.MarshalIndent(obj, "", "  ")
			ext = "json"
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, testCase{id: fmt.Sprintf("seed=%d case=%d", seed, i), kind: k, shape: s, data: data, ext: ext})
	}
	return out
}

// podSpec decodes the manifest into the typed API object of its kind, as the API server would, and
// returns its pod spec (the extraction of pod-security-admission's DefaultPodSpecExtractor).
func podSpec(c testCase) (*metav1.ObjectMeta, *corev1.PodSpec, error) {
	var obj any
	switch c.kind.Name {
	case "Pod":
		obj = &corev1.Pod{}
	case "PodTemplate":
		obj = &corev1.PodTemplate{}
	case "ReplicationController":
		obj = &corev1.ReplicationController{}
	case "ReplicaSet":
		obj = &appsv1.ReplicaSet{}
	case "Deployment":
		obj = &appsv1.Deployment{}
	case "DaemonSet":
		obj = &appsv1.DaemonSet{}
	case "StatefulSet":
		obj = &appsv1.StatefulSet{}
	case "Job":
		obj = &batchv1.Job{}
	case "CronJob":
		obj = &batchv1.CronJob{}
	}
	// The API server decodes JSON with a JSON decoder (sigs.k8s.io/yaml would refuse raw control
	// characters, which JSON allows in strings).
	unmarshal := yaml.Unmarshal
	if c.ext == "json" {
		unmarshal = func(b []byte, v any, _ ...yaml.JSONOpt) error { return json.Unmarshal(b, v) }
	}
	if err := unmarshal(c.data, obj); err != nil {
		return nil, nil, err
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return &o.ObjectMeta, &o.Spec, nil
	case *corev1.PodTemplate:
		return &o.Template.ObjectMeta, &o.Template.Spec, nil
	case *corev1.ReplicationController:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, nil
	case *appsv1.ReplicaSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, nil
	case *appsv1.Deployment:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, nil
	case *appsv1.DaemonSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, nil
	case *appsv1.StatefulSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, nil
	case *batchv1.Job:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, nil
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.ObjectMeta, &o.Spec.JobTemplate.Spec.Template.Spec, nil
	}
	return nil, nil, errors.New("unreachable")
}

var (
	policyOnce sync.Once
	policyVal  *engine.Policy
	policyErr  error
)

func evaluator(t *testing.T, profile string) *engine.OPA {
	t.Helper()
	policyOnce.Do(func() { policyVal, policyErr = engine.LoadPolicy(policies.Rego()) })
	if policyErr != nil {
		t.Fatal(policyErr)
	}
	ev, err := engine.NewOPA(context.Background(), policyVal, profile, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// hpguard reads the case with hpguard's reader and evaluates it in-process.
func hpguard(ev engine.Evaluator, c testCase) ([]report.Finding, error) {
	docs, err := manifest.ReadBytes("case."+c.ext, c.data, manifest.DefaultOptions())
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("reader: %d documents, want 1", len(docs))
	}
	if docs[0].Err != nil {
		return nil, fmt.Errorf("reader: %w", docs[0].Err)
	}
	return ev.Evaluate(context.Background(), docs[0].Object)
}

// cli runs the hpguard binary once over every n-th case (one file per case, in case order) and
// returns the findings per case (nil for the cases not run).
func cli(t *testing.T, profile string, all []testCase) [][]report.Finding {
	t.Helper()
	if *cliFlag <= 0 {
		return nil
	}
	var cs []testCase
	var index []int
	for i := 0; i < len(all); i += *cliFlag {
		cs, index = append(cs, all[i]), append(index, i)
	}
	bin := hpguardBinary(t)
	dir := t.TempDir()
	for i, c := range cs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("case-%06d.%s", i, c.ext)), c.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "check", "-o", "json", "-q", "--profile", profile, dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("hpguard check: %v\n%s", err, stderr.String())
	}
	var rep report.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("hpguard check -o json: %v", err)
	}
	if len(rep.Results) != len(cs) {
		t.Fatalf("hpguard check: %d results for %d cases", len(rep.Results), len(cs))
	}
	out := make([][]report.Finding, len(all))
	for _, r := range rep.Results {
		i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(r.File), "case-"), filepath.Ext(r.File)))
		if err != nil || r.Status != report.StatusChecked {
			t.Fatalf("hpguard check: result %s: %s %s", r.File, r.Status, r.Error)
		}
		out[index[i]] = r.Findings
		if out[index[i]] == nil {
			out[index[i]] = []report.Finding{}
		}
	}
	return out
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// hpguardBinary returns $HPGUARD_BIN, or builds the binary once from the main module.
func hpguardBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("HPGUARD_BIN"); p != "" {
			binPath, binErr = filepath.Abs(p)
			return
		}
		dir, err := os.MkdirTemp("", "hpguard-oracle")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "hpguard")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/hpguard")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// disagreements collects and prints disagreements, each with its manifest.
type disagreements struct {
	t     *testing.T
	count int
}

func (d *disagreements) add(c testCase, engineName, oracle, got string) {
	d.count++
	if *showFlag < 0 || d.count <= *showFlag {
		d.t.Errorf("DISAGREEMENT %s (%s, %s; engine %s)\n  oracle: %s\n  hpguard: %s\n--- manifest (%s) ---\n%s\n---",
			c.id, c.kind.Name, c.shape, engineName, oracle, got, c.ext, c.data)
	}
}

// psaHostProcess returns PSA's baseline verdict on the hostProcess check: "" when allowed, else the
// forbidden detail (`pod and container "c1" must not set ...`).
func psaHostProcess(ev policy.Evaluator, meta *metav1.ObjectMeta, spec *corev1.PodSpec) string {
	lv := psaapi.LevelVersion{Level: psaapi.LevelBaseline, Version: psaapi.LatestVersion()}
	res := policy.AggregateCheckResults(ev.EvaluatePod(lv, meta, spec))
	for i, reason := range res.ForbiddenReasons {
		if reason == "hostProcess" {
			return res.ForbiddenDetails[i]
		}
	}
	return ""
}

var containerField = regexp.MustCompile(`\.(initContainers|containers|ephemeralContainers)\[(\d+)\]\.`)

// hpguardHostProcess renders hpguard's baseline findings in PSA's detail format: the pod, then the
// containers in API order. Any other finding is reported as unexpected.
func hpguardHostProcess(fs []report.Finding) string {
	pod := false
	type ctr struct {
		list, index int
		name        string
	}
	var ctrs []ctr
	var other []string
	for _, f := range fs {
		if f.Rule != "hostprocess-disallowed" || f.Severity != report.SeverityDeny {
			other = append(other, f.Rule+" "+f.Field)
			continue
		}
		m := containerField.FindStringSubmatch(f.Field)
		if m == nil {
			pod = true
			continue
		}
		idx, _ := strconv.Atoi(m[2])
		ctrs = append(ctrs, ctr{map[string]int{"initContainers": 0, "containers": 1, "ephemeralContainers": 2}[m[1]], idx, f.Container})
	}
	sort.Slice(ctrs, func(i, j int) bool {
		if ctrs[i].list != ctrs[j].list {
			return ctrs[i].list < ctrs[j].list
		}
		return ctrs[i].index < ctrs[j].index
	})
	var setters []string
	if pod {
		setters = append(setters, "pod")
	}
	if len(ctrs) > 0 {
		var names []string
		for _, c := range ctrs {
			names = append(names, c.name)
		}
		word := "containers"
		if len(names) == 1 {
			word = "container"
		}
		setters = append(setters, word+` "`+strings.Join(names, `", "`)+`"`)
	}
	s := ""
	if len(setters) > 0 {
		s = strings.Join(setters, " and ") + " must not set securityContext.windowsOptions.hostProcess=true"
	}
	if len(other) > 0 {
		s += fmt.Sprintf(" [unexpected findings: %v]", other)
	}
	return s
}

// TestPSADifferential compares hpguard's baseline profile with Pod Security Admission's baseline
// hostProcess check on generated pods and workloads.
func TestPSADifferential(t *testing.T) {
	start := time.Now()
	cs := generate(t, *seedFlag, *casesFlag, Options{})
	psa, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := evaluator(t, "baseline")
	d := &disagreements{t: t}
	denied := 0
	oracle := make([]string, len(cs))
	for i, c := range cs {
		meta, spec, err := podSpec(c)
		if err != nil {
			t.Fatalf("%s: typed decode: %v\n%s", c.id, err, c.data)
		}
		oracle[i] = psaHostProcess(psa, meta, spec)
		if oracle[i] != "" {
			denied++
		}
		fs, err := hpguard(ev, c)
		if err != nil {
			d.add(c, "opa", oracle[i], "error: "+err.Error())
			continue
		}
		if got := hpguardHostProcess(fs); got != oracle[i] {
			d.add(c, "opa", oracle[i], got)
		}
	}
	cliChecked := 0
	for i, fs := range cli(t, "baseline", cs) {
		if fs != nil {
			cliChecked++
			if got := hpguardHostProcess(fs); got != oracle[i] {
				d.add(cs[i], "cli", oracle[i], got)
			}
		}
	}
	t.Logf("PSA differential: seed %d, %d cases (%d denied by PSA), %d also through the CLI, %d disagreements, %s",
		*seedFlag, len(cs), denied, cliChecked, d.count, time.Since(start).Round(time.Millisecond))
	if d.count > 0 {
		t.Fatalf("%d disagreements with Pod Security Admission (rerun with -seed %d)", d.count, *seedFlag)
	}
}

// verdicts maps each API rule to what was found: the sorted field paths (R3: "denied", as the API
// server reports one pod-level error and hpguard one finding per non-HostProcess container).
type verdicts map[string]string

func (v verdicts) String() string {
	var parts []string
	for _, r := range APIRules {
		if v[r] != "" {
			parts = append(parts, r+": "+v[r])
		}
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, "; ")
}

func collect(rule string, fields []string) string {
	if rule == RuleAllContainers && len(fields) > 0 {
		return "denied"
	}
	set := map[string]bool{}
	for _, f := range fields {
		set[f] = true
	}
	var out []string
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func apiVerdicts(errs []APIError, prefix string) verdicts {
	by := map[string][]string{}
	for _, e := range errs {
		f := e.Field
		if e.Rule == RuleOS && f == prefix+".os" {
			f = prefix + ".os.name" // NotSupported is reported at spec.os, hpguard points at the name
		}
		by[e.Rule] = append(by[e.Rule], f)
	}
	v := verdicts{}
	for _, r := range APIRules {
		v[r] = collect(r, by[r])
	}
	return v
}

func hpguardVerdicts(fs []report.Finding) verdicts {
	by := map[string][]string{}
	for _, f := range fs {
		by[f.Rule] = append(by[f.Rule], f.Field)
	}
	v := verdicts{}
	for _, r := range APIRules {
		v[r] = collect(r, by[r])
	}
	return v
}

func equal(a, b verdicts) bool {
	for _, r := range APIRules {
		if a[r] != b[r] {
			return false
		}
	}
	return true
}

// TestAPIServerDifferential compares hpguard's hostprocess profile (rules R2, R3, R4, R6, R7) with
// the port of kube-apiserver's validation, on generated workloads that also vary runAsUserName,
// spec.os and hostNetwork.
func TestAPIServerDifferential(t *testing.T) {
	start := time.Now()
	cs := generate(t, *seedFlag, *casesFlag, Options{Users: true, OS: true})
	ev := evaluator(t, "hostprocess")
	d := &disagreements{t: t}
	rejected, byRule := map[string]int{}, map[string]int{}
	oracle := make([]verdicts, len(cs))
	for i, c := range cs {
		_, spec, err := podSpec(c)
		if err != nil {
			t.Fatalf("%s: typed decode: %v\n%s", c.id, err, c.data)
		}
		oracle[i] = apiVerdicts(ValidatePod(spec, c.kind.Prefix()), c.kind.Prefix())
		for _, r := range APIRules {
			if oracle[i][r] != "" {
				rejected[r]++
			}
		}
		fs, err := hpguard(ev, c)
		if err != nil {
			d.add(c, "opa", oracle[i].String(), "error: "+err.Error())
			continue
		}
		if got := hpguardVerdicts(fs); !equal(got, oracle[i]) {
			d.add(c, "opa", oracle[i].String(), got.String())
			for _, r := range APIRules {
				if got[r] != oracle[i][r] {
					byRule[r]++
				}
			}
		}
	}
	cliChecked := 0
	for i, fs := range cli(t, "hostprocess", cs) {
		if fs != nil {
			cliChecked++
			if got := hpguardVerdicts(fs); !equal(got, oracle[i]) {
				d.add(cs[i], "cli", oracle[i].String(), got.String())
			}
		}
	}
	t.Logf("API-server differential: seed %d, %d cases, rejected per rule %v, %d also through the CLI, %d disagreements, %s",
		*seedFlag, len(cs), rejected, cliChecked, d.count, time.Since(start).Round(time.Millisecond))
	if d.count > 0 {
		t.Errorf("disagreements per rule (in-process engine): %v", byRule)
		t.Fatalf("%d disagreements with the kube-apiserver port (rerun with -seed %d)", d.count, *seedFlag)
	}
}

// TestRunAsUserNameDifferential checks R7 value by value: every listed runAsUserName and random ones,
// at pod level of a Pod, through the port and hpguard's hostprocess profile.
func TestRunAsUserNameDifferential(t *testing.T) {
	ev := evaluator(t, "hostprocess")
	r := rand.New(rand.NewPCG(*seedFlag, 1<<40))
	values := append([]string{}, Users...)
	for range 2000 {
		values = append(values, RandomUser(r))
	}
	bad := map[string]string{}
	for _, u := range values {
		u := u
		spec := &corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{RunAsUserName: &u}}}
		want := len(ValidatePod(spec, "spec")) > 0
		obj := Wrap(Kinds[0], "p", nil, map[string]any{"securityContext": map[string]any{"windowsOptions": map[string]any{"runAsUserName": u}}})
		fs, err := ev.Evaluate(context.Background(), obj)
		if err != nil {
			t.Fatal(err)
		}
		got := false
		for _, f := range fs {
			got = got || f.Rule == RuleUserFormat
		}
		if got != want {
			bad[u] = fmt.Sprintf("kube-apiserver rejects: %v, hpguard flags: %v", want, got)
		}
	}
	for u, msg := range bad {
		t.Errorf("runAsUserName %q (%d bytes): %s", u, len(u), msg)
	}
	t.Logf("runAsUserName differential: %d values, %d disagreements", len(values), len(bad))
}
