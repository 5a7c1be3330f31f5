// Package goclient is the Go client of Tether's REST API, generated from
// openapi.yaml by oapi-codegen (client.gen.go; do not edit it by hand).
// ClientWithResponses decodes each documented response into its typed
// field: JSON201, ApplicationproblemJSON404 and so on.
//
// TestGoClient_CommittedCodeMatchesSpec in package contract fails when the
// committed code drifts from openapi.yaml; regenerate with
//
//	go generate ./contract/goclient
package goclient

//go:generate go tool oapi-codegen -config oapi-codegen.yaml -o client.gen.go ../../openapi.yaml
