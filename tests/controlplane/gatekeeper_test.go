package controlplane

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// gatekeeperProfile is the profile installed and compared.
const gatekeeperProfile = "hostprocess"

// gatekeeperEngines are Gatekeeper's two ways of evaluating the per-rule templates, and the combined
// template: each per-rule template carries the rule in CEL (a K8sNativeValidation block, which
// Gatekeeper prefers, its default) and in Rego (what it runs with its CEL engine off); the combined
// template (gatekeeper/combined/) carries Rego only, one Constraint per profile and severity.
// HPGUARD_GATEKEEPER_ENGINE=cel, rego or combined runs one of them.
var gatekeeperEngines = []gkForm{
	{name: "cel", engine: "gatekeeper", install: "gatekeeper-install"},
	{name: "rego", engine: "gatekeeper", install: "gatekeeper-install", flags: []string{"--enable-k8s-native-validation=false"}},
	{name: "combined", engine: "gatekeeper-combined", install: "gatekeeper-combined-install"},
}

// gkForm is one way of running hpguard in Gatekeeper: the manager's flags, the README block that
// installs it, and the hpguard engine that evaluates the same artifacts.
type gkForm struct {
	name    string
	flags   []string
	install string
	engine  string
}

// combined reports whether the form is the combined template, whose Constraints are named
// <profile>-deny and <profile>-warn rather than by rule.
func (f gkForm) combined() bool { return f.engine == "gatekeeper-combined" }

// byConstraint keys hpguard's verdicts as Gatekeeper reports them for the form: by rule for the
// per-rule templates, by the profile's deny or warn Constraint for the combined template.
func (f gkForm) byConstraint(vs map[string]gkVerdict) map[string]gkVerdict {
	if !f.combined() {
		return vs
	}
	out := make(map[string]gkVerdict, len(vs))
	for k, v := range vs {
		w := gkVerdict{Outcome: v.Outcome, Detail: v.Detail}
		for _, rule := range slices.Sorted(maps.Keys(v.Denied)) {
			for _, m := range v.Denied[rule] {
				add(&w.Denied, gatekeeperProfile+"-deny", m)
			}
		}
		for _, rule := range slices.Sorted(maps.Keys(v.Warned)) {
			for _, m := range v.Warned[rule] {
				add(&w.Warned, gatekeeperProfile+"-warn", m)
			}
		}
		out[k] = w
	}
	return out
}

// TestGatekeeper runs Gatekeeper's manager, at the version in hpguard's go.mod, against a real
// kube-apiserver, with its webhook on loopback TLS; installs the hostprocess profile with the
// README's lines; and compares, with `hpguard check --engine gatekeeper` on the same manifests, the
// API server's verdicts and messages on every golden case: created (server-side dry-run), updated
// (an object created before the Constraints existed, updated with a label), and for the cases of
// ephemeral containers, the containers added to an existing pod through pods/ephemeralcontainers.
// Then Gatekeeper's audit must report in the Constraints' status exactly the violations that
// `hpguard audit --engine gatekeeper` finds in the objects that existed before the Constraints.
// Once per form: Gatekeeper's CEL and Rego engines on the per-rule templates, and the combined
// template.
func TestGatekeeper(t *testing.T) {
	root := repoRoot(t)
	gatekeeperManager(t) // build before the control planes start
	cases := loadGoldenCases(t, root)
	bin := gkBuildHpguard(t, root)
	files := make([]string, len(cases))
	for i, gc := range cases {
		files[i] = gc.File
	}
	only := os.Getenv("HPGUARD_GATEKEEPER_ENGINE")
	wants := map[string]map[string]gkVerdict{} // by hpguard engine: the cel and rego forms share one
	for _, form := range gatekeeperEngines {
		if only != "" && only != form.name {
			continue
		}
		want, ok := wants[form.engine]
		if !ok {
			want = hpguardFindings(t, bin, root, append([]string{"check", "--engine", form.engine, "--profile", gatekeeperProfile}, files...)...)
			for _, f := range files {
				require.Contains(t, want, f, "hpguard reported nothing for the file")
			}
			wants[form.engine] = want
		}
		t.Run(form.name, func(t *testing.T) {
			testGatekeeper(t, form, bin, cases, form.byConstraint(want))
		})
	}
}

