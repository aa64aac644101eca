// Package all registers every check kind: import it for its side effects.
package all

import (
	_ "github.com/hpguard/hpguard/generator/checks/accountallowlist"
	_ "github.com/hpguard/hpguard/generator/checks/accountdenylist"
	_ "github.com/hpguard/hpguard/generator/checks/allornone"
	_ "github.com/hpguard/hpguard/generator/checks/containerlimits"
	_ "github.com/hpguard/hpguard/generator/checks/explicitvalueforbidden"
	_ "github.com/hpguard/hpguard/generator/checks/fieldtypes"
	_ "github.com/hpguard/hpguard/generator/checks/fieldvalue"
	_ "github.com/hpguard/hpguard/generator/checks/hostpathforbidden"
	_ "github.com/hpguard/hpguard/generator/checks/nodetargeting"
	_ "github.com/hpguard/hpguard/generator/checks/oswindowsoptions"
	_ "github.com/hpguard/hpguard/generator/checks/usernameformat"
	_ "github.com/hpguard/hpguard/generator/checks/valuesagree"
)
