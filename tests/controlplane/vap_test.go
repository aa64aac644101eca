package controlplane

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

const (
	// vapProfile is the profile installed and compared.
	vapProfile = "hostprocess"
	// goldenNamespace is the namespace of every golden case.
	goldenNamespace = "hpc"
	// syncTimeout bounds how long the API server's policy informers may take to enforce the bindings.
	syncTimeout = 20 * time.Second
)

// vapInstall is how the README says to install the ValidatingAdmissionPolicies of a profile: the
// kubectl lines of the block after its "vap-install" marker, run verbatim from the repository's root,
// with the profile's name put in place of hostprocess.
func vapInstall(t *testing.T, root, profile string) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(b), "<!-- vap-install")
	require.True(t, ok, "README.md has no vap-install block")
	_, after, ok = strings.Cut(after, "```sh\n")
	require.True(t, ok)
	block, _, ok := strings.Cut(after, "```")
	require.True(t, ok)
	var steps [][]string
	for _, line := range strings.Split(block, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		require.Equal(t, "kubectl", f[0], "README install line %q", line)
		for i := range f {
			f[i] = strings.ReplaceAll(f[i], "vap/profiles/hostprocess/", "vap/profiles/"+profile+"/")
		}
		steps = append(steps, f[1:])
	}
	require.Len(t, steps, 4, "README install lines")
	return steps
}

// goldenCase is one entry of tests/golden/cases.json (the format of hpguard's internal/golden.Case,
// decoded here so that this module does not depend on hpguard's packages and their dependencies,
// which would change the versions kube-apiserver is built with).
type goldenCase struct {
	Name    string         `json:"name"`
	Rule    string         `json:"rule"`
	Allowed bool           `json:"allowed"`
	Level   string         `json:"level"`
	Kind    string         `json:"kind"`
	File    string         `json:"file"`
	Params  map[string]any `json:"params,omitempty"`
}

// loadGoldenCases reads the index of the golden cases from the repository at root.
func loadGoldenCases(t *testing.T, root string) []goldenCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "tests", "golden", "cases.json"))
	require.NoError(t, err)
	var cases []goldenCase
	require.NoError(t, json.Unmarshal(b, &cases))
	require.NotEmpty(t, cases)
	return cases
}

// Outcomes of a submission: the API server's answer, or hpguard's verdict for the same manifest.
const (
	admitted = "admitted"
	warned   = "warned"
	rejected = "rejected"
	// invalid is the API server refusing the object before admission policies see it (decoding or
	// validation); hpguard has no such outcome.
	invalid = "invalid"
)

// verdict is the outcome of one object: what the API server answered to its server-side dry-run
// create, or what hpguard check reports.
type verdict struct {
	Outcome string
	// Denied and Warned are the messages of each rule that denies or warns: for hpguard, one per
	// finding; for the API server, one per policy, its findings' messages joined with "; " (the
	// policies' messageExpression). The API server reports only its first denial.
	Denied, Warned map[string][]string
	// Detail is the API server's error for an invalid object.
	Detail string
}

// add records a message of rule in m, creating the map if needed.
func add(m *map[string][]string, rule, msg string) {
	if *m == nil {
		*m = map[string][]string{}
	}
	(*m)[rule] = append((*m)[rule], msg)
}

// sameMessages reports whether joined, a policy's message, is exactly the messages msgs joined with
// "; " in some order (hpguard sorts findings by field; the policy lists them in container order).
// The messages themselves may hold "; ", so they are cut out of joined, longest first, before the
// separators are counted.
func sameMessages(joined string, msgs []string) bool {
	if len(msgs) == 0 {
		return false
	}
	sorted := slices.Clone(msgs)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	rest := joined
	for _, m := range sorted {
		i := strings.Index(rest, m)
		if i < 0 {
			return false
		}
		rest = rest[:i] + "\x00" + rest[i+len(m):]
	}
	return rest == strings.Repeat("\x00; ", len(msgs)-1)+"\x00"
}

