package controlplane

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// submitWorkers is how many requests the tests keep in flight against the API server.
const submitWorkers = 4

// apiClient submits objects to the control plane as kubectl does, without a kubectl process per
// object: the same decoding (sigs.k8s.io/yaml to JSON), the same request (POST to the kind's
// resource, fieldValidation=Strict, which is what kubectl create sends by default, and
// dryRun=All for --dry-run=server) and the same reading of the answer (the error's message; the
// Warning headers, which kubectl prints as "Warning: <text>").
type apiClient struct {
	rest   rest.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// client returns an apiClient for the cluster's admin kubeconfig.
func (c *cluster) client(t *testing.T) *apiClient {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	require.NoError(t, err)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit
	cfg.APIPath = "/api"
	cfg.GroupVersion = &schema.GroupVersion{Version: "v1"}
	// Request and response bodies are raw JSON; the messages of errors are read from the bodies.
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(runtime.NewScheme()).WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	require.NoError(t, err)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	return &apiClient{rest: rc, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

// answer is the API server's reply to one request.
type answer struct {
	// Err is the request's error message ("" when it succeeded).
	Err string
	// Warnings are the texts of the response's Warning headers, in order.
	Warnings []string
	// Body is the response body of a successful request.
	Body []byte
}

// warnings collects the Warning headers of one request.
type warnings struct{ texts []string }

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.texts = append(w.texts, text)
}

// objectPath is the API path of the collection an object is created in (namespace "default" when
// the object names none, as kubectl with the admin kubeconfig does).
func (a *apiClient) objectPath(obj map[string]any) (string, error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return "", err
	}
	m, err := a.mapper.RESTMapping(gv.WithKind(kind).GroupKind(), gv.Version)
	if err != nil {
		return "", err
	}
	p := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		p = "/api/" + gv.Version
	}
	if m.Scope.Name() == "namespace" {
		ns := "default"
		if md, ok := obj["metadata"].(map[string]any); ok {
			if s, ok := md["namespace"].(string); ok && s != "" {
				ns = s
			}
		}
		p += "/namespaces/" + ns
	}
	return p + "/" + m.Resource.Resource, nil
}

// do sends one request with a JSON body and returns the API server's answer. dryRun adds
// dryRun=All.
func (a *apiClient) do(verb, path string, body []byte, dryRun bool) answer {
	w := &warnings{}
	req := a.rest.Verb(verb).AbsPath(path).Param("fieldValidation", "Strict").
		SetHeader("Content-Type", "application/json").Body(body).WarningHandlerWithContext(w)
	if dryRun {
		req = req.Param("dryRun", metav1.DryRunAll)
	}
	res := req.Do(context.Background())
	out, err := res.Raw()
	ans := answer{Warnings: w.texts}
	if err != nil {
		// The message of the metav1.Status the API server answers with, as kubectl prints it.
		var status struct {
			Kind    string `json:"kind"`
			Message string `json:"message"`
		}
		if json.Unmarshal(out, &status) == nil && status.Kind == "Status" && status.Message != "" {
			ans.Err = status.Message
		} else {
			ans.Err = err.Error()
		}
	} else {
		ans.Body = out
	}
	return ans
}

// create submits obj with a POST to its collection (dryRun: server-side dry-run).
func (a *apiClient) create(obj map[string]any, dryRun bool) answer {
	path, err := a.objectPath(obj)
	if err != nil {
		return answer{Err: "no resource for the object: " + err.Error()}
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return answer{Err: err.Error()}
	}
	return a.do("POST", path, body, dryRun)
}

// decodeFile reads a one-document manifest as kubectl does: YAML (or JSON) to JSON with
// sigs.k8s.io/yaml, then JSON.
func decodeFile(t *testing.T, root, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, file))
	require.NoError(t, err)
	j, err := yaml.YAMLToJSON(b)
	require.NoError(t, err, file)
	var obj map[string]any
	require.NoError(t, json.Unmarshal(j, &obj), file)
	return obj
}

// kubectlDecode reads a manifest file exactly as kubectl create -f does (every document, List
// items expanded), with kubectl create --dry-run=client -o json, which sends nothing.
func kubectlDecode(t *testing.T, c *cluster, file string) []map[string]any {
	t.Helper()
	out := c.mustKubectl("create", "--dry-run=client", "-o", "json", "-f", file)
	// One JSON value per object, or a List of them.
	var objs []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var v map[string]any
		require.NoError(t, dec.Decode(&v), "kubectl output for %s", file)
		if v["kind"] == "List" {
			for _, it := range v["items"].([]any) {
				objs = append(objs, it.(map[string]any))
			}
			continue
		}
		objs = append(objs, v)
	}
	require.NotEmpty(t, objs, "kubectl reads no object from %s", file)
	return objs
}

// parallel runs f for each index below n on submitWorkers goroutines.
func parallel(n int, f func(i int)) { parallelN(submitWorkers, n, f) }

// parallelN runs f for each index below n on workers goroutines.
func parallelN(workers, n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// errPrefixRE matches the "<resource> "<name>" is forbidden: " (or "is invalid") prefix of an API
// error message.
var errPrefixRE = regexp.MustCompile(`^\S+ "[^"]*" is (forbidden|invalid): `)

// trimErr drops the resource prefix of an API error message.
func trimErr(s string) string { return errPrefixRE.ReplaceAllString(strings.TrimSpace(s), "") }
