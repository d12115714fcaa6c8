//go:build tools

// Package tools pins the Helm CLI the chart tests run (helm lint, template, install, upgrade,
// uninstall against the test control plane). Built by ../build.sh into .cache/tools/.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
