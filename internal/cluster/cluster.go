// Package cluster reads the workloads of a live cluster for `hpguard audit`: the nine workload
// kinds of internal/workload, listed through the API server with client-go (kubeconfig, context,
// namespace, label selector), page by page, each object rendered as `kubectl get -o yaml` shows it.
package cluster

import (
	"context"
	"fmt"
	"path"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/pager"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/internal/workload"
)

// DefaultChunkSize is the page size of each list request, kubectl's default (--chunk-size).
const DefaultChunkSize = 500

// Options say which cluster and which objects to read.
type Options struct {
	// Kubeconfig is the kubeconfig file; "" loads as kubectl does ($KUBECONFIG, ~/.kube/config).
	Kubeconfig string
	// Context is the kubeconfig context; "" is the current context.
	Context string
	// Namespace limits the objects to one namespace; "" is the context's namespace ("default" when
	// it names none). Ignored with AllNamespaces.
	Namespace string
	// AllNamespaces reads every namespace.
	AllNamespaces bool
	// Selector is a label selector, as kubectl -l.
	Selector string
	// ChunkSize is the page size of the list requests (default DefaultChunkSize).
	ChunkSize int64
}

// Object is one workload read from the cluster, or a kind that could not be listed.
type Object struct {
	// Name labels the object in reports: its API path (/apis/apps/v1/namespaces/NS/daemonsets/NAME),
	// or the path of the list that failed.
	Name string
	// Data is the object in YAML, as `kubectl get -o yaml` prints it (managedFields left out), so
	// that lines point into that output.
	Data []byte
	// Err is why the kind could not be listed (forbidden, not served): an error for the run, never
	// a kind silently left out.
	Err error
}

// Target is what a run reads: the context and the namespace it resolved to.
type Target struct {
	Context   string
	Namespace string // "" for all namespaces
	Host      string
}

// Config resolves the client configuration of opts as kubectl does.
func Config(opts Options) (*rest.Config, Target, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if opts.Kubeconfig != "" {
		rules.ExplicitPath = opts.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: opts.Context})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, Target{}, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, Target{}, fmt.Errorf("kubeconfig: %w", err)
	}
	t := Target{Context: raw.CurrentContext, Host: cfg.Host}
	if opts.Context != "" {
		t.Context = opts.Context
	}
	switch {
	case opts.AllNamespaces:
	case opts.Namespace != "":
		t.Namespace = opts.Namespace
	default:
		if t.Namespace, _, err = cc.Namespace(); err != nil {
			return nil, Target{}, fmt.Errorf("kubeconfig: %w", err)
		}
	}
	cfg.UserAgent = "hpguard audit"
	return cfg, t, nil
}

// List reads the workloads of every workload kind in the target, kind by kind in the order of
// workload.Kinds, each list page by page. A kind that cannot be listed is one Object with Err; the
// other kinds are still read. The error is for a configuration that cannot be used at all.
func List(ctx context.Context, opts Options) ([]Object, Target, error) {
	cfg, t, err := Config(opts)
	if err != nil {
		return nil, t, err
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, t, fmt.Errorf("client: %w", err)
	}
	chunk := opts.ChunkSize
	if chunk <= 0 {
		chunk = DefaultChunkSize
	}
	var out []Object
	for _, k := range workload.Kinds {
		gvr := schema.GroupVersionResource{Group: k.Groups[0], Version: k.Version, Resource: k.Resource}
		res := client.Resource(gvr).Namespace(t.Namespace)
		p := pager.New(pager.SimplePageFunc(func(o metav1.ListOptions) (runtime.Object, error) {
			return res.List(ctx, o)
		}))
		p.PageSize = chunk
		var objs []Object
		err := p.EachListItem(ctx, metav1.ListOptions{LabelSelector: opts.Selector}, func(obj runtime.Object) error {
			u, ok := obj.(*unstructured.Unstructured)
			if !ok {
				return fmt.Errorf("unexpected list item %T", obj)
			}
			o, err := object(gvr, k.Name, u)
			if err != nil {
				return err
			}
			objs = append(objs, o)
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, t, ctx.Err()
			}
			out = append(out, Object{Name: listPath(gvr, t.Namespace), Err: listError(gvr, t.Namespace, err)})
			continue
		}
		out = append(out, objs...)
	}
	return out, t, nil
}

// object renders one listed object: the kind and apiVersion that list items lack in some
// responses, managedFields left out as kubectl get -o yaml does.
func object(gvr schema.GroupVersionResource, kind string, u *unstructured.Unstructured) (Object, error) {
	u.SetAPIVersion(gvr.GroupVersion().String())
	u.SetKind(kind)
	u.SetManagedFields(nil)
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		return Object{}, fmt.Errorf("%s %s/%s: %w", kind, u.GetNamespace(), u.GetName(), err)
	}
	return Object{Name: objectPath(gvr, u.GetNamespace(), u.GetName()), Data: b}, nil
}

// apiPrefix is /api/v1 for the core group, /apis/GROUP/VERSION for the others.
func apiPrefix(gvr schema.GroupVersionResource) string {
	if gvr.Group == "" {
		return path.Join("/api", gvr.Version)
	}
	return path.Join("/apis", gvr.Group, gvr.Version)
}

func listPath(gvr schema.GroupVersionResource, ns string) string {
	if ns == "" {
		return path.Join(apiPrefix(gvr), gvr.Resource)
	}
	return path.Join(apiPrefix(gvr), "namespaces", ns, gvr.Resource)
}

func objectPath(gvr schema.GroupVersionResource, ns, name string) string {
	return path.Join(listPath(gvr, ns), name)
}

// listError says what could not be listed and what to do.
func listError(gvr schema.GroupVersionResource, ns string, err error) error {
	where := "in namespace " + ns
	if ns == "" {
		where = "in any namespace"
	}
	what := gvr.GroupResource().String()
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("cannot list %s %s: %w; grant the user list on %s (audit reads every workload kind), or narrow the run with -n", what, where, err, what)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("cannot list %s %s: the API server does not serve %s: %w", what, where, gvr.GroupVersion(), err)
	}
	return fmt.Errorf("cannot list %s %s: %w", what, where, err)
}
