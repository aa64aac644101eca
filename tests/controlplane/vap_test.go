package controlplane

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	// vapProfile is the profile installed and compared.
	vapProfile = "hostprocess"
	// goldenNamespace is the namespace of every golden case.
	goldenNamespace = "hpc"
	// syncTimeout bounds how long the API server's policy informers may take to enforce the bindings.
	syncTimeout = 2 * time.Minute
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
	deniedRE  = regexp.MustCompile(`ValidatingAdmissionPolicy 'hpguard-([^']+)' with binding '[^']+' denied request: (.*)`)
	warningRE = regexp.MustCompile(`^Warning: Validation failed for ValidatingAdmissionPolicy 'hpguard-([^']+)' with binding '[^']+': (.*)$`)
)

// serverVerdict submits the manifest file (relative to the repository) with kubectl create
// --dry-run=server and reads the API server's verdict from kubectl's output.
func serverVerdict(t *testing.T, c *cluster, file string) verdict {
	t.Helper()
	out, errOut, err := c.kubectl("create", "--dry-run=server", "-f", file)
	if err != nil && !errExit(err) {
		require.NoError(t, err, "run kubectl")
	}
	var v verdict
	var other []string
	for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if m := warningRE.FindStringSubmatch(line); m != nil {
			add(&v.Warned, m[1], m[2])
		} else if line != "" {
			other = append(other, line)
		}
	}
	switch {
	case err == nil:
		require.Contains(t, out, "created (server dry run)", "kubectl output")
		v.Outcome = admitted
		if len(v.Warned) > 0 {
			v.Outcome = warned
		}
	case len(other) == 1 && deniedRE.MatchString(other[0]):
		m := deniedRE.FindStringSubmatch(other[0])
		v.Outcome = rejected
		add(&v.Denied, m[1], m[2])
	default:
		v.Outcome = invalid
		v.Detail = strings.Join(other, "\n")
	}
	return v
}