// testGatekeeper is TestGatekeeper for one engine: a control plane and a manager of its own.
func testGatekeeper(t *testing.T, form gkForm, bin string, cases []goldenCase, want map[string]gkVerdict) {
	start := time.Now()
	c := startControlPlane(t)
	g := startGatekeeper(t, c, form.flags...)
	t.Logf("Gatekeeper %s ready in %s, %s after the control plane", g.build.version, g.ready.Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond))
	api := newGKClient(t, c)
	ctx := context.Background()

	// The golden cases' namespace and the service accounts their pods name (no controller manager
	// creates "default"), and workloads in two more namespaces.
	c.mustKubectl("create", "namespace", goldenNamespace)
	for _, sa := range []string{"default", "csi-proxy", "node-admin"} {
		c.mustKubectl("create", "serviceaccount", sa, "-n", goldenNamespace)
	}
	_, errOut, err := c.kubectlIn([]byte(auditObjects), "create", "-f", "-")
	require.NoError(t, err, errOut)

	// Before the Constraints exist: every case's object, created for real (for the UPDATEs, and for
	// the audit), and for each ephemeral-container case its pod without them.
	var updates, ephemerals []gkObject
	var mu sync.Mutex
	var notCreated []string
	var setupErrs []error
	parallelN(gatekeeperWorkers, len(cases), func(i int) {
		gc := cases[i]
		name := fmt.Sprintf("u-%d", i)
		if gc.Level == "ephemeralContainers" {
			name = fmt.Sprintf("e-%d", i)
		}
		o := gkObject{gc: gc, kind: gc.Kind, namespace: goldenNamespace, name: name}
		obj, err := readObject(filepath.Join(c.root, gc.File))
		var body []byte
		if err == nil {
			if spec, ok := obj["spec"].(map[string]any); ok && gc.Level == "ephemeralContainers" {
				delete(spec, "ephemeralContainers")
			}
			setName(obj, name)
			body, err = json.Marshal(obj)
		}
		var path string
		if err == nil {
			path, err = o.collection()
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			setupErrs = append(setupErrs, err)
			return
		}
		_, _, err = api.do(ctx, "POST", path, body, false)
		switch {
		case err != nil:
			notCreated = append(notCreated, gc.File)
		case gc.Level == "ephemeralContainers":
			ephemerals = append(ephemerals, o)
		default:
			updates = append(updates, o)
		}
	})
	require.NoError(t, errors.Join(setupErrs...))
	sortObjects(updates)
	sortObjects(ephemerals)
	t.Logf("created %d objects to update, %d pods to add ephemeral containers to; %d not creatable (the API server refuses them)",
		len(updates), len(ephemerals), len(notCreated))

	// The README's install lines, verbatim: the templates, the wait, the Constraints.
	installStart := time.Now()
	for _, line := range gatekeeperInstall(t, c.root, form.install, gatekeeperProfile) {
		lineStart := time.Now()
		out, err := c.shell(line)
		require.NoError(t, err, "%s:\n%s\nmanager log:\n%s", line, out, tail(g.log, 40))
		t.Logf("%s (%s):\n%s", line, time.Since(lineStart).Round(time.Millisecond), strings.TrimSpace(out))
	}
	out, errOut, err := c.kubectl("wait", "--for=jsonpath={.status.byPod[0].enforced}=true", "--timeout=2m",
		"constraints", "-l", "app.kubernetes.io/part-of=hpguard")
	require.NoError(t, err, "%s%s", out, errOut)
	t.Logf("installed and enforced in %s", time.Since(installStart).Round(time.Millisecond))
	requireNoStatusErrors(t, c)

	// kubectl's view of a denial, through the webhook: the first rejected Pod that the API server's
	// own validation accepts (it was created before the Constraints; an object validation refuses
	// never reaches the webhook), once Gatekeeper denies it (the webhook may lag behind the
	// Constraints' status).
	probe := ""
	for _, gc := range cases {
		if want[gc.File].Outcome == rejected && gc.Kind == "Pod" && gc.Level != "ephemeralContainers" &&
			!slices.Contains(notCreated, gc.File) {
			probe = gc.File
			break
		}
	}
	require.NotEmpty(t, probe)
	var kubectlOut string
	require.Eventually(t, func() bool {
		out, errOut, err := c.kubectl("create", "--dry-run=server", "-f", probe)
		kubectlOut = out + errOut
		return err != nil && strings.Contains(errOut, `admission webhook "validation.gatekeeper.sh" denied the request: [`)
	}, syncTimeout, 250*time.Millisecond, "Gatekeeper does not deny %s", probe)
	probeGot, err := submitCreate(api, c.root, probe)
	require.NoError(t, err)
	for rule, msgs := range probeGot.Denied {
		for _, m := range msgs {
			require.Contains(t, kubectlOut, "["+rule+"] "+m, "kubectl prints the denial the API returns")
		}
	}

	var problems []string
	report := func(what string, counts map[string]int, n int) {
		t.Logf("%s: %d compared (%s)", what, n, fmtCounts(counts))
	}

	// CREATE: every case but the ephemeral containers' (which a create cannot add), dry-run.
	var creates []goldenCase
	for _, gc := range cases {
		if gc.Level != "ephemeralContainers" {
			creates = append(creates, gc)
		}
	}
	got := make([]gkVerdict, len(creates))
	errs := make([]error, len(creates))
	parallelN(gatekeeperWorkers, len(creates), func(i int) { got[i], errs[i] = submitCreate(api, c.root, creates[i].File) })
	require.NoError(t, errors.Join(errs...))
	counts := map[string]int{}
	invalidCreates := map[string]bool{}
	for i, gc := range creates {
		counts[got[i].Outcome]++
		if got[i].Outcome == invalid {
			invalidCreates[gc.File] = true
		}
		problems = append(problems, compareVerdicts("CREATE "+gc.Name, got[i], want[gc.File])...)
	}
	report("CREATE", counts, len(creates))
	// What the API server refused to create before the Constraints existed, it refuses now.
	for _, f := range notCreated {
		if !strings.HasSuffix(f, "-ephemeralContainers.yaml") && !invalidCreates[f] {
			problems = append(problems, fmt.Sprintf("%s: not creatable without Constraints, yet not refused by validation", f))
		}
	}

	// UPDATE: each object created before the Constraints, a label added, dry-run.
	got = make([]gkVerdict, len(updates))
	errs = make([]error, len(updates))
	parallelN(gatekeeperWorkers, len(updates), func(i int) { got[i], errs[i] = submitUpdate(api, updates[i]) })
	require.NoError(t, errors.Join(errs...))
	counts = map[string]int{}
	for i, o := range updates {
		counts[got[i].Outcome]++
		problems = append(problems, compareVerdicts("UPDATE "+o.gc.Name, got[i], want[o.gc.File])...)
	}
	report("UPDATE", counts, len(updates))

	// Ephemeral containers: the case's, added to its pod through the subresource, dry-run.
	got = make([]gkVerdict, len(ephemerals))
	errs = make([]error, len(ephemerals))
	parallelN(gatekeeperWorkers, len(ephemerals), func(i int) { got[i], errs[i] = submitEphemeral(api, c.root, ephemerals[i]) })
	require.NoError(t, errors.Join(errs...))
	counts = map[string]int{}
	for i, o := range ephemerals {
		counts[got[i].Outcome]++
		problems = append(problems, compareVerdicts("pods/ephemeralcontainers "+o.gc.Name, got[i], want[o.gc.File])...)
	}
	report("ephemeral containers", counts, len(ephemerals))
	require.Equal(t, len(cases), len(creates)+len(ephemerals)+countEphemeral(notCreated),
		"every case is submitted (ephemeral ones through the subresource)")

	for _, p := range problems {
		t.Error(p)
	}

	// Audit: Gatekeeper's verdict on the objects that existed before the Constraints, in the
	// Constraints' status, against hpguard audit on the same objects.
	auditWant := form.byConstraint(auditFindings(t, bin, c, form.engine))
	auditStart := time.Now()
	var diff []string
	var total int
	ok := assertEventually(2*time.Minute, func() bool {
		diff, total = compareAudit(t, c, auditWant)
		return len(diff) == 0
	})
	if !ok {
		t.Errorf("Gatekeeper's audit differs from hpguard audit (%d differences):\n%s\nmanager log, audit lines:\n%s", len(diff),
			strings.Join(diff[:min(len(diff), 40)], "\n"), tailMatching(g.log, 60, "audit"))
	}
	t.Logf("audit: %d violations of %d objects in the Constraints' status, as hpguard audit reports (waited %s)",
		total, auditObjectsWithFindings(auditWant), time.Since(auditStart).Round(time.Millisecond))
	t.Logf("Gatekeeper test done in %s", time.Since(start).Round(time.Millisecond))
}

