package render

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	v2loader "helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"
)

// Helm release defaults, those of `helm template`.
const (
	DefaultReleaseName = "release-name"
	DefaultNamespace   = "default"
)

// HelmOptions are what `helm template` takes to render a chart client-side.
type HelmOptions struct {
	// Chart is the chart's directory, or a packaged chart (.tgz).
	Chart string
	// ValuesFiles are YAML files of values, merged in order (helm -f/--values).
	ValuesFiles []string
	// SetValues are key=value in Helm's --set syntax, applied in order after ValuesFiles.
	SetValues []string
	// ReleaseName is .Release.Name (default DefaultReleaseName).
	ReleaseName string
	// Namespace is .Release.Namespace (default DefaultNamespace).
	Namespace string
	// NameByPath names each Output by the template's path on disk (the chart's directory joined
	// with the template's path in the chart) instead of as `helm template` prints it, for a chart
	// directory found among other files.
	NameByPath bool
}

// Helm renders a chart as `helm template` does, offline: the chart is loaded from disk
// (.helmignore applies), its dependencies must be vendored in charts/ (a missing one is an error,
// as for `helm template` without --dependency-update), values are the chart's values.yaml, then
// ValuesFiles, then SetValues, and are validated against the charts' values.schema.json (a schema
// that refers to an http(s) URL is an error, not a download). Templates render with the default
// capabilities of `helm template` (no cluster: lookup returns nothing, no DNS).
//
// There is one Output per template file that renders to something other than blank text, in the
// order of their names, named by the template's path as `helm template` prints it
// ("# Source: CHART/templates/FILE", subcharts under CHART/charts/SUB/templates); NOTES.txt and
// partials (_*.tpl) are not manifests and are left out. CRDs in crds/ are not rendered (as without
// --include-crds): they are not workloads.
func Helm(o HelmOptions) ([]Output, error) {
	if o.ReleaseName == "" {
		o.ReleaseName = DefaultReleaseName
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	what := "--helm-chart " + o.Chart
	if o.NameByPath {
		what = "Helm chart " + o.Chart
	}
	if o.Chart == "" {
		return nil, errors.New("--helm-chart: no chart given")
	}
	if _, err := os.Stat(o.Chart); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	loaded, err := loader.Load(o.Chart)
	if err != nil {
		return nil, fmt.Errorf("%s: not a loadable chart: %w", what, err)
	}
	ch, ok := loaded.(*chartv2.Chart)
	if !ok {
		return nil, fmt.Errorf("%s: chart apiVersion not supported by `helm template` (want v1 or v2)", what)
	}
	if err := checkDependencies(ch, ch.Name()); err != nil {
		return nil, fmt.Errorf("%s: %w; hpguard renders offline: vendor the dependencies (`helm dependency build %s`) and run again", what, err, o.Chart)
	}
	vals, err := userValues(o.ValuesFiles, o.SetValues)
	if err != nil {
		return nil, err
	}
	if err := chartutil.ProcessDependencies(ch, vals); err != nil {
		return nil, fmt.Errorf("%s: chart dependencies: %w", what, err)
	}
	caps := common.DefaultCapabilities.Copy()
	if kv := ch.Metadata.KubeVersion; kv != "" && !chartutil.IsCompatibleRange(kv, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("%s: chart requires kubeVersion: %s which is incompatible with Kubernetes %s", what, kv, caps.KubeVersion.Version)
	}
	rel := common.ReleaseOptions{Name: o.ReleaseName, Namespace: o.Namespace, Revision: 1, IsInstall: true}
	// Schemas are validated below, offline: Helm's own validation fetches remote references.
	top, err := util.ToRenderValuesWithSchemaValidation(ch, vals, rel, caps, true)
	if err != nil {
		return nil, fmt.Errorf("%s: values: %w", what, err)
	}
	values, _ := top["Values"].(common.Values)
	if err := validateSchemas(ch, values.AsMap()); err != nil {
		return nil, fmt.Errorf("%s: values don't meet the specifications of the schema(s) in the following chart(s):\n%w", what, err)
	}
	files, err := engine.Engine{}.Render(ch, top)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	names := make([]string, 0, len(files))
	for name, content := range files {
		if strings.HasSuffix(name, "NOTES.txt") || strings.HasPrefix(path.Base(name), "_") || strings.TrimSpace(content) == "" {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]Output, 0, len(names))
	for _, name := range names {
		label := name
		if _, rest, ok := strings.Cut(name, "/"); ok && o.NameByPath {
			label = filepath.Join(o.Chart, filepath.FromSlash(rest))
		}
		out = append(out, Output{Name: label, Data: []byte(files[name])})
	}
	return out, nil
}

// checkDependencies checks that every dependency in Chart.yaml is in charts/, in the chart and its
// subcharts (`helm template` checks the chart's own, and fails with this message).
func checkDependencies(ch *chartv2.Chart, at string) error {
	var missing []string
	for _, d := range ch.Metadata.Dependencies {
		found := false
		for _, sub := range ch.Dependencies() {
			if sub.Name() == d.Name {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, d.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("chart %s: found in Chart.yaml, but missing in charts/ directory: %s", at, strings.Join(missing, ", "))
	}
	for _, sub := range ch.Dependencies() {
		if err := checkDependencies(sub, at+"/charts/"+sub.Name()); err != nil {
			return err
		}
	}
	return nil
}

// userValues merges the values files and --set values as helm's values.Options.MergeValues does,
// reading files from disk only.
func userValues(files, sets []string) (map[string]any, error) {
	base := map[string]any{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--values: %w", err)
		}
		m, err := v2loader.LoadValues(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("--values %s: %w", f, err)
		}
		base = v2loader.MergeMaps(base, m)
	}
	for _, s := range sets {
		if err := strvals.ParseInto(s, base); err != nil {
			return nil, fmt.Errorf("--set-value %q: %w", s, err)
		}
	}
	return base, nil
}

// validateSchemas validates values against the values.schema.json of the chart and, recursively,
// of its enabled subcharts with the values under their names, as Helm does
// (chart/common/util.ValidateAgainstSchema), but offline: references resolve within the schema and
// to urn: (permissively, as Helm); an http(s) or file reference is an error.
func validateSchemas(ch *chartv2.Chart, values map[string]any) error {
	var sb strings.Builder
	if len(ch.Schema) > 0 {
		if err := validateSchema(ch.Schema, values); err != nil {
			fmt.Fprintf(&sb, "%s:\n%s\n", ch.Name(), err)
		}
	}
	for _, sub := range ch.Dependencies() {
		raw, ok := values[sub.Name()]
		if !ok || raw == nil {
			continue
		}
		sv, ok := raw.(map[string]any)
		if !ok {
			fmt.Fprintf(&sb, "%s:\ninvalid type for values: expected object (map), got %T\n", sub.Name(), raw)
			continue
		}
		if err := validateSchemas(sub, sv); err != nil {
			sb.WriteString(err.Error())
		}
	}
	if sb.Len() > 0 {
		return errors.New(sb.String())
	}
	return nil
}

func validateSchema(schemaJSON []byte, values map[string]any) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return fmt.Errorf("values.schema.json: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{
		"file":  offlineLoader{},
		"http":  offlineLoader{},
		"https": offlineLoader{},
		"urn":   urnLoader{},
	})
	if err := c.AddResource("file:///values.schema.json", doc); err != nil {
		return err
	}
	s, err := c.Compile("file:///values.schema.json")
	if err != nil {
		return err
	}
	return s.Validate(values)
}

// offlineLoader refuses every reference outside the schema.
type offlineLoader struct{}

func (offlineLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("values.schema.json refers to %s: %w: hpguard renders charts offline and fetches nothing", url, ErrRemote)
}

// urnLoader resolves urn: references to a schema that accepts everything, as Helm does when no
// resolver is set.
type urnLoader struct{}

func (urnLoader) Load(string) (any, error) { return true, nil }
