package generator

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// BundlePath is where the OPA bundle of the generated policies is written (derived from them by the
// command layer, see Derive).
const BundlePath = "bundle.tar.gz"

// Outputs are the directories and files Generate owns; stale files under these directories are
// removed by Write and reported by Diff.
var Outputs = []string{RegoDir, GoldenDir, DocsPath, GatekeeperDir, VAPDir, KyvernoDir, BundlePath}

// Write writes files under root and removes files in the generated directories that the spec no
// longer produces.
func Write(root string, files []File) error {
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, f.Data) {
			continue
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return err
		}
	}
	stale, err := existing(root)
	if err != nil {
		return err
	}
	for _, p := range stale {
		if !want[p] {
			if err := os.Remove(filepath.Join(root, filepath.FromSlash(p))); err != nil {
				return err
			}
		}
	}
	return nil
}

// Diff lists the paths under root that differ from files: changed, missing or stale.
func Diff(root string, files []File) ([]string, error) {
	var out []string
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
		old, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.Path)))
		switch {
		case err != nil:
			out = append(out, f.Path+" (missing)")
		case !bytes.Equal(old, f.Data):
			out = append(out, f.Path+" (differs)")
		}
	}
	have, err := existing(root)
	if err != nil {
		return nil, err
	}
	for _, p := range have {
		if !want[p] {
			out = append(out, p+" (stale)")
		}
	}
	sort.Strings(out)
	return out, nil
}

// existing lists the files currently under the generated outputs, as slash paths relative to root.
func existing(root string) ([]string, error) {
	var out []string
	for _, o := range Outputs {
		base := filepath.Join(root, filepath.FromSlash(o))
		info, err := os.Stat(base)
		if err != nil {
			continue
		}
		if !info.IsDir() {
			out = append(out, o)
			continue
		}
		err = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list generated files: %w", err)
		}
	}
	for i, p := range out {
		out[i] = strings.TrimPrefix(p, "./")
	}
	return out, nil
}