// gkVerdict is verdict (vap_test.go) for Gatekeeper: denials and warnings by Constraint, whose name
// is the rule's id; for hpguard, one message per finding; for the API server, one per violation
// Gatekeeper reports (with CEL, a rule's findings joined with "; ", as the VAP).
type gkVerdict = verdict

// compareVerdicts returns what differs between the API server's verdict got and hpguard's exp.
func compareVerdicts(what string, got, exp gkVerdict) []string {
	if got.Outcome == invalid {
		// Refused before admission (decoding or validation): hpguard must deny it.
		if exp.Outcome != rejected {
			return []string{fmt.Sprintf("%s: the API server refuses it (%s), hpguard %s it", what, got.Detail, exp.Outcome)}
		}
		return nil
	}
	var p []string
	if got.Outcome != exp.Outcome {
		p = append(p, fmt.Sprintf("%s: API server %s, hpguard %s\nAPI server: %+v\nhpguard:    %+v", what, got.Outcome, exp.Outcome, got, exp))
		return p
	}
	for _, kind := range []struct {
		name     string
		got, exp map[string][]string
	}{{"denials", got.Denied, exp.Denied}, {"warnings", got.Warned, exp.Warned}} {
		g, e := slices.Sorted(maps.Keys(kind.got)), slices.Sorted(maps.Keys(kind.exp))
		if !slices.Equal(g, e) {
			p = append(p, fmt.Sprintf("%s: rules with %s: API server %v, hpguard %v", what, kind.name, g, e))
			continue
		}
		for _, rule := range g {
			if !sameMessages(strings.Join(kind.got[rule], "; "), kind.exp[rule]) {
				p = append(p, fmt.Sprintf("%s: %s of %s\nAPI server: %q\nhpguard:    %q", what, kind.name, rule, kind.got[rule], kind.exp[rule]))
			}
		}
	}
	return p
}

