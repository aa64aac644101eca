package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Input is one file to read, found from an argument of Expand, or a path
// that cannot be read.
type Input struct {
	Arg  string // the argument Path comes from
	Path string // the file to read ("-" for standard input), or the path that cannot be read
	Err  error  // why Path cannot be read (an *Error for Path), or nil
	// Chart is set when Path is a Helm chart directory (it holds Chart.yaml): its templates are
	// not manifests until rendered, so it is not walked.
	Chart bool
	// Kustomization is set when Path is a kustomization directory (it holds one of
	// KustomizationFiles): its files are resources and patches to build, not manifests as they
	// stand, so it is not walked.
	Kustomization bool
	// Ignored is the ignore pattern Path matches (ExpandOptions.Ignore): Path is not read, nor
	// walked when a directory.
	Ignored string
}

// ChartFile is the file that makes a directory a Helm chart.
const ChartFile = "Chart.yaml"

// KustomizationFiles are the names of the file that makes a directory a kustomization, those
// kustomize recognizes (konfig.RecognizedKustomizationFileNames).
var KustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// ExpandOptions configure ExpandWith.
type ExpandOptions struct {
	// Ignore, when set, is asked about every path found from an argument (the argument itself, the
	// files and directories below it) and returns the pattern it matches, or "". A matched path is
	// returned as an Input with Ignored set, and not walked.
	Ignore func(arg, path string, isDir bool) string
	// NoRender reads the files of kustomizations as files: a directory holding a kustomization
	// file is walked, and a file named inside a chart or a kustomization is that file. Charts
	// found while walking are still one Input with Chart set (their templates are not YAML).
	NoRender bool
}

// Extensions are the file name extensions read in directories: kubectl's
// (k8s.io/cli-runtime resource.FileExtensions).
var Extensions = []string{".json", ".yaml", ".yml"}

func hasExtension(p string) bool { return slices.Contains(Extensions, filepath.Ext(p)) }

// Expand turns user arguments into the files to read, each argument on its
// own: "-" is standard input, a file is read as given (whatever its name), a
// directory is walked recursively for files named with one of Extensions,
// sorted by path.
//
// Symbolic links are followed: an argument that is a link, a link found in a
// directory whose name has one of Extensions (to a file), and a link to a
// directory, walked like a subdirectory. Each directory is walked once per
// argument: a link to a directory already walked is not walked again (its
// files are read under the first path found, real directories before links),
// and a link to a directory that contains it (a loop) is an error.
//
// A path that cannot be read (missing, no permission, a dangling link named
// like a manifest, a loop) is an Input with Err set, in its place; the other
// paths are still expanded. A directory without manifests adds nothing.
//
// A directory that holds Chart.yaml (a Helm chart, whose templates are not YAML until rendered) is
// not walked: it is one Input with Chart set. Likewise a directory that holds a kustomization file
// is one Input with Kustomization set: what it deploys is what it builds, not its files (patches
// are partial objects, and bases and overlays change what they include).
func Expand(args []string) []Input {
	return ExpandWith(args, ExpandOptions{})
}

// ExpandWith is Expand with options.
//
// A file given by name inside a Helm chart or a kustomization (its directory or one below it) is
// part of what the chart or the kustomization deploys, not a manifest as it stands (a template, a
// values file, a patch): it is an Input for the chart (the outermost one when the chart is
// vendored in another's charts/) or the kustomization, so that a hook passing the files of a
// commit by name has them rendered. Each is one Input, however many of its files are named.
// ExpandOptions.NoRender turns this off, and walks kustomizations as plain directories.
func ExpandWith(args []string, opts ExpandOptions) []Input {
	var out []Input
	seen := map[string]bool{}
	for _, arg := range args {
		for _, in := range expand(arg, opts) {
			if (in.Chart || in.Kustomization) && in.Err == nil && in.Ignored == "" {
				if seen[in.Path] {
					continue
				}
				seen[in.Path] = true
			}
			out = append(out, in)
		}
	}
	return out
}

// ownerOf returns the Helm chart or the kustomization that file belongs to, or "": the nearest
// directory above file (up to the root of its repository) that holds Chart.yaml or a kustomization
// file. A chart vendored in the charts/ directory of another chart belongs to the outer one. The
// path is relative when file is.
func ownerOf(file string) (dir string, chart bool) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", false
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		switch {
		case isChart(d):
			dir, chart = d, true
			for filepath.Base(filepath.Dir(dir)) == "charts" && isChart(filepath.Dir(filepath.Dir(dir))) {
				dir = filepath.Dir(filepath.Dir(dir))
			}
		case isKustomization(d):
			dir = d
		}
		if dir != "" {
			break
		}
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil || filepath.Dir(d) == d {
			return "", false
		}
	}
	if !filepath.IsAbs(file) {
		if wd, err := os.Getwd(); err == nil {
			if rel, err := filepath.Rel(wd, dir); err == nil {
				return rel, chart
			}
		}
	}
	return dir, chart
}

