module github.com/hpguard/hpguard/tests/oracle

go 1.26.0

replace github.com/hpguard/hpguard => ../..

require (
	github.com/hpguard/hpguard v0.0.0 // indirect
	k8s.io/api v0.36.2 // indirect
	k8s.io/apimachinery v0.36.2 // indirect
	k8s.io/pod-security-admission v0.36.2 // indirect
)