var (
	// gatekeeperDenial is the API server's message for a denial by Gatekeeper's webhook; one line per
	// violation, "[<constraint>] <message>", follows.
	gatekeeperDenial = `admission webhook "validation.gatekeeper.sh" denied the request: `
	// gatekeeperLine is a violation in a denial or a warning.
	gatekeeperLine = regexp.MustCompile(`(?s)^\[([^\]]+)\] (.*)$`)
)

// apiVerdict reads the verdict from an API request's warnings and error.
func apiVerdict(warnings []string, err error) gkVerdict {
	var v gkVerdict
	for _, w := range warnings {
		if m := gatekeeperLine.FindStringSubmatch(w); m != nil {
			add(&v.Warned, m[1], m[2])
		} else {
			v.Detail += "warning: " + w + "\n"
		}
	}
	var status *apierrors.StatusError
	switch {
	case err == nil:
		v.Outcome = admitted
		if len(v.Warned) > 0 {
			v.Outcome = warned
		}
	case errors.As(err, &status) && strings.HasPrefix(status.ErrStatus.Message, gatekeeperDenial):
		v.Outcome = rejected
		var rule string
		for _, line := range strings.Split(strings.TrimPrefix(status.ErrStatus.Message, gatekeeperDenial), "\n") {
			if m := gatekeeperLine.FindStringSubmatch(line); m != nil {
				rule = m[1]
				add(&v.Denied, rule, m[2])
			} else if rule != "" {
				// A message of more than one line.
				msgs := v.Denied[rule]
				msgs[len(msgs)-1] += "\n" + line
			} else {
				v.Outcome = invalid
				v.Detail += status.ErrStatus.Message
				break
			}
		}
	default:
		v.Outcome = invalid
		v.Detail += err.Error()
	}
	return v
}

