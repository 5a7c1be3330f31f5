// The OpenAPI contract of the REST API is embedded here, at the root,
// because go:embed cannot reach files above a package's directory.

package tether

import _ "embed"

// OpenAPI is openapi.yaml: the OpenAPI 3.0.3 description of the REST API.
// api/rest validates every request against it and serves it at /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
