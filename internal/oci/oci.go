// Package oci publishes and fetches hpguard bundles through an OCI registry, in the form the
// bundle's consumers read: OPA's OCI bundle downloader takes the bundle tarball from the manifest's
// first application/vnd.oci.image.layer.v1.tar+gzip layer (its signature, .signatures.json, is
// inside it), and `conftest pull` writes every layer to a file named by its title, reading the Rego
// modules and data.json as conftest's own push lays them out. Registry credentials come from the
// Docker configuration file (DOCKER_CONFIG or ~/.docker/config.json, credential helpers included),
// as docker, oras, OPA's tooling and conftest read them.
package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/hpguard/hpguard/internal/bundle"
)

// Media types of an hpguard bundle artifact.
const (
	// ArtifactType marks the manifest as an hpguard policy bundle.
	ArtifactType = "application/vnd.hpguard.bundle.v1"
	// BundleLayer is the bundle tarball, as OPA's OCI downloader reads it.
	BundleLayer = ocispec.MediaTypeImageLayerGzip
	// PolicyLayer and DataLayer are the Rego modules and data.json, one layer per file named by
	// its title, as conftest pushes and pulls policies.
	PolicyLayer = "application/vnd.cncf.openpolicyagent.policy.layer.v1+rego"
	DataLayer   = "application/vnd.cncf.openpolicyagent.data.layer.v1+json"
	// BundleTitle is the bundle layer's file name.
	BundleTitle = "bundle.tar.gz"
	// Scheme prefixes an OCI reference where a file name is also accepted (check --bundle).
	Scheme = "oci://"
)

// Options configure registry access.
type Options struct {
	// PlainHTTP talks HTTP instead of HTTPS; loopback registries (localhost, 127.0.0.0/8, ::1) are
	// always reached over HTTP, as docker and oras do.
	PlainHTTP bool
	// DockerConfig is the Docker configuration file with the credentials; "" reads DOCKER_CONFIG or
	// ~/.docker/config.json.
	DockerConfig string
}

// Pushed is what a push published.
type Pushed struct {
	// Reference is the repository and tag pushed.
	Reference string
	// Digest is the manifest digest: pin it with REPOSITORY@DIGEST.
	Digest string
	// Layers counts the manifest's layers.
	Layers int
	// Tags are the further tags the manifest was given.
	Tags []string
}

// Pulled is a fetched bundle.
type Pulled struct {
	// Data is the bundle tarball, its digest checked against the manifest.
	Data []byte
	// Digest is the manifest digest the reference resolved to.
	Digest string
}

// TrimScheme returns ref without a leading oci://, and whether it had one.
func TrimScheme(ref string) (string, bool) {
	return strings.CutPrefix(ref, Scheme)
}

// repository opens the repository of ref with credentials from the Docker configuration.
func repository(ref string, opts Options) (*remote.Repository, registry.Reference, error) {
	ref, _ = TrimScheme(ref)
	parsed, err := registry.ParseReference(ref)
	if err != nil {
		return nil, registry.Reference{}, fmt.Errorf("%q is not a registry reference (want REGISTRY/REPOSITORY[:TAG|@DIGEST]): %w", ref, err)
	}
	repo, err := remote.NewRepository(parsed.Registry + "/" + parsed.Repository)
	if err != nil {
		return nil, registry.Reference{}, err
	}
	repo.PlainHTTP = opts.PlainHTTP || isLoopback(parsed.Host())
	store, err := credentialStore(opts.DockerConfig)
	if err != nil {
		return nil, registry.Reference{}, err
	}
	repo.Client = &auth.Client{
		Client:     retry.DefaultClient,
		Cache:      auth.NewCache(),
		Credential: credentials.Credential(store),
		Header:     map[string][]string{"User-Agent": {"hpguard"}},
	}
	return repo, parsed, nil
}