// gkObject is an object created on the API server for a golden case.
type gkObject struct {
	gc                    goldenCase
	kind, namespace, name string
}

// gkResources are the collections of the workload kinds: API path prefix and resource.
var gkResources = map[string][2]string{
	"Pod":                   {"/api/v1", "pods"},
	"PodTemplate":           {"/api/v1", "podtemplates"},
	"ReplicationController": {"/api/v1", "replicationcontrollers"},
	"ReplicaSet":            {"/apis/apps/v1", "replicasets"},
	"Deployment":            {"/apis/apps/v1", "deployments"},
	"DaemonSet":             {"/apis/apps/v1", "daemonsets"},
	"StatefulSet":           {"/apis/apps/v1", "statefulsets"},
	"Job":                   {"/apis/batch/v1", "jobs"},
	"CronJob":               {"/apis/batch/v1", "cronjobs"},
}

// collection is the path of the object's collection.
func (o gkObject) collection() (string, error) {
	r, ok := gkResources[o.kind]
	if !ok {
		return "", fmt.Errorf("%s: kind %q is not a workload kind", o.gc.File, o.kind)
	}
	return r[0] + "/namespaces/" + o.namespace + "/" + r[1], nil
}

// path is the object's path.
func (o gkObject) path() string {
	p, _ := o.collection()
	return p + "/" + o.name
}

// sortObjects orders objects by name, for a stable report.
func sortObjects(objs []gkObject) {
	sort.Slice(objs, func(i, j int) bool { return objs[i].gc.File < objs[j].gc.File })
}

// gkClient sends raw requests to the API server as kubectl does (JSON, fieldValidation=Strict),
// with the admin's credentials, unthrottled.
type gkClient struct {
	rc *rest.RESTClient
}

func newGKClient(t *testing.T, c *cluster) *gkClient {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	require.NoError(t, err)
	cfg.QPS = -1
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	cfg.UserAgent = "hpguard-controlplane-test"
	rc, err := rest.UnversionedRESTClientFor(cfg)
	require.NoError(t, err)
	return &gkClient{rc: rc}
}

// do sends body (JSON) with method to path, server-side dry-run if dryRun, and returns the response
// body, the warnings and the error (an *apierrors.StatusError for the API server's refusal).
func (a *gkClient) do(ctx context.Context, method, path string, body []byte, dryRun bool) ([]byte, []string, error) {
	req := a.rc.Verb(method).AbsPath(path).Timeout(30 * time.Second)
	if body != nil {
		req = req.Param("fieldValidation", "Strict").SetHeader("Content-Type", "application/json").Body(body)
	}
	if dryRun {
		req = req.Param("dryRun", "All")
	}
	res := req.Do(ctx)
	var warnings []string
	for _, w := range res.Warnings() {
		warnings = append(warnings, w.Text)
	}
	raw, err := res.Raw()
	if err != nil {
		// The API server's metav1.Status, read from the body (the client's own decoding may not).
		var st metav1.Status
		if json.Unmarshal(raw, &st) == nil && st.Kind == "Status" && st.Message != "" {
			err = &apierrors.StatusError{ErrStatus: st}
		}
	}
	return raw, warnings, err
}

// submitCreate creates the manifest file (relative to the repository) with server-side dry-run.
func submitCreate(api *gkClient, root, file string) (gkVerdict, error) {
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		return gkVerdict{}, err
	}
	body, err := yaml.YAMLToJSON(b)
	if err != nil {
		return gkVerdict{}, fmt.Errorf("%s: %w", file, err)
	}
	var meta struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &meta); err != nil {
		return gkVerdict{}, fmt.Errorf("%s: %w", file, err)
	}
	o := gkObject{gc: goldenCase{File: file}, kind: meta.Kind, namespace: cmp.Or(meta.Metadata.Namespace, goldenNamespace)}
	path, err := o.collection()
	if err != nil {
		return gkVerdict{}, err
	}
	_, warnings, err := api.do(context.Background(), "POST", path, body, true)
	return apiVerdict(warnings, err), nil
}

