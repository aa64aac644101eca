package check

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/report"
)

// names is a fake evaluator: one finding per object, naming it.
type names struct{}

func (names) Evaluate(_ context.Context, obj map[string]any) ([]report.Finding, error) {
	m, _ := obj["metadata"].(map[string]any)
	return []report.Finding{{Rule: "r", Severity: report.SeverityDeny, Field: "metadata.name", Message: m["name"].(string)}}, nil
}

// TestSources checks that in-memory sources are read like files after the paths: their own
// document indexes and lines, errors as results, and an empty run explained per argument.
func TestSources(t *testing.T) {
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec: {containers: [{name: c, image: i}]}\n"
	rep, err := Run(context.Background(), Options{Evaluator: names{}, Workers: 4, Sources: []Source{
		{Name: "kustomize build a", Arg: "-k a", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n" + fmt.Sprintf(pod, "p"))},
		{Name: "kustomize build b", Arg: "-k b", Err: errors.New("remote base")},
		{Name: "chart/templates/pod.yaml", Arg: "--helm-chart chart", Data: []byte(fmt.Sprintf(pod, "q"))},
	}})
	require.NoError(t, err)
	var got []string
	for _, r := range rep.Results {
		got = append(got, r.File+" "+string(r.Status)+" "+strconv.Itoa(r.Document)+" "+strconv.Itoa(r.Line)+" "+r.Error+findingLines(r))
	}
	require.Equal(t, []string{
		"kustomize build a skipped 0 1 ",
		"kustomize build a checked 1 5  metadata.name:8",
		"kustomize build b error 0 0 remote base",
		"chart/templates/pod.yaml checked 0 1  metadata.name:4",
	}, got)
	require.Equal(t, 2, rep.Summary.Files)
	require.Equal(t, 2, ExitCode(rep, report.SeverityDeny))

	rep, err = Run(context.Background(), Options{Evaluator: names{}, Sources: []Source{{Name: "chart", Arg: "--helm-chart chart"}}})
	require.NoError(t, err)
	require.Len(t, rep.Results, 1)
	require.Contains(t, rep.Results[0].Error, "--helm-chart chart rendered no Kubernetes object")
	require.True(t, EmptyRun(rep))
	rep, err = Run(context.Background(), Options{Evaluator: names{}, AllowEmpty: true, Sources: []Source{{Name: "chart", Arg: "--helm-chart chart"}}})
	require.NoError(t, err)
	require.Empty(t, rep.Results)
}

func findingLines(r report.Result) string {
	s := ""
	for _, f := range r.Findings {
		s += " " + f.Field + ":" + strconv.Itoa(f.Line)
	}
	return s
}
