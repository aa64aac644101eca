// Package oracle holds hpguard's differential tests: a generator of random pods and workloads, checked
// by hpguard and by independent implementations of the same rules (Pod Security Admission's baseline
// evaluator, and a port of kube-apiserver's HostProcess validation). It is a separate module so that
// its test dependencies stay out of hpguard's go.mod.
package oracle

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/hpguard/hpguard/internal/workload"
)

// Kind is a workload kind with its apiVersion and the path of its pod spec and pod metadata.
type Kind struct {
	Name, APIVersion string
	Spec, Meta       []string
}

// Kinds are the workload kinds hpguard evaluates (internal/workload), each in its current group.
var Kinds = func() []Kind {
	var out []Kind
	for _, k := range workload.Kinds {
		out = append(out, Kind{Name: k.Name, APIVersion: k.APIVersion(), Spec: k.Spec, Meta: k.Meta})
	}
	return out
}()

// Prefix is the field path of the kind's pod spec, e.g. "spec.template.spec".
func (k Kind) Prefix() string { return strings.Join(k.Spec, ".") }

// Tri is an optional boolean: Unset, False or True.
type Tri int

// Tri values.
const (
	Unset Tri = iota
	False
	True
)

func (t Tri) String() string { return [...]string{"nil", "false", "true"}[t] }

// Lists are the container lists in API order.
var Lists = []string{"initContainers", "containers", "ephemeralContainers"}

// Case is one generated workload: the object and how it was made (for messages).
type Case struct {
	ID     string
	Kind   Kind
	Object map[string]any
}