// submitUpdate reads the object and updates it with a label added, with server-side dry-run.
func submitUpdate(api *gkClient, o gkObject) (gkVerdict, error) {
	ctx := context.Background()
	raw, _, err := api.do(ctx, "GET", o.path(), nil, false)
	if err != nil {
		return gkVerdict{}, fmt.Errorf("get %s: %w", o.path(), err)
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return gkVerdict{}, err
	}
	meta, _ := obj["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
	}
	labels["hpguard.dev/updated"] = "true"
	meta["labels"] = labels
	body, err := json.Marshal(obj)
	if err != nil {
		return gkVerdict{}, err
	}
	_, warnings, err := api.do(ctx, "PUT", o.path(), body, true)
	return apiVerdict(warnings, err), nil
}

// submitEphemeral adds the case's ephemeral containers to its pod through the pods/ephemeralcontainers
// subresource, as kubectl debug does, with server-side dry-run.
func submitEphemeral(api *gkClient, root string, o gkObject) (gkVerdict, error) {
	ctx := context.Background()
	raw, _, err := api.do(ctx, "GET", o.path(), nil, false)
	if err != nil {
		return gkVerdict{}, fmt.Errorf("get %s: %w", o.path(), err)
	}
	pod, err := decodeObject(raw)
	if err != nil {
		return gkVerdict{}, err
	}
	want, err := readObject(filepath.Join(root, o.gc.File))
	if err != nil {
		return gkVerdict{}, err
	}
	wantSpec, _ := want["spec"].(map[string]any)
	eph := wantSpec["ephemeralContainers"]
	if eph == nil {
		return gkVerdict{}, fmt.Errorf("%s has no ephemeral containers", o.gc.File)
	}
	pod["spec"].(map[string]any)["ephemeralContainers"] = eph
	body, err := json.Marshal(pod)
	if err != nil {
		return gkVerdict{}, err
	}
	_, warnings, err := api.do(ctx, "PUT", o.path()+"/ephemeralcontainers", body, true)
	return apiVerdict(warnings, err), nil
}

// readObject reads a one-document manifest.
func readObject(file string) (map[string]any, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return decodeObject(j)
}

// decodeObject decodes a JSON object, numbers as written.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// setName renames the object.
func setName(obj map[string]any, name string) {
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	meta["name"] = name
}

// gatekeeperWorkers is how many requests the Gatekeeper test keeps in flight (the webhook adds a
// round trip to each).
const gatekeeperWorkers = 6

func countEphemeral(files []string) int {
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "-ephemeralContainers.yaml") {
			n++
		}
	}
	return n
}

// gkBuildHpguard is buildHpguard for a test.
func gkBuildHpguard(t *testing.T, _ string) string {
	t.Helper()
	bin, err := buildHpguard()
	require.NoError(t, err)
	return bin
}