var (
	deniedRE  = regexp.MustCompile(`(?s)ValidatingAdmissionPolicy 'hpguard-([^']+)' with binding '[^']+' denied request: (.*)$`)
	warningRE = regexp.MustCompile(`(?s)^Validation failed for ValidatingAdmissionPolicy 'hpguard-([^']+)' with binding '[^']+': (.*)$`)
)

// readAnswer reads the API server's verdict from its answer to a request: admitted (with or
// without hpguard's warnings), rejected by a policy, or refused before the policies (invalid).
// Warnings that are not a policy's (field deprecations) are kept in Detail only.
func readAnswer(ans answer) verdict {
	var v verdict
	var other []string
	for _, w := range ans.Warnings {
		if m := warningRE.FindStringSubmatch(w); m != nil {
			add(&v.Warned, m[1], m[2])
		} else {
			other = append(other, "Warning: "+w)
		}
	}
	switch {
	case ans.Err == "":
		v.Outcome = admitted
		if len(v.Warned) > 0 {
			v.Outcome = warned
		}
	case deniedRE.MatchString(ans.Err):
		m := deniedRE.FindStringSubmatch(ans.Err)
		v.Outcome = rejected
		add(&v.Denied, m[1], m[2])
	default:
		v.Outcome = invalid
		other = append(other, ans.Err)
	}
	v.Detail = strings.Join(other, "\n")
	return v
}

