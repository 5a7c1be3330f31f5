// Package contract holds the tests that hold Tether's REST API to its
// OpenAPI contract, openapi.yaml, with third-party tools:
//
//   - Spectral lints the spec with the spectral:oas ruleset; warnings fail.
//   - oapi-codegen generates the Go client in contract/goclient; a test fails
//     when the committed client drifts from the spec, and another drives a
//     real `tether dev` with it.
//   - openapi-typescript and openapi-fetch give the TypeScript client of
//     contract/ts, whose end-to-end program (strict tsc, run by node) drives
//     the same flow.
//   - Prism, as `prism proxy --errors` in front of the API, checks every
//     request and response of a flow against the spec.
//
// The Node tools are pinned in contract/ts/package-lock.json and installed
// with `npm ci` once per lockfile (node_modules/.tether-lock records which).
// Without node and npm the tests fail, unless TETHER_SKIP_NODE=1 is set, in
// which case only the Node-based tests skip.
package contract
