package render

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// ErrRemote marks a reference that would need the network: hpguard renders offline.
var ErrRemote = errors.New("remote reference")

// KustomizeLabel is the file label of the output of the kustomization in dir.
func KustomizeLabel(dir string) string { return "kustomize build " + dir }

// Kustomize builds the kustomization in dir as `kustomize build dir` (and `kubectl kustomize`)
// does with its defaults: krusty on the disk's filesystem, files restricted to the kustomization's
// root, no plugins, no Helm inflation. The Output is the YAML stream `kustomize build` prints,
// named KustomizeLabel(dir).
//
// Nothing is fetched: before krusty acts on a kustomization file (dir's and each local base's), its
// references are checked, and a remote one (a git repository URL such as
// github.com/org/repo//path?ref=v1, an http(s) URL) is an error wrapping ErrRemote. The same goes for
// the paths in the builtin generator and transformer configurations krusty reads.
func Kustomize(dir string) (Output, error) {
	label := KustomizeLabel(dir)
	if isRemote(dir) {
		return Output{Name: label}, fmt.Errorf("%s: %w: hpguard builds kustomizations offline; clone it and pass the local directory", dir, ErrRemote)
	}
	fsys := &offlineFS{FileSystem: filesys.MakeFsOnDisk()}
	if !fsys.IsDir(dir) {
		return Output{Name: label}, fmt.Errorf("-k %s: not a directory", dir)
	}
	found := false
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if fsys.Exists(filepath.Join(dir, n)) {
			found = true
		}
	}
	if !found {
		return Output{Name: label}, fmt.Errorf("-k %s: no kustomization file (%s) in the directory",
			dir, strings.Join(konfig.RecognizedKustomizationFileNames(), ", "))
	}
	opts := krusty.MakeDefaultOptions()
	// As `kustomize build` without --reorder: the kustomization's sortOptions, else the legacy
	// order (namespaces first, then by kind).
	opts.Reorder = krusty.ReorderOptionUnspecified
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	m, err := krusty.MakeKustomizer(opts).Run(fsys, dir)
	if fsys.err != nil {
		return Output{Name: label}, fsys.err
	}
	if err != nil {
		return Output{Name: label}, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return Output{Name: label}, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return Output{Name: label, Data: out}, nil
}

// offlineFS is the disk's filesystem, which refuses to hand krusty a kustomization or a builtin
// plugin configuration that refers to something remote: krusty would fetch it (git clone, http GET)
// right after reading it.
type offlineFS struct {
	filesys.FileSystem
	err error // the first remote reference found; sticky
}

func (f *offlineFS) ReadFile(path string) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	b, err := f.FileSystem.ReadFile(path)
	if err != nil {
		return b, err
	}
	var refs []string
	if slices.Contains(konfig.RecognizedKustomizationFileNames(), filepath.Base(path)) {
		refs = kustomizationRefs(b)
	} else {
		refs = builtinRefs(b)
	}
	for _, r := range refs {
		if isRemote(r) {
			f.err = fmt.Errorf("%s refers to %q: %w: hpguard builds kustomizations offline and fetches nothing; vendor it into the repository and refer to the local copy",
				relative(path), r, ErrRemote)
			return nil, f.err
		}
	}
	return b, nil
}

// kustomizationRefs returns the strings of a kustomization file that krusty loads as files,
// directories or repositories. Inline patches and generator or transformer configurations (strings
// of several lines) are searched as builtin configurations.
func kustomizationRefs(b []byte) []string {
	var k map[string]any
	if yaml.Unmarshal(b, &k) != nil {
		return nil // krusty reports it
	}
	var refs []string
	add := func(v any) {
		s, ok := v.(string)
		if !ok {
			return
		}
		if strings.Contains(strings.TrimSpace(s), "\n") {
			refs = append(refs, builtinRefs([]byte(s))...)
			return
		}
		refs = append(refs, s)
	}
	for _, key := range []string{"resources", "bases", "components", "crds", "configurations",
		"generators", "transformers", "validators", "patchesStrategicMerge"} {
		for _, v := range list(k[key]) {
			add(v)
		}
	}
	for _, key := range []string{"patches", "patchesJson6902", "replacements"} {
		for _, v := range list(k[key]) {
			if m, ok := v.(map[string]any); ok {
				add(m["path"])
			}
		}
	}
	if m, ok := k["openapi"].(map[string]any); ok {
		add(m["path"])
	}
	for _, key := range []string{"configMapGenerator", "secretGenerator"} {
		for _, v := range list(k[key]) {
			refs = append(refs, generatorRefs(v)...)
		}
	}
	return refs
}

// builtinRefs returns the paths in the builtin plugin configurations (apiVersion: builtin) of a
// YAML stream: the only configurations krusty runs with plugins disabled.
func builtinRefs(b []byte) []string {
	var refs []string
	for _, doc := range docSeparator.Split(string(b), -1) {
		var m map[string]any
		if yaml.Unmarshal([]byte(doc), &m) != nil || m["apiVersion"] != "builtin" {
			continue
		}
		for _, key := range []string{"path", "valuesFile", "filePath", "repo"} {
			if s, ok := m[key].(string); ok {
				refs = append(refs, s)
			}
		}
		for _, key := range []string{"paths", "patches"} {
			for _, v := range list(m[key]) {
				if s, ok := v.(string); ok {
					refs = append(refs, s)
				}
			}
		}
		for _, v := range list(m["replacements"]) {
			if r, ok := v.(map[string]any); ok {
				if s, ok := r["path"].(string); ok {
					refs = append(refs, s)
				}
			}
		}
		refs = append(refs, generatorRefs(m)...)
	}
	return refs
}

// generatorRefs returns the files of a ConfigMap or Secret generator: files (KEY=PATH or PATH),
// envs and env.
func generatorRefs(v any) []string {
	g, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	var refs []string
	for _, f := range list(g["files"]) {
		if s, ok := f.(string); ok {
			if _, p, ok := strings.Cut(s, "="); ok {
				s = p
			}
			refs = append(refs, s)
		}
	}
	for _, f := range list(g["envs"]) {
		if s, ok := f.(string); ok {
			refs = append(refs, s)
		}
	}
	if s, ok := g["env"].(string); ok {
		refs = append(refs, s)
	}
	return refs
}

// relative is path relative to the working directory when it is below it (krusty reads absolute
// paths), else path.
func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return path
}

func list(v any) []any { l, _ := v.([]any); return l }

// scpUser is the user@ of an scp-style git URL, as kustomize recognises it.
var scpUser = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// isRemote reports whether kustomize would fetch s over the network rather than read it from disk:
// it mirrors what kustomize accepts as a git repository (an optional git:: prefix, then an ssh://,
// https://, http:// or file:// scheme, a user@host: form, or github.com/ or github.com:) and as a
// remote file (http:// or https://). A file:// repository is local but cloned with git, which
// hpguard does not run either.
func isRemote(s string) bool {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(strings.ToLower(s), "git::") {
		s = s[len("git::"):]
	}
	l := strings.ToLower(s)
	for _, p := range []string{"ssh://", "https://", "http://", "file://", "github.com/", "github.com:"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return scpUser.MatchString(s)
}

// docSeparator splits a YAML stream into documents.
var docSeparator = regexp.MustCompile(`(?m)^---.*$`)