// Wrap puts a pod spec (and pod metadata) into a workload of kind k.
func Wrap(k Kind, name string, podMeta, podSpec map[string]any) map[string]any {
	obj := map[string]any{"apiVersion": k.APIVersion, "kind": k.Name, "metadata": map[string]any{"name": name, "namespace": "ns"}}
	set := func(path []string, v any) {
		m := obj
		for _, p := range path[:len(path)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[path[len(path)-1]] = v
	}
	if k.Name != "Pod" {
		set(k.Meta, podMeta)
		// Selectors make the typed workloads realistic; hpguard and the oracles ignore them.
		switch k.Name {
		case "ReplicationController":
			set([]string{"spec", "selector"}, map[string]any{"app": name})
		case "ReplicaSet", "Deployment", "DaemonSet", "StatefulSet":
			set([]string{"spec", "selector"}, map[string]any{"matchLabels": map[string]any{"app": name}})
		case "CronJob":
			set([]string{"spec", "schedule"}, "*/5 * * * *")
		}
	}
	set(k.Spec, podSpec)
	return obj
}

// windowsOptions returns a securityContext value with the given hostProcess and runAsUserName
// (nil for unset), in one of the shapes that all mean "unset" when both are unset.
func securityContext(r *rand.Rand, hp Tri, user *string) any {
	if hp == Unset && user == nil {
		switch r.IntN(4) {
		case 0:
			return nil // no securityContext at all
		case 1:
			return map[string]any{}
		case 2:
			return map[string]any{"windowsOptions": map[string]any{}}
		default:
			return map[string]any{"runAsNonRoot": r.IntN(2) == 0}
		}
	}
	wo := map[string]any{}
	if hp != Unset {
		wo["hostProcess"] = hp == True
	}
	if user != nil {
		wo["runAsUserName"] = *user
	}
	return map[string]any{"windowsOptions": wo}
}

// Shape fixes the hostProcess values of a pod: the pod's and each container's, per list.
type Shape struct {
	Pod        Tri
	Containers [3][]Tri // per list in Lists order
}

// Shapes enumerates every combination of pod-level hostProcess nil/false/true with at most one init,
// exactly one regular and at most one ephemeral container, each absent (for init and ephemeral) or
// nil/false/true: 3 * 4 * 3 * 4 = 144 shapes.
func Shapes() []Shape {
	var out []Shape
	opt := [][]Tri{nil, {Unset}, {False}, {True}}
	for _, pod := range []Tri{Unset, False, True} {
		for _, in := range opt {
			for _, reg := range opt[1:] {
				for _, eph := range opt {
					out = append(out, Shape{Pod: pod, Containers: [3][]Tri{in, reg, eph}})
				}
			}
		}
	}
	return out
}

// RandomShape draws a pod with 0-3 init, 0-4 regular (mostly at least one) and 0-3 ephemeral
// containers, each hostProcess nil/false/true, biased towards the interesting all-true pods.
func RandomShape(r *rand.Rand) Shape {
	s := Shape{Pod: Tri(r.IntN(3))}
	counts := [3]int{r.IntN(4), 1 + r.IntN(4), r.IntN(4)}
	if r.IntN(20) == 0 {
		counts[1] = 0
	}
	mode := r.IntN(3) // 0: independent values, 1: mostly inherit, 2: mostly true
	for l := range Lists {
		for range counts[l] {
			var t Tri
			switch mode {
			case 0:
				t = Tri(r.IntN(3))
			case 1:
				t = []Tri{Unset, Unset, Unset, False, True}[r.IntN(5)]
			default:
				t = []Tri{True, True, True, Unset, False}[r.IntN(5)]
			}
			s.Containers[l] = append(s.Containers[l], t)
		}
	}
	return s
}

// Options select what else the generator varies besides hostProcess.
type Options struct {
	// Users adds runAsUserName at pod and container level (valid and invalid values).
	Users bool
	// OS varies spec.os.
	OS bool
}

// Generate builds a workload of kind k with hostProcess values from s and random names, host
// network, and (per opts) users and OS.
func Generate(r *rand.Rand, k Kind, s Shape, opts Options) map[string]any {
	names := map[string]bool{}
	name := func() string {
		for {
			n := randomName(r)
			if !names[n] {
				names[n] = true
				return n
			}
		}
	}
	user := func() *string {
		if !opts.Users || r.IntN(3) != 0 {
			return nil
		}
		u := RandomUser(r)
		return &u
	}
	spec := map[string]any{}
	if sc := securityContext(r, s.Pod, user()); sc != nil {
		spec["securityContext"] = sc
	}
	switch r.IntN(3) {
	case 1:
		spec["hostNetwork"] = false
	case 2:
		spec["hostNetwork"] = true
	}
	if opts.OS {
		switch r.IntN(8) {
		case 0, 1, 2:
		case 3, 4:
			spec["os"] = map[string]any{"name": "windows"}
		case 5:
			spec["os"] = map[string]any{"name": "linux"}
		case 6:
			spec["os"] = map[string]any{"name": []string{"Windows", "", "LINUX", "win", " windows"}[r.IntN(5)]}
		default:
			spec["os"] = map[string]any{}
		}
	}
	for l, list := range Lists {
		if len(s.Containers[l]) == 0 && r.IntN(4) != 0 {
			continue // absent, or (sometimes) an empty list
		}
		items := []any{}
		for _, hp := range s.Containers[l] {
			c := map[string]any{"name": name(), "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}
			if sc := securityContext(r, hp, user()); sc != nil {
				c["securityContext"] = sc
			}
			items = append(items, c)
		}
		spec[list] = items
	}
	meta := map[string]any{"labels": map[string]any{"app": "x"}}
	return Wrap(k, name(), meta, spec)
}

const nameChars = "abcdefghijklmnopqrstuvwxyz0123456789"

func randomName(r *rand.Rand) string {
	n := 1 + r.IntN(12)
	b := make([]byte, n)
	for i := range b {
		b[i] = nameChars[r.IntN(len(nameChars))]
		if i > 0 && i < n-1 && r.IntN(8) == 0 {
			b[i] = '-'
		}
	}
	return string(b)
}

// Users are runAsUserName values near every boundary of validateWindowsSecurityContextOptions.
var Users = []string{
	`NT AUTHORITY\SYSTEM`, `NT AUTHORITY\LocalService`, `NT AUTHORITY\Local service`, `NT AUTHORITY\NetworkService`,
	`nt authority\system`, `NT AUTHORITY\System `, `NT AUTHORITY/SYSTEM`, `Administrators`, `ContainerAdministrator`,
	`hpc-users`, `user@domain`, `domain\user@x`, `a\b\c`, `\user`, `domain\`, `\`, ``, ` `, `.`, `. .`, `...\user`,
	`.domain\user`, `dom.ain\user`, `my-domain.example.com\user`, `-bad-.example\user`, `a..b\user`,
	`dom*ain\user`, `dom:ain\user`, `dom?ain\user`, `dom"ain\user`, `dom<ain\user`, `dom|ain\user`, `dom/ain\user`,
	"tab\there", "line\nfeed", "del\x7fchar", "nul\x00", "esc\x1b[0m", "\u0085nel", "NT AUTHORITY\\S\u00c9",
	`user[1]`, `us;er`, `us=er`, `us,er`, `us+er`, `us*er`, `us?er`, `us<er`, `us>er`, `us:er`, `us|er`, `us"er`,
	`ÄÖÜ\user`, `日本語ドメイン\ユーザー`, `d\.`, `d\ .`, `d\. x`,
	strings.Repeat("a", 15) + `\user`, strings.Repeat("a", 16) + `\user`,
	strings.Repeat("a", 63) + `\user`, strings.Repeat("a", 64) + `\user`,
	strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + `\user`,
	strings.Repeat("a.", 127) + `a\user`, strings.Repeat("a.", 128) + `a\user`, strings.Repeat("a", 256) + `\user`,
	`d\` + strings.Repeat("u", 104), `d\` + strings.Repeat("u", 105), strings.Repeat("é", 52), strings.Repeat("é", 53),
	strings.Repeat(" ", 3) + "x",
}

const userChars = `abcXYZ019 .-_\/@:;|=,+*?<>[]"é` + "\t"

// RandomUser returns a listed value or a random string over characters that matter to the checks.
func RandomUser(r *rand.Rand) string {
	switch r.IntN(3) {
	case 0, 1:
		return Users[r.IntN(len(Users))]
	}
	n := r.IntN(20)
	rs := []rune(userChars)
	var b strings.Builder
	for range n {
		b.WriteRune(rs[r.IntN(len(rs))])
	}
	if r.IntN(4) == 0 {
		return strings.Repeat("d", r.IntN(300)) + `\` + b.String()
	}
	return b.String()
}

// Describe summarises a shape for messages.
func (s Shape) String() string {
	var parts []string
	parts = append(parts, "pod="+s.Pod.String())
	for l, list := range Lists {
		var vs []string
		for _, t := range s.Containers[l] {
			vs = append(vs, t.String())
		}
		parts = append(parts, fmt.Sprintf("%s=%v", list, vs))
	}
	return strings.Join(parts, " ")
}