func credentialStore(file string) (credentials.Store, error) {
	opts := credentials.StoreOptions{DetectDefaultNativeStore: true}
	var (
		s   *credentials.DynamicStore
		err error
	)
	if file != "" {
		s, err = credentials.NewStore(file, opts)
	} else {
		s, err = credentials.NewStoreFromDocker(opts)
	}
	if err != nil {
		return nil, fmt.Errorf("registry credentials: %w", err)
	}
	return s, nil
}

func isLoopback(host string) bool {
	h := host
	if sh, _, err := net.SplitHostPort(host); err == nil {
		h = sh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Push publishes a bundle to ref (REGISTRY/REPOSITORY[:TAG], tag "latest" when none): one manifest
// with the bundle layer, then a layer per Rego module and one for data.json. The bundle must be a
// well-formed bundle archive. The manifest is then given each of tags as well (one release as
// 1.3.0, 1.3 and latest, say), once it is in the registry under ref's tag.
func Push(ctx context.Context, ref string, data []byte, opts Options, tags ...string) (*Pushed, error) {
	repo, parsed, err := repository(ref, opts)
	if err != nil {
		return nil, err
	}
	if parsed.Reference == "" {
		parsed.Reference = "latest"
	}
	if _, err := parsed.Digest(); err == nil {
		return nil, fmt.Errorf("push to a tag, not a digest: the digest is the manifest's, known once it is pushed")
	}
	for _, t := range tags {
		r := parsed
		r.Reference = t
		if err := r.ValidateReferenceAsTag(); err != nil {
			return nil, fmt.Errorf("tag %q: %w", t, err)
		}
	}
	files, err := bundle.Files(data)
	if err != nil {
		return nil, fmt.Errorf("not a bundle: %w", err)
	}
	store := memory.New()
	add := func(mediaType, title string, b []byte) (ocispec.Descriptor, error) {
		d := content.NewDescriptorFromBytes(mediaType, b)
		d.Annotations = map[string]string{ocispec.AnnotationTitle: title}
		return d, store.Push(ctx, d, bytes.NewReader(b))
	}
	layers := []ocispec.Descriptor{}
	d, err := add(BundleLayer, BundleTitle, data)
	if err != nil {
		return nil, err
	}
	layers = append(layers, d)
	for _, f := range files {
		mt := ""
		switch {
		case strings.HasSuffix(f.Path, ".rego"):
			mt = PolicyLayer
		case f.Path == "data.json":
			mt = DataLayer
		default:
			continue
		}
		d, err := add(mt, f.Path, f.Data)
		if err != nil {
			return nil, err
		}
		layers = append(layers, d)
	}
	manifest, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, ArtifactType, oras.PackManifestOptions{
		Layers: layers,
		ManifestAnnotations: map[string]string{
			ocispec.AnnotationTitle:  "hpguard policy bundle",
			ocispec.AnnotationSource: "https://github.com/hpguard/hpguard",
			// A fixed creation time keeps the manifest, and so its digest, a function of the bundle.
			ocispec.AnnotationCreated: "1970-01-01T00:00:00Z",
		},
	})
	if err != nil {
		return nil, err
	}
	if err := store.Tag(ctx, manifest, parsed.Reference); err != nil {
		return nil, err
	}
	if _, err := oras.Copy(ctx, store, parsed.Reference, repo, parsed.Reference, oras.DefaultCopyOptions); err != nil {
		return nil, fmt.Errorf("push %s: %w", parsed, hint(parsed, err))
	}
	if len(tags) > 0 {
		if _, err := oras.TagN(ctx, repo, manifest.Digest.String(), tags, oras.DefaultTagNOptions); err != nil {
			return nil, fmt.Errorf("tag %s@%s: %w", parsed.Registry+"/"+parsed.Repository, manifest.Digest, hint(parsed, err))
		}
	}
	return &Pushed{Reference: parsed.String(), Digest: manifest.Digest.String(), Layers: len(layers), Tags: tags}, nil
}

// Pull fetches the bundle of ref (REGISTRY/REPOSITORY[:TAG|@DIGEST], tag "latest" when none).
// Every blob is checked against the digest that names it; the Rego and data layers must hold
// exactly the bundle's files, so what conftest reads from the artifact is what the bundle (and its
// signature) holds.
func Pull(ctx context.Context, ref string, opts Options) (*Pulled, error) {
	repo, parsed, err := repository(ref, opts)
	if err != nil {
		return nil, err
	}
	if parsed.Reference == "" {
		parsed.Reference = "latest"
	}
	desc, m, err := manifest(ctx, repo, parsed)
	if err != nil {
		return nil, err
	}
	var (
		data   []byte
		others = map[string][]byte{}
	)
	for _, l := range m.Layers {
		b, err := content.FetchAll(ctx, repo, l)
		if err != nil {
			return nil, fmt.Errorf("pull %s: layer %s: %w", parsed, l.Digest, err)
		}
		title := l.Annotations[ocispec.AnnotationTitle]
		switch l.MediaType {
		case BundleLayer:
			if data == nil {
				data = b
			}
		case PolicyLayer, DataLayer:
			if _, dup := others[title]; dup || title == "" {
				return nil, fmt.Errorf("pull %s: layer %s: missing or repeated title %q", parsed, l.Digest, title)
			}
			others[title] = b
		}
	}
	if data == nil {
		return nil, fmt.Errorf("pull %s: no %s layer (not a bundle artifact)", parsed, BundleLayer)
	}
	if err := sameFiles(data, others); err != nil {
		return nil, fmt.Errorf("pull %s: %w", parsed, err)
	}
	return &Pulled{Data: data, Digest: desc.Digest.String()}, nil
}

// hint says what to do about a registry error a user can fix.
func hint(ref registry.Reference, err error) error {
	var re *errcode.ErrorResponse
	switch {
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fmt.Errorf("%w: the registry asks for credentials and the Docker configuration has none for %s; run `docker login %s` (or `oras login`), or pass --registry-config", err, ref.Registry, ref.Registry)
	case errors.As(err, &re) && re.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w: the credentials for %s were refused; log in again", err, ref.Registry)
	case errors.Is(err, errdef.ErrNotFound):
		return fmt.Errorf("%w: no such tag or digest in %s", err, ref.Repository)
	}
	return err
}

// Manifest returns the image manifest ref names.
func Manifest(ctx context.Context, ref string, opts Options) (*ocispec.Manifest, error) {
	repo, parsed, err := repository(ref, opts)
	if err != nil {
		return nil, err
	}
	if parsed.Reference == "" {
		parsed.Reference = "latest"
	}
	_, m, err := manifest(ctx, repo, parsed)
	return m, err
}

func manifest(ctx context.Context, repo *remote.Repository, parsed registry.Reference) (ocispec.Descriptor, *ocispec.Manifest, error) {
	desc, raw, err := oras.FetchBytes(ctx, repo, parsed.Reference, oras.DefaultFetchBytesOptions)
	if err != nil {
		return desc, nil, fmt.Errorf("pull %s: %w", parsed, hint(parsed, err))
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return desc, nil, fmt.Errorf("pull %s: %s is not an image manifest", parsed, desc.MediaType)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return desc, nil, fmt.Errorf("pull %s: manifest: %w", parsed, err)
	}
	return desc, &m, nil
}

// sameFiles checks that the per-file layers hold exactly the bundle's Rego modules and data.json.
func sameFiles(data []byte, layers map[string][]byte) error {
	files, err := bundle.Files(data)
	if err != nil {
		return fmt.Errorf("bundle layer: %w", err)
	}
	want := map[string][]byte{}
	for _, f := range files {
		if strings.HasSuffix(f.Path, ".rego") || f.Path == "data.json" {
			want[f.Path] = f.Data
		}
	}
	var errs []error
	for name, b := range layers {
		w, ok := want[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("layer %s is not in the bundle", name))
		case !bytes.Equal(w, b):
			errs = append(errs, fmt.Errorf("layer %s differs from the bundle's %s", name, name))
		}
	}
	for name := range want {
		if _, ok := layers[name]; !ok && len(layers) > 0 {
			errs = append(errs, fmt.Errorf("the bundle's %s has no layer", name))
		}
	}
	return errors.Join(errs...)
}
