package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hpguard/hpguard/internal/check"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/render"
)

// renderParams are the flags of `check` that render what users deploy: kustomizations and a Helm
// chart.
type renderParams struct {
	kustomize   []string
	helmChart   string
	values      []string
	setValues   []string
	releaseName string
	namespace   string
	noRender    bool
}

func (r *renderParams) flags(f *pflag.FlagSet) {
	f.StringArrayVarP(&r.kustomize, "kustomize", "k", nil, "build the kustomization in this `DIR` as kubectl -k and kustomize build do, offline, and check the result; repeatable")
	f.StringVar(&r.helmChart, "helm-chart", "", "render this Helm `CHART` (directory or .tgz) as helm template does, offline (dependencies vendored in charts/), and check each template's output")
	f.StringArrayVar(&r.values, "values", nil, "values `FILE` for --helm-chart (helm -f/--values); repeatable, later files win")
	f.StringArrayVar(&r.setValues, "set-value", nil, "`KEY=VALUE` for --helm-chart in helm --set syntax (key=value, a.b=c, list={a,b}); repeatable, applied after --values")
	f.StringVar(&r.releaseName, "release-name", render.DefaultReleaseName, "release `NAME` for --helm-chart (.Release.Name)")
	f.StringVar(&r.namespace, "namespace", render.DefaultNamespace, "release `NAMESPACE` for --helm-chart (.Release.Namespace)")
	f.BoolVar(&r.noRender, "no-render", false, "read kustomization directories, and files named inside a chart or a kustomization, as plain files instead of building or rendering what they deploy")
}

// args accepts the command line: paths, or something to render, or both.
func (r *renderParams) args(cmd *cobra.Command, args []string) error {
	if r.helmChart == "" {
		for _, name := range []string{"values", "set-value", "release-name", "namespace"} {
			if cmd.Flags().Changed(name) {
				return usageError(fmt.Errorf("--%s needs --helm-chart", name))
			}
		}
	}
	if len(args) == 0 && len(r.kustomize) == 0 && r.helmChart == "" {
		return usageError(errors.New("nothing to check: give a PATH, - for standard input, -k DIR or --helm-chart CHART"))
	}
	return nil
}

// sources renders the kustomizations and the chart. A rendering that fails is a source in error
// (a result in error, exit 2), as an unreadable path is; the other inputs are still checked.
func (r *renderParams) sources() []check.Source {
	var out []check.Source
	for _, dir := range r.kustomize {
		arg := "-k " + dir
		o, err := render.Kustomize(dir)
		out = append(out, check.Source{Name: o.Name, Data: o.Data, Err: err, Arg: arg})
	}
	if r.helmChart != "" {
		arg := "--helm-chart " + r.helmChart
		outs, err := render.Helm(render.HelmOptions{Chart: r.helmChart, ValuesFiles: r.values, SetValues: r.setValues,
			ReleaseName: r.releaseName, Namespace: r.namespace})
		switch {
		case err != nil:
			out = append(out, check.Source{Name: r.helmChart, Err: err, Arg: arg})
		case len(outs) == 0:
			out = append(out, check.Source{Name: r.helmChart, Arg: arg})
		}
		for _, o := range outs {
			out = append(out, check.Source{Name: o.Name, Data: o.Data, Arg: arg})
		}
	}
	return out
}

// renderFound renders a Helm chart or a kustomization found among the paths to check, in its place:
// a chart with its default values and the default release (as `helm template DIR`), its documents
// named by their template files; a kustomization as `kubectl kustomize DIR`. --values,
// --set-value, --release-name and --namespace are for --helm-chart only.
func renderFound(in manifest.Input) []check.Source {
	if in.Kustomization {
		o, err := render.Kustomize(in.Path)
		return []check.Source{{Name: o.Name, Data: o.Data, Err: err, Arg: in.Path}}
	}
	outs, err := render.Helm(render.HelmOptions{Chart: in.Path, NameByPath: true})
	if err != nil {
		return []check.Source{{Name: in.Path, Err: err, Arg: in.Path}}
	}
	out := make([]check.Source, 0, len(outs))
	for _, o := range outs {
		out = append(out, check.Source{Name: o.Name, Data: o.Data, Arg: in.Path})
	}
	return out
}
