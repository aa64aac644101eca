package workload

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKinds(t *testing.T) {
	require.Len(t, Kinds, 9)
	require.Equal(t, "Pod", Kinds[0].Name)
	for _, k := range Kinds {
		require.True(t, IsWorkload(k.APIVersion(), k.Name), k.Name)
		require.Equal(t, k.Spec[:len(k.Spec)-1], k.Meta[:len(k.Meta)-1], "%s: pod spec and metadata are siblings", k.Name)
		if k.Name != "Pod" {
			require.Equal(t, k.Template, k.Spec[:len(k.Template)], "%s: the pod spec is in the template", k.Name)
		}
	}
	d, ok := Lookup("Deployment")
	require.True(t, ok)
	require.Equal(t, "apps/v1", d.APIVersion())
	require.Equal(t, "spec.template.spec", d.SpecPrefix())
	require.Equal(t, "spec.template.metadata", d.MetaPrefix())
	require.Equal(t, "spec.template", d.TemplatePath())
	c, _ := Lookup("CronJob")
	require.Equal(t, "spec.jobTemplate.spec.template.spec", c.SpecPrefix())
	p, _ := Lookup("Pod")
	require.Equal(t, "v1", p.APIVersion())
	require.Equal(t, "", p.TemplatePath())
}

func TestIsWorkload(t *testing.T) {
	for _, tt := range []struct {
		apiVersion, kind string
		want             bool
	}{
		{"v1", "Pod", true},
		{"apps/v1", "Deployment", true},
		{"extensions/v1beta1", "Deployment", true},
		{"extensions/v1beta1", "StatefulSet", false},
		{"apps/v1", "Pod", false},
		{"batch/v1beta1", "CronJob", true},
		{"v1", "Service", false},
		{"", "Pod", true},
	} {
		require.Equal(t, tt.want, IsWorkload(tt.apiVersion, tt.kind), "%s %s", tt.apiVersion, tt.kind)
	}
}

func TestByGroups(t *testing.T) {
	require.Equal(t, []GroupKinds{
		{[]string{""}, []string{"Pod", "PodTemplate", "ReplicationController"}},
		{[]string{"apps", "extensions"}, []string{"ReplicaSet", "Deployment", "DaemonSet"}},
		{[]string{"apps"}, []string{"StatefulSet"}},
		{[]string{"batch"}, []string{"Job", "CronJob"}},
	}, ByGroups())
}
