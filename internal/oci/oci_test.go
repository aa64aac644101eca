package oci

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard"
	"github.com/hpguard/hpguard/internal/bundle"
)

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost:5000": true, "LOCALHOST": true, "127.0.0.1:5000": true, "127.1.2.3": true, "[::1]:5000": true,
		"registry.example.com": false, "10.0.0.1:5000": false, "localhost.example.com": false,
	} {
		require.Equal(t, want, isLoopback(host), host)
	}
}

// TestSameFiles: the per-file layers must be exactly the bundle's Rego modules and data.json.
func TestSameFiles(t *testing.T) {
	data, err := hpguard.Bundle()
	require.NoError(t, err)
	files, err := bundle.Files(data)
	require.NoError(t, err)
	layers := map[string][]byte{}
	for _, f := range files {
		if f.Path == "data.json" || strings.HasSuffix(f.Path, ".rego") {
			layers[f.Path] = f.Data
		}
	}
	require.NotEmpty(t, layers)
	require.NoError(t, sameFiles(data, layers))
	require.NoError(t, sameFiles(data, nil), "an artifact with the bundle layer only")

	changed := map[string][]byte{}
	for k, v := range layers {
		changed[k] = v
	}
	changed["lib/core.rego"] = append(append([]byte(nil), changed["lib/core.rego"]...), '\n')
	require.ErrorContains(t, sameFiles(data, changed), "layer lib/core.rego differs")

	extra := map[string][]byte{"evil.rego": []byte("package x")}
	for k, v := range layers {
		extra[k] = v
	}
	require.ErrorContains(t, sameFiles(data, extra), "layer evil.rego is not in the bundle")

	missing := map[string][]byte{}
	for k, v := range layers {
		if k != "data.json" {
			missing[k] = v
		}
	}
	require.ErrorContains(t, sameFiles(data, missing), "data.json has no layer")
}

func TestPushRefusesDigestAndNonBundle(t *testing.T) {
	_, err := Push(t.Context(), "127.0.0.1:1/x@sha256:0000000000000000000000000000000000000000000000000000000000000000", []byte("x"), Options{DockerConfig: t.TempDir() + "/none.json"})
	require.ErrorContains(t, err, "push to a tag")
	_, err = Push(t.Context(), "127.0.0.1:1/x:1", []byte("not a bundle"), Options{DockerConfig: t.TempDir() + "/none.json"})
	require.ErrorContains(t, err, "not a bundle")
}
