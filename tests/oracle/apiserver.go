package oracle

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// This file is a port of the HostProcess checks of kube-apiserver, Kubernetes 1.34
// (k8s.io/kubernetes@v1.34.1, pkg/apis/core/validation/validation.go):
//
//   - validateWindowsHostProcessPod (R2 values agree, R3 all containers, R4 host network),
//   - validateWindowsSecurityContextOptions, runAsUserName part (R7), called from
//     validatePodSpecSecurityContext for the pod and ValidateSecurityContext for every init,
//     regular and ephemeral container,
//   - validateOS and, when it passes with os.name "linux", validateLinux (R6),
//
// written against the v1 types (the API server converts to the internal types first; the fields
// used here convert one to one, and PodSecurityContext.HostNetwork is PodSpec.HostNetwork in v1).
// The API server is assumed to run with --allow-privileged=true (capabilities.Get().AllowPrivileged).
// Each error keeps the field path the API server reports and the hpguard rule it corresponds to.

// APIError is one field.Error of the port.
type APIError struct {
	Rule  string // hpguard rule id
	Field string
	Msg   string
}

// Rule ids of hpguard that the port covers.
const (
	RuleValuesAgree   = "hostprocess-values-agree"   // R2
	RuleAllContainers = "hostprocess-all-containers" // R3
	RuleHostNetwork   = "host-network-required"      // R4
	RuleOS            = "os-not-linux"               // R6
	RuleUserFormat    = "run-as-user-name-format"    // R7
)

// APIRules are the rules the port decides.
var APIRules = []string{RuleValuesAgree, RuleAllContainers, RuleHostNetwork, RuleOS, RuleUserFormat}

// The constants and regular expressions of validation.go, verbatim.
const (
	maxRunAsUserNameDomainLength = 256
	maxRunAsUserNameUserLength   = 104
)

var (
	ctrlRegex                      = regexp.MustCompile(`[[:cntrl:]]+`)
	validNetBiosRegex              = regexp.MustCompile(`^[^\\/:\*\?"<>|\.][^\\/:\*\?"<>|]{0,14}$`)
	dnsLabelFormat                 = `[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?`
	dnsSubdomainFormat             = fmt.Sprintf(`^%s(?:\.%s)*$`, dnsLabelFormat, dnsLabelFormat)
	validWindowsUserDomainDNSRegex = regexp.MustCompile(dnsSubdomainFormat)
	invalidUserNameCharsRegex      = regexp.MustCompile(`["/\\:;|=,\+\*\?<>@\[\]]`)
	invalidUserNameDotsSpacesRegex = regexp.MustCompile(`^[\. ]+$`)
)

// container is one container with its field path (VisitContainersWithPath: init, regular, ephemeral).
type container struct {
	sc   *corev1.SecurityContext
	path string
}

func visitContainersWithPath(spec *corev1.PodSpec, prefix string) []container {
	var out []container
	for i := range spec.InitContainers {
		out = append(out, container{spec.InitContainers[i].SecurityContext, fmt.Sprintf("%s.initContainers[%d]", prefix, i)})
	}
	for i := range spec.Containers {
		out = append(out, container{spec.Containers[i].SecurityContext, fmt.Sprintf("%s.containers[%d]", prefix, i)})
	}
	for i := range spec.EphemeralContainers {
		out = append(out, container{spec.EphemeralContainers[i].SecurityContext, fmt.Sprintf("%s.ephemeralContainers[%d]", prefix, i)})
	}
	return out
}

// ValidatePod returns the port's errors for a pod spec whose field path is prefix ("spec",
// "spec.template.spec", ...), in the order the API server reports them.
func ValidatePod(spec *corev1.PodSpec, prefix string) []APIError {
	var errs []APIError
	// validatePodSpecSecurityContext -> validateWindowsSecurityContextOptions (pod level)
	if spec.SecurityContext != nil {
		errs = append(errs, validateWindowsSecurityContextOptions(spec.SecurityContext.WindowsOptions, prefix+".securityContext.windowsOptions")...)
	}
	// validateContainerCommon -> ValidateSecurityContext -> validateWindowsSecurityContextOptions
	for _, c := range visitContainersWithPath(spec, prefix) {
		if c.sc != nil {
			errs = append(errs, validateWindowsSecurityContextOptions(c.sc.WindowsOptions, c.path+".securityContext.windowsOptions")...)
		}
	}
	errs = append(errs, validateWindowsHostProcessPod(spec, prefix)...)
	// ValidatePodSpec: if spec.OS != nil { osErrs := validateOS(...); ... case Linux: validateLinux }
	if spec.OS != nil {
		osErrs := validateOS(spec, prefix+".os")
		switch {
		case len(osErrs) > 0:
			errs = append(errs, osErrs...)
		case spec.OS.Name == corev1.Linux:
			errs = append(errs, validateLinux(spec, prefix)...)
		}
	}
	return errs
}