// hpguardReport is the part of `hpguard check -o json` the comparison reads.
type hpguardReport struct {
	Results []struct {
		File     string `json:"file"`
		Kind     string `json:"kind"`
		Name     string `json:"name"`
		Status   string `json:"status"`
		Reason   string `json:"reason"`
		Findings []struct {
			Rule     string `json:"rule"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
		} `json:"findings"`
	} `json:"results"`
}

// hpguardDir holds the hpguard binary the tests build; TestMain removes it.
var hpguardDir string

// TestMain removes the hpguard binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if hpguardDir != "" {
		os.RemoveAll(hpguardDir)
	}
	os.Exit(code)
}

// buildHpguard builds hpguard from the repository (what `go run ./cmd/hpguard` runs), once per test
// binary.
var buildHpguard = sync.OnceValues(func() (string, error) {
	root, err := findRepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "hpguard-bin")
	if err != nil {
		return "", err
	}
	hpguardDir = dir
	bin := filepath.Join(dir, "hpguard")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hpguard")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build hpguard: %v: %s", err, out)
	}
	return bin, nil
})

// objectKey names an object of a file for the comparison: the file, and for a file of several
// objects its kind and name.
func objectKey(file, kind, name string) string { return file + "|" + kind + "|" + name }

// hpguardRun is one run of hpguard check: its arguments and what it printed.
type hpguardRun struct {
	engine, profile string
	params          map[string]any
	files           []string
	stdout, stderr  []byte
	err             error
}

// run runs `hpguard check --engine <engine> --profile <profile> -o json` on the files (relative to the
// repository) in one run, with params ({rule: {parameter: value}}, may be nil) as its --params.
func (r *hpguardRun) run(root, tmp string) {
	bin, err := buildHpguard()
	if err != nil {
		r.err = err
		return
	}
	args := []string{"check", "--engine", r.engine, "--profile", r.profile, "-o", "json", "-q"}
	if r.params != nil {
		b, err := json.Marshal(r.params)
		if err != nil {
			r.err = err
			return
		}
		f, err := os.CreateTemp(tmp, "params-*.json")
		if err != nil {
			r.err = err
			return
		}
		if _, err := f.Write(b); err != nil {
			r.err = err
			return
		}
		if r.err = f.Close(); r.err != nil {
			return
		}
		args = append(args, "--params", f.Name())
	}
	cmd := exec.Command(bin, append(args, r.files...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	r.stdout, r.err = cmd.Output()
	r.stderr = stderr.Bytes()
}

// hpguardVerdicts runs hpguard check (see hpguardRun.run) and returns the verdict of each object
// checked, by objectKey.
func hpguardVerdicts(t *testing.T, root, engine, profile string, params map[string]any, files []string) map[string]verdict {
	t.Helper()
	r := &hpguardRun{engine: engine, profile: profile, params: params, files: files}
	r.run(root, t.TempDir())
	return r.verdicts(t)
}

// verdicts reads the verdicts of a run, by objectKey.
func (r *hpguardRun) verdicts(t *testing.T) map[string]verdict {
	t.Helper()
	stdout, err := r.stdout, r.err
	// Exit status 1 is "failing findings"; 2 is an input or usage error.
	if err != nil {
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "run hpguard")
		require.Equal(t, 1, exit.ExitCode(), "hpguard check: %s", r.stderr)
	}
	var rep hpguardReport
	require.NoError(t, json.Unmarshal(stdout, &rep), "hpguard output")

	verdicts := map[string]verdict{}
	for _, r := range rep.Results {
		if r.Status == "skipped" {
			continue
		}
		require.Equal(t, "checked", r.Status, "hpguard did not check %s (%s %s): %s", r.File, r.Kind, r.Name, r.Reason)
		key := objectKey(r.File, r.Kind, r.Name)
		_, seen := verdicts[key]
		require.False(t, seen, "%s holds two objects of the same kind and name", r.File)
		var v verdict
		for _, f := range r.Findings {
			switch f.Severity {
			case "deny":
				add(&v.Denied, f.Rule, f.Message)
			case "warn":
				add(&v.Warned, f.Rule, f.Message)
			default:
				require.Fail(t, "unknown severity", "%s: %q", r.File, f.Severity)
			}
		}
		switch {
		case len(v.Denied) > 0:
			v.Outcome = rejected
		case len(v.Warned) > 0:
			v.Outcome = warned
		default:
			v.Outcome = admitted
		}
		verdicts[key] = v
	}
	return verdicts
}

// vapSample picks the golden cases of the short run (HPGUARD_VAP_CASES=sample): for each rule the
// profile binds, its first allowed and first disallowed case without parameters of its own, the
// workload kind rotating over the cases picked, so that every kind is submitted.
func vapSample(t *testing.T, root, profile string, cases []goldenCase) []goldenCase {
	t.Helper()
	kinds := []string{"Pod", "Deployment", "CronJob", "DaemonSet", "StatefulSet", "Job", "ReplicaSet",
		"ReplicationController", "PodTemplate"}
	var picked []goldenCase
	for _, rule := range boundRules(t, root, profile) {
		for _, allowed := range []bool{true, false} {
			var candidates []goldenCase
			for _, gc := range cases {
				if gc.Rule == rule && gc.Allowed == allowed && gc.Params == nil {
					candidates = append(candidates, gc)
				}
			}
			if len(candidates) == 0 {
				continue
			}
			want := kinds[len(picked)%len(kinds)]
			pick := candidates[0]
			for _, gc := range candidates {
				if gc.Kind == want {
					pick = gc
					break
				}
			}
			picked = append(picked, pick)
		}
	}
	return picked
}

// boundRules are the rules a profile of vap/ binds (one file per rule).
func boundRules(t *testing.T, root, profile string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "vap", "profiles", profile, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var rules []string
	for _, f := range files {
		rules = append(rules, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	return rules
}

// submission is one object submitted to the API server and the verdicts it is compared with.
type submission struct {
	// name says what the object is: a golden case's name, or a bypass file and the object's name.
	name string
	// file is the manifest (relative to the repository); key the object's objectKey in hpguard's
	// results.
	file, key string
	kind      string
	obj       map[string]any
	// params are the golden case's own parameters of its rule (nil: the profile's).
	rule   string
	params map[string]any
	// golden is a golden case (not an object of the bypass corpus).
	golden bool
	// ephemeral objects are Pods whose ephemeral containers are added through the
	// pods/ephemeralcontainers subresource to a Pod created, without them, before the policies were
	// installed (base); baseRefused is the API server's refusal of that Pod, if it refused it.
	ephemeral   bool
	base        map[string]any
	baseRefused string
}

// group is the submissions that share a rule's parameters.
type group struct {
	rule   string
	params map[string]any
	subs   []*submission
}

// TestVAPEnforcedByAPIServer installs the ValidatingAdmissionPolicies of each profile on a fresh
// real kube-apiserver with the README's lines, then submits every golden case and every object of
// the bypass corpus with server-side dry-run (ephemeral containers through their subresource; cases
// with parameters of their own after the profile's parameter object is updated to them) and
// compares the API server's verdict and messages with hpguard check --engine cel and --engine opa.
// HPGUARD_VAP_CASES=sample submits two golden cases per bound rule of the hostprocess profile only.
func TestVAPEnforcedByAPIServer(t *testing.T) {
	root := repoRoot(t)
	cases := loadGoldenCases(t, root)
	profiles := []string{"baseline", "hostprocess", "strict"}
	if os.Getenv("HPGUARD_VAP_CASES") == "sample" {
		profiles = []string{vapProfile}
	}
	for _, profile := range profiles {
		t.Run(profile, func(t *testing.T) {
			sample := cases
			if os.Getenv("HPGUARD_VAP_CASES") == "sample" {
				sample = vapSample(t, root, profile, cases)
			}
			testVAPProfile(t, root, profile, sample)
		})
	}
}

// compareEngines are the engines of hpguard check whose verdicts must equal the API server's.
var compareEngines = []string{"cel", "opa"}

func testVAPProfile(t *testing.T, root, profile string, cases []goldenCase) {
	c := startControlPlane(t)
	api := c.client(t)
	began := time.Now()
	// What is submitted: every golden case, and every object of the bypass corpus as kubectl reads it.
	var subs []*submission
	for _, gc := range cases {
		obj := decodeFile(t, root, gc.File)
		subs = append(subs, &submission{name: gc.Name, file: gc.File, key: objectKey(gc.File, gc.Kind, objName(obj)),
			kind: gc.Kind, obj: obj, rule: gc.Rule, params: gc.Params, golden: true})
	}
	bypass := 0
	if os.Getenv("HPGUARD_VAP_CASES") != "sample" {
		files, err := filepath.Glob(filepath.Join(root, "tests", "bypass", "*"))
		require.NoError(t, err)
		for _, f := range files {
			if !strings.HasSuffix(f, ".yaml") && !strings.HasSuffix(f, ".json") {
				continue
			}
			rel, err := filepath.Rel(root, f)
			require.NoError(t, err)
			for _, obj := range kubectlDecode(t, c, rel) {
				kind, _ := obj["kind"].(string)
				name, _ := obj["metadata"].(map[string]any)["name"].(string)
				subs = append(subs, &submission{name: rel + " " + kind + "/" + name, file: rel,
					key: objectKey(rel, kind, name), kind: kind, obj: obj})
				bypass++
			}
		}
	}

	// The namespaces of the objects, and the service accounts their pods name: the ServiceAccount
	// admission plugin refuses a pod whose account does not exist (a cluster's controller manager
	// creates "default"; this control plane has none).
	createNamespaces(t, c, subs)

	// The Pods ephemeral containers are added to, created before the policies exist.
	for i, s := range subs {
		if s.kind != "Pod" {
			continue
		}
		spec, _ := s.obj["spec"].(map[string]any)
		if _, ok := spec["ephemeralContainers"]; !ok {
			continue
		}
		s.ephemeral = true
		base := deepCopy(s.obj)
		meta := base["metadata"].(map[string]any)
		meta["name"] = fmt.Sprintf("ephemeral-%d", i)
		delete(base["spec"].(map[string]any), "ephemeralContainers")
		ans := api.create(base, false)
		if ans.Err != "" {
			s.baseRefused = ans.Err
			continue
		}
		var created map[string]any
		require.NoError(t, json.Unmarshal(ans.Body, &created))
		s.base = created
	}

	t.Logf("%d objects to submit, namespaces and ephemeral containers' Pods created (%s)", len(subs), time.Since(began).Round(time.Millisecond))
	began = time.Now()
	// hpguard's verdicts, per group of parameters and engine. A case's parameters of a rule the profile
	// does not bind change no verdict: such cases are evaluated with the profile's own.
	bound := map[string]bool{}
	for _, r := range boundRules(t, root, profile) {
		bound[r] = true
	}
	groups := groupSubmissions(subs, bound)
	var runs []*hpguardRun
	for _, e := range compareEngines {
		for _, g := range groups {
			var params map[string]any
			if g.params != nil {
				params = map[string]any{g.rule: g.params}
			}
			runs = append(runs, &hpguardRun{engine: e, profile: profile, params: params, files: groupFiles(g)})
		}
	}
	tmp := t.TempDir()
	// hpguard runs use a core each.
	parallelN(runtime.NumCPU(), len(runs), func(i int) { runs[i].run(root, tmp) })
	want := map[string]map[*submission]verdict{}
	for i, r := range runs {
		e, g := r.engine, groups[i%len(groups)]
		if want[e] == nil {
			want[e] = map[*submission]verdict{}
		}
		got := r.verdicts(t)
		for _, s := range g.subs {
			v, ok := got[s.key]
			if ok {
				want[e][s] = v
			} else {
				// Only objects that are not workloads (a ConfigMap of the corpus) may be skipped.
				require.False(t, s.golden || slices.Contains(workloadKinds, s.kind),
					"hpguard --engine %s reports no verdict for %s (%s)", e, s.name, s.kind)
			}
		}
	}
	t.Logf("hpguard's verdicts for %d groups of parameters (%s)", len(groups), time.Since(began).Round(time.Millisecond))
	var workloads []*submission
	for _, s := range subs {
		if _, ok := want["cel"][s]; ok {
			workloads = append(workloads, s)
		}
	}

	// A probe: a Pod the API server admits before the install and hpguard rejects; once the API
	// server rejects it, the bindings are enforced.
	probe := findProbe(t, api, subs, want["cel"])

	for _, step := range vapInstall(t, root, profile) {
		start := time.Now()
		out := c.mustKubectl(step...)
		t.Logf("kubectl %s (%s):\n%s", strings.Join(step, " "), time.Since(start).Round(time.Millisecond), out)
	}
	start := time.Now()
	var last verdict
	require.Eventually(t, func() bool {
		last = readAnswer(api.create(probe.obj, true))
		return last.Outcome == rejected
	}, syncTimeout, 250*time.Millisecond, "the API server does not enforce the bindings: %s (last answer: %+v)", probe.name, &last)
	t.Logf("bindings enforced %s after the install", time.Since(start).Round(time.Millisecond))

	began = time.Now()
	counts := map[string]int{}
	compared, paramGroups, ephemeral, notRepeated := 0, 0, 0, 0
	for _, g := range groups {
		got := make([]verdict, len(g.subs))
		submitAll := func() {
			parallel(len(g.subs), func(i int) { got[i] = submit(api, g.subs[i]) })
		}
		if g.params == nil {
			submitAll()
		} else {
			// The API server evaluates with the new parameters once its informer has seen them: submit
			// the group until its verdicts are hpguard's, or the time is up (the differences are then
			// reported below).
			setParams(t, c, root, profile, g)
			paramGroups++
			deadline := time.Now().Add(syncTimeout)
			for {
				submitAll()
				agree := true
				for i, s := range g.subs {
					if exp, ok := want["cel"][s]; ok && len(verdictDiff(got[i], exp)) > 0 {
						agree = false
						break
					}
				}
				if agree || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		for i, s := range g.subs {
			if _, ok := want["cel"][s]; !ok {
				// Not a workload for hpguard (a ConfigMap of the corpus): nothing to compare.
				continue
			}
			compared++
			counts[got[i].Outcome]++
			if s.ephemeral {
				ephemeral++
			}
			for _, e := range compareEngines {
				exp := want[e][s]
				if got[i].Outcome == invalid && exp.Outcome != rejected && !bound["host-network-required"] {
					// The profile (baseline) binds no rule that repeats the API server's own validation:
					// what it refuses before admission, hpguard need not deny under this profile (it
					// does under hostprocess and strict, compared on the same objects).
					if e == compareEngines[0] {
						notRepeated++
					}
					continue
				}
				compareVerdict(t, s, e, got[i], exp)
			}
		}
	}
	if paramGroups > 0 {
		// Leave the profile's own parameters in place.
		c.mustKubectl("apply", "-f", filepath.Join("vap", "profiles", profile)+"/")
	}
	t.Logf("submitted and compared in %s", time.Since(began).Round(time.Millisecond))
	t.Logf("profile %s: %d objects compared with hpguard --engine %s (%d golden cases, %d objects of the bypass corpus; "+
		"%d through pods/ephemeralcontainers; %d parameter sets applied): %s; refused by the API server's own validation "+
		"and admitted by a profile that does not repeat it: %d",
		profile, compared, strings.Join(compareEngines, " and "), len(cases), bypass, ephemeral, paramGroups, fmtCounts(counts), notRepeated)
	require.Equal(t, len(workloads), compared)
}

// objName is an object's metadata.name.
func objName(obj map[string]any) string {
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	return name
}

// deepCopy copies a JSON object.
func deepCopy(obj map[string]any) map[string]any {
	b, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// groupSubmissions groups submissions by their rule's parameters: first those with the profile's
// own, then one group per rule and parameter set, in a fixed order.
func groupSubmissions(subs []*submission, bound map[string]bool) []*group {
	byKey := map[string]*group{}
	var keys []string
	for _, s := range subs {
		key := ""
		if s.params != nil && bound[s.rule] {
			b, _ := json.Marshal(s.params)
			key = s.rule + " " + string(b)
		}
		g, ok := byKey[key]
		if !ok {
			g = &group{}
			if key != "" {
				g.rule, g.params = s.rule, s.params
			}
			byKey[key] = g
			keys = append(keys, key)
		}
		g.subs = append(g.subs, s)
	}
	slices.Sort(keys)
	var out []*group
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

// groupFiles are the distinct files of a group's submissions.
func groupFiles(g *group) []string {
	var files []string
	for _, s := range g.subs {
		if !slices.Contains(files, s.file) {
			files = append(files, s.file)
		}
	}
	return files
}

// submit submits one object with server-side dry-run and reads the verdict: a create, or for an
// ephemeral one, an update of its base Pod through pods/ephemeralcontainers.
func submit(api *apiClient, s *submission) verdict {
	if !s.ephemeral {
		return readAnswer(api.create(s.obj, true))
	}
	if s.baseRefused != "" {
		return verdict{Outcome: invalid, Detail: "the Pod without its ephemeral containers is refused: " + s.baseRefused}
	}
	obj := deepCopy(s.obj)
	meta := obj["metadata"].(map[string]any)
	baseMeta := s.base["metadata"].(map[string]any)
	meta["name"], meta["resourceVersion"], meta["uid"] = baseMeta["name"], baseMeta["resourceVersion"], baseMeta["uid"]
	body, err := json.Marshal(obj)
	if err != nil {
		return verdict{Outcome: invalid, Detail: err.Error()}
	}
	ns, _ := baseMeta["namespace"].(string)
	path := fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/ephemeralcontainers", ns, baseMeta["name"])
	return readAnswer(api.do("PUT", path, body, true))
}

// compareVerdict asserts that the API server's verdict on a submission is hpguard's (engine).
func compareVerdict(t *testing.T, s *submission, engine string, got, exp verdict) {
	t.Helper()
	for _, p := range verdictDiff(got, exp) {
		assert.Fail(t, "the API server and hpguard disagree", "%s (%s, hpguard --engine %s): %s", s.name, s.kind, engine, p)
	}
}

// verdictDiff lists how the API server's verdict (got) differs from hpguard's (exp).
func verdictDiff(got, exp verdict) []string {
	if got.Outcome == invalid {
		// The API server's own decoding or validation refuses the object before admission: it cannot
		// be admitted, so hpguard must deny it.
		if exp.Outcome != rejected {
			return []string{fmt.Sprintf("hpguard %s what the API server refuses: %s", exp.Outcome, got.Detail)}
		}
		return nil
	}
	if got.Outcome != exp.Outcome {
		return []string{fmt.Sprintf("verdict\nAPI server: %+v\nhpguard:    %+v", got, exp)}
	}
	var diff []string
	for rule, msgs := range got.Denied {
		if !sameMessages(msgs[0], exp.Denied[rule]) {
			diff = append(diff, fmt.Sprintf("denial of %s\nAPI server: %s\nhpguard:    %q", rule, msgs[0], exp.Denied[rule]))
		}
	}
	gotRules, expRules := slices.Sorted(maps.Keys(got.Warned)), slices.Sorted(maps.Keys(exp.Warned))
	if !slices.Equal(gotRules, expRules) {
		diff = append(diff, fmt.Sprintf("rules that warn\nAPI server: %v\nhpguard:    %v", gotRules, expRules))
	}
	for rule, msgs := range got.Warned {
		if len(msgs) != 1 {
			diff = append(diff, fmt.Sprintf("%d warnings of %s's binding, want one: %q", len(msgs), rule, msgs))
		} else if exp.Warned[rule] != nil && !sameMessages(msgs[0], exp.Warned[rule]) {
			diff = append(diff, fmt.Sprintf("warning of %s\nAPI server: %s\nhpguard:    %q", rule, msgs[0], exp.Warned[rule]))
		}
	}
	return diff
}

// workloadKinds are the kinds hpguard checks.
var workloadKinds = []string{"Pod", "PodTemplate", "ReplicationController", "ReplicaSet", "Deployment", "DaemonSet",
	"StatefulSet", "Job", "CronJob"}

// createNamespaces creates the namespaces the objects name and, in each, the service accounts their
// pods run as ("default" included).
func createNamespaces(t *testing.T, c *cluster, subs []*submission) {
	t.Helper()
	accounts := map[string]map[string]bool{}
	for _, s := range subs {
		meta, _ := s.obj["metadata"].(map[string]any)
		ns, _ := meta["namespace"].(string)
		if ns == "" {
			ns = "default"
		}
		if accounts[ns] == nil {
			accounts[ns] = map[string]bool{"default": true}
		}
		spec, _ := s.obj["spec"].(map[string]any)
		for _, f := range []string{"serviceAccountName", "serviceAccount"} {
			if sa, ok := spec[f].(string); ok && s.kind == "Pod" && sa != "" {
				accounts[ns][sa] = true
			}
		}
	}
	// The RuntimeClasses pods name: the RuntimeClass admission plugin refuses a pod naming one that
	// does not exist.
	classes := map[string]bool{}
	for _, s := range subs {
		spec, _ := s.obj["spec"].(map[string]any)
		if rc, ok := spec["runtimeClassName"].(string); ok && s.kind == "Pod" && rc != "" {
			classes[rc] = true
		}
	}
	for _, rc := range slices.Sorted(maps.Keys(classes)) {
		manifest := fmt.Sprintf("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: %q\nhandler: runhcs-wcow-process\n", rc)
		if _, errOut, err := c.kubectlIn([]byte(manifest), "create", "-f", "-"); err != nil && !strings.Contains(errOut, "is invalid") {
			require.NoError(t, err, "create RuntimeClass %s: %s", rc, errOut)
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(accounts)) {
		if _, errOut, err := c.kubectl("create", "namespace", ns); err != nil {
			require.Contains(t, errOut, "AlreadyExists", "kubectl create namespace %s", ns)
		}
		for _, sa := range slices.Sorted(maps.Keys(accounts[ns])) {
			// An account name the API server refuses (CSI-Proxy, upper case) cannot exist: pods naming
			// it are refused, which the comparison then reads as the API server's own validation.
			if _, errOut, err := c.kubectl("create", "serviceaccount", sa, "-n", ns); err != nil &&
				!strings.Contains(errOut, "AlreadyExists") && !strings.Contains(errOut, "is invalid") {
				require.NoError(t, err, "kubectl create serviceaccount %s -n %s: %s", sa, ns, errOut)
			}
		}
	}
}

// findProbe picks a created Pod that hpguard rejects and the API server, before any policy is
// installed, admits (its own validation accepts it).
func findProbe(t *testing.T, api *apiClient, subs []*submission, want map[*submission]verdict) *submission {
	t.Helper()
	for _, s := range subs {
		if s.kind != "Pod" || s.ephemeral || s.params != nil {
			continue
		}
		if v, ok := want[s]; !ok || v.Outcome != rejected {
			continue
		}
		if readAnswer(api.create(s.obj, true)).Outcome == admitted {
			return s
		}
	}
	require.FailNow(t, "no Pod that hpguard rejects and the API server admits without policies")
	return nil
}

// setParams replaces the spec of the profile's parameter object for the group's rule with the
// profile's own spec overlaid with the group's parameters (kubectl apply, as an operator changes
// them).
func setParams(t *testing.T, c *cluster, root, profile string, g *group) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "vap", "profiles", profile, g.rule+".yaml"))
	require.NoError(t, err)
	var params map[string]any
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var obj map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(doc), &obj))
		if obj["kind"] == "HPGuardParameters" {
			params = obj
		}
	}
	require.NotNil(t, params, "no HPGuardParameters for %s in profile %s", g.rule, profile)
	spec, _ := params["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
	}
	for k, v := range g.params {
		spec[k] = v
	}
	params["spec"] = spec
	out, err := yaml.Marshal(params)
	require.NoError(t, err)
	_, errOut, err := c.kubectlIn(out, "apply", "-f", "-")
	require.NoError(t, err, "kubectl apply of the parameters %v: %s", g.params, errOut)
}

// fmtCounts formats outcome counts in a fixed order.
func fmtCounts(counts map[string]int) string {
	var parts []string
	for _, o := range []string{admitted, warned, rejected, invalid} {
		parts = append(parts, fmt.Sprintf("%s %d", o, counts[o]))
	}
	return strings.Join(parts, ", ")
}

// TestSameMessages: a policy's joined message matches its findings' messages in any order, even when
// the messages hold the separator, and nothing more or less.
func TestSameMessages(t *testing.T) {
	a, b := "no cpu limit; set limits.cpu", "no memory limit; set limits.memory"
	assert.True(t, sameMessages(a, []string{a}))
	assert.True(t, sameMessages(a+"; "+b, []string{a, b}))
	assert.True(t, sameMessages(a+"; "+b, []string{b, a}))
	assert.False(t, sameMessages(a+"; "+b, []string{a}))
	assert.False(t, sameMessages(a, []string{a, b}))
	assert.False(t, sameMessages(a+b, []string{a, b}))
	assert.False(t, sameMessages(a, nil))
}