// hpguardReport is the part of `hpguard check -o json` the comparison reads.
type hpguardReport struct {
	Results []struct {
		File     string `json:"file"`
		Status   string `json:"status"`
		Findings []struct {
			Rule     string `json:"rule"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
		} `json:"findings"`
	} `json:"results"`
}

// hpguardVerdicts runs `hpguard check --engine cel --profile <profile> -o json` on the files
// (relative to the repository) in one run and returns each file's verdict. hpguard is built from the
// repository (what `go run ./cmd/hpguard` runs) once per test.
func hpguardVerdicts(t *testing.T, root, profile string, files []string) map[string]verdict {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hpguard")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hpguard")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build hpguard: %s", out)

	cmd := exec.Command(bin, append([]string{"check", "--engine", "cel", "--profile", profile, "-o", "json", "-q"},
		files...)...)
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	// Exit status 1 is "failing findings"; 2 is an input or usage error.
	if err != nil {
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "run hpguard")
		require.Equal(t, 1, exit.ExitCode(), "hpguard check: %s", stderr.String())
	}
	var rep hpguardReport
	require.NoError(t, json.Unmarshal(stdout, &rep), "hpguard output")

	verdicts := map[string]verdict{}
	for _, r := range rep.Results {
		require.Equal(t, "checked", r.Status, "hpguard did not check %s", r.File)
		_, seen := verdicts[r.File]
		require.False(t, seen, "%s holds more than one document", r.File)
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
		verdicts[r.File] = v
	}
	for _, f := range files {
		require.Contains(t, verdicts, f, "hpguard reported nothing for the file")
	}
	return verdicts
}

// vapSample picks the golden cases the comparison submits: for each rule the profile binds, its first
// allowed and first disallowed case that needs no parameters other than the profile's own, and whose
// object a create request can carry (ephemeral containers are added through their subresource, not
// on create). The workload kind rotates over the cases picked, so that every kind is submitted.
func vapSample(t *testing.T, root, profile string, cases []goldenCase) []goldenCase {
	t.Helper()
	bindings, err := filepath.Glob(filepath.Join(root, "vap", "profiles", profile, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, bindings)
	kinds := []string{"Pod", "Deployment", "CronJob", "DaemonSet", "StatefulSet", "Job", "ReplicaSet",
		"ReplicationController", "PodTemplate"}
	var picked []goldenCase
	for _, b := range bindings {
		rule := strings.TrimSuffix(filepath.Base(b), ".yaml")
		for _, allowed := range []bool{true, false} {
			var candidates []goldenCase
			for _, gc := range cases {
				if gc.Rule == rule && gc.Allowed == allowed && gc.Params == nil && gc.Level != "ephemeralContainers" {
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

// TestVAPEnforcedByAPIServer installs the ValidatingAdmissionPolicies of the hostprocess profile on a
// real kube-apiserver and compares its verdicts on a sample of golden cases, submitted with
// server-side dry-run, with hpguard check --engine cel.
func TestVAPEnforcedByAPIServer(t *testing.T) {
	c := startControlPlane(t)
	root := c.root

	for _, step := range vapInstall(t, root, vapProfile) {
		start := time.Now()
		out := c.mustKubectl(step...)
		t.Logf("kubectl %s (%s):\n%s", strings.Join(step, " "), time.Since(start).Round(time.Millisecond), out)
	}
	// The golden cases' namespace, and the service accounts their pods name: the ServiceAccount
	// admission plugin refuses a pod whose account does not exist (a cluster's controller manager
	// creates "default"; this control plane has none).
	c.mustKubectl("create", "namespace", goldenNamespace)
	for _, sa := range []string{"default", "csi-proxy", "node-admin"} {
		c.mustKubectl("create", "serviceaccount", sa, "-n", goldenNamespace)
	}

	cases := loadGoldenCases(t, root)
	sample := vapSample(t, root, vapProfile, cases)
	probeFrom := sample
	if os.Getenv("HPGUARD_VAP_CASES") == "all" {
		sample = nil
		for _, gc := range cases {
			if gc.Params == nil && gc.Level != "ephemeralContainers" {
				sample = append(sample, gc)
			}
		}
	}
	files := make([]string, len(sample))
	for i, gc := range sample {
		files[i] = gc.File
	}
	want := hpguardVerdicts(t, root, vapProfile, files)

	// The bindings take effect once the API server's informers have seen the policies, bindings and
	// parameter objects: wait until a case hpguard rejects is rejected the same way.
	// The probe is a Pod of the default sample that a policy denies (not one the API server's own
	// validation refuses, which would never read as a policy's denial).
	probe := ""
	for _, gc := range slices.Backward(probeFrom) {
		if want[gc.File].Outcome == rejected && gc.Kind == "Pod" && (probe == "" || gc.Rule != "field-types") {
			probe = gc.File
		}
	}
	require.NotEmpty(t, probe, "no rejected Pod in the sample to wait on")
	start := time.Now()
	require.Eventually(t, func() bool {
		return serverVerdict(t, c, probe).Outcome == rejected
	}, syncTimeout, 250*time.Millisecond, "the API server does not enforce the bindings: %s", probe)
	t.Logf("bindings enforced %s after the install", time.Since(start).Round(time.Millisecond))

	counts := map[string]int{}
	for _, gc := range sample {
		t.Run(gc.Name, func(t *testing.T) {
			got := serverVerdict(t, c, gc.File)
			exp := want[gc.File]
			counts[got.Outcome]++
			if got.Outcome == invalid {
				// The API server's own decoding or validation refuses the object before admission: it
				// cannot be admitted, so hpguard must deny it.
				t.Logf("API server refuses %s (%s): %s", gc.File, gc.Kind, got.Detail)
				assert.Equal(t, rejected, exp.Outcome, "hpguard admits what the API server refuses: %s", got.Detail)
				return
			}
			assert.Equal(t, exp.Outcome, got.Outcome, "verdict of %s (%s)\nAPI server: %+v\nhpguard:    %+v",
				gc.File, gc.Kind, got, exp)
			for rule, msgs := range got.Denied {
				assert.Contains(t, exp.Denied, rule, "the API server's denial is not one of hpguard's")
				assert.True(t, sameMessages(msgs[0], exp.Denied[rule]),
					"denial of %s\nAPI server: %s\nhpguard:    %q", rule, msgs[0], exp.Denied[rule])
			}
			assert.ElementsMatch(t, slices.Collect(maps.Keys(exp.Warned)), slices.Collect(maps.Keys(got.Warned)),
				"rules that warn")
			for rule, msgs := range got.Warned {
				require.Len(t, msgs, 1, "one warning per binding")
				assert.True(t, sameMessages(msgs[0], exp.Warned[rule]),
					"warning of %s\nAPI server: %s\nhpguard:    %q", rule, msgs[0], exp.Warned[rule])
			}
		})
	}
	t.Logf("%d golden cases compared: %s", len(sample), fmtCounts(counts))
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
