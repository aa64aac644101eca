// Package hostpathforbidden is the check kind "host-path-forbidden": a HostProcess pod mounts no
// hostPath volume whose path starts with one of the prefixes (compared as a deny-list), or whose
// type is one of the types.
package hostpathforbidden

import (
	_ "embed"
	"fmt"

	"github.com/hpguard/hpguard/generator/checks"
)

//go:embed check.rego.tmpl
var rego string

func init() {
	placeholders := []checks.Placeholder{
		{Name: "field", Doc: "the volume's hostPath.path or hostPath.type"}, {Name: "value", Doc: "its value"},
		{Name: "volume", Doc: "the volume's name, quoted"}}
	checks.Register(&checks.Kind{
		Name:    "host-path-forbidden",
		Doc:     "no hostPath volume of a HostProcess pod has a path with one of the prefixes or one of the types",
		NewArgs: func() any { return &Args{} },
		Messages: []checks.Message{
			{ID: "path", Placeholders: placeholders},
			{ID: "type", Placeholders: placeholders},
		},
		Rego: rego,
		CEL:  cel,
	})
}

// Args are the arguments of host-path-forbidden.
type Args struct {
	// PathPrefixes are the forbidden path prefixes ('\' and '/' alike, names compared as a deny-list).
	PathPrefixes []string `yaml:"pathPrefixes"`
	// Types are the forbidden hostPath types.
	Types []string `yaml:"types"`
}

func cel(b *checks.CELBuilder, args any) ([]string, error) {
	a := args.(*Args)
	b.Add("volumes", fmt.Sprintf(`type(%[1]s) == list ? %[1]s : []`, checks.Get("variables.podSpec", "volumes")))
	path, typ := checks.Get("v", "hostPath", "path"), checks.Get("v", "hostPath", "type")
	name := fmt.Sprintf(`strings.quote(string(%s))`, checks.GetOr("v", `""`, "name"))
	pathField := `variables.prefix + ".volumes[" + string(i) + "].hostPath.path"`
	typeField := `variables.prefix + ".volumes[" + string(i) + "].hostPath.type"`
	return []string{
		fmt.Sprintf(`variables.isHostProcessPod ? variables.volumes.transformList(i, v, type(%[1]s) == string && %[1]s.matches(%[2]s), %[3]s) : []`,
			path, checks.Lit(b.Names.DenyPattern(a.PathPrefixes, true, true)),
			checks.Finding(pathField, `""`, b.Msg("path", map[string]string{"field": pathField, "value": checks.ShowString(path), "volume": name}))),
		fmt.Sprintf(`variables.isHostProcessPod ? variables.volumes.transformList(i, v, %s in %s, %s) : []`, typ, checks.StrList(a.Types),
			checks.Finding(typeField, `""`, b.Msg("type", map[string]string{"field": typeField, "value": checks.ShowScalar(typ), "volume": name}))),
	}, nil
}
