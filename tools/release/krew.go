package main

import (
	"bytes"
	"os"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/krew/pkg/index"
	"sigs.k8s.io/yaml"
)

// writeKrew writes the krew plugin manifest (kubectl krew install --manifest=hpguard.yaml, or the
// krew-index's plugins/hpguard.yaml): one platform per archive, `kubectl hpguard ...` runs the binary.
func writeKrew(path string, rel *Release) error {
	p := index.Plugin{
		TypeMeta:   metav1.TypeMeta{APIVersion: "krew.googlecontainertools.github.com/v1alpha2", Kind: "Plugin"},
		ObjectMeta: metav1.ObjectMeta{Name: "hpguard"},
		Spec: index.PluginSpec{
			Version:          "v" + rel.Version,
			Homepage:         "https://github.com/hpguard/hpguard",
			ShortDescription: "Check workloads against the Windows HostProcess rules",
			Description: "Checks manifests and live clusters against the rules for Windows HostProcess pods\n" +
				"(the API server's validation, the kubelet, containerd and hcsshim, and least privilege),\n" +
				"with the same policies hpguard ships for Gatekeeper, ValidatingAdmissionPolicy and OPA.\n" +
				"  kubectl hpguard check manifests/\n  kubectl hpguard audit\n",
		},
	}
	for _, a := range rel.Artifacts {
		p.Spec.Platforms = append(p.Spec.Platforms, index.Platform{
			URI:      a.URL,
			Sha256:   a.SHA256,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"os": a.OS, "arch": a.Arch}},
			Files:    []index.FileOperation{{From: a.Binary, To: "."}, {From: "README.md", To: "."}},
			Bin:      a.Binary,
		})
	}
	data, err := yaml.Marshal(p)
	if err != nil {
		return err
	}
	// ObjectMeta marshals an empty creationTimestamp as null; krew-index manifests have none.
	data = bytes.Replace(data, []byte("  creationTimestamp: null\n"), nil, 1)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