// hpguardJSON is the part of hpguard's JSON report (check and audit) the tests read.
type hpguardJSON struct {
	Results []struct {
		File     string `json:"file"`
		Status   string `json:"status"`
		Kind     string `json:"kind"`
		Findings []struct {
			Rule     string `json:"rule"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
		} `json:"findings"`
	} `json:"results"`
}

// hpguardFindings runs hpguard with args (-o json -q added) in the repository and returns each
// result's verdict by its file.
func hpguardFindings(t *testing.T, bin, root string, args ...string) map[string]gkVerdict {
	t.Helper()
	cmd := exec.Command(bin, append(append([]string{}, args[0], "-o", "json", "-q"), args[1:]...)...)
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		// Exit status 1 is "failing findings"; 2 is an input or usage error.
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "run hpguard")
		require.Equal(t, 1, exit.ExitCode(), "hpguard %s: %s", args[0], stderr.String())
	}
	var rep hpguardJSON
	require.NoError(t, json.Unmarshal(stdout, &rep), "hpguard output")
	verdicts := map[string]gkVerdict{}
	for _, r := range rep.Results {
		require.Equal(t, "checked", r.Status, "hpguard did not check %s", r.File)
		_, seen := verdicts[r.File]
		require.False(t, seen, "%s holds more than one document", r.File)
		var v gkVerdict
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
		v.Detail = r.Kind
		verdicts[r.File] = v
	}
	return verdicts
}

// auditFindings runs `hpguard audit --engine <engine>` on every namespace of the cluster and
// returns the findings by object, "<Kind> <namespace>/<name>".
func auditFindings(t *testing.T, bin string, c *cluster, engine string) map[string]gkVerdict {
	t.Helper()
	byPath := hpguardFindings(t, bin, c.root, "audit", "--engine", engine, "--profile", gatekeeperProfile,
		"--kubeconfig", c.kubeconfig, "-A")
	out := map[string]gkVerdict{}
	for p, v := range byPath {
		// /api/v1/namespaces/<ns>/<resource>/<name>, /apis/<group>/<version>/namespaces/...
		parts := strings.Split(p, "/")
		require.GreaterOrEqual(t, len(parts), 5, p)
		n := len(parts)
		require.Equal(t, "namespaces", parts[n-4], p)
		out[v.Detail+" "+parts[n-3]+"/"+parts[n-1]] = v
	}
	return out
}

func auditObjectsWithFindings(m map[string]gkVerdict) int {
	n := 0
	for _, v := range m {
		if len(v.Denied)+len(v.Warned) > 0 {
			n++
		}
	}
	return n
}

// gkConstraints is the part of the hpguard Constraints the test reads: status and audit results.
type gkConstraints struct {
	Items []struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			EnforcementAction string `json:"enforcementAction"`
		} `json:"spec"`
		Status struct {
			AuditTimestamp  string `json:"auditTimestamp"`
			TotalViolations *int   `json:"totalViolations"`
			ByPod           []struct {
				Enforced bool `json:"enforced"`
				Errors   []struct {
					Message string `json:"message"`
				} `json:"errors"`
			} `json:"byPod"`
			Violations []struct {
				EnforcementAction string `json:"enforcementAction"`
				Kind              string `json:"kind"`
				Name              string `json:"name"`
				Namespace         string `json:"namespace"`
				Message           string `json:"message"`
			} `json:"violations"`
		} `json:"status"`
	} `json:"items"`
}

func getConstraints(t *testing.T, c *cluster) gkConstraints {
	out := c.mustKubectl("get", "constraints", "-l", "app.kubernetes.io/part-of=hpguard", "-o", "json")
	var cs gkConstraints
	require.NoError(t, json.Unmarshal([]byte(out), &cs))
	return cs
}

// requireNoStatusErrors: with the flags the README gives, no template or Constraint reports an error.
func requireNoStatusErrors(t *testing.T, c *cluster) {
	t.Helper()
	out := c.mustKubectl("get", "constrainttemplates", "-l", "app.kubernetes.io/part-of=hpguard", "-o", "json")
	var cts gkConstraints
	require.NoError(t, json.Unmarshal([]byte(out), &cts))
	cs := getConstraints(t, c)
	require.NotEmpty(t, cts.Items)
	require.NotEmpty(t, cs.Items)
	for _, list := range []gkConstraints{cts, cs} {
		for _, it := range list.Items {
			require.NotEmpty(t, it.Status.ByPod, "%s %s has no status", it.Kind, it.Metadata.Name)
			for _, p := range it.Status.ByPod {
				require.Empty(t, p.Errors, "%s %s", it.Kind, it.Metadata.Name)
			}
		}
	}
}

// compareAudit compares the violations in the Constraints' status with hpguard audit's findings and
// returns the differences and the number of violations.
func compareAudit(t *testing.T, c *cluster, want map[string]gkVerdict) ([]string, int) {
	cs := getConstraints(t, c)
	var diff []string
	total := 0
	got := map[string]map[string][]string{} // rule -> object -> messages
	for _, it := range cs.Items {
		rule := it.Metadata.Name
		if it.Status.AuditTimestamp == "" || it.Status.TotalViolations == nil {
			diff = append(diff, rule+": not audited yet")
			continue
		}
		if *it.Status.TotalViolations != len(it.Status.Violations) {
			diff = append(diff, fmt.Sprintf("%s: totalViolations %d, %d listed", rule, *it.Status.TotalViolations, len(it.Status.Violations)))
		}
		total += len(it.Status.Violations)
		got[rule] = map[string][]string{}
		for _, v := range it.Status.Violations {
			if v.EnforcementAction != it.Spec.EnforcementAction {
				diff = append(diff, fmt.Sprintf("%s: violation of %s/%s is %s", rule, v.Namespace, v.Name, v.EnforcementAction))
			}
			key := v.Kind + " " + v.Namespace + "/" + v.Name
			got[rule][key] = append(got[rule][key], v.Message)
		}
	}
	for _, it := range cs.Items {
		rule := it.Metadata.Name
		if got[rule] == nil {
			continue
		}
		exp := map[string][]string{}
		for obj, v := range want {
			msgs := v.Denied[rule]
			if it.Spec.EnforcementAction == "warn" {
				msgs = v.Warned[rule]
			}
			if len(msgs) > 0 {
				exp[obj] = msgs
			}
		}
		for _, obj := range slices.Sorted(maps.Keys(exp)) {
			g, ok := got[rule][obj]
			switch {
			case !ok:
				diff = append(diff, fmt.Sprintf("%s: %s: hpguard %q, Gatekeeper's audit nothing", rule, obj, exp[obj]))
			case !auditMessagesMatch(g, exp[obj]):
				diff = append(diff, fmt.Sprintf("%s: %s: hpguard %q, Gatekeeper's audit %q", rule, obj, exp[obj], g))
			}
		}
		for _, obj := range slices.Sorted(maps.Keys(got[rule])) {
			if _, ok := exp[obj]; !ok {
				diff = append(diff, fmt.Sprintf("%s: %s: Gatekeeper's audit %q, hpguard nothing", rule, obj, got[rule][obj]))
			}
		}
	}
	return diff, total
}

// assertEventually polls cond every second until it holds or timeout passes.
func assertEventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Second)
	}
}

// gatekeeperAuditMessageSize is the length, in bytes, at which Gatekeeper's audit cuts a violation's
// message in a Constraint's status (msgSize in pkg/audit/manager.go): the first 253 bytes and "...".
const gatekeeperAuditMessageSize = 256

// gatekeeperTruncate is a message as Gatekeeper's audit stores it: cut to 256 bytes, and through
// JSON (a cut inside a UTF-8 sequence leaves bytes that JSON writes as U+FFFD each).
func gatekeeperTruncate(s string) string {
	if len(s) > gatekeeperAuditMessageSize {
		s = s[:gatekeeperAuditMessageSize-3] + "..."
	}
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

// auditMessagesMatch reports whether the audit's violations of one object and rule, got, are
// hpguard's findings exp: one violation per finding (Rego), each cut as Gatekeeper cuts it, or one
// violation with the findings joined by "; " in any order (CEL, as sameMessages for admission), cut.
func auditMessagesMatch(got, exp []string) bool {
	if len(got) == len(exp) {
		a := make([]string, len(exp))
		for i, m := range exp {
			a[i] = gatekeeperTruncate(m)
		}
		b := slices.Clone(got)
		slices.Sort(a)
		slices.Sort(b)
		if slices.Equal(a, b) {
			return true
		}
	}
	return len(got) == 1 && joinMatches(got[0], "", exp)
}

// joinMatches reports whether acc joined with the messages of rest, in some order, by "; " is cut
// by Gatekeeper to got. An order is abandoned as soon as its uncut beginning is not got's.
func joinMatches(got, acc string, rest []string) bool {
	// Past the cut, what follows does not change what Gatekeeper stores.
	if len(rest) == 0 || len(acc) > gatekeeperAuditMessageSize {
		return gatekeeperTruncate(acc) == got
	}
	for i, m := range rest {
		next := m
		if acc != "" {
			next = acc + "; " + m
		}
		if len(next) <= gatekeeperAuditMessageSize-3 && !strings.HasPrefix(got, next) {
			continue
		}
		if joinMatches(got, next, slices.Delete(slices.Clone(rest), i, i+1)) {
			return true
		}
	}
	return false
}