func validateWindowsSecurityContextOptions(wo *corev1.WindowsSecurityContextOptions, path string) []APIError {
	var errs []APIError
	if wo == nil || wo.RunAsUserName == nil {
		return errs
	}
	f := path + ".runAsUserName"
	bad := func(msg string) { errs = append(errs, APIError{RuleUserFormat, f, msg}) }
	name := *wo.RunAsUserName
	if l := len(name); l == 0 {
		bad("runAsUserName cannot be an empty string")
	} else if ctrlRegex.MatchString(name) {
		bad("runAsUserName cannot contain control characters")
	} else if parts := strings.Split(name, "\\"); len(parts) > 2 {
		bad("runAsUserName cannot contain more than one backslash")
	} else {
		var (
			hasDomain = false
			domain    = ""
			user      string
		)
		if len(parts) == 1 {
			user = parts[0]
		} else {
			hasDomain = true
			domain = parts[0]
			user = parts[1]
		}
		if len(domain) >= maxRunAsUserNameDomainLength {
			bad(fmt.Sprintf("runAsUserName's Domain length must be under %d characters", maxRunAsUserNameDomainLength))
		}
		if hasDomain && !(validNetBiosRegex.MatchString(domain) || validWindowsUserDomainDNSRegex.MatchString(domain)) {
			bad("runAsUserName's Domain doesn't match the NetBios nor the DNS format")
		}
		if l := len(user); l == 0 {
			bad("runAsUserName's User cannot be empty")
		} else if l > maxRunAsUserNameUserLength {
			bad(fmt.Sprintf("runAsUserName's User length must not be longer than %d characters", maxRunAsUserNameUserLength))
		}
		if invalidUserNameDotsSpacesRegex.MatchString(user) {
			bad(`runAsUserName's User cannot contain only periods or spaces`)
		}
		if invalidUserNameCharsRegex.MatchString(user) {
			bad(`runAsUserName's User cannot contain the following characters: "/\:;|=,+*?<>@[]`)
		}
	}
	return errs
}

func validateWindowsHostProcessPod(spec *corev1.PodSpec, prefix string) []APIError {
	var errs []APIError
	containerCount := 0
	hostProcessContainerCount := 0
	var podHostProcess *bool
	if spec.SecurityContext != nil && spec.SecurityContext.WindowsOptions != nil {
		podHostProcess = spec.SecurityContext.WindowsOptions.HostProcess
	}
	hostNetwork := spec.HostNetwork // internal: podSpec.SecurityContext.HostNetwork
	for _, c := range visitContainersWithPath(spec, prefix) {
		containerCount++
		var containerHostProcess *bool
		if c.sc != nil && c.sc.WindowsOptions != nil {
			containerHostProcess = c.sc.WindowsOptions.HostProcess
		}
		if podHostProcess != nil && containerHostProcess != nil && *podHostProcess != *containerHostProcess {
			errs = append(errs, APIError{RuleValuesAgree, c.path + ".securityContext.windowsOptions.hostProcess",
				fmt.Sprintf("pod hostProcess value must be identical if both are specified, was %v", *podHostProcess)})
		}
		switch {
		case containerHostProcess != nil && *containerHostProcess:
			hostProcessContainerCount++
		case containerHostProcess == nil && podHostProcess != nil && *podHostProcess:
			hostProcessContainerCount++
		}
	}
	if hostProcessContainerCount > 0 {
		if hostProcessContainerCount != containerCount {
			errs = append(errs, APIError{RuleAllContainers, prefix, "If pod contains any hostProcess containers then all containers must be HostProcess containers"})
		}
		if !hostNetwork {
			errs = append(errs, APIError{RuleHostNetwork, prefix + ".hostNetwork", "hostNetwork must be true if pod contains any hostProcess containers"})
		}
	}
	return errs
}

func validateOS(spec *corev1.PodSpec, path string) []APIError {
	os := spec.OS
	if os == nil {
		return nil
	}
	if len(os.Name) == 0 {
		return []APIError{{RuleOS, path + ".name", "Required value"}}
	}
	if os.Name != corev1.Linux && os.Name != corev1.Windows { // validOS = sets.New(core.Linux, core.Windows)
		return []APIError{{RuleOS, path, fmt.Sprintf("Unsupported value: %q: supported values: \"linux\", \"windows\"", os.Name)}}
	}
	return nil
}

func validateLinux(spec *corev1.PodSpec, prefix string) []APIError {
	var errs []APIError
	if spec.SecurityContext != nil && spec.SecurityContext.WindowsOptions != nil {
		errs = append(errs, APIError{RuleOS, prefix + ".securityContext.windowsOptions", "windows options cannot be set for a linux pod"})
	}
	for _, c := range visitContainersWithPath(spec, prefix) {
		if c.sc != nil && c.sc.WindowsOptions != nil {
			errs = append(errs, APIError{RuleOS, c.path + ".securityContext.windowsOptions", "windows options cannot be set for a linux pod"})
		}
	}
	return errs
}