func expand(arg string, opts ExpandOptions) []Input {
	if arg == "-" {
		return []Input{{Arg: arg, Path: arg}}
	}
	fi, err := os.Stat(arg)
	if err != nil {
		return []Input{{Arg: arg, Path: arg, Err: pathError(arg, err)}}
	}
	if opts.Ignore != nil {
		if g := opts.Ignore(arg, arg, fi.IsDir()); g != "" {
			return []Input{{Arg: arg, Path: arg, Ignored: g}}
		}
	}
	if !fi.IsDir() {
		if !opts.NoRender {
			if dir, chart := ownerOf(arg); dir != "" {
				return []Input{{Arg: arg, Path: dir, Chart: chart, Kustomization: !chart}}
			}
		}
		return []Input{{Arg: arg, Path: arg}}
	}
	real, err := realPath(arg)
	if err != nil {
		return []Input{{Arg: arg, Path: arg, Err: pathError(arg, err)}}
	}
	w := &walker{arg: arg, walked: map[string]bool{}, ignore: opts.Ignore, noRender: opts.NoRender}
	w.dir(arg, real, []string{real})
	for len(w.links) > 0 {
		l := w.links[0]
		w.links = w.links[1:]
		switch {
		case slices.ContainsFunc(l.up, func(u string) bool { return within(u, l.real) }):
			w.out = append(w.out, Input{Arg: arg, Path: l.path, Err: &Error{File: l.path, Err: fmt.Errorf(
				"symbolic link loop: the link leads to %s, which contains it, and is not followed: "+
					"remove the link, or pass the directories it should add as arguments", l.real)}})
		case !w.walked[l.real]:
			w.dir(l.path, l.real, append(slices.Clip(l.up), l.real))
		}
	}
	slices.SortStableFunc(w.out, func(a, b Input) int { return strings.Compare(a.Path, b.Path) })
	return w.out
}

// walker walks the directory tree of one argument.
type walker struct {
	arg      string
	out      []Input
	walked   map[string]bool // real paths of the directories walked
	links    []dirLink       // links to directories, followed after the real tree
	ignore   func(arg, path string, isDir bool) string
	noRender bool
}

// ignored reports whether path is ignored, and records it when it is.
func (w *walker) ignored(path string, isDir bool) bool {
	if w.ignore == nil || path == w.arg {
		return false
	}
	if g := w.ignore(w.arg, path, isDir); g != "" {
		w.out = append(w.out, Input{Arg: w.arg, Path: path, Ignored: g})
		return true
	}
	return false
}

// isChart reports whether dir holds a Chart.yaml file.
func isChart(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, ChartFile))
	return err == nil && fi.Mode().IsRegular()
}

// isKustomization reports whether dir holds a kustomization file.
func isKustomization(dir string) bool {
	for _, name := range KustomizationFiles {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// dirLink is a symbolic link to a directory, found at path.
type dirLink struct {
	path string
	real string   // real path of the directory it leads to
	up   []string // real paths of the directories above it: the argument, the links followed to reach it, its own directory
}

// dir walks directory path, whose real path is real; up holds the real paths
// of the argument and of the links followed to reach it.
func (w *walker) dir(path, real string, up []string) {
	w.walked[real] = true
	switch {
	case isChart(path):
		w.out = append(w.out, Input{Arg: w.arg, Path: path, Chart: true})
		return
	case !w.noRender && isKustomization(path):
		w.out = append(w.out, Input{Arg: w.arg, Path: path, Kustomization: true})
		return
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		w.fail(path, err) // the entries read before the error are still walked
	}
	for _, e := range entries {
		p := filepath.Join(path, e.Name())
		if (e.IsDir() || e.Type()&fs.ModeSymlink != 0 || hasExtension(p)) && w.ignored(p, e.IsDir()) {
			continue
		}
		switch {
		case e.IsDir():
			w.dir(p, filepath.Join(real, e.Name()), up)
		case e.Type()&fs.ModeSymlink != 0:
			w.link(p, real, up)
		case hasExtension(p):
			w.out = append(w.out, Input{Arg: w.arg, Path: p})
		}
	}
}

// link handles the symbolic link p found in directory parent (a real path).
func (w *walker) link(p, parent string, up []string) {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		if hasExtension(p) {
			target, _ := os.Readlink(p)
			w.fail(p, fmt.Errorf("symbolic link to %s: %w", target, errors.Unwrap(err)))
		}
	case fi.IsDir():
		real, err := realPath(p)
		if err != nil {
			w.fail(p, err)
			return
		}
		w.links = append(w.links, dirLink{path: p, real: real, up: append(slices.Clip(up), parent)})
	case hasExtension(p):
		w.out = append(w.out, Input{Arg: w.arg, Path: p})
	}
}

func (w *walker) fail(p string, err error) {
	w.out = append(w.out, Input{Arg: w.arg, Path: p, Err: pathError(p, err)})
}

// realPath returns the absolute path of p with every symbolic link resolved.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// within reports whether path is dir or below it (both real paths).
func within(path, dir string) bool {
	if path == dir {
		return true
	}
	if !strings.HasSuffix(dir, string(filepath.Separator)) {
		dir += string(filepath.Separator)
	}
	return strings.HasPrefix(path, dir)
}

// pathError is the *Error for a path that cannot be read. It matches err
// (errors.Is(e, fs.ErrNotExist) holds for a missing path).
func pathError(p string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is in the message already
	}
	hint := ""
	switch {
	case errors.Is(err, fs.ErrNotExist):
		hint = "; check the path (a shell pattern that matches no file is passed as is)"
	case errors.Is(err, fs.ErrPermission):
		hint = "; give the user running hpguard read access, or leave the path out"
	}
	return &Error{File: p, Err: &classified{kind: err, err: fmt.Errorf("cannot read: %v%s", err, hint)}}
}
